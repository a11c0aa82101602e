//! Errors of the Slack protocol layer: what was wrong with a payload Slack (or someone posing as Slack)
//! sent. Signature failures have their own type, [`crate::SignatureError`].
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// The body is not `application/x-www-form-urlencoded` with a `payload` field.
    #[error("reading the interaction form: {0}")]
    Form(String),
    /// `payload` is not JSON, or JSON of the wrong shape (`path` names the field).
    #[error("reading the interaction payload at `{path}`: {message}")]
    Payload { path: String, message: String },
    /// Well-formed, but a value makes no sense (a user id with spaces, a plan id that is not one).
    #[error("invalid interaction field `{path}`: {message}")]
    Invalid { path: String, message: String },
}

impl Error {
    /// A short stable label for counting errors by kind.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Form(_) => "form",
            Error::Payload { .. } => "payload",
            Error::Invalid { .. } => "invalid",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
