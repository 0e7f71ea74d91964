//! The API's errors: a status and a message, sent as `{"error": "..."}`.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// A failure of ferry itself (the journal, a thread): logged in full,
    /// answered without detail.
    pub fn internal(error: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %crate::error_chain(error), "admin API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A JSON request body whose every problem (not JSON, not the expected
/// shape, an unknown field, too large) is a `400` with the reason. The
/// body is read as JSON whatever its `Content-Type` says: `curl -d` sends a
/// form type, and nothing else is ever accepted here anyway.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the request body could not be read (at most {} bytes): {}",
                    super::MAX_BODY,
                    e.body_text()
                ))
            })?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut json)
            .map(Body)
            .map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." || path == "?" {
                    String::new()
                } else {
                    format!(" at `{path}`")
                };
                ApiError::bad_request(format!(
                    "the request body is not the JSON this route takes{at}: {}",
                    e.into_inner()
                ))
            })
    }
}
