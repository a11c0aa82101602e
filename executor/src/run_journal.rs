//! The action journal as one plan run uses it (see `medic_store::journal` for the protocol): what earlier
//! runs of the same plan left (a plan resumed after medic was killed), the intent committed before every
//! write, and the marks after. A journal write that fails before a step stops the step; one that fails
//! after is logged, since the cluster has already changed.
use jiff::Timestamp;
use medic_core::{AuditKind, Plan};
use medic_store::{Error as StoreError, StepIntent, StepState, Store};
use std::collections::BTreeMap;

use crate::actions::Undo;
use crate::error::Result;

/// A journaled step as the run keeps track of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Journaled {
    pub id: i64,
    pub state: StepState,
    pub applied_at: Option<Timestamp>,
    pub error: Option<String>,
}

/// The journal entries of one plan, by step.
#[derive(Debug, Default)]
pub(crate) struct PlanJournal {
    /// Forward steps: step index → entry.
    pub steps: BTreeMap<usize, Journaled>,
    /// Rollbacks: step index → entry of its rollback.
    pub rollbacks: BTreeMap<usize, Journaled>,
}

impl PlanJournal {
    pub async fn load(store: &Store, plan: &Plan) -> Result<Self> {
        let mut journal = PlanJournal::default();
        for entry in store.plan_steps(plan.id).await? {
            let map = if entry.rollback { &mut journal.rollbacks } else { &mut journal.steps };
            let journaled =
                Journaled { id: entry.id, state: entry.state, applied_at: entry.applied_at, error: entry.error };
            map.insert(entry.step as usize, journaled);
        }
        Ok(journal)
    }

    /// The first forward step an earlier run saw fail or rolled back: the plan is over.
    pub fn ended(&self) -> Option<(usize, &Journaled)> {
        self.steps
            .iter()
            .find(|(_, e)| matches!(e.state, StepState::Failed | StepState::RolledBack))
            .map(|(i, e)| (*i, e))
    }

    /// The state of step `i` (`None`: never journaled).
    pub fn state(&self, i: usize) -> Option<StepState> {
        self.steps.get(&i).map(|e| e.state)
    }

    /// Journals the intent to apply step `i` (or its rollback) before the call, unless an earlier run
    /// already did; returns the entry's id.
    pub async fn intent(&mut self, store: &Store, plan: &Plan, i: usize, rollback: bool) -> Result<i64> {
        let map = if rollback { &mut self.rollbacks } else { &mut self.steps };
        if let Some(entry) = map.get(&i) {
            return Ok(entry.id);
        }
        let action = plan.steps[i].clone();
        let intent = StepIntent { incident: plan.incident, plan: plan.id, step: i as u32, rollback, action };
        let id = store.journal_intent(intent).await?;
        map.insert(i, Journaled { id, state: StepState::Intent, applied_at: None, error: None });
        Ok(id)
    }

    /// Moves step `i` (or its rollback) to `state`; a failure is logged.
    pub async fn mark(&mut self, store: &Store, i: usize, rollback: bool, state: StepState, error: Option<String>) {
        let map = if rollback { &mut self.rollbacks } else { &mut self.steps };
        let Some(entry) = map.get_mut(&i) else { return };
        match store.journal_mark(entry.id, state, error).await {
            Ok(()) => entry.state = state,
            // A step verified before a restart and checked again: it stays verified.
            Err(StoreError::InvalidStepTransition { from, to, .. }) => {
                tracing::debug!(step = i, %from, %to, "journal entry keeps its state")
            }
            Err(e) => tracing::error!(step = i, error = %e, state = %state, "could not mark the journaled step"),
        }
    }
}

/// The undo information an earlier run recorded with step `i` of `plan` in the audit trail, if any.
pub(crate) async fn recorded_undo(store: &Store, plan: &Plan, i: usize) -> Option<Undo> {
    let timeline = match store.timeline(plan.incident).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the timeline for the undo of an earlier step");
            return None;
        }
    };
    let plan_id = plan.id.to_string();
    timeline.into_iter().rev().find_map(|r| {
        let detail = &r.entry.detail;
        let matches = r.entry.kind == AuditKind::ActionApplied
            && detail.get("plan").and_then(|p| p.as_str()) == Some(plan_id.as_str())
            && detail.get("step").and_then(|s| s.as_u64()) == Some(i as u64);
        if !matches {
            return None;
        }
        serde_json::from_value(detail.get("undo")?.clone()).ok()
    })
}
