//! Errors of the Director.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("storing the incident's progress: {0}")]
    Store(#[from] medic_store::Error),
    #[error("invalid director config: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
