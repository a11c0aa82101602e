//! Namespace modes as the Director enforces them: observe records and reports the plan it would have run
//! and executes nothing; propose waits for a human's approval; act executes — except high-risk plans,
//! which always wait. A node plan takes the strictest mode among the namespaces of the pods it moves. And
//! an incident resumed after a restart is executed with the plan it had.
use actix::{Actor, Addr, Context, Handler, Recipient, ResponseFuture};
use medic_agents::{Specialist, SpecialistActor};
use medic_core::messages::{Diagnose, Execute, IncidentEvent, Investigate, Notify, PlanVerdict};
use medic_core::testkit::{ContextBuilder, alert};
use medic_core::{
    AuditKind, Evidence, EvidenceSource, ExecutionOutcome, ExecutionReport, Hypothesis, IncidentContext, IncidentUid,
    Mode, ModesConfig, ObjectRef, RootCauseClass,
};
use medic_director::{Director, DirectorConfig, DirectorLinks, Resume};
use medic_playbooks::Catalog;
use medic_store::{IncidentStatus, Store, StoreConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Scripted(Vec<Hypothesis>);
impl Specialist for Scripted {
    fn name(&self) -> &'static str {
        "compute"
    }
    fn analyse(&self, _: &IncidentContext) -> Vec<Hypothesis> {
        self.0.clone()
    }
}

/// Stands in for the Executor: records what it was asked and reports the outcome it was given.
struct ExecutorProbe(Arc<Mutex<Vec<Execute>>>, ExecutionOutcome);
impl Actor for ExecutorProbe {
    type Context = Context<Self>;
}
impl Handler<Execute> for ExecutorProbe {
    type Result = ResponseFuture<ExecutionReport>;
    fn handle(&mut self, msg: Execute, _: &mut Self::Context) -> Self::Result {
        let report = ExecutionReport {
            incident: msg.plan.incident,
            plan: msg.plan.id,
            outcome: self.1.clone(),
            steps: vec![],
            verification: None,
        };
        self.0.lock().unwrap().push(msg);
        Box::pin(async move { report })
    }
}

/// Stands in for the notifier: keeps every event.
struct NotifyProbe(Arc<Mutex<Vec<Notify>>>);
impl Actor for NotifyProbe {
    type Context = Context<Self>;
}
impl Handler<Notify> for NotifyProbe {
    type Result = ();
    fn handle(&mut self, msg: Notify, _: &mut Self::Context) {
        self.0.lock().unwrap().push(msg);
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
    director: Addr<Director>,
    executed: Arc<Mutex<Vec<Execute>>>,
    notified: Arc<Mutex<Vec<Notify>>>,
    incident: IncidentUid,
}

async fn harness(hypotheses: Vec<Hypothesis>, modes: ModesConfig, catalog: Catalog) -> Harness {
    harness_with(hypotheses, modes, catalog, ExecutionOutcome::Verified).await
}

async fn harness_with(
    hypotheses: Vec<Hypothesis>,
    modes: ModesConfig,
    catalog: Catalog,
    reported: ExecutionOutcome,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
    let outcome = store.ingest(vec![alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-1")])]);
    let incident = outcome.await.unwrap().new_incidents()[0];
    let executed = Arc::new(Mutex::new(Vec::new()));
    let notified = Arc::new(Mutex::new(Vec::new()));
    let specialist: Recipient<Investigate> = SpecialistActor::new(Arc::new(Scripted(hypotheses))).start().recipient();
    let links = DirectorLinks {
        specialists: vec![("compute".into(), specialist)],
        executor: ExecutorProbe(executed.clone(), reported).start().recipient(),
        recall: None,
        remember: None,
        notify: Some(NotifyProbe(notified.clone()).start().recipient()),
        recollect: None,
    };
    let director =
        Director::new(DirectorConfig::default(), links, Arc::new(catalog), store.clone()).with_modes(modes).start();
    Harness { _dir: dir, store, director, executed, notified, incident }
}

fn oom() -> Hypothesis {
    let target = ObjectRef::deployment("shop", "cart");
    Hypothesis {
        class: RootCauseClass::OomMemoryLimit,
        target: target.clone(),
        confidence: 0.9,
        evidence: vec![Evidence::new(EvidenceSource::PodStatus, Some(target), "OOMKilled, exit code 137")],
        playbook: Some("oom-memory-limit".into()),
        params: [("container".into(), "app".into()), ("memory_limit".into(), "256Mi".into())].into(),
        specialist: "compute".into(),
    }
}

fn node_down() -> Hypothesis {
    let target = ObjectRef::node("node-1");
    Hypothesis {
        class: RootCauseClass::NodeNotReady,
        target: target.clone(),
        confidence: 0.9,
        evidence: vec![Evidence::new(EvidenceSource::Node, Some(target), "Ready=Unknown for 5m")],
        playbook: Some("node-not-ready".into()),
        params: BTreeMap::new(),
        specialist: "compute".into(),
    }
}

fn modes(pairs: &[(&str, Mode)]) -> ModesConfig {
    ModesConfig { default: Mode::Act, namespaces: pairs.iter().map(|(ns, m)| (ns.to_string(), *m)).collect() }
}

fn context() -> Arc<IncidentContext> {
    Arc::new(ContextBuilder::new().deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {}).build())
}

async fn status(h: &Harness) -> IncidentStatus {
    h.store.incident(h.incident).await.unwrap().unwrap().status
}

async fn summaries(h: &Harness, kind: AuditKind) -> Vec<String> {
    let timeline = h.store.timeline(h.incident).await.unwrap();
    timeline.into_iter().filter(|r| r.entry.kind == kind).map(|r| r.entry.summary).collect()
}

#[actix::test]
async fn observe_mode_records_and_reports_the_plan_and_executes_nothing() {
    let h = harness(vec![oom()], modes(&[("shop", Mode::Observe)]), Catalog::builtin().unwrap()).await;
    h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
    assert!(h.executed.lock().unwrap().is_empty(), "observe mode executed a plan");
    assert_eq!(status(&h).await, IncidentStatus::Escalated);
    let decisions = summaries(&h, AuditKind::Decision).await;
    assert!(
        decisions
            .iter()
            .any(|s| s.contains("namespace shop is in observe mode: medic would have run oom-memory-limit")
                && s.contains("limits.memory=256Mi")),
        "{decisions:?}"
    );
    let notified = h.notified.lock().unwrap();
    let escalated = notified.iter().find_map(|n| match &n.event {
        IncidentEvent::Escalated { reason, record } => Some((reason.clone(), record.is_some())),
        _ => None,
    });
    let (reason, with_record) = escalated.expect("people hear about it");
    assert!(reason.contains("observe mode; nothing was written") && reason.contains("set resources"), "{reason}");
    assert!(with_record, "the decision (with its plan) goes with the message");
}

#[actix::test]
async fn propose_mode_waits_for_an_approval_and_then_executes() {
    let h = harness(vec![oom()], modes(&[("shop", Mode::Propose)]), Catalog::builtin().unwrap()).await;
    h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
    assert!(h.executed.lock().unwrap().is_empty(), "acted before approval");
    assert_eq!(status(&h).await, IncidentStatus::AwaitingApproval);
    let requested = summaries(&h, AuditKind::ApprovalRequested).await;
    assert!(requested[0].contains("(namespace shop is in propose mode)"), "{requested:?}");
    let plan = h.store.pending_plans().await.unwrap().remove(0).plan;
    let verdict = PlanVerdict { plan: plan.id, approved: true, by: "api:alice".into() };
    h.director.send(verdict).await.unwrap().unwrap();
    wait_until(|| !h.executed.lock().unwrap().is_empty()).await;
    assert_eq!(h.executed.lock().unwrap()[0].approved_by.as_deref(), Some("api:alice"));
    // Other namespaces still act.
    let h = harness(vec![oom()], modes(&[("payments", Mode::Propose)]), Catalog::builtin().unwrap()).await;
    h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
    assert_eq!(h.executed.lock().unwrap().len(), 1);
}

#[actix::test]
async fn a_high_risk_playbook_waits_for_approval_even_in_act_mode_and_even_if_it_says_never() {
    let dir = tempfile::tempdir().unwrap();
    let builtin = include_str!("../../playbooks/catalog/oom-memory-limit.yaml");
    let risky = builtin.replace("risk: medium", "risk: high").replace("approval: when-risk-high", "approval: never");
    std::fs::write(dir.path().join("oom-memory-limit.yaml"), risky).unwrap();
    let catalog = Catalog::builtin_with_overrides(dir.path()).unwrap();
    let h = harness(vec![oom()], ModesConfig::default(), catalog).await;
    h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
    assert!(h.executed.lock().unwrap().is_empty());
    assert_eq!(status(&h).await, IncidentStatus::AwaitingApproval);
    let requested = summaries(&h, AuditKind::ApprovalRequested).await;
    assert!(requested[0].contains("playbook oom-memory-limit is high-risk"), "{requested:?}");
}

#[actix::test]
async fn a_node_plan_takes_the_strictest_mode_of_the_pods_it_moves() {
    let on_node = |ns: &'static str| {
        Arc::new(
            ContextBuilder::new()
                .node("node-1", None)
                .deployment("shop", "cart", "cart:1", 1, "node-1", |_, _| {})
                .deployment(ns, "ledger", "ledger:1", 1, "node-1", |_, _| {})
                .build(),
        )
    };
    // (namespace of the other pod on the node, executed, status)
    let cases = [
        ("shop", true, IncidentStatus::Resolved),
        ("payments", false, IncidentStatus::AwaitingApproval),
        ("ledger", false, IncidentStatus::Escalated),
    ];
    for (ns, executed, expected) in cases {
        let m = modes(&[("payments", Mode::Propose), ("ledger", Mode::Observe)]);
        let h = harness(vec![node_down()], m, Catalog::builtin().unwrap()).await;
        h.director.send(Diagnose { incident: h.incident, context: on_node(ns) }).await.unwrap();
        assert_eq!(!h.executed.lock().unwrap().is_empty(), executed, "{ns}");
        assert_eq!(status(&h).await, expected, "{ns}");
    }
}

#[actix::test]
async fn a_resumed_plan_is_executed_as_it_was() {
    let h = harness(vec![], ModesConfig::default(), Catalog::builtin().unwrap()).await;
    // The plan a Director decided before medic was killed.
    let first = harness(vec![oom()], ModesConfig::default(), Catalog::builtin().unwrap()).await;
    first.director.send(Diagnose { incident: first.incident, context: context() }).await.unwrap();
    let mut plan = (*first.executed.lock().unwrap()[0].plan).clone();
    plan.incident = h.incident;
    h.director.send(Resume::Plan { plan: Box::new(plan.clone()), approved_by: None }).await.unwrap();
    let executed = h.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].plan.id, plan.id, "the same plan, so the journal recognises its steps");
    assert_eq!(status(&h).await, IncidentStatus::Resolved);
    assert!(summaries(&h, AuditKind::Resumed).await[0].contains(&format!("plan {} (oom-memory-limit)", plan.id)));

    let reason = "its plan was not found".to_string();
    h.director.send(Resume::Escalate { incident: h.incident, reason }).await.unwrap();
    assert_eq!(status(&h).await, IncidentStatus::Escalated);
    assert!(summaries(&h, AuditKind::Escalated).await.iter().any(|s| s.contains("its plan was not found")));
}

#[actix::test]
async fn every_refusal_of_the_guard_is_escalated_to_people_with_its_rule() {
    // (rule, reason) as the Executor's guard reports them.
    let refusals = [
        ("protected-namespace", "scale deployment kube-system/dns to 3: medic never writes in namespace kube-system"),
        (
            "never-delete",
            "the API server says it would delete PersistentVolumeClaim data; medic never deletes a PersistentVolumeClaim",
        ),
        ("never-scale-to-zero", "scale deployment shop/cart to 0: scaling to zero would take the workload down"),
        ("ignore-label", "Deployment/shop/cart is labelled medic.io/ignore and medic leaves it alone"),
        ("blast-radius", "drain node n1 touches 30 pods; at most 25 per action"),
        (
            "rate-limit",
            "namespace shop already had 10 action(s) in the last 60 min and this plan adds 1; at most 10 per hour",
        ),
        ("circuit-breaker", "the circuit breaker of namespace shop is open: 3 failed verifications in a row"),
        ("namespace-mode", "namespace shop is in observe mode: medic diagnoses and reports, it writes nothing"),
    ];
    for (rule, reason) in refusals {
        let blocked = ExecutionOutcome::Blocked { rule: rule.into(), reason: reason.into() };
        let h = harness_with(vec![oom()], ModesConfig::default(), Catalog::builtin().unwrap(), blocked).await;
        h.director.send(Diagnose { incident: h.incident, context: context() }).await.unwrap();
        assert_eq!(h.executed.lock().unwrap().len(), 1, "{rule}");
        assert_eq!(status(&h).await, IncidentStatus::Escalated, "{rule}");
        let expected = format!("blocked by {rule}: {reason}");
        let escalated = summaries(&h, AuditKind::Escalated).await;
        assert!(escalated.iter().any(|s| s.contains(&expected)), "{rule}: {escalated:?}");
        let notified = h.notified.lock().unwrap();
        let told = notified.iter().any(|n| {
            matches!(&n.event, IncidentEvent::Escalated { reason, record } if *reason == expected && record.is_some())
        });
        assert!(told, "{rule}: people are told, with the decision: {:?}", notified.len());
    }
}

async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out");
}
