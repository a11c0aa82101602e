//! The policy gate: before each write, the object as it will be after the change (the API server's
//! dry-run answer) is validated against the configured policies; any `fail` or `error` blocks the plan.
use crate::actions::Written;

/// One policy rule's verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyVerdict {
    pub policy: String,
    pub rule: String,
    /// `pass`, `fail`, `warn`, `error` or `skip`.
    pub status: String,
    pub message: String,
}

impl PolicyVerdict {
    pub fn blocks(&self) -> bool {
        matches!(self.status.as_str(), "fail" | "error")
    }
}

/// Validates objects medic is about to write.
pub trait PolicyGate: Send + Sync + std::fmt::Debug {
    /// The verdicts of every policy rule that applies to `written`.
    fn evaluate(&self, written: &Written) -> Vec<PolicyVerdict>;
}
