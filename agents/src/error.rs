//! Errors of the specialists crate.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid {specialist} specialist config: {field}: {problem}")]
    InvalidConfig { specialist: &'static str, field: &'static str, problem: String },
    #[error("invalid [llm] config: {field}: {problem}")]
    InvalidLlmConfig { field: String, problem: String },
    #[error("reading the prompt {file}: {problem}")]
    Prompt { file: String, problem: String },
    #[error("keeping the model routing state in {path}: {problem}")]
    RoutingState { path: String, problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
