//! Errors raised while loading policies, test suites and resources.
use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong while loading policies or running a test suite. Evaluation itself
/// never fails with this type: a rule that cannot be evaluated yields a rule result with status `error`.
#[derive(Debug, Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing YAML in {path} (document {document}): {message}")]
    Yaml { path: PathBuf, document: usize, message: String },
    /// A policy document that does not have the shape Kyverno expects.
    #[error("invalid policy in {path} (document {document}, policy {policy:?}): {field}: {message}")]
    InvalidPolicy { path: PathBuf, document: usize, policy: String, field: String, message: String },
    #[error("invalid test file {path}: {message}")]
    InvalidTest { path: PathBuf, message: String },
}

impl Error {
    /// A short stable label for counting errors by kind.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Yaml { .. } => "yaml",
            Error::InvalidPolicy { .. } => "invalid_policy",
            Error::InvalidTest { .. } => "invalid_test",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
