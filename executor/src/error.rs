//! Errors of the executor: what failed while building, dry-running, applying or undoing an action.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid executor configuration: {0}")]
    Config(String),
    #[error("invalid action {action}: {reason}")]
    InvalidAction { action: &'static str, reason: String },
    /// The API server answered with an error status.
    #[error("{method} {path} answered {code} {reason}: {message}")]
    Api { method: &'static str, path: String, code: u16, reason: String, message: String },
    /// The API server could not be reached or its answer could not be read.
    #[error("{method} {path} failed: {message}")]
    Transport { method: &'static str, path: String, message: String },
    /// The object the action needs does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The cluster's state does not allow the action (no previous revision, container missing, ...).
    #[error("{0}")]
    Precondition(String),
    /// Pods that would not leave the node within the drain's time limit.
    #[error("drain of node {node} did not finish: {detail}")]
    DrainIncomplete { node: String, detail: String },
    #[error("loading the policies: {0}")]
    Policy(String),
    #[error("reading the cluster: {0}")]
    Read(#[from] medic_core::Error),
    /// The journal or the guard's ledger could not be read or written.
    #[error("the store: {0}")]
    Store(#[from] medic_store::Error),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A short stable label for counting errors by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::InvalidAction { .. } => "invalid_action",
            Error::Api { .. } => "api",
            Error::Transport { .. } => "transport",
            Error::NotFound(_) => "not_found",
            Error::Precondition(_) => "precondition",
            Error::DrainIncomplete { .. } => "drain_incomplete",
            Error::Policy(_) => "policy",
            Error::Read(_) => "read",
            Error::Store(_) => "store",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
