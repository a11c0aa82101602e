//! Errors of starting and driving the Prometheus + Alertmanager pair.
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "{program} is not installed at {path} (scripts/setup.sh installs Debian's prometheus and prometheus-alertmanager)"
    )]
    NotInstalled { program: &'static str, path: PathBuf },
    #[error("rule file {name}: {message}")]
    Rules { name: String, message: String },
    #[error("invalid stack configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{program} exited before it was ready ({status}); last lines of its log:\n{log}")]
    Exited { program: &'static str, status: String, log: String },
    #[error("{program} was not ready at {url} within {seconds} s; last lines of its log:\n{log}")]
    NotReady { program: &'static str, url: String, seconds: u64, log: String },
    #[error("asking {what}: {message}")]
    Http { what: String, message: String },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// A short stable label for counting errors by kind.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NotInstalled { .. } => "not_installed",
            Error::Rules { .. } => "rules",
            Error::Config(_) => "config",
            Error::Io { .. } => "io",
            Error::Exited { .. } => "exited",
            Error::NotReady { .. } => "not_ready",
            Error::Http { .. } => "http",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
