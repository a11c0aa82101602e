//! Errors of the core crate: parsing identifiers and names, and the error type that ports return.
use thiserror::Error;

/// Errors raised by core types and returned through the port traits.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("invalid incident uid {0:?}: expected a UUID")]
    InvalidIncidentUid(String),
    #[error("unknown root-cause class {0:?}")]
    UnknownRootCause(String),
    #[error("unknown object kind {0:?}")]
    UnknownObjectKind(String),
    #[error("invalid object reference {0:?}: expected kind/name or kind/namespace/name")]
    InvalidObjectRef(String),
    /// A port's backend (cluster, store, model, ...) could not be reached or answered with an error.
    #[error("{port} unavailable: {message}")]
    Unavailable { port: &'static str, message: String },
    /// The requested object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A port's backend answered but the answer was not usable.
    #[error("{port} failed: {message}")]
    Backend { port: &'static str, message: String },
}

impl Error {
    /// A short stable label for counting errors by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidIncidentUid(_) => "invalid_incident_uid",
            Error::UnknownRootCause(_) => "unknown_root_cause",
            Error::UnknownObjectKind(_) => "unknown_object_kind",
            Error::InvalidObjectRef(_) => "invalid_object_ref",
            Error::Unavailable { .. } => "unavailable",
            Error::NotFound(_) => "not_found",
            Error::Backend { .. } => "backend",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
