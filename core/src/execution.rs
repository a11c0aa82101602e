//! What the Executor did with a plan.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{IncidentUid, PlanId};
use crate::plan::ActionSpec;

/// One applied (or refused, or failed) step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub action: ActionSpec,
    /// The API calls made, as `METHOD path` lines (`PATCH /apis/apps/v1/namespaces/shop/deployments/cart`).
    pub api_calls: Vec<String>,
    pub dry_run_ok: Option<bool>,
    pub applied_at: Option<Timestamp>,
    pub error: Option<String>,
    /// This record is a rollback of an earlier step.
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationRecord {
    pub ok: bool,
    /// Seconds from the last applied step to the verdict, in the clock medic runs on.
    pub elapsed_secs: f64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ExecutionOutcome {
    /// Applied and verified.
    Verified,
    /// Applied, not verified; rolled back when `rolled_back`.
    VerificationFailed { rolled_back: bool },
    /// The guard refused the plan before anything was written.
    Blocked { rule: String, reason: String },
    /// A step failed while applying; earlier steps were rolled back when `rolled_back`.
    Failed { step: usize, error: String, rolled_back: bool },
    /// Writes are suspended (observe mode, watchtower); nothing was applied.
    Suspended { reason: String },
}

impl ExecutionOutcome {
    pub fn kind(&self) -> &'static str {
        match self {
            ExecutionOutcome::Verified => "verified",
            ExecutionOutcome::VerificationFailed { .. } => "verification-failed",
            ExecutionOutcome::Blocked { .. } => "blocked",
            ExecutionOutcome::Failed { .. } => "failed",
            ExecutionOutcome::Suspended { .. } => "suspended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionReport {
    pub incident: IncidentUid,
    pub plan: PlanId,
    pub outcome: ExecutionOutcome,
    pub steps: Vec<StepRecord>,
    pub verification: Option<VerificationRecord>,
}
