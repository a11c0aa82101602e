//! The Director actor: fans an incident's context out to the specialists, collects their findings with a
//! deadline, recalls similar incidents, decides, and sees the decision through — straight to the Executor,
//! or after a human's approval — recording every step in the audit trail and notifying as it goes.
use actix::{Actor, Context, Handler, Recipient, ResponseFuture};
use futures::future::join_all;
use medic_core::decision::{Decision, DecisionRecord, Recollection};
use medic_core::messages::{
    AlertResolved, Diagnose, Execute, IncidentEvent, IncidentMemory, Investigate, Notify, OpenIncident, PlanVerdict,
    Recall, Remember,
};
use medic_core::{
    ActionSpec, AuditEntry, AuditKind, ExecutionOutcome, ExecutionReport, FindingReport, IncidentContext, IncidentUid,
    Mode, ModesConfig, ObjectRef, Plan, PlanId, Risk,
};
use medic_playbooks::Catalog;
use medic_store::{Diagnosis, IncidentStatus, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{Instrument, info, warn};

use crate::adjudicate::Adjudicator;
use crate::decide::{DecisionInput, Thresholds, decide, proposal, track_record_weight};
use follow_up::FollowUp;

const ACTOR: &str = "director";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectorConfig {
    /// How long the specialists have to answer; a late one is recorded as missing, not waited for.
    pub specialist_deadline_ms: u64,
    /// How long memory has to recall similar incidents.
    pub recall_deadline_ms: u64,
    /// How many similar incidents to recall.
    pub recall_k: usize,
    pub min_confidence: f64,
    pub min_margin: f64,
    pub min_similarity: f64,
    /// Every plan waits for a human's approval, whatever its playbook says.
    pub always_require_approval: bool,
    /// A verified fix of a cause (class and target) already fixed within this many minutes is recurring:
    /// the fix holds for a while and the cause comes back, so after it medic escalates for the change it
    /// cannot make (code, configuration, capacity).
    pub recurrence_window_mins: u64,
}

impl Default for DirectorConfig {
    fn default() -> Self {
        let t = Thresholds::default();
        Self {
            specialist_deadline_ms: 2_000,
            recall_deadline_ms: 500,
            recall_k: 5,
            min_confidence: t.min_confidence,
            min_margin: t.min_margin,
            min_similarity: t.min_similarity,
            always_require_approval: false,
            recurrence_window_mins: 360,
        }
    }
}

impl DirectorConfig {
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| Err(crate::Error::Config(what.to_string()));
        if self.specialist_deadline_ms == 0 {
            return bad("specialist_deadline_ms must be positive");
        }
        if !(0.0..=1.0).contains(&self.min_confidence) || !(0.0..=1.0).contains(&self.min_margin) {
            return bad("min_confidence and min_margin must be within 0..1");
        }
        if !(0.0..=1.0).contains(&self.min_similarity) {
            return bad("min_similarity must be within 0..1");
        }
        if self.recurrence_window_mins == 0 {
            return bad("recurrence_window_mins must be positive");
        }
        Ok(())
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_confidence: self.min_confidence,
            min_margin: self.min_margin,
            min_similarity: self.min_similarity,
        }
    }
}

/// Where the Director sends its work. Specialists are named so a missing one can be reported.
pub struct DirectorLinks {
    pub specialists: Vec<(String, Recipient<Investigate>)>,
    pub executor: Recipient<Execute>,
    pub recall: Option<Recipient<Recall>>,
    pub remember: Option<Recipient<Remember>>,
    pub notify: Option<Recipient<Notify>>,
    /// The collector, to gather the context again when alerts that arrived after a decision still fire
    /// once its fix is verified.
    pub recollect: Option<Recipient<OpenIncident>>,
}

/// What a plan waiting for a human was decided from (the plan itself is in the store).
#[derive(Debug, Clone)]
struct Pending {
    /// Its incident, class and target: another incident's verified fix of the same makes it moot.
    plan: Arc<Plan>,
    context: Arc<IncidentContext>,
    record: DecisionRecord,
}

/// How a fix that other incidents were waiting on ended.
#[derive(Debug, Clone)]
struct FixOutcome {
    leader: IncidentUid,
    verified: bool,
    summary: String,
}

/// A target some incident is fixing, and the incidents that found the same cause meanwhile.
struct Fix {
    leader: IncidentUid,
    followers: Vec<tokio::sync::oneshot::Sender<FixOutcome>>,
}

struct Shared {
    config: DirectorConfig,
    /// How far medic may go in each namespace.
    modes: ModesConfig,
    links: DirectorLinks,
    catalog: Arc<Catalog>,
    store: Store,
    pending: Mutex<HashMap<PlanId, Pending>>,
    /// One fix per target at a time: a second incident with the same cause follows the first.
    fixes: Mutex<HashMap<ObjectRef, Fix>>,
    /// A model's second opinion when the hypotheses are close (`[llm] director`).
    adjudicator: Option<Arc<dyn Adjudicator>>,
    /// Incidents looked at again after a verified fix.
    follow_ups: Mutex<HashMap<IncidentUid, FollowUp>>,
}

pub struct Director {
    shared: Arc<Shared>,
}

impl Director {
    pub fn new(config: DirectorConfig, links: DirectorLinks, catalog: Arc<Catalog>, store: Store) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                modes: ModesConfig::default(),
                links,
                catalog,
                store,
                pending: Mutex::new(HashMap::new()),
                fixes: Mutex::new(HashMap::new()),
                adjudicator: None,
                follow_ups: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Director {
    /// The mode of each namespace (act everywhere unless given). Call before the actor starts.
    pub fn with_modes(mut self, modes: ModesConfig) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.modes = modes;
        }
        self
    }
}

impl Director {
    /// Asks `adjudicator` for a second opinion when the hypotheses are close. Call before the actor starts.
    pub fn with_adjudicator(mut self, adjudicator: Arc<dyn Adjudicator>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.adjudicator = Some(adjudicator);
        }
        self
    }
}

/// medic restarted while an incident was in flight: see it through from where it was.
#[derive(Debug, Clone, actix::Message)]
#[rtype(result = "()")]
pub enum Resume {
    /// Its plan had started: execute it again; the Executor's journal skips the steps already applied and
    /// verification takes over.
    Plan { plan: Box<Plan>, approved_by: Option<String> },
    /// It cannot be resumed (its plan is lost): hand it to a human.
    Escalate { incident: IncidentUid, reason: String },
}

impl Actor for Director {
    type Context = Context<Self>;
}

impl Handler<Resume> for Director {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Resume, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move { shared.resume(msg).await })
    }
}

impl Handler<Diagnose> for Director {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Diagnose, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        let span = tracing::info_span!("diagnose", incident = %msg.incident);
        Box::pin(async move { shared.diagnose(msg.incident, msg.context).await }.instrument(span))
    }
}

impl Handler<PlanVerdict> for Director {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, msg: PlanVerdict, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move { shared.verdict(msg).await })
    }
}

impl Handler<AlertResolved> for Director {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: AlertResolved, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        let span = tracing::info_span!("alert_resolved", incident = %msg.incident);
        Box::pin(
            async move {
                let summary = format!("alert {} resolved at its source", msg.alert.name);
                shared
                    .audit(
                        AuditEntry::new(msg.incident, AuditKind::AlertResolved, ACTOR, summary).with_detail(&msg.alert),
                    )
                    .await;
            }
            .instrument(span),
        )
    }
}

impl Shared {
    /// Appends to the audit trail, stamped in the clock medic runs on (the lab's virtual clock in the lab).
    async fn audit(&self, mut entry: AuditEntry) {
        entry.at = self.store.clock().now();
        if let Err(e) = self.store.append_audit(entry).await {
            warn!(error = %e, "could not append to the audit trail");
        }
    }

    async fn status(&self, incident: IncidentUid, status: IncidentStatus) {
        if let Err(e) = self.store.set_incident_status(incident, status).await {
            warn!(error = %e, status = status.as_str(), "could not record the incident's status");
        }
    }

    async fn notify(&self, incident: IncidentUid, event: IncidentEvent) {
        if let Some(notify) = &self.links.notify
            && let Err(e) = notify.send(Notify { incident, event }).await
        {
            warn!(error = %e, "notifier unavailable");
        }
    }

    async fn diagnose(self: Arc<Self>, incident: IncidentUid, context: Arc<IncidentContext>) {
        self.status(incident, IncidentStatus::Investigating).await;
        let (mut findings, missing) = self.investigate(incident, &context).await;
        let summary = findings
            .iter()
            .map(|f| match (&f.error, f.hypotheses.first()) {
                (Some(e), _) => format!("{}: failed ({e})", f.specialist),
                (None, Some(h)) => format!("{}: {} at {} ({:.2})", f.specialist, h.class, h.target, h.confidence),
                (None, None) => format!("{}: nothing", f.specialist),
            })
            .chain(missing.iter().map(|m| format!("{m}: no answer in time")))
            .collect::<Vec<_>>()
            .join("; ");
        self.audit(AuditEntry::new(incident, AuditKind::Findings, ACTOR, summary).with_detail(&findings)).await;

        let recalled = self.recall(incident, &context).await;
        if !recalled.is_empty() {
            let summary = recalled
                .iter()
                .map(|r| {
                    format!(
                        "{} similarity {:.2} ({}, fix {})",
                        r.incident.short(),
                        r.similarity,
                        r.class,
                        if r.fix_worked { "worked" } else { "failed" }
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            self.audit(AuditEntry::new(incident, AuditKind::Recall, ACTOR, summary).with_detail(&recalled)).await;
        }

        let weights = self.weights().await;
        let decide_over = |findings: &[FindingReport]| {
            decide(&DecisionInput {
                incident,
                context: &context,
                findings,
                missing: &missing,
                recalled: &recalled,
                catalog: &self.catalog,
                weights: &weights,
                thresholds: self.config.thresholds(),
            })
        };
        let mut record = decide_over(&findings);
        // Close hypotheses: a model's checked second opinion joins the findings and `decide` runs again,
        // with the same thresholds.
        if let Some(adjudicator) = self.adjudicator.as_ref().filter(|_| crate::adjudicate::is_close(&record))
            && let Some(opinion) = adjudicator.adjudicate(&context, &record).await
        {
            findings.push(opinion);
            record = decide_over(&findings);
        }
        // An escalation comes with the plan medic would run, for a human to approve.
        let proposed = proposal(
            &DecisionInput {
                incident,
                context: &context,
                findings: &findings,
                missing: &missing,
                recalled: &recalled,
                catalog: &self.catalog,
                weights: &weights,
                thresholds: self.config.thresholds(),
            },
            &record,
        )
        .map(Arc::new);
        let summary = decision_summary(&record);
        info!(decision = record.decision.kind(), "{summary}");
        self.audit(AuditEntry::new(incident, AuditKind::Decision, ACTOR, summary).with_detail(&record)).await;
        if let Some(top) = record.top() {
            let diagnosis = Diagnosis {
                class: top.hypothesis.class,
                target: Some(top.hypothesis.target.clone()),
                summary: format!("{} at {} (score {:.2})", top.hypothesis.class, top.hypothesis.target, top.score),
            };
            if let Err(e) = self.store.set_diagnosis(incident, diagnosis).await {
                warn!(error = %e, "could not record the diagnosis");
            }
        }
        self.status(incident, IncidentStatus::Diagnosed).await;
        self.notify(incident, IncidentEvent::Diagnosed { record: Box::new(record.clone()) }).await;

        let follow_up = self.follow_ups.lock().unwrap_or_else(|e| e.into_inner()).get(&incident).cloned();
        match (&record.decision, follow_up) {
            // The second look found nothing more to fix: the fix that was verified closes the incident.
            (Decision::Observe { .. }, Some(follow_up)) => {
                self.follow_ups.lock().unwrap_or_else(|e| e.into_inner()).remove(&incident);
                self.audit(AuditEntry::new(incident, AuditKind::IncidentClosed, ACTOR, follow_up.resolved.clone()))
                    .await;
                self.status(incident, IncidentStatus::Resolved).await;
                self.notify(incident, IncidentEvent::Closed { summary: follow_up.resolved }).await;
                return;
            }
            (_, Some(_)) if !matches!(record.decision, Decision::Act { .. }) => {
                self.follow_ups.lock().unwrap_or_else(|e| e.into_inner()).remove(&incident);
            }
            _ => {}
        }
        match &record.decision {
            Decision::Observe { reason } => {
                let summary = format!("no fault to fix: {reason}");
                self.audit(AuditEntry::new(incident, AuditKind::IncidentClosed, ACTOR, summary.clone())).await;
                self.status(incident, IncidentStatus::Closed).await;
                self.notify(incident, IncidentEvent::Closed { summary }).await;
            }
            Decision::Escalate { reason } => match proposed {
                // Not sure enough to act: a human decides, with the plan medic would run ready to approve
                // (never in an observing namespace).
                Some(plan) if self.mode_of(&plan, &context).0 != Mode::Observe => {
                    self.propose(plan, context, record.clone(), reason.clone()).await;
                }
                _ => self.escalate(incident, reason.clone(), Some(record.clone())).await,
            },
            Decision::Act { plan } => {
                let plan = Arc::new(plan.clone());
                let (mode, namespace) = self.mode_of(&plan, &context);
                if mode == Mode::Observe {
                    return self.observe(&plan, namespace, record).await;
                }
                if let Some(leader) = self.hold_or_follow(&plan) {
                    return self.follow(&plan, leader).await;
                }
                match self.approval_reason(&plan, mode, namespace) {
                    Some(reason) => self.await_approval(plan, context, record, reason).await,
                    None => self.clone().execute(plan, context, record, None).await,
                }
            }
        }
    }

    /// Ask every specialist at once; whoever has not answered by the deadline is missing.
    async fn investigate(
        &self,
        incident: IncidentUid,
        context: &Arc<IncidentContext>,
    ) -> (Vec<FindingReport>, Vec<String>) {
        let deadline = Duration::from_millis(self.config.specialist_deadline_ms);
        let asks = self.links.specialists.iter().map(|(name, specialist)| {
            let msg = Investigate { incident, context: context.clone() };
            async move { (name.clone(), tokio::time::timeout(deadline, specialist.send(msg)).await) }
        });
        let mut findings = Vec::new();
        let mut missing = Vec::new();
        for (name, answer) in join_all(asks).await {
            match answer {
                Ok(Ok(report)) if report.error.is_none() => findings.push(report),
                Ok(Ok(report)) => {
                    warn!(specialist = %name, error = ?report.error, "specialist failed");
                    missing.push(name);
                    findings.push(report);
                }
                Ok(Err(e)) => {
                    warn!(specialist = %name, error = %e, "specialist unreachable");
                    missing.push(name);
                }
                Err(_) => {
                    warn!(specialist = %name, "specialist did not answer before the deadline");
                    missing.push(name);
                }
            }
        }
        (findings, missing)
    }

    async fn recall(&self, incident: IncidentUid, context: &Arc<IncidentContext>) -> Vec<Recollection> {
        let Some(recall) = &self.links.recall else { return Vec::new() };
        let deadline = Duration::from_millis(self.config.recall_deadline_ms);
        let msg = Recall { incident, context: context.clone(), k: self.config.recall_k };
        match tokio::time::timeout(deadline, recall.send(msg)).await {
            Ok(Ok(recalled)) => recalled,
            Ok(Err(e)) => {
                warn!(error = %e, "memory unavailable");
                Vec::new()
            }
            Err(_) => {
                warn!("memory did not answer before the deadline");
                Vec::new()
            }
        }
    }

    async fn weights(&self) -> BTreeMap<String, f64> {
        match self.store.track_records().await {
            Ok(records) => records
                .into_iter()
                .map(|r| (r.specialist, track_record_weight(r.overall.confirmed, r.overall.refuted)))
                .collect(),
            Err(e) => {
                warn!(error = %e, "track records unavailable; weighing specialists equally");
                BTreeMap::new()
            }
        }
    }

    async fn resume(self: Arc<Self>, msg: Resume) {
        match msg {
            Resume::Escalate { incident, reason } => {
                let summary = format!("resumed after a restart: {reason}");
                self.audit(AuditEntry::new(incident, AuditKind::Resumed, ACTOR, summary)).await;
                self.escalate(incident, reason, None).await;
            }
            Resume::Plan { plan, approved_by } => {
                let plan = Arc::new(*plan);
                let incident = plan.incident;
                let span = tracing::info_span!("resume", incident = %incident, plan = %plan.id);
                let summary = format!("resumed after a restart: plan {} ({}) is seen through", plan.id, plan.playbook);
                self.audit(AuditEntry::new(incident, AuditKind::Resumed, ACTOR, summary).with_detail(&*plan)).await;
                if let Some(leader) = self.hold_or_follow(&plan) {
                    return self.follow(&plan, leader).instrument(span).await;
                }
                // The context and the findings died with the process: nothing to remember or credit.
                let context = Arc::new(IncidentContext::default());
                let record = empty_record(incident, "resumed after a restart");
                self.execute(plan, context, record, approved_by).instrument(span).await;
            }
        }
    }

    async fn escalate(&self, incident: IncidentUid, reason: String, record: Option<DecisionRecord>) {
        let mut entry = AuditEntry::new(incident, AuditKind::Escalated, ACTOR, format!("escalated: {reason}"));
        if let Some(r) = &record {
            entry = entry.with_detail(&r.ranked);
        }
        self.audit(entry).await;
        self.status(incident, IncidentStatus::Escalated).await;
        self.notify(incident, IncidentEvent::Escalated { reason, record: record.map(Box::new) }).await;
    }

    /// The namespaces a plan changes — its steps', its target's, and for a node step those of the pods on
    /// the node as the context saw them — and the strictest mode among them, with the namespace imposing it.
    fn mode_of(&self, plan: &Plan, context: &IncidentContext) -> (Mode, Option<String>) {
        let mut namespaces: BTreeSet<&str> = plan.target.namespace.as_deref().into_iter().collect();
        for step in &plan.steps {
            match step {
                ActionSpec::Cordon { node, .. } | ActionSpec::Drain { node } => namespaces.extend(
                    context.pods.iter().filter(|p| p.node.as_deref() == Some(node)).map(|p| p.namespace.as_str()),
                ),
                _ => namespaces.extend(step.namespace()),
            }
        }
        let (mode, by) = self.modes.strictest(namespaces);
        (mode, by.map(str::to_string))
    }

    /// Why the plan must wait for a human, if it must.
    fn approval_reason(&self, plan: &Plan, mode: Mode, namespace: Option<String>) -> Option<String> {
        if mode == Mode::Propose {
            let whose = namespace.map_or_else(|| "the default mode".into(), |ns| format!("namespace {ns}"));
            Some(format!("{whose} is in propose mode"))
        } else if plan.risk == Risk::High {
            Some(format!("playbook {} is high-risk", plan.playbook))
        } else if plan.requires_approval {
            Some(format!("playbook {} asks for approval", plan.playbook))
        } else {
            self.config.always_require_approval.then(|| "every plan needs approval ([director])".to_string())
        }
    }

    /// Observe mode: record and tell what medic would have done, write nothing, leave it to a human.
    async fn observe(&self, plan: &Plan, namespace: Option<String>, record: DecisionRecord) {
        let incident = plan.incident;
        let whose = namespace.map_or_else(|| "the default mode".into(), |ns| format!("namespace {ns}"));
        let steps = plan.steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        let summary = format!("{whose} is in observe mode: medic would have run {} ({steps})", plan.playbook);
        self.audit(AuditEntry::new(incident, AuditKind::Decision, ACTOR, summary).with_detail(plan)).await;
        let reason = format!("{whose} is in observe mode; nothing was written. The plan medic would have run: {steps}");
        self.escalate(incident, reason, Some(record)).await;
    }

    async fn await_approval(
        &self,
        plan: Arc<Plan>,
        context: Arc<IncidentContext>,
        record: DecisionRecord,
        reason: String,
    ) {
        let incident = plan.incident;
        if let Err(e) = self.store.save_plan(&plan).await {
            warn!(error = %e, "could not save the plan for approval");
            return self
                .escalate(incident, format!("the plan could not be saved for approval: {e}"), Some(record))
                .await;
        }
        let steps = plan.steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        let summary = format!("plan {} waits for approval ({reason}): {steps}", plan.id);
        self.audit(AuditEntry::new(incident, AuditKind::ApprovalRequested, ACTOR, summary).with_detail(&*plan)).await;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plan.id, Pending { plan: plan.clone(), context, record });
        self.status(incident, IncidentStatus::AwaitingApproval).await;
        self.notify(incident, IncidentEvent::ApprovalRequested { plan: Box::new((*plan).clone()) }).await;
    }

    /// Escalates with a proposal: the plan waits for a human's approval, and the escalation says which plan
    /// to approve.
    async fn propose(&self, plan: Arc<Plan>, context: Arc<IncidentContext>, record: DecisionRecord, reason: String) {
        let incident = plan.incident;
        self.await_approval(plan.clone(), context, record.clone(), format!("escalated: {reason}")).await;
        let reason = format!("{reason}; plan {} ({}) is proposed for approval", plan.id, plan.playbook);
        self.escalate(incident, reason, Some(record)).await;
    }

    async fn verdict(self: Arc<Self>, msg: PlanVerdict) -> Result<(), String> {
        let stored = self.store.decide_plan(msg.plan, msg.approved, msg.by.clone()).await.map_err(|e| e.to_string())?;
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&msg.plan);
        let plan = Arc::new(stored.plan);
        let incident = plan.incident;
        let (kind, word) =
            if msg.approved { (AuditKind::Approved, "approved") } else { (AuditKind::Rejected, "rejected") };
        self.audit(AuditEntry::new(incident, kind, ACTOR, format!("plan {} {word} by {}", plan.id, msg.by))).await;
        if !msg.approved {
            let reason = format!("plan rejected by {}", msg.by);
            self.release(&plan, false, reason.clone());
            self.escalate(incident, reason, pending.map(|p| p.record)).await;
            return Ok(());
        }
        let (context, record) = match pending {
            Some(p) => (p.context, p.record),
            // Approved after a restart: the plan is all that survived; the Executor re-reads the cluster.
            None => (Arc::new(IncidentContext::default()), empty_record(incident, "approved after a restart")),
        };
        let span = tracing::info_span!("execute", incident = %incident);
        actix::spawn(async move { self.execute(plan, context, record, Some(msg.by)).await }.instrument(span));
        Ok(())
    }

    async fn execute(
        self: Arc<Self>,
        plan: Arc<Plan>,
        context: Arc<IncidentContext>,
        record: DecisionRecord,
        approved_by: Option<String>,
    ) {
        let incident = plan.incident;
        self.status(incident, IncidentStatus::Acting).await;
        let msg = Execute { plan: plan.clone(), context: context.clone(), approved_by: approved_by.clone() };
        let report = match self.links.executor.send(msg).await {
            Ok(report) => report,
            Err(e) => {
                let reason = format!("the executor is unavailable: {e}");
                self.release(&plan, false, reason.clone());
                return self.escalate(incident, reason, Some(record)).await;
            }
        };
        let verified = matches!(report.outcome, ExecutionOutcome::Verified);
        let summary = format!("{} by {}: {}", plan.class, plan.playbook, report.outcome.kind());
        self.conclude(&plan, context, &record, report, approved_by).await;
        self.release(&plan, verified, summary);
    }

    /// Takes the plan's target for this incident, or — when another incident is already fixing the same
    /// target — returns a receiver for that fix's outcome.
    fn hold_or_follow(&self, plan: &Plan) -> Option<(IncidentUid, tokio::sync::oneshot::Receiver<FixOutcome>)> {
        let mut fixes = self.fixes.lock().unwrap_or_else(|e| e.into_inner());
        match fixes.get_mut(&plan.target) {
            Some(fix) if fix.leader != plan.incident => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                fix.followers.push(tx);
                Some((fix.leader, rx))
            }
            Some(_) => None,
            None => {
                fixes.insert(plan.target.clone(), Fix { leader: plan.incident, followers: Vec::new() });
                None
            }
        }
    }

    /// The fix of `plan` is over: tell the incidents that were waiting on it.
    fn release(&self, plan: &Plan, verified: bool, summary: String) {
        let fix = {
            let mut fixes = self.fixes.lock().unwrap_or_else(|e| e.into_inner());
            match fixes.get(&plan.target) {
                Some(fix) if fix.leader == plan.incident => fixes.remove(&plan.target),
                _ => None,
            }
        };
        for follower in fix.map(|f| f.followers).unwrap_or_default() {
            let _ = follower.send(FixOutcome { leader: plan.incident, verified, summary: summary.clone() });
        }
    }

    /// Another incident is fixing the same cause: wait for it rather than act twice.
    async fn follow(&self, plan: &Plan, (leader, outcome): (IncidentUid, tokio::sync::oneshot::Receiver<FixOutcome>)) {
        let incident = plan.incident;
        let summary =
            format!("{} at {} is already being fixed by {}: following it", plan.class, plan.target, leader.short());
        self.audit(AuditEntry::new(incident, AuditKind::Decision, ACTOR, summary)).await;
        self.status(incident, IncidentStatus::Acting).await;
        match outcome.await {
            Ok(FixOutcome { leader, verified: true, summary }) => {
                let summary = format!("resolved by {}'s fix ({summary})", leader.short());
                self.audit(AuditEntry::new(incident, AuditKind::IncidentClosed, ACTOR, summary.clone())).await;
                self.status(incident, IncidentStatus::Resolved).await;
                self.notify(incident, IncidentEvent::Closed { summary }).await;
            }
            Ok(FixOutcome { leader, summary, .. }) => {
                self.escalate(incident, format!("the fix of {} did not work ({summary})", leader.short()), None).await;
            }
            Err(_) => self.escalate(incident, format!("lost track of {}'s fix", leader.short()), None).await,
        }
    }

    async fn conclude(
        &self,
        plan: &Plan,
        context: Arc<IncidentContext>,
        record: &DecisionRecord,
        report: ExecutionReport,
        approved_by: Option<String>,
    ) {
        let incident = plan.incident;
        let collected_at = context.collected_at;
        let worked = match &report.outcome {
            ExecutionOutcome::Verified => Some(true),
            ExecutionOutcome::VerificationFailed { .. } => Some(false),
            _ => None,
        };
        if let Some(worked) = worked {
            // Every specialist that backed the chosen (class, target) learns whether it was right.
            if let Some(chosen) =
                record.ranked.iter().find(|r| r.hypothesis.class == plan.class && r.hypothesis.target == plan.target)
            {
                if let Some(adjudicator) = &self.adjudicator {
                    adjudicator.credit(&chosen.supported_by, worked);
                }
                for specialist in &chosen.supported_by {
                    if let Err(e) = self.store.record_specialist_outcome(specialist, incident, plan.class, worked).await
                    {
                        warn!(error = %e, "could not record the track record");
                    }
                }
            }
            // A plan resumed after a restart has lost the context its memory would be about.
            let resumed = record.ranked.is_empty() && context.pods.is_empty();
            if let Some(remember) = self.links.remember.as_ref().filter(|_| !resumed) {
                let memory = IncidentMemory {
                    incident,
                    context,
                    class: plan.class,
                    target: Some(plan.target.clone()),
                    playbook: Some(plan.playbook.clone()),
                    steps: plan.steps.clone(),
                    fix_worked: worked,
                    approved_by: approved_by.clone(),
                };
                if let Err(e) = remember.send(Remember { memory }).await {
                    warn!(error = %e, "memory unavailable; the incident is not remembered");
                } else {
                    self.audit(AuditEntry::new(
                        incident,
                        AuditKind::Remembered,
                        ACTOR,
                        format!(
                            "remembered: {} by {}, {}",
                            plan.class,
                            plan.playbook,
                            if worked { "verified" } else { "failed" }
                        ),
                    ))
                    .await;
                }
            }
        }
        match &report.outcome {
            ExecutionOutcome::Verified => {
                let summary = format!("resolved: {} fixed by {}", plan.class, plan.playbook);
                self.settle_moot_proposals(plan, &summary).await;
                if self.follow_up(incident, collected_at, &summary).await {
                    self.notify(incident, IncidentEvent::Verified { report: Box::new(report) }).await;
                    return;
                }
                self.audit(
                    AuditEntry::new(incident, AuditKind::IncidentClosed, ACTOR, summary.clone()).with_detail(&report),
                )
                .await;
                self.status(incident, IncidentStatus::Resolved).await;
                self.notify(incident, IncidentEvent::Verified { report: Box::new(report) }).await;
                self.notify(incident, IncidentEvent::Closed { summary }).await;
                if let Some(reason) = self.recurring(plan).await {
                    self.escalate(incident, reason, Some(record.clone())).await;
                }
            }
            ExecutionOutcome::VerificationFailed { rolled_back } => {
                let summary = format!(
                    "{} did not fix {}{}",
                    plan.playbook,
                    plan.class,
                    if *rolled_back { "; rolled back" } else { "" }
                );
                self.audit(
                    AuditEntry::new(incident, AuditKind::IncidentClosed, ACTOR, summary.clone()).with_detail(&report),
                )
                .await;
                self.status(incident, IncidentStatus::Failed).await;
                self.notify(incident, IncidentEvent::RolledBack { report: Box::new(report) }).await;
                self.escalate(incident, summary, Some(record.clone())).await;
            }
            ExecutionOutcome::Blocked { rule, reason } => {
                self.escalate(incident, format!("blocked by {rule}: {reason}"), Some(record.clone())).await;
            }
            ExecutionOutcome::Failed { step, error, .. } => {
                self.status(incident, IncidentStatus::Failed).await;
                self.notify(incident, IncidentEvent::Acted { report: Box::new(report.clone()) }).await;
                self.escalate(incident, format!("step {} failed: {error}", step + 1), Some(record.clone())).await;
            }
            ExecutionOutcome::Suspended { reason } => {
                self.escalate(incident, format!("writes suspended: {reason}"), Some(record.clone())).await;
            }
        }
    }
}

fn empty_record(incident: IncidentUid, reason: &str) -> DecisionRecord {
    DecisionRecord {
        incident,
        decision: Decision::Escalate { reason: reason.into() },
        ranked: Vec::new(),
        recalled: Vec::new(),
        missing: Vec::new(),
        min_confidence: 0.0,
        min_margin: 0.0,
    }
}

/// One sentence: what was decided and why.
pub fn decision_summary(record: &DecisionRecord) -> String {
    match &record.decision {
        Decision::Act { plan } => {
            let steps = plan.steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            format!("act: {} at {} → {} ({steps})", plan.class, plan.target, plan.playbook)
        }
        Decision::Observe { reason } => format!("observe: {reason}"),
        Decision::Escalate { reason } => format!("escalate: {reason}"),
    }
}

mod follow_up;

#[cfg(test)]
mod tests {
    use super::*;
    use actix::{Actor, Addr, Context, Handler};
    use medic_agents::{Specialist, SpecialistActor};
    use medic_core::testkit::{ContextBuilder, alert};
    use medic_core::{Evidence, EvidenceSource, Hypothesis, ObjectRef, RootCauseClass};
    use medic_store::StoreConfig;

    /// A specialist that always says the same thing.
    struct Scripted(&'static str, Vec<Hypothesis>);
    impl Specialist for Scripted {
        fn name(&self) -> &'static str {
            self.0
        }
        fn analyse(&self, _: &IncidentContext) -> Vec<Hypothesis> {
            self.1.clone()
        }
    }

    /// A specialist mailbox that answers too late.
    struct Sleepy;
    impl Actor for Sleepy {
        type Context = Context<Self>;
    }
    impl Handler<Investigate> for Sleepy {
        type Result = ResponseFuture<FindingReport>;
        fn handle(&mut self, msg: Investigate, _: &mut Self::Context) -> Self::Result {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                FindingReport {
                    incident: msg.incident,
                    specialist: "sleepy".into(),
                    hypotheses: vec![],
                    error: None,
                    elapsed: Duration::ZERO,
                }
            })
        }
    }

    /// Stands in for the Executor: records what it was asked and answers with a fixed outcome after `delay`.
    struct ExecutorProbe {
        seen: Arc<Mutex<Vec<Execute>>>,
        outcome: ExecutionOutcome,
        delay: Duration,
    }
    impl Actor for ExecutorProbe {
        type Context = Context<Self>;
    }
    impl Handler<Execute> for ExecutorProbe {
        type Result = ResponseFuture<ExecutionReport>;
        fn handle(&mut self, msg: Execute, _: &mut Self::Context) -> Self::Result {
            let report = ExecutionReport {
                incident: msg.plan.incident,
                plan: msg.plan.id,
                outcome: self.outcome.clone(),
                steps: vec![],
                verification: None,
            };
            self.seen.lock().unwrap().push(msg);
            let delay = self.delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                report
            })
        }
    }

    pub(super) fn oom(confidence: f64) -> Hypothesis {
        let target = ObjectRef::deployment("shop", "cart");
        Hypothesis {
            class: RootCauseClass::OomMemoryLimit,
            target: target.clone(),
            confidence,
            evidence: vec![Evidence::new(EvidenceSource::PodStatus, Some(target), "OOMKilled, exit code 137")],
            playbook: Some("oom-memory-limit".into()),
            params: [("container".to_string(), "app".to_string()), ("memory_limit".to_string(), "256Mi".to_string())]
                .into(),
            specialist: "compute".into(),
        }
    }

    pub(super) struct Harness {
        _dir: tempfile::TempDir,
        pub(super) store: Store,
        pub(super) director: Addr<Director>,
        pub(super) executed: Arc<Mutex<Vec<Execute>>>,
        pub(super) incident: IncidentUid,
    }

    async fn harness(specialists: Vec<(String, Recipient<Investigate>)>, config: DirectorConfig) -> Harness {
        harness_with(specialists, config, None).await
    }

    /// `recollect`: where the Director asks for a context again (a probe).
    pub(super) async fn harness_with(
        specialists: Vec<(String, Recipient<Investigate>)>,
        config: DirectorConfig,
        recollect: Option<Recipient<OpenIncident>>,
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
        let outcome = store
            .ingest(vec![alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-7d9f8c6b5-abcde")])])
            .await
            .unwrap();
        let incident = outcome.new_incidents()[0];
        let executed = Arc::new(Mutex::new(Vec::new()));
        let executor = ExecutorProbe {
            seen: executed.clone(),
            outcome: ExecutionOutcome::Verified,
            delay: Duration::from_millis(300),
        }
        .start();
        let links = DirectorLinks {
            specialists,
            executor: executor.recipient(),
            recall: None,
            remember: None,
            notify: None,
            recollect,
        };
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let director = Director::new(config, links, catalog, store.clone()).start();
        Harness { _dir: dir, store, director, executed, incident }
    }

    fn scripted(name: &'static str, hypotheses: Vec<Hypothesis>) -> (String, Recipient<Investigate>) {
        (name.to_string(), SpecialistActor::new(Arc::new(Scripted(name, hypotheses))).start().recipient())
    }

    pub(super) async fn kinds(store: &Store, incident: IncidentUid) -> Vec<AuditKind> {
        store.timeline(incident).await.unwrap().into_iter().map(|r| r.entry.kind).collect()
    }

    pub(super) fn context() -> Arc<IncidentContext> {
        Arc::new(ContextBuilder::new().deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {}).build())
    }

    #[actix::test]
    async fn a_confident_diagnosis_is_executed_verified_and_credited() {
        let h =
            harness(vec![scripted("compute", vec![oom(0.85)]), scripted("network", vec![])], DirectorConfig::default())
                .await;
        h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();

        let executed = h.executed.lock().unwrap().clone();
        assert_eq!(executed.len(), 1);
        let plan = &executed[0].plan;
        assert_eq!((plan.class, plan.target.name.as_str()), (RootCauseClass::OomMemoryLimit, "cart"));
        assert_eq!(plan.steps[0].to_string(), "set resources of shop/cart container app: limits.memory=256Mi");

        let incident = h.store.incident(h.incident).await.unwrap().unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(incident.root_cause, Some(RootCauseClass::OomMemoryLimit));
        let timeline = kinds(&h.store, h.incident).await;
        for kind in [AuditKind::Findings, AuditKind::Decision, AuditKind::IncidentClosed] {
            assert!(timeline.contains(&kind), "{kind} missing from {timeline:?}");
        }
        let record = h.store.track_record("compute").await.unwrap();
        assert_eq!(record.overall.confirmed, 1);
    }

    #[actix::test]
    async fn a_late_specialist_is_recorded_missing_not_waited_for() {
        let config = DirectorConfig { specialist_deadline_ms: 200, ..DirectorConfig::default() };
        let sleepy = ("sleepy".to_string(), Sleepy.start().recipient());
        let h = harness(vec![scripted("compute", vec![oom(0.85)]), sleepy], config).await;
        let started = std::time::Instant::now();
        h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(30), "waited for the late specialist");
        assert_eq!(h.executed.lock().unwrap().len(), 1);
        let findings = h
            .store
            .timeline(h.incident)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.entry.kind == AuditKind::Findings)
            .unwrap();
        assert!(findings.entry.summary.contains("sleepy: no answer in time"), "{}", findings.entry.summary);
    }

    #[actix::test]
    async fn an_ambiguous_incident_escalates_without_acting() {
        let h = harness(vec![scripted("compute", vec![oom(0.5)])], DirectorConfig::default()).await;
        h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
        assert!(h.executed.lock().unwrap().is_empty());
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::Escalated);
        assert!(kinds(&h.store, h.incident).await.contains(&AuditKind::Escalated));
    }

    #[actix::test]
    async fn a_plan_waits_for_approval_and_runs_once_approved() {
        let config = DirectorConfig { always_require_approval: true, ..DirectorConfig::default() };
        let h = harness(vec![scripted("compute", vec![oom(0.85)])], config).await;
        h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
        assert!(h.executed.lock().unwrap().is_empty(), "acted before approval");
        assert_eq!(h.store.incident(h.incident).await.unwrap().unwrap().status, IncidentStatus::AwaitingApproval);
        let plan = h.store.pending_plans().await.unwrap().remove(0).plan;

        let verdict = PlanVerdict { plan: plan.id, approved: true, by: "api:alice".into() };
        h.director.send(verdict.clone()).await.unwrap().unwrap();
        for _ in 0..100 {
            if !h.executed.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let executed = h.executed.lock().unwrap().clone();
        assert_eq!(executed.len(), 1);
        assert_eq!(executed[0].approved_by.as_deref(), Some("api:alice"));
        assert!(h.director.send(verdict).await.unwrap().is_err(), "a second verdict must be refused");
        assert!(kinds(&h.store, h.incident).await.contains(&AuditKind::Approved));
    }

    #[actix::test]
    async fn a_second_incident_with_the_same_cause_follows_the_first_fix() {
        let h = harness(vec![scripted("compute", vec![oom(0.85)])], DirectorConfig::default()).await;
        let second = h
            .store
            .ingest(vec![alert("MedicServiceErrorRate", &[("namespace", "shop"), ("service", "frontend")])])
            .await
            .unwrap()
            .new_incidents()[0];
        let first = h.director.send(Diagnose { incident: h.incident, context: context() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let follower = h.director.send(Diagnose { incident: second, context: context() });
        let (a, b) = futures::join!(first, follower);
        a.unwrap();
        b.unwrap();
        assert_eq!(h.executed.lock().unwrap().len(), 1, "one fix for one cause");
        for uid in [h.incident, second] {
            assert_eq!(h.store.incident(uid).await.unwrap().unwrap().status, IncidentStatus::Resolved);
        }
        let closed =
            h.store.timeline(second).await.unwrap().into_iter().find(|r| r.entry.kind == AuditKind::IncidentClosed);
        assert!(closed.unwrap().entry.summary.contains(&h.incident.short()));
    }
}
