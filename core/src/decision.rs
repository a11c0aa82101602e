//! The Director's decision and the reasons for it.
use serde::{Deserialize, Serialize};

use crate::hypothesis::Hypothesis;
use crate::ids::IncidentUid;
use crate::plan::Plan;
use crate::taxonomy::RootCauseClass;
use crate::workload::ObjectRef;

/// A hypothesis with the score the Director gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedHypothesis {
    pub hypothesis: Hypothesis,
    /// Combined score: confidence × the specialist's track record, plus agreement and memory adjustments.
    pub score: f64,
    /// Specialists that proposed the same (class, target).
    pub supported_by: Vec<String>,
    /// Why the score moved (`recalled inc-… fixed by rollback-deployment`, `agreed by 2 specialists`).
    pub notes: Vec<String>,
}

/// A past incident recalled from memory because it resembles this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recollection {
    pub incident: IncidentUid,
    pub similarity: f64,
    pub class: RootCauseClass,
    pub target: Option<ObjectRef>,
    pub playbook: Option<String>,
    /// The fix was verified (true) or failed verification (false).
    pub fix_worked: bool,
    /// The fix was approved by a human after an escalation.
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Apply this plan (or ask for approval first, if the plan says so).
    Act { plan: Plan },
    /// Nothing is wrong enough to act on: report and close.
    Observe { reason: String },
    /// Not sure enough: hand it to a human with the competing hypotheses.
    Escalate { reason: String },
}

impl Decision {
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Act { .. } => "act",
            Decision::Observe { .. } => "observe",
            Decision::Escalate { .. } => "escalate",
        }
    }
}

/// The decision with everything that led to it, as recorded in the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub incident: IncidentUid,
    pub decision: Decision,
    /// Every hypothesis, best first.
    pub ranked: Vec<RankedHypothesis>,
    pub recalled: Vec<Recollection>,
    /// Specialists that failed or did not answer in time.
    pub missing: Vec<String>,
    pub min_confidence: f64,
    pub min_margin: f64,
}

impl DecisionRecord {
    pub fn top(&self) -> Option<&RankedHypothesis> {
        self.ranked.first()
    }
}
