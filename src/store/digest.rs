use std::fmt;
use std::str::FromStr;

/// A SHA-256 content hash: the name of a blob in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a SHA-256 hash: expected 64 hexadecimal digits")]
pub struct ParseHashError(String);

impl ContentHash {
    pub fn from_bytes(bytes: [u8; 32]) -> ContentHash {
        ContentHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `objects/<aa>/<rest>`: two hex digits of fan-out keep directories small.
    pub(super) fn object_path(&self) -> (String, String) {
        let hex = self.to_string();
        (hex[..2].to_owned(), hex[2..].to_owned())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl FromStr for ContentHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(ParseHashError(s.chars().take(80).collect()));
        }
        Ok(ContentHash(bytes))
    }
}
