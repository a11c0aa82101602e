//! Errors of the specialists crate.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid {specialist} specialist config: {field}: {problem}")]
    InvalidConfig { specialist: &'static str, field: &'static str, problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
