//! Picking up after a restart (a crash, `kill -9`, a node loss): the incidents that were in flight when
//! medic stopped are seen through from where they were.
//!
//! - An incident that had not started a plan (no step in the action journal) is collected and diagnosed
//!   again: nothing was written, and the cluster may have changed since.
//! - An incident whose plan had started is handed back to the Director with that same plan (from the plans
//!   awaiting approval, or from the decision in its audit trail). The Executor's journal then skips every
//!   step already applied, checks the cluster for a step that was about to be applied, and verification —
//!   and rollback, if it comes to that — takes over.
//! - An incident whose plan cannot be found is escalated to a human.
//!
//! Incidents waiting for an approval need nothing: their plan is in the store and a verdict after the
//! restart executes it.
use actix::{Addr, Recipient};
use anyhow::{Context, Result};
use medic_core::decision::{Decision, DecisionRecord};
use medic_core::messages::OpenIncident;
use medic_core::{AuditEntry, AuditKind, IncidentUid, Plan, PlanId};
use medic_director::{Director, Resume};
use medic_store::{Incident, IncidentFilter, IncidentStatus, PlanStatus, Store};

/// The statuses of an incident medic was working on.
pub const IN_FLIGHT: [IncidentStatus; 5] = [
    IncidentStatus::Open,
    IncidentStatus::Investigating,
    IncidentStatus::Diagnosed,
    IncidentStatus::Acting,
    IncidentStatus::Verifying,
];

/// What [`resume_in_flight`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumption {
    /// Incidents sent back to the collector: they had not acted.
    pub rediagnosed: Vec<IncidentUid>,
    /// Incidents whose plan the Director sees through.
    pub resumed: Vec<(IncidentUid, PlanId)>,
    /// Incidents handed to a human.
    pub escalated: Vec<IncidentUid>,
}

/// Finds the incidents in flight and sends each where it continues, oldest first.
pub async fn resume_in_flight(
    store: &Store,
    director: &Addr<Director>,
    collector: &Recipient<OpenIncident>,
) -> Result<Resumption> {
    let filter = IncidentFilter { statuses: IN_FLIGHT.to_vec(), namespace: None, limit: usize::MAX };
    let mut incidents = store.incidents(filter).await.context("listing the incidents in flight")?;
    incidents.reverse();
    let mut done = Resumption::default();
    for incident in incidents {
        resume_one(store, director, collector, &incident, &mut done)
            .await
            .with_context(|| format!("resuming incident {}", incident.uid))?;
    }
    let pending = store.pending_steps().await.context("reading the action journal")?;
    let unattended = pending.iter().filter(|s| !done.resumed.iter().any(|(uid, _)| *uid == s.incident)).count();
    if unattended > 0 {
        // Their incidents were settled (escalated, failed, ...): a human owns them now.
        tracing::warn!(steps = unattended, "journaled steps of settled incidents were left as they are");
    }
    if done != Resumption::default() {
        tracing::info!(
            rediagnosed = done.rediagnosed.len(),
            resumed = done.resumed.len(),
            escalated = done.escalated.len(),
            "resumed the incidents in flight"
        );
    }
    Ok(done)
}

async fn resume_one(
    store: &Store,
    director: &Addr<Director>,
    collector: &Recipient<OpenIncident>,
    incident: &Incident,
    done: &mut Resumption,
) -> Result<()> {
    let uid = incident.uid;
    let steps = store.incident_steps(uid).await?;
    let Some(last) = steps.last() else {
        let alerts: Vec<_> = store.incident_alerts(uid).await?.into_iter().map(|a| a.alert).collect();
        if alerts.is_empty() {
            let reason = "it has no alert to collect a context from".to_string();
            director.do_send(Resume::Escalate { incident: uid, reason });
            done.escalated.push(uid);
            return Ok(());
        }
        let summary = format!(
            "resumed after a restart: it was {} and had not acted; collecting its context again",
            incident.status
        );
        audit(store, uid, summary).await;
        collector.do_send(OpenIncident { incident: uid, alerts });
        done.rediagnosed.push(uid);
        return Ok(());
    };
    let plan_id = last.plan;
    match find_plan(store, uid, plan_id).await? {
        Some((plan, approved_by)) => {
            director.do_send(Resume::Plan { plan: Box::new(plan), approved_by });
            done.resumed.push((uid, plan_id));
        }
        None => {
            let reason = format!("plan {plan_id}, which it was applying, is in neither the store nor the audit trail");
            director.do_send(Resume::Escalate { incident: uid, reason });
            done.escalated.push(uid);
        }
    }
    Ok(())
}

/// The plan with this id, and who approved it: from the plans that waited for approval, or else from the
/// incident's audit trail (the decision that chose it, or an earlier resumption).
async fn find_plan(store: &Store, incident: IncidentUid, id: PlanId) -> Result<Option<(Plan, Option<String>)>> {
    if let Some(stored) = store.plan(id).await? {
        let approved_by = (stored.status == PlanStatus::Approved).then_some(stored.decided_by).flatten();
        return Ok(Some((stored.plan, approved_by)));
    }
    let timeline = store.timeline(incident).await?;
    Ok(timeline.into_iter().rev().find_map(|record| {
        let detail = record.entry.detail;
        let plan = match record.entry.kind {
            AuditKind::Decision => match serde_json::from_value::<DecisionRecord>(detail) {
                Ok(DecisionRecord { decision: Decision::Act { plan }, .. }) => plan,
                _ => return None,
            },
            AuditKind::Resumed | AuditKind::ApprovalRequested => serde_json::from_value::<Plan>(detail).ok()?,
            _ => return None,
        };
        (plan.id == id).then_some((plan, None))
    }))
}

async fn audit(store: &Store, incident: IncidentUid, summary: String) {
    let mut entry = AuditEntry::new(incident, AuditKind::Resumed, "medic", summary);
    entry.at = store.clock().now();
    if let Err(e) = store.append_audit(entry).await {
        tracing::warn!(error = %e, "could not append to the audit trail");
    }
}
