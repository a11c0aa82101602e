//! Errors of the memory crate.
use std::path::PathBuf;
use thiserror::Error;

/// Errors of the memory crate. Each message carries its cause's text (and is not chained to it), so a
/// log line or `anyhow`'s `{:#}` prints the whole story once.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid memory config: {0}")]
    Config(String),

    #[error("embedding with {embedder}: {cause}")]
    Embed { embedder: String, cause: medic_core::Error },

    #[error(
        "embedder {embedder} returned {got} vectors of dimension {dimension} for {expected} texts (expected dimension {expected_dimension})"
    )]
    EmbedShape { embedder: String, expected: usize, got: usize, dimension: usize, expected_dimension: usize },

    #[error("faiss: {doing}: {cause}")]
    Faiss { doing: String, cause: faiss::error::Error },

    #[error("vector has dimension {got}, the index has dimension {expected}")]
    Dimension { expected: usize, got: usize },

    #[error("{doing} {path}: {cause}")]
    Io { doing: &'static str, path: PathBuf, cause: std::io::Error },

    #[error("index metadata {path}: {message}")]
    Meta { path: PathBuf, message: String },

    #[error("store: {doing}: {cause}")]
    Store { doing: &'static str, cause: medic_store::Error },

    #[error("memory {id} in the store: {message}")]
    Record { id: i64, message: String },

    #[error("{path} line {line}: {message}")]
    Import { path: PathBuf, line: usize, message: String },

    #[error("writing the export: {0}")]
    Export(std::io::Error),
}

impl Error {
    pub(crate) fn faiss(doing: impl Into<String>) -> impl FnOnce(faiss::error::Error) -> Error {
        let doing = doing.into();
        move |cause| Error::Faiss { doing, cause }
    }

    pub(crate) fn io(doing: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |cause| Error::Io { doing, path, cause }
    }

    pub(crate) fn store(doing: &'static str) -> impl FnOnce(medic_store::Error) -> Error {
        move |cause| Error::Store { doing, cause }
    }

    /// A short stable label for counting errors by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Embed { .. } | Error::EmbedShape { .. } => "embed",
            Error::Faiss { .. } | Error::Dimension { .. } => "index",
            Error::Io { .. } | Error::Meta { .. } => "io",
            Error::Store { .. } | Error::Record { .. } => "store",
            Error::Import { .. } => "import",
            Error::Export(_) => "export",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
