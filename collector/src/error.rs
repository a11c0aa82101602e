//! Errors of the collector: what intake answers a webhook sender, and what setting up the collector can fail on.
use thiserror::Error;

/// Why a webhook was refused. Each variant maps to one HTTP status (see [`IntakeError::status`]); the
/// message is the reason the sender reads, naming the offending field where there is one. Nothing is
/// stored when `receive` returns an error.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IntakeError {
    /// No `Authorization` header, or one of the wrong scheme.
    #[error("authentication required: this receiver expects {expected} credentials in the Authorization header")]
    Unauthenticated { expected: &'static str },
    /// Credentials of the right scheme that do not match.
    #[error("authentication failed: the {scheme} credentials do not match")]
    BadCredentials { scheme: &'static str },
    #[error("body of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("unsupported content type {0:?}: send application/json")]
    UnsupportedMediaType(String),
    /// The body is not JSON at all.
    #[error("body is not valid JSON: {0}")]
    Syntax(String),
    /// JSON of the wrong shape: an unknown, missing or ill-typed field.
    #[error("invalid field `{path}`: {message}")]
    Field { path: String, message: String },
    /// Well-formed, but a value makes no sense (a version this receiver does not speak, an end before the start).
    #[error("unprocessable field `{path}`: {message}")]
    Unprocessable { path: String, message: String },
    /// The receiver is not configured.
    #[error("the {0} receiver is not enabled")]
    ReceiverDisabled(&'static str),
    /// The store could not persist the alerts: the sender should retry.
    #[error("storing the alerts failed, retry later: {0}")]
    Unavailable(String),
}

impl IntakeError {
    /// The HTTP status the webhook endpoint answers with.
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::Unauthenticated { .. } | IntakeError::BadCredentials { .. } => 401,
            IntakeError::TooLarge { .. } => 413,
            IntakeError::UnsupportedMediaType(_) => 415,
            IntakeError::Syntax(_) | IntakeError::Field { .. } => 400,
            IntakeError::Unprocessable { .. } => 422,
            IntakeError::ReceiverDisabled(_) => 404,
            IntakeError::Unavailable(_) => 503,
        }
    }

    /// The reason sent back to the client (the error's text).
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// A short stable label for counting refusals by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            IntakeError::Unauthenticated { .. } => "unauthenticated",
            IntakeError::BadCredentials { .. } => "bad_credentials",
            IntakeError::TooLarge { .. } => "too_large",
            IntakeError::UnsupportedMediaType(_) => "unsupported_media_type",
            IntakeError::Syntax(_) => "syntax",
            IntakeError::Field { .. } => "field",
            IntakeError::Unprocessable { .. } => "unprocessable",
            IntakeError::ReceiverDisabled(_) => "receiver_disabled",
            IntakeError::Unavailable(_) => "unavailable",
        }
    }

    pub(crate) fn unprocessable(path: impl Into<String>, message: impl Into<String>) -> Self {
        IntakeError::Unprocessable { path: path.into(), message: message.into() }
    }
}

/// Errors setting up the collector (configuration) and reading the cluster.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid intake config: {0}")]
    Config(String),
    #[error("environment variable {var} (named by {field}) is not set or not unicode")]
    MissingEnv { var: String, field: String },
    #[error("reading {what} from the cluster: {source}")]
    Kube { what: String, source: kube::Error },
}

impl Error {
    /// A short stable label for counting errors by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::MissingEnv { .. } => "missing_env",
            Error::Kube { .. } => "kube",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
