//! The messages actors exchange. Every message carries the Incident-UID; large payloads travel in `Arc`.
//!
//! Flow: intake → `OpenIncident` → Collector → `Diagnose` → Director → `Investigate` → each specialist
//! (answer: `FindingReport`); Director → `Recall` → Memory; `decide`; Director → `Execute` → Executor
//! (answer: `ExecutionReport`); Director → `Remember` → Memory; Director → `Notify` → Notifier.
use actix::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::alert::Alert;
use crate::context::IncidentContext;
use crate::decision::{DecisionRecord, Recollection};
use crate::execution::ExecutionReport;
use crate::hypothesis::FindingReport;
use crate::ids::{IncidentUid, PlanId};
use crate::plan::{ActionSpec, Plan};
use crate::taxonomy::RootCauseClass;
use crate::workload::ObjectRef;

/// A new incident was opened (its first alert is persisted): collect its context.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct OpenIncident {
    pub incident: IncidentUid,
    pub alerts: Vec<Alert>,
}

/// The context is collected: diagnose and decide.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Diagnose {
    pub incident: IncidentUid,
    pub context: Arc<IncidentContext>,
}

/// Ask one specialist for its hypotheses.
#[derive(Debug, Clone, Message)]
#[rtype(result = "FindingReport")]
pub struct Investigate {
    pub incident: IncidentUid,
    pub context: Arc<IncidentContext>,
}

/// Ask memory for the `k` most similar past incidents.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<Recollection>")]
pub struct Recall {
    pub incident: IncidentUid,
    pub context: Arc<IncidentContext>,
    pub k: usize,
}

/// What an incident taught: symptoms and context → diagnosis → fix → outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentMemory {
    pub incident: IncidentUid,
    pub context: Arc<IncidentContext>,
    pub class: RootCauseClass,
    pub target: Option<ObjectRef>,
    pub playbook: Option<String>,
    pub steps: Vec<ActionSpec>,
    pub fix_worked: bool,
    pub approved_by: Option<String>,
}

/// Remember a closed incident.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Remember {
    pub memory: IncidentMemory,
}

/// Apply a plan (the guard decides whether it may), verify it, roll it back if it did not work.
#[derive(Debug, Clone, Message)]
#[rtype(result = "ExecutionReport")]
pub struct Execute {
    pub plan: Arc<Plan>,
    pub context: Arc<IncidentContext>,
    /// The human who approved the plan, when it needed approval.
    pub approved_by: Option<String>,
}

/// A human's answer to a plan that waits for approval.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct PlanVerdict {
    pub plan: PlanId,
    pub approved: bool,
    /// Who answered (`slack:U123`, `api:alice`).
    pub by: String,
}

/// An alert of an open incident resolved at its source.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct AlertResolved {
    pub incident: IncidentUid,
    pub alert: Alert,
}

/// Something happened to an incident that people should hear about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum IncidentEvent {
    Opened { alert: Box<Alert> },
    Diagnosed { record: Box<DecisionRecord> },
    ApprovalRequested { plan: Box<Plan> },
    Acted { report: Box<ExecutionReport> },
    Verified { report: Box<ExecutionReport> },
    RolledBack { report: Box<ExecutionReport> },
    Escalated { reason: String, record: Option<Box<DecisionRecord>> },
    Closed { summary: String },
}

impl IncidentEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            IncidentEvent::Opened { .. } => "opened",
            IncidentEvent::Diagnosed { .. } => "diagnosed",
            IncidentEvent::ApprovalRequested { .. } => "approval-requested",
            IncidentEvent::Acted { .. } => "acted",
            IncidentEvent::Verified { .. } => "verified",
            IncidentEvent::RolledBack { .. } => "rolled-back",
            IncidentEvent::Escalated { .. } => "escalated",
            IncidentEvent::Closed { .. } => "closed",
        }
    }
}

/// Tell the people watching an incident.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Notify {
    pub incident: IncidentUid,
    pub event: IncidentEvent,
}
