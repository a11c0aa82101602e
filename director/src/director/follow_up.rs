//! What the Director does once a fix is verified, beyond closing the incident: a fix settles the plans
//! of other incidents that waited for approval to do the same; alerts that arrived after the decision
//! and still fire get a second look (a second fault behind the first, which the decision never saw); and a
//! fix of a cause fixed already not long ago is recurring, which a human has to hear about.
use jiff::Timestamp;
use medic_core::messages::{IncidentEvent, OpenIncident};
use medic_core::{Alert, AlertStatus, AuditEntry, AuditKind, IncidentUid, Plan, PlanId};
use medic_store::{IncidentFilter, IncidentStatus};
use std::collections::BTreeSet;
use tracing::warn;

use super::{ACTOR, Pending, Shared};

/// Follow-up investigations of one incident after its verified fixes, at most this many.
pub(super) const MAX_FOLLOW_UPS: u8 = 2;

/// An incident whose fix was verified and that is being looked at again.
#[derive(Debug, Clone)]
pub(super) struct FollowUp {
    pub(super) rounds: u8,
    /// How the incident closes when the second look finds nothing more to fix.
    pub(super) resolved: String,
}

impl Shared {
    /// When earlier incidents of the recurrence window had the same cause (class and target) fixed, the
    /// reason to escalate this one after its fix: restarting a leak or rolling back a bad release again
    /// and again mitigates; the change that ends it is a human's.
    pub(super) async fn recurring(&self, fixed: &Plan) -> Option<String> {
        let window = jiff::SignedDuration::from_mins(self.config.recurrence_window_mins as i64);
        let since = self.store.clock().now() - window;
        // Resolved, or escalated after a fix (a recurrence before this one).
        let filter =
            IncidentFilter::default().status(IncidentStatus::Resolved).status(IncidentStatus::Escalated).limit(500);
        let (this, incidents) = match (self.store.incident(fixed.incident).await, self.store.incidents(filter).await) {
            (Ok(Some(this)), Ok(incidents)) => (this, incidents),
            (Err(e), _) | (_, Err(e)) => {
                warn!(error = %e, "could not read the incidents; recurrence not checked");
                return None;
            }
            (Ok(None), _) => return None,
        };
        // An earlier occurrence was over before this incident began (not one that followed the same fix).
        let earlier: Vec<(IncidentUid, Timestamp)> = incidents
            .into_iter()
            .filter(|i| i.uid != fixed.incident && i.root_cause == Some(fixed.class))
            .filter(|i| i.target.as_ref() == Some(&fixed.target))
            .filter_map(|i| Some((i.uid, i.resolved_at?)))
            .filter(|(_, resolved)| *resolved >= since && *resolved < this.opened_at)
            .collect();
        let (_, last) = earlier.iter().max_by_key(|(_, at)| *at)?;
        let ago = self.store.clock().now().duration_since(*last).as_secs().max(0);
        let which: Vec<String> = earlier.iter().map(|(uid, _)| uid.short()).collect();
        Some(format!(
            "recurring: {} at {} was fixed by {} {} time(s) before in the last {} min ({}), the last {} min ago; \
             the fix holds for a while and the cause comes back: it needs a change medic cannot make (code, \
             configuration, capacity)",
            fixed.class,
            fixed.target,
            fixed.playbook,
            earlier.len(),
            self.config.recurrence_window_mins,
            which.join(", "),
            ago / 60
        ))
    }

    /// Plans of other incidents waiting for approval to fix what `fixed` just fixed (the same class at the
    /// same target) have nothing left to do: each is withdrawn and its incident closes as resolved by this
    /// fix, or is looked at again when alerts it never considered still fire.
    pub(super) async fn settle_moot_proposals(&self, fixed: &Plan, summary: &str) {
        let moot: Vec<Pending> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<PlanId> = pending
                .iter()
                .filter(|(_, p)| {
                    p.plan.incident != fixed.incident && p.plan.class == fixed.class && p.plan.target == fixed.target
                })
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        for waiting in moot {
            let incident = waiting.plan.incident;
            let by = format!("medic: {} fixed it", fixed.incident.short());
            if let Err(e) = self.store.decide_plan(waiting.plan.id, false, by).await {
                warn!(error = %e, "could not withdraw a plan made moot by another incident's fix");
                continue;
            }
            let resolved = format!("resolved by {}'s fix ({summary})", fixed.incident.short());
            let withdrawn = format!("plan {} withdrawn: {resolved}", waiting.plan.id);
            self.audit(AuditEntry::new(incident, AuditKind::Rejected, ACTOR, withdrawn)).await;
            if self.follow_up(incident, waiting.context.collected_at, &resolved).await {
                continue;
            }
            self.audit(AuditEntry::new(incident, AuditKind::IncidentClosed, ACTOR, resolved.clone())).await;
            self.status(incident, IncidentStatus::Resolved).await;
            self.notify(incident, IncidentEvent::Closed { summary: resolved }).await;
        }
    }

    /// After a verified fix: alerts that joined the incident after its context was collected and still
    /// fire are something the decision never saw (a second fault, a symptom of another cause). The
    /// context is gathered again and the incident decided again, a bounded number of times.
    pub(super) async fn follow_up(
        &self,
        incident: IncidentUid,
        collected_at: Option<Timestamp>,
        resolved: &str,
    ) -> bool {
        let (Some(recollect), Some(collected_at)) = (&self.links.recollect, collected_at) else {
            return false;
        };
        let rounds = {
            let follow_ups = self.follow_ups.lock().unwrap_or_else(|e| e.into_inner());
            follow_ups.get(&incident).map_or(0, |f| f.rounds)
        };
        if rounds >= MAX_FOLLOW_UPS {
            self.follow_ups.lock().unwrap_or_else(|e| e.into_inner()).remove(&incident);
            return false;
        }
        let alerts = match self.store.incident_alerts(incident).await {
            Ok(alerts) => alerts,
            Err(e) => {
                warn!(error = %e, "could not read the incident's alerts; no follow-up");
                return false;
            }
        };
        let unseen: Vec<Alert> = alerts
            .into_iter()
            .filter(|a| a.received_at > collected_at && a.alert.status == AlertStatus::Firing)
            .map(|a| a.alert)
            .collect();
        if unseen.is_empty() {
            self.follow_ups.lock().unwrap_or_else(|e| e.into_inner()).remove(&incident);
            return false;
        }
        let names: BTreeSet<&str> = unseen.iter().map(|a| a.name.as_str()).collect();
        let summary = format!(
            "fix verified; {} alert(s) that arrived after the decision still fire ({}): looking again",
            unseen.len(),
            names.into_iter().collect::<Vec<_>>().join(", ")
        );
        self.audit(AuditEntry::new(incident, AuditKind::FollowUp, ACTOR, summary).with_detail(&unseen)).await;
        self.follow_ups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(incident, FollowUp { rounds: rounds + 1, resolved: resolved.to_string() });
        self.status(incident, IncidentStatus::Investigating).await;
        recollect.do_send(OpenIncident { incident, alerts: unseen });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Harness, context, harness_with, kinds, oom};
    use super::*;
    use crate::DirectorConfig;
    use actix::{Actor, Context, Handler, Recipient};
    use medic_agents::{Specialist, SpecialistActor};
    use medic_core::messages::{Diagnose, Investigate, PlanVerdict};
    use medic_core::testkit::alert;
    use medic_core::{Hypothesis, IncidentContext};
    use medic_store::PlanStatus;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A specialist that answers each investigation with the next of its scripted answers, then nothing.
    #[derive(Debug)]
    struct Answers(Mutex<VecDeque<Vec<Hypothesis>>>);

    impl Specialist for Answers {
        fn name(&self) -> &'static str {
            "compute"
        }
        fn analyse(&self, _: &IncidentContext) -> Vec<Hypothesis> {
            self.0.lock().unwrap().pop_front().unwrap_or_default()
        }
    }

    fn compute(answers: Vec<Vec<Hypothesis>>) -> (String, Recipient<Investigate>) {
        ("compute".into(), SpecialistActor::new(Arc::new(Answers(Mutex::new(answers.into())))).start().recipient())
    }

    /// The collector, as the Director sees it: what it was asked to gather again.
    struct CollectorProbe(Arc<Mutex<Vec<OpenIncident>>>);

    impl Actor for CollectorProbe {
        type Context = Context<Self>;
    }

    impl Handler<OpenIncident> for CollectorProbe {
        type Result = ();
        fn handle(&mut self, msg: OpenIncident, _: &mut Self::Context) {
            self.0.lock().unwrap().push(msg);
        }
    }

    async fn harness(answers: Vec<Vec<Hypothesis>>) -> (Harness, Arc<Mutex<Vec<OpenIncident>>>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let probe = CollectorProbe(asked.clone()).start().recipient();
        (harness_with(vec![compute(answers)], DirectorConfig::default(), Some(probe)).await, asked)
    }

    fn collected_now() -> Arc<IncidentContext> {
        let mut context = (*context()).clone();
        context.collected_at = Some(Timestamp::now());
        Arc::new(context)
    }

    async fn last_summary(h: &Harness, kind: AuditKind) -> String {
        let timeline = h.store.timeline(h.incident).await.unwrap();
        timeline.into_iter().rev().find(|r| r.entry.kind == kind).map(|r| r.entry.summary).unwrap_or_default()
    }

    #[actix::test]
    async fn an_alert_that_arrived_after_the_decision_gets_a_second_look_after_the_fix() {
        let (h, asked) = harness(vec![vec![oom(0.85)]]).await;
        let context = collected_now();
        let late = alert("KubePodNotReady", &[("namespace", "shop"), ("pod", "cart-7d9f8c6b5-fghij")]);
        let joined = h.store.ingest(vec![late]).await.unwrap();
        assert!(joined.new_incidents().is_empty(), "the late alert joins the incident");

        h.director.send(Diagnose { incident: h.incident, context }).await.unwrap();
        assert_eq!(h.executed.lock().unwrap().len(), 1);
        let again = asked.lock().unwrap().drain(..).collect::<Vec<_>>();
        assert_eq!(again.len(), 1, "the collector is asked for the context again");
        assert_eq!(again[0].incident, h.incident);
        let names: Vec<&str> = again[0].alerts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["KubePodNotReady"], "only the alert the decision never saw");
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::Investigating);
        assert!(last_summary(&h, AuditKind::FollowUp).await.contains("looking again"));

        // The second look finds nothing more: the verified fix closes the incident.
        h.director.send(Diagnose { incident: h.incident, context: collected_now() }).await.unwrap();
        assert_eq!(h.executed.lock().unwrap().len(), 1, "nothing more was done");
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::Resolved);
        let closed = last_summary(&h, AuditKind::IncidentClosed).await;
        assert!(closed.starts_with("resolved: oom-memory-limit fixed by"), "{closed}");
    }

    #[actix::test]
    async fn without_new_alerts_a_verified_fix_closes_the_incident_at_once() {
        let (h, asked) = harness(vec![vec![oom(0.85)]]).await;
        h.director.send(Diagnose { incident: h.incident, context: collected_now() }).await.unwrap();
        assert!(asked.lock().unwrap().is_empty());
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::Resolved);
        assert!(!kinds(&h.store, h.incident).await.contains(&AuditKind::FollowUp));
    }

    #[actix::test]
    async fn the_same_cause_fixed_again_after_its_incident_closed_is_escalated_as_recurring() {
        let (h, _) = harness(vec![vec![oom(0.85)], vec![oom(0.85)]]).await;
        h.director.send(Diagnose { incident: h.incident, context: collected_now() }).await.unwrap();
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::Resolved);

        let again = h.store.ingest(vec![alert("KubePodOOMKilled", &[("namespace", "shop"), ("pod", "web-1")])]).await;
        let second = again.unwrap().new_incidents()[0];
        h.director.send(Diagnose { incident: second, context: collected_now() }).await.unwrap();
        assert_eq!(h.executed.lock().unwrap().len(), 2, "the fix mitigates again");
        let incident = h.store.incident(second).await.unwrap().unwrap();
        assert_eq!(incident.status, IncidentStatus::Escalated, "a human hears that the fix does not end it");
        let timeline = h.store.timeline(second).await.unwrap();
        let escalated = timeline.iter().find(|r| r.entry.kind == AuditKind::Escalated).unwrap();
        let reason = &escalated.entry.summary;
        assert!(reason.contains("recurring: oom-memory-limit at Deployment/shop/cart"), "{reason}");
        assert!(reason.contains(&h.incident.short()), "{reason}");
        // The first one was the first: nothing recurring there.
        assert!(!kinds(&h.store, h.incident).await.contains(&AuditKind::Escalated));
    }

    #[actix::test]
    async fn a_plan_waiting_for_approval_is_withdrawn_when_another_incident_fixes_the_same() {
        // The first incident is not sure enough and proposes the fix; a second, sure, makes it.
        let (h, _) = harness(vec![vec![oom(0.5)], vec![oom(0.85)]]).await;
        h.director.send(Diagnose { incident: h.incident, context: collected_now() }).await.unwrap();
        let proposed = h.store.pending_plans().await.unwrap();
        assert_eq!(proposed.len(), 1);
        let other = h.store.ingest(vec![alert("KubePodNotReady", &[("namespace", "shop"), ("pod", "web-1")])]).await;
        let second = other.unwrap().new_incidents()[0];
        h.director.send(Diagnose { incident: second, context: collected_now() }).await.unwrap();

        assert_eq!(h.executed.lock().unwrap().len(), 1, "the fix ran once");
        assert!(h.store.pending_plans().await.unwrap().is_empty(), "nothing is left to approve");
        let withdrawn = h.store.plan(proposed[0].plan.id).await.unwrap().unwrap();
        assert_eq!(withdrawn.status, PlanStatus::Rejected);
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::Resolved);
        let closed = last_summary(&h, AuditKind::IncidentClosed).await;
        assert!(closed.starts_with(&format!("resolved by {}'s fix", second.short())), "{closed}");
        // Approving it later does nothing.
        let verdict = PlanVerdict { plan: proposed[0].plan.id, approved: true, by: "api:alice".into() };
        assert!(h.director.send(verdict).await.unwrap().is_err());
    }
}
