//! The file API's errors: a status and a message, sent as
//! `{"error": "..."}`, and the status each `MailboxError` kind maps to.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;
use crate::tenant::MailboxError;

#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub message: String,
}

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// A failure of ferry itself (the journal, the store, a thread):
    /// logged in full, answered without detail.
    pub fn internal(error: &dyn std::error::Error) -> HttpError {
        tracing::error!(error = %crate::error_chain(error), "HTTPS request failed");
        HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has the details",
        )
    }

    /// 401 with the Basic challenge that makes `curl` and browsers ask.
    pub fn unauthorized() -> HttpError {
        HttpError::new(StatusCode::UNAUTHORIZED, "login incorrect")
    }
}

impl From<MailboxError> for HttpError {
    fn from(error: MailboxError) -> HttpError {
        let status = match &error {
            MailboxError::InvalidPath(_) | MailboxError::Read(_) => StatusCode::BAD_REQUEST,
            MailboxError::NotFound(_) => StatusCode::NOT_FOUND,
            MailboxError::Exists(_) => StatusCode::CONFLICT,
            MailboxError::PermissionDenied(_) | MailboxError::UnknownPartner(_) => {
                StatusCode::FORBIDDEN
            }
            MailboxError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MailboxError::Store(StoreError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            MailboxError::Quota(_) => StatusCode::INSUFFICIENT_STORAGE,
            MailboxError::Store(_) | MailboxError::Journal(_) => {
                return HttpError::internal(&error);
            }
        };
        HttpError::new(status, crate::error_chain(&error).replace('\n', " "))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ferry\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

pub type HttpResult<T> = Result<T, HttpError>;
