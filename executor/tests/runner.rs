//! Running whole plans: guard and approval, dry-run before any write, the policy gate, verification,
//! rollback of what changed (and what could not be undone said), the audit trail, and the Executor
//! actor's answers to redelivered and conflicting plans.
mod support;

use medic_core::context::NodeSnapshot;
use medic_core::execution::ExecutionOutcome;
use medic_core::messages::Execute;
use medic_core::{ActionSpec, IncidentContext, ModesConfig, Plan, VerifyCheck};
use medic_executor::actions::Written;
use medic_executor::{Executor, ExecutorConfig, Guard, KubeApi, PolicyGate, PolicyVerdict, Runner};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fixtures::{DEPLOY, crashing, deployment_object, healthy, plan, raise_memory};
use support::{MemoryAudit, Responder, Seen, Snapshots, TempStore, TickClock, mock_client, objects_responder};

struct Harness {
    runner: Runner,
    log: Arc<Mutex<Vec<Seen>>>,
    audit: MemoryAudit,
    _store: TempStore,
}

fn harness(responder: Responder, reader: Snapshots, policy: Option<Arc<dyn PolicyGate>>) -> Harness {
    let (client, log) = mock_client(responder);
    let audit = MemoryAudit::default();
    let config = ExecutorConfig::default();
    let store = TempStore::new();
    let runner = Runner {
        api: KubeApi::new(client, "medic"),
        reader: Arc::new(reader),
        audit: Arc::new(audit.clone()),
        clock: Arc::new(TickClock::starting_at("2001-01-01T00:00:00Z", Duration::from_secs(1))),
        guard: Guard::from_config(&config, &ModesConfig::default()),
        policy,
        config,
        store: store.store.clone(),
    };
    Harness { runner, log, audit, _store: store }
}

fn objects(entries: &[(&str, Value)]) -> Responder {
    objects_responder(entries.iter().map(|(p, v)| (p.to_string(), v.clone())).collect())
}

fn execute(plan: Plan) -> Execute {
    Execute { plan: Arc::new(plan), context: Arc::new(IncidentContext::default()), approved_by: None }
}

fn writes(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    log.lock().unwrap().iter().filter(|s| s.is_write()).cloned().collect()
}

#[tokio::test]
async fn a_plan_is_dry_run_applied_and_verified() {
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), healthy(), None);
    let report = h.runner.run(&execute(plan(vec![raise_memory()]))).await;
    assert_eq!(report.outcome, ExecutionOutcome::Verified, "{report:#?}");
    let step = &report.steps[0];
    assert_eq!(step.dry_run_ok, Some(true));
    assert!(step.applied_at.is_some() && step.error.is_none());
    assert_eq!(
        step.api_calls,
        [
            format!("GET {DEPLOY}"),
            format!("PATCH {DEPLOY} (dry-run)"),
            format!("GET {DEPLOY}"),
            format!("PATCH {DEPLOY}"),
        ]
    );
    let w = writes(&h.log);
    assert!(w[0].dry_run() && !w[1].dry_run(), "the dry run comes first");
    let verification = report.verification.unwrap();
    assert!(verification.ok && verification.elapsed_secs >= 10.0, "{verification:?}");
    assert_eq!(h.audit.kinds(), ["action-applied", "verified"]);
}

#[tokio::test]
async fn failed_verification_restores_what_changed() {
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), crashing(), None);
    let report = h.runner.run(&execute(plan(vec![raise_memory()]))).await;
    assert_eq!(report.outcome, ExecutionOutcome::VerificationFailed { rolled_back: true });
    let detail = &report.verification.as_ref().unwrap().detail;
    assert!(detail.contains("not recovered within 30s") && detail.contains("1/2 replicas available"), "{detail}");
    let undo = report.steps.iter().find(|s| s.rollback).unwrap();
    assert_eq!(
        undo.action,
        ActionSpec::PatchResources {
            namespace: "shop".into(),
            deployment: "cart".into(),
            container: "app".into(),
            requests: BTreeMap::new(),
            limits: BTreeMap::from([("memory".into(), "128Mi".into())]),
        }
    );
    let last = writes(&h.log).pop().unwrap();
    assert_eq!(
        last.body.unwrap()["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "128Mi"
    );
    assert_eq!(h.audit.kinds(), ["action-applied", "verification-failed", "rolled-back"]);
}

#[tokio::test]
async fn what_cannot_be_undone_is_said() {
    let pod = json!({"metadata": {"name": "cart-h3-b", "namespace": "shop"}});
    let h = harness(objects(&[("/api/v1/namespaces/shop/pods/cart-h3-b", pod)]), crashing(), None);
    let report = h
        .runner
        .run(&execute(plan(vec![ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-h3-b".into() }])))
        .await;
    assert_eq!(report.outcome, ExecutionOutcome::VerificationFailed { rolled_back: false });
    let undo = report.steps.iter().find(|s| s.rollback).unwrap();
    assert!(undo.error.as_deref().unwrap().starts_with("not undone: pod shop/cart-h3-b was deleted"), "{undo:?}");
}

#[tokio::test]
async fn the_guard_refuses_before_any_request() {
    let cases = [
        (
            ActionSpec::Scale { namespace: "kube-system".into(), deployment: "coredns".into(), replicas: 3 },
            "protected-namespace",
        ),
        (ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 0 }, "never-scale-to-zero"),
        (ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 50 }, "scale-bounds"),
    ];
    for (step, rule) in cases {
        let h = harness(objects(&[]), healthy(), None);
        let report = h.runner.run(&execute(plan(vec![step]))).await;
        match report.outcome {
            ExecutionOutcome::Blocked { rule: r, .. } => assert_eq!(r, rule),
            other => panic!("{rule}: {other:?}"),
        }
        assert!(h.log.lock().unwrap().is_empty(), "{rule}: no request at all");
        assert_eq!(h.audit.kinds(), ["guard-refused"]);
    }
    // An object labelled medic.io/ignore is left alone.
    let reader = healthy();
    reader.deployments.lock().unwrap()[0].labels.insert("medic.io/ignore".into(), "true".into());
    let h = harness(objects(&[]), reader, None);
    let report = h.runner.run(&execute(plan(vec![raise_memory()]))).await;
    assert!(
        matches!(report.outcome, ExecutionOutcome::Blocked { ref rule, .. } if rule == "ignore-label"),
        "{:?}",
        report.outcome
    );
    // A drain would evict an ignored pod: refused too.
    let reader = healthy();
    reader.pods.lock().unwrap()[0].labels.insert("medic.io/ignore".into(), "".into());
    *reader.nodes.lock().unwrap() = vec![NodeSnapshot {
        name: "node-1".into(),
        ready: Some(false),
        unschedulable: false,
        conditions: Vec::new(),
        taints: Vec::new(),
        allocatable: BTreeMap::new(),
        labels: BTreeMap::new(),
        status_heartbeat: None,
        lease_renewed: None,
    }];
    let h = harness(objects(&[]), reader, None);
    let report = h.runner.run(&execute(plan(vec![ActionSpec::Drain { node: "node-1".into() }]))).await;
    assert!(
        matches!(report.outcome, ExecutionOutcome::Blocked { ref reason, .. } if reason.contains("Pod/shop/cart-h3-a is labelled")),
        "{:?}",
        report.outcome
    );
}

#[tokio::test]
async fn a_plan_that_needs_approval_waits_for_one() {
    let mut p = plan(vec![raise_memory()]);
    p.requires_approval = true;
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), healthy(), None);
    let report = h.runner.run(&execute(p.clone())).await;
    assert!(matches!(report.outcome, ExecutionOutcome::Blocked { ref rule, .. } if rule == "approval-required"));
    let approved = Execute { approved_by: Some("slack:U123".into()), ..execute(p) };
    assert_eq!(h.runner.run(&approved).await.outcome, ExecutionOutcome::Verified);
}

#[tokio::test]
async fn a_refused_dry_run_stops_the_plan_before_any_write() {
    let mut inner = objects(&[(DEPLOY, deployment_object(2, "128Mi"))]);
    let responder: Responder = Box::new(move |s: &Seen| {
        if s.method == "PATCH" && s.dry_run() {
            return (
                422,
                json!({"kind": "Status", "code": 422, "reason": "Invalid", "message": "spec.template.spec.containers[0].resources.requests: Invalid value: \"1Gi\": must be less than or equal to memory limit"}),
            );
        }
        inner(s)
    });
    let h = harness(responder, healthy(), None);
    let report = h.runner.run(&execute(plan(vec![raise_memory()]))).await;
    match &report.outcome {
        ExecutionOutcome::Failed { step: 0, error, rolled_back: false } => {
            assert!(error.contains("refused the dry run") && error.contains("422 Invalid"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(writes(&h.log).iter().all(Seen::dry_run), "nothing was written for real");
    assert_eq!(report.steps[0].dry_run_ok, Some(false));
}

#[tokio::test]
async fn a_failing_step_rolls_back_the_steps_before_it() {
    let mut inner = objects(&[(DEPLOY, deployment_object(2, "128Mi"))]);
    let responder: Responder = Box::new(move |s: &Seen| {
        if s.method == "PATCH"
            && !s.dry_run()
            && s.content_type.as_deref() == Some("application/strategic-merge-patch+json")
        {
            return (
                409,
                json!({"kind": "Status", "code": 409, "reason": "Conflict", "message": "the object has been modified"}),
            );
        }
        inner(s)
    });
    let h = harness(responder, healthy(), None);
    let scale = ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 4 };
    let report = h.runner.run(&execute(plan(vec![scale, raise_memory()]))).await;
    match &report.outcome {
        ExecutionOutcome::Failed { step: 1, error, rolled_back: true } => {
            assert!(error.contains("409 Conflict"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    let undo = report.steps.iter().find(|s| s.rollback).unwrap();
    assert_eq!(undo.action, ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 2 });
    let last = writes(&h.log).pop().unwrap();
    assert_eq!(
        (last.path.as_str(), last.body.unwrap()),
        ("/apis/apps/v1/namespaces/shop/deployments/cart/scale", json!({"spec": {"replicas": 2}}))
    );
}

/// Refuses deployments whose memory limit is above 256Mi (a stand-in for a policy engine, to test the
/// gate's wiring; the Kyverno engine itself is tested in `policy_gate`).
#[derive(Debug)]
struct MemoryCeiling;

impl PolicyGate for MemoryCeiling {
    fn evaluate(&self, written: &Written) -> Vec<PolicyVerdict> {
        let memory =
            written.object.pointer("/spec/template/spec/containers/0/resources/limits/memory").and_then(Value::as_str);
        let Some(memory) = memory else { return Vec::new() };
        let status = if memory == "128Mi" { "pass" } else { "fail" };
        vec![PolicyVerdict {
            policy: "memory-ceiling".into(),
            rule: "max-256Mi".into(),
            status: status.into(),
            message: format!("memory limit {memory} is above 256Mi"),
        }]
    }
}

#[tokio::test]
async fn the_policy_gate_sees_the_dry_run_answer_and_blocks() {
    // The server's dry-run answer is the deployment with the new limit.
    let mut inner = objects(&[(DEPLOY, deployment_object(2, "128Mi"))]);
    let responder: Responder =
        Box::new(move |s: &Seen| if s.method == "PATCH" { (200, deployment_object(2, "512Mi")) } else { inner(s) });
    let h = harness(responder, healthy(), Some(Arc::new(MemoryCeiling)));
    let report = h.runner.run(&execute(plan(vec![raise_memory()]))).await;
    assert_eq!(
        report.outcome,
        ExecutionOutcome::Blocked {
            rule: "policy:memory-ceiling/max-256Mi".into(),
            reason: "memory limit 512Mi is above 256Mi".into()
        }
    );
    assert!(writes(&h.log).iter().all(Seen::dry_run));
    assert_eq!(h.audit.kinds(), ["policy-checked", "guard-refused"]);
}

/// Runs a plan against a workload that is missing a replica for 3 polls, optionally has a pod restart at
/// poll 6, and is healthy after that; returns the outcome and how many polls verification took.
async fn polls_until_verified(restart: bool) -> (ExecutionOutcome, usize) {
    let reader = healthy();
    let reads = Arc::new(Mutex::new(0));
    let counter = reads.clone();
    *reader.on_read.lock().unwrap() = Some(Box::new(move |s: &Snapshots| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        s.deployments.lock().unwrap()[0].replicas_available = if *n <= 3 { 1 } else { 2 };
        if restart && *n == 6 {
            s.pods.lock().unwrap()[0].containers[0].restart_count = 1;
        }
    }));
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), reader, None);
    let mut p = plan(vec![raise_memory()]);
    p.verify.timeout_secs = 60;
    let report = h.runner.run(&execute(p)).await;
    let n = *reads.lock().unwrap();
    (report.outcome, n)
}

#[tokio::test]
async fn a_restart_in_the_stable_period_starts_it_over() {
    let (outcome, calm) = polls_until_verified(false).await;
    assert_eq!(outcome, ExecutionOutcome::Verified);
    let (outcome, restarted) = polls_until_verified(true).await;
    assert_eq!(outcome, ExecutionOutcome::Verified);
    // Healthy from poll 4: stable from 4 without the restart, from 7 with it.
    assert_eq!(restarted, calm + 3, "calm {calm}, restarted {restarted}");
}

#[actix::test]
async fn the_executor_answers_a_redelivered_plan_from_memory() {
    use actix::Actor;
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), healthy(), None);
    let log = h.log.clone();
    let executor = Executor::new(h.runner).start();
    let p = plan(vec![raise_memory()]);
    let first = executor.send(execute(p.clone())).await.unwrap();
    let writes_after_first = writes(&log).len();
    let second = executor.send(execute(p)).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(writes(&log).len(), writes_after_first, "no second write");
    assert_eq!(first.outcome, ExecutionOutcome::Verified);
}

#[actix::test]
async fn a_refused_plan_is_judged_again_when_it_comes_back_approved() {
    use actix::Actor;
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), healthy(), None);
    let executor = Executor::new(h.runner).start();
    let mut p = plan(vec![raise_memory()]);
    p.requires_approval = true;
    let first = executor.send(execute(p.clone())).await.unwrap();
    assert!(matches!(first.outcome, ExecutionOutcome::Blocked { ref rule, .. } if rule == "approval-required"));
    let approved = Execute { approved_by: Some("api:alice".into()), ..execute(p) };
    assert_eq!(executor.send(approved).await.unwrap().outcome, ExecutionOutcome::Verified);
}

#[actix::test]
async fn two_plans_never_change_one_object_at_once() {
    use actix::Actor;
    // Verification takes a while (the workload is unhealthy until the timeout), so the plans overlap.
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), crashing(), None);
    let executor = Executor::new(h.runner).start();
    let a = executor.send(execute(plan(vec![raise_memory()])));
    let b = executor.send(execute(plan(vec![ActionSpec::Scale {
        namespace: "shop".into(),
        deployment: "cart".into(),
        replicas: 3,
    }])));
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a.unwrap(), b.unwrap());
    let outcomes = [a.outcome.kind(), b.outcome.kind()];
    assert!(outcomes.contains(&"blocked"), "{outcomes:?}");
    let blocked = if a.outcome.kind() == "blocked" { a } else { b };
    assert!(matches!(blocked.outcome, ExecutionOutcome::Blocked { ref rule, .. } if rule == "concurrent-change"));
}

#[tokio::test]
async fn a_patch_whose_result_violates_a_kyverno_policy_is_blocked() {
    let policies = medic_policy::PolicySet::from_yaml(
        support::fixtures::MEMORY_CEILING,
        std::path::Path::new("memory-ceiling.yaml"),
    )
    .unwrap();
    let gate: Arc<dyn PolicyGate> = Arc::new(medic_executor::KyvernoGate::new(policies));
    let too_much = ActionSpec::PatchResources {
        namespace: "shop".into(),
        deployment: "cart".into(),
        container: "app".into(),
        requests: BTreeMap::new(),
        limits: BTreeMap::from([("memory".into(), "2Gi".into())]),
    };
    for (step, answer, blocked) in [(too_much, "2Gi", true), (raise_memory(), "512Mi", false)] {
        // The API server's dry-run answer: the deployment as the patch leaves it.
        let mut inner = objects(&[(DEPLOY, deployment_object(2, "128Mi"))]);
        let responder: Responder =
            Box::new(move |s: &Seen| if s.method == "PATCH" { (200, deployment_object(2, answer)) } else { inner(s) });
        let h = harness(responder, healthy(), Some(gate.clone()));
        let report = h.runner.run(&execute(plan(vec![step]))).await;
        if !blocked {
            assert_eq!(report.outcome, ExecutionOutcome::Verified);
            continue;
        }
        match &report.outcome {
            ExecutionOutcome::Blocked { rule, reason } => {
                assert_eq!(rule, "policy:memory-ceiling/autogen-limit-at-most-1gi");
                assert!(reason.contains("memory limits above 1Gi need a capacity review"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(writes(&h.log).iter().all(Seen::dry_run), "nothing written for real");
        let audit = h.audit.0.lock().unwrap();
        let checked = audit.iter().find(|e| e.kind.as_str() == "policy-checked").unwrap();
        assert!(
            checked.summary.contains("policy memory-ceiling/autogen-limit-at-most-1gi blocks"),
            "{}",
            checked.summary
        );
        assert_eq!(checked.detail["verdicts"][0]["status"], "fail");
    }
}

#[tokio::test]
async fn the_audit_trail_names_the_writes_in_the_clocks_time() {
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), healthy(), None);
    h.runner.run(&execute(plan(vec![raise_memory()]))).await;
    let audit = h.audit.0.lock().unwrap();
    let applied = &audit[0];
    assert_eq!(
        applied.summary,
        format!("applied set resources of shop/cart container app: limits.memory=512Mi: PATCH {DEPLOY}")
    );
    assert_eq!(applied.detail["api_calls"].as_array().unwrap().len(), 4);
    // The test clock starts in 2001 and moves a second per reading; the wall clock is elsewhere.
    let start: jiff::Timestamp = "2001-01-01T00:00:00Z".parse().unwrap();
    assert!(audit.iter().all(|e| e.at >= start && e.at < start + jiff::SignedDuration::from_secs(3600)), "{audit:?}");
}

#[tokio::test]
async fn an_alert_resolved_check_is_not_claimed_as_verified() {
    let h = harness(objects(&[(DEPLOY, deployment_object(2, "128Mi"))]), healthy(), None);
    let mut p = plan(vec![raise_memory()]);
    p.verify.checks = vec![VerifyCheck::AlertResolved];
    let report = h.runner.run(&execute(p)).await;
    assert_eq!(report.outcome, ExecutionOutcome::VerificationFailed { rolled_back: true });
    assert!(report.verification.unwrap().detail.contains("cannot be checked by the executor"));
}
