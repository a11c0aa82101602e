//! The guard through whole plan runs, on a real store: every refusal is a `Blocked` outcome naming the rule,
//! an audit record with the rule, and no write; the limits that count (rate limit, blast radius per
//! incident, circuit breaker) keep counting across a restart.
mod support;

use jiff::{SignedDuration, Timestamp};
use medic_core::execution::ExecutionOutcome;
use medic_core::messages::Execute;
use medic_core::{ActionSpec, IncidentContext, IncidentUid, Mode, ModesConfig, Plan};
use medic_executor::{ExecutorConfig, Guard, KubeApi, Runner};
use medic_store::{Store, StoreConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fixtures::{DEPLOY, crashing, deployment_object, healthy, plan, raise_memory};
use support::{MemoryAudit, Responder, Seen, Snapshots, TickClock, mock_client, objects_responder};

const START: &str = "2026-11-22T14:00:00Z";

struct Harness {
    runner: Runner,
    log: Arc<Mutex<Vec<Seen>>>,
    audit: MemoryAudit,
}

fn harness(store: &Store, config: ExecutorConfig, modes: ModesConfig, reader: Snapshots, at: Timestamp) -> Harness {
    harness_with(
        store,
        config,
        modes,
        reader,
        at,
        objects_responder([(DEPLOY.into(), deployment_object(2, "128Mi"))].into()),
    )
}

fn harness_with(
    store: &Store,
    config: ExecutorConfig,
    modes: ModesConfig,
    reader: Snapshots,
    at: Timestamp,
    responder: Responder,
) -> Harness {
    let (client, log) = mock_client(responder);
    let audit = MemoryAudit::default();
    let runner = Runner {
        api: KubeApi::new(client, "medic"),
        reader: Arc::new(reader),
        audit: Arc::new(audit.clone()),
        clock: Arc::new(TickClock::starting_at(&at.to_string(), Duration::from_secs(1))),
        guard: Guard::from_config(&config, &modes),
        policy: None,
        config,
        store: store.clone(),
    };
    Harness { runner, log, audit }
}

fn start() -> Timestamp {
    START.parse().unwrap()
}

fn open(dir: &tempfile::TempDir) -> Store {
    StoreConfig::new(dir.path().join("medic.db")).build().unwrap()
}

fn execute(plan: &Plan, approved_by: Option<&str>) -> Execute {
    Execute {
        plan: Arc::new(plan.clone()),
        context: Arc::new(IncidentContext::default()),
        approved_by: approved_by.map(str::to_string),
    }
}

/// Runs `plan`; asserts it was refused by `rule` with a reason containing `reason`, with one audit record
/// naming the rule and no write at all.
async fn assert_refused(h: &Harness, plan: &Plan, approved_by: Option<&str>, rule: &str, reason: &str) {
    let seen_before = h.log.lock().unwrap().len();
    let report = h.runner.run(&execute(plan, approved_by)).await;
    match &report.outcome {
        ExecutionOutcome::Blocked { rule: r, reason: why } => {
            assert_eq!(r, rule, "{why}");
            assert!(why.contains(reason), "{rule}: {why}");
        }
        other => panic!("{rule}: expected a refusal, got {other:?}"),
    }
    let audit = h.audit.0.lock().unwrap();
    let refusal = audit.last().expect("an audit record");
    assert_eq!(refusal.kind.as_str(), "guard-refused");
    assert_eq!(refusal.detail["rule"], rule);
    assert!(refusal.summary.starts_with(&format!("refused by {rule}: ")), "{}", refusal.summary);
    let log = h.log.lock().unwrap();
    assert!(log[seen_before..].iter().all(|s| !s.is_write() || s.dry_run()), "{rule}: something was written");
}

async fn run(h: &Harness, plan: &Plan) -> ExecutionOutcome {
    h.runner.run(&execute(plan, None)).await.outcome
}

#[tokio::test]
async fn the_rate_limit_counts_across_a_restart_and_forgets_after_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let config = ExecutorConfig { max_actions_per_namespace_per_hour: 2, ..ExecutorConfig::default() };
    let h = harness(&store, config.clone(), ModesConfig::default(), healthy(), start());
    for _ in 0..2 {
        assert_eq!(run(&h, &plan(vec![raise_memory()])).await, ExecutionOutcome::Verified);
    }
    assert_refused(&h, &plan(vec![raise_memory()]), None, "rate-limit", "namespace shop already had 2 action(s)").await;
    store.close().await;

    let store = open(&dir);
    let later = start() + SignedDuration::from_mins(30);
    let h = harness(&store, config.clone(), ModesConfig::default(), healthy(), later);
    assert_refused(&h, &plan(vec![raise_memory()]), None, "rate-limit", "at most 2 per hour").await;
    let h = harness(&store, config, ModesConfig::default(), healthy(), start() + SignedDuration::from_mins(61));
    assert_eq!(run(&h, &plan(vec![raise_memory()])).await, ExecutionOutcome::Verified);
}

#[tokio::test]
async fn the_circuit_breaker_opens_after_failed_verifications_and_half_opens_after_the_cool_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let config = ExecutorConfig { breaker_failures: 2, breaker_cooldown_secs: 600, ..ExecutorConfig::default() };
    let failing = harness(&store, config.clone(), ModesConfig::default(), crashing(), start());
    for _ in 0..2 {
        let outcome = run(&failing, &plan(vec![raise_memory()])).await;
        assert_eq!(outcome, ExecutionOutcome::VerificationFailed { rolled_back: true });
    }
    assert_refused(
        &failing,
        &plan(vec![raise_memory()]),
        None,
        "circuit-breaker",
        "the circuit breaker of namespace shop is open: 2 failed verifications in a row",
    )
    .await;
    store.close().await;

    // Still open after a restart, within the cool-down.
    let store = open(&dir);
    let soon = start() + SignedDuration::from_mins(5);
    let h = harness(&store, config.clone(), ModesConfig::default(), healthy(), soon);
    assert_refused(&h, &plan(vec![raise_memory()]), None, "circuit-breaker", "is open").await;
    // Half-open after it: a plan runs, and its verification closes the breaker.
    let later = start() + SignedDuration::from_mins(20);
    let h = harness(&store, config.clone(), ModesConfig::default(), healthy(), later);
    assert_eq!(run(&h, &plan(vec![raise_memory()])).await, ExecutionOutcome::Verified);
    assert_eq!(store.ledger_failure_streak("shop").await.unwrap().failures, 0);
    assert_eq!(run(&h, &plan(vec![raise_memory()])).await, ExecutionOutcome::Verified);
}

#[tokio::test]
async fn the_blast_radius_counts_the_pods_each_step_and_the_whole_incident_touch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // The deployment has 2 replicas: a new memory limit replaces both.
    let config = ExecutorConfig { max_pods_per_action: 2, max_pods_per_incident: 3, ..ExecutorConfig::default() };
    let h = harness(&store, config.clone(), ModesConfig::default(), healthy(), start());
    let incident = IncidentUid::new();
    let mut first = plan(vec![raise_memory()]);
    first.incident = incident;
    assert_eq!(run(&h, &first).await, ExecutionOutcome::Verified);
    let mut second = plan(vec![ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: "cart".into() }]);
    second.incident = incident;
    assert_refused(
        &h,
        &second,
        None,
        "blast-radius",
        "the incident would touch 4 pods (2 before this plan, 2 by it); at most 3",
    )
    .await;
    // Another incident has its own budget, but one step may not replace more than 2 pods.
    let tight = ExecutorConfig { max_pods_per_action: 1, ..config };
    let h = harness(&store, tight, ModesConfig::default(), healthy(), start());
    assert_refused(&h, &plan(vec![raise_memory()]), None, "blast-radius", "touches 2 pods; at most 1 per action").await;
}

#[tokio::test]
async fn namespace_modes_are_enforced_again_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let modes = |mode: Mode| ModesConfig { default: Mode::Act, namespaces: BTreeMap::from([("shop".into(), mode)]) };
    let h = harness(&store, ExecutorConfig::default(), modes(Mode::Observe), healthy(), start());
    assert_refused(
        &h,
        &plan(vec![raise_memory()]),
        Some("api:alice"),
        "namespace-mode",
        "namespace shop is in observe mode",
    )
    .await;
    let h = harness(&store, ExecutorConfig::default(), modes(Mode::Propose), healthy(), start());
    assert_refused(&h, &plan(vec![raise_memory()]), None, "namespace-mode", "namespace shop is in propose mode").await;
    assert_eq!(
        h.runner.run(&execute(&plan(vec![raise_memory()]), Some("api:alice"))).await.outcome,
        ExecutionOutcome::Verified
    );
    // A high-risk plan waits for a human even in act mode.
    let h = harness(&store, ExecutorConfig::default(), modes(Mode::Act), healthy(), start());
    let mut risky = plan(vec![raise_memory()]);
    risky.risk = medic_core::Risk::High;
    assert_refused(&h, &risky, None, "approval-required", "is high-risk").await;
}

#[tokio::test]
async fn a_deletion_the_dry_run_reveals_is_refused() {
    // What the API server says the step would delete is judged too, not only what the plan declares.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let policy = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/medic-quarantine";
    let existing = json!({"kind": "NetworkPolicy", "metadata": {"name": "medic-quarantine", "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "medic"}}});
    let mut inner = objects_responder([(policy.to_string(), existing)].into());
    let responder: Responder = Box::new(move |s: &Seen| {
        if s.method == "DELETE" {
            return (
                200,
                json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "orders-data", "namespace": "shop"}}),
            );
        }
        inner(s)
    });
    let h = harness_with(&store, ExecutorConfig::default(), ModesConfig::default(), healthy(), start(), responder);
    let unquarantine =
        plan(vec![ActionSpec::Unquarantine { namespace: "shop".into(), policy: "medic-quarantine".into() }]);
    assert_refused(&h, &unquarantine, None, "never-delete", "would delete PersistentVolumeClaim orders-data").await;
}

#[tokio::test]
async fn every_red_line_refuses_with_its_reason_an_audit_record_and_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let scale =
        |ns: &str, replicas: i32| ActionSpec::Scale { namespace: ns.into(), deployment: "cart".into(), replicas };
    let restart = |ns: &str| ActionSpec::RolloutRestart { namespace: ns.into(), deployment: "cart".into() };
    let delete_pod = |ns: &str| ActionSpec::DeletePod { namespace: ns.into(), pod: "cart-h3-a".into() };
    // (step, rule, part of the reason), each on a healthy shop/cart.
    let cases = [
        (scale("kube-system", 3), "protected-namespace", "medic never writes in namespace kube-system"),
        (restart("kube-public"), "protected-namespace", "medic never writes in namespace kube-public"),
        (delete_pod("kube-node-lease"), "protected-namespace", "medic never writes in namespace kube-node-lease"),
        (scale("shop", 0), "never-scale-to-zero", "scaling to zero would take the workload down"),
    ];
    for (step, rule, reason) in cases {
        let h = harness(&store, ExecutorConfig::default(), ModesConfig::default(), healthy(), start());
        assert_refused(&h, &plan(vec![step]), None, rule, reason).await;
    }

    // Objects labelled medic.io/ignore: the deployment itself, or a pod a step would delete.
    let labelled = healthy();
    labelled.deployments.lock().unwrap()[0].labels.insert("medic.io/ignore".into(), "true".into());
    let h = harness(&store, ExecutorConfig::default(), ModesConfig::default(), labelled, start());
    let reason = "Deployment/shop/cart is labelled medic.io/ignore";
    assert_refused(&h, &plan(vec![restart("shop")]), None, "ignore-label", reason).await;
    let labelled = healthy();
    labelled.pods.lock().unwrap()[0].labels.insert("medic.io/ignore".into(), String::new());
    let h = harness(&store, ExecutorConfig::default(), ModesConfig::default(), labelled, start());
    let reason = "Pod/shop/cart-h3-a is labelled medic.io/ignore";
    assert_refused(&h, &plan(vec![delete_pod("shop")]), None, "ignore-label", reason).await;

    // Never delete a Namespace, PersistentVolumeClaim, Node or CRD — whatever the API server says a step
    // would delete.
    let removed = [
        ("Namespace", "shop", "never deletes a Namespace"),
        ("PersistentVolumeClaim", "orders-data", "never deletes a PersistentVolumeClaim"),
        ("Node", "node-1", "never deletes a Node"),
        ("CustomResourceDefinition", "podchaos.chaos-mesh.org", "never deletes a CustomResourceDefinition"),
    ];
    let policy = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/medic-quarantine";
    for (kind, name, reason) in removed {
        let existing = json!({"kind": "NetworkPolicy", "metadata": {"name": "medic-quarantine", "namespace": "shop",
            "labels": {"app.kubernetes.io/managed-by": "medic"}}});
        let mut inner = objects_responder([(policy.to_string(), existing)].into());
        let responder: Responder = Box::new(move |s: &Seen| {
            if s.method == "DELETE" {
                return (200, json!({"kind": kind, "metadata": {"name": name}}));
            }
            inner(s)
        });
        let h = harness_with(&store, ExecutorConfig::default(), ModesConfig::default(), healthy(), start(), responder);
        let unquarantine =
            plan(vec![ActionSpec::Unquarantine { namespace: "shop".into(), policy: "medic-quarantine".into() }]);
        assert_refused(&h, &unquarantine, None, "never-delete", reason).await;
    }
}
