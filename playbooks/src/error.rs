//! Errors of the playbook crate: loading (with the file and the field path) and rendering a plan.
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// One problem found while validating a playbook, at a field path such as `steps[1].limits.memory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub field: String,
    pub problem: String,
}

impl Issue {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.problem) } else { write!(f, "{}: {}", self.field, self.problem) }
    }
}

/// Every issue of one file, shown as `file: field: problem` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issues(pub Vec<Issue>);

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum Error {
    #[error("reading playbooks from {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing playbook {file}{}: {message}", location(*line, *column))]
    Syntax { file: String, line: Option<usize>, column: Option<usize>, message: String },
    #[error("invalid playbook {file}: {issues}")]
    Invalid { file: String, issues: Issues },
    #[error("playbook id {id:?} is defined twice: in {first} and in {second}")]
    Duplicate { id: String, first: String, second: String },
    #[error("no playbook {0:?} in the catalog")]
    UnknownPlaybook(String),
    #[error("no playbook in the catalog handles {class} on a {kind}")]
    NoPlaybookFor { class: String, kind: String },
    #[error("playbook {playbook} does not handle {class} on a {kind}")]
    Mismatch { playbook: String, class: String, kind: String },
    #[error("rendering playbook {playbook}: {field}: {problem}")]
    Render { playbook: String, field: String, problem: String },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l} column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

impl Error {
    /// The issues of an `Invalid` error (empty for the other kinds).
    pub fn issues(&self) -> &[Issue] {
        match self {
            Error::Invalid { issues, .. } => &issues.0,
            _ => &[],
        }
    }

    /// A short stable label for counting errors by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Syntax { .. } => "syntax",
            Error::Invalid { .. } => "invalid",
            Error::Duplicate { .. } => "duplicate",
            Error::UnknownPlaybook(_) => "unknown_playbook",
            Error::NoPlaybookFor { .. } => "no_playbook",
            Error::Mismatch { .. } => "mismatch",
            Error::Render { .. } => "render",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
