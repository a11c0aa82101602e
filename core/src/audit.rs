//! Audit entries: one per step of an incident's life, the material of `medic incidents show`.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::ids::IncidentUid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditKind {
    AlertReceived,
    AlertResolved,
    IncidentOpened,
    ContextCollected,
    Findings,
    Recall,
    Decision,
    ApprovalRequested,
    Approved,
    Rejected,
    GuardRefused,
    PolicyChecked,
    ActionApplied,
    ActionFailed,
    Verified,
    VerificationFailed,
    RolledBack,
    Escalated,
    Notified,
    Remembered,
    IncidentClosed,
    /// medic restarted and picked the incident up where it was.
    Resumed,
    /// A fix was verified while alerts that arrived after the decision still fire: medic looks again.
    FollowUp,
    /// A model was asked about an incident: what it proposed, what was used and what was discarded.
    ModelConsulted,
    /// The reasoning backend is too slow or failing: every write is suspended.
    WatchtowerEngaged,
    /// The reasoning backend recovered: writes resume.
    WatchtowerReleased,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::AlertReceived => "alert-received",
            AuditKind::AlertResolved => "alert-resolved",
            AuditKind::IncidentOpened => "incident-opened",
            AuditKind::ContextCollected => "context-collected",
            AuditKind::Findings => "findings",
            AuditKind::Recall => "recall",
            AuditKind::Decision => "decision",
            AuditKind::ApprovalRequested => "approval-requested",
            AuditKind::Approved => "approved",
            AuditKind::Rejected => "rejected",
            AuditKind::GuardRefused => "guard-refused",
            AuditKind::PolicyChecked => "policy-checked",
            AuditKind::ActionApplied => "action-applied",
            AuditKind::ActionFailed => "action-failed",
            AuditKind::Verified => "verified",
            AuditKind::VerificationFailed => "verification-failed",
            AuditKind::RolledBack => "rolled-back",
            AuditKind::Escalated => "escalated",
            AuditKind::Notified => "notified",
            AuditKind::Remembered => "remembered",
            AuditKind::IncidentClosed => "incident-closed",
            AuditKind::Resumed => "resumed",
            AuditKind::FollowUp => "follow-up",
            AuditKind::ModelConsulted => "model-consulted",
            AuditKind::WatchtowerEngaged => "watchtower-engaged",
            AuditKind::WatchtowerReleased => "watchtower-released",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of an incident's timeline. `detail` holds the structured record (findings, decision, API
/// calls); `summary` is the sentence a human reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub incident: Option<IncidentUid>,
    pub at: Timestamp,
    pub kind: AuditKind,
    /// Which component wrote it (`collector`, `director`, `executor`, ...).
    pub actor: String,
    pub summary: String,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(incident: IncidentUid, kind: AuditKind, actor: &str, summary: impl Into<String>) -> Self {
        Self {
            incident: Some(incident),
            at: Timestamp::now(),
            kind,
            actor: actor.to_string(),
            summary: summary.into(),
            detail: serde_json::Value::Null,
        }
    }

    pub fn with_detail(mut self, detail: impl Serialize) -> Self {
        self.detail = serde_json::to_value(detail).unwrap_or(serde_json::Value::Null);
        self
    }
}
