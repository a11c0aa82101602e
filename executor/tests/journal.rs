//! Crash safety: every write is journaled (intent before the call, applied after, then verified, failed
//! or rolled back) in a real SQLite store, and a plan run again after medic stopped — killed mid-run, or
//! redelivered to a fresh Executor — never applies a step twice.
mod support;

use medic_core::execution::ExecutionOutcome;
use medic_core::messages::Execute;
use medic_core::ports::AuditSink;
use medic_core::{AuditKind, IncidentContext, ModesConfig, Plan};
use medic_executor::{ExecutorConfig, Guard, KubeApi, Runner};
use medic_store::{StepIntent, StepState, Store, StoreConfig};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fixtures::{DEPLOY, crashing, deployment_object, healthy, plan, raise_memory};
use support::{Seen, Snapshots, TickClock, mock_client, objects_responder};

struct Harness {
    runner: Runner,
    log: Arc<Mutex<Vec<Seen>>>,
}

/// A runner over a cluster whose deployment has `memory` as its limit, journaling into `store` and
/// auditing there too (as medic does).
fn harness(store: &Store, memory: &str, reader: Snapshots) -> Harness {
    let responder = objects_responder([(DEPLOY.to_string(), deployment_object(2, memory))].into());
    let (client, log) = mock_client(responder);
    let config = ExecutorConfig::default();
    let audit: Arc<dyn AuditSink> = Arc::new(store.clone());
    let runner = Runner {
        api: KubeApi::new(client, "medic"),
        reader: Arc::new(reader),
        audit,
        clock: Arc::new(TickClock::new(Duration::from_secs(1))),
        guard: Guard::from_config(&config, &ModesConfig::default()),
        policy: None,
        config,
        store: store.clone(),
    };
    Harness { runner, log }
}

fn execute(plan: &Plan) -> Execute {
    Execute { plan: Arc::new(plan.clone()), context: Arc::new(IncidentContext::default()), approved_by: None }
}

/// Real (not dry-run) writes the mock API server received.
fn real_writes(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    log.lock().unwrap().iter().filter(|s| s.is_write() && !s.dry_run()).cloned().collect()
}

fn open(dir: &tempfile::TempDir) -> Store {
    StoreConfig::new(dir.path().join("medic.db")).build().unwrap()
}

async fn states(store: &Store, plan: &Plan) -> Vec<(u32, bool, StepState)> {
    store.plan_steps(plan.id).await.unwrap().into_iter().map(|e| (e.step, e.rollback, e.state)).collect()
}

async fn audit_kinds(store: &Store, plan: &Plan) -> Vec<AuditKind> {
    store.timeline(plan.incident).await.unwrap().into_iter().map(|r| r.entry.kind).collect()
}

#[tokio::test]
async fn every_write_is_journaled_and_ends_verified_or_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let p = plan(vec![raise_memory()]);
    let h = harness(&store, "128Mi", healthy());
    assert_eq!(h.runner.run(&execute(&p)).await.outcome, ExecutionOutcome::Verified);
    assert_eq!(states(&store, &p).await, [(0, false, StepState::Verified)]);
    let entry = &store.plan_steps(p.id).await.unwrap()[0];
    assert!(entry.applied_at.is_some() && entry.finished_at.is_some());

    let p = plan(vec![raise_memory()]);
    let h = harness(&store, "128Mi", crashing());
    let report = h.runner.run(&execute(&p)).await;
    assert_eq!(report.outcome, ExecutionOutcome::VerificationFailed { rolled_back: true });
    // The step is rolled back; its rollback, once written, is done.
    assert_eq!(states(&store, &p).await, [(0, false, StepState::RolledBack), (0, true, StepState::Verified)]);
    assert!(store.pending_steps().await.unwrap().is_empty(), "nothing left for a restart to resolve");
}

#[tokio::test]
async fn a_step_applied_before_a_restart_is_not_applied_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let p = plan(vec![raise_memory()]);
    let id = store.journal_intent(intent(&p)).await.unwrap();
    store.journal_mark(id, StepState::Applied, None).await.unwrap();

    let h = harness(&store, "512Mi", healthy());
    let report = h.runner.run(&execute(&p)).await;
    assert_eq!(report.outcome, ExecutionOutcome::Verified, "{report:#?}");
    assert!(h.log.lock().unwrap().is_empty(), "not even a dry run: {:?}", h.log.lock().unwrap());
    assert_eq!(states(&store, &p).await, [(0, false, StepState::Verified)]);
    let timeline = store.timeline(p.incident).await.unwrap();
    let resumed = timeline.iter().find(|r| r.entry.kind == AuditKind::Resumed).unwrap();
    assert!(resumed.entry.summary.contains("was applied before medic restarted: not applied again"));
}

fn intent(p: &Plan) -> StepIntent {
    StepIntent { incident: p.incident, plan: p.id, step: 0, rollback: false, action: p.steps[0].clone() }
}

#[tokio::test]
async fn an_intent_is_resolved_against_the_cluster_not_applied_blindly() {
    // (what the cluster shows, real writes expected)
    for (memory, writes) in [("512Mi", 0), ("128Mi", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let p = plan(vec![raise_memory()]);
        store.journal_intent(intent(&p)).await.unwrap();
        let h = harness(&store, memory, healthy());
        let report = h.runner.run(&execute(&p)).await;
        assert_eq!(report.outcome, ExecutionOutcome::Verified, "{memory}: {report:#?}");
        let real = real_writes(&h.log);
        assert_eq!(real.len(), writes, "{memory}: {real:?}");
        if writes == 1 {
            let limit = &real[0].body.as_ref().unwrap()["spec"]["template"]["spec"]["containers"][0]["resources"];
            assert_eq!(limit["limits"]["memory"], "512Mi");
            assert!(audit_kinds(&store, &p).await.contains(&AuditKind::ActionApplied));
        } else {
            let kinds = audit_kinds(&store, &p).await;
            assert!(kinds.contains(&AuditKind::Resumed) && !kinds.contains(&AuditKind::ActionApplied), "{kinds:?}");
        }
        assert_eq!(states(&store, &p).await, [(0, false, StepState::Verified)], "{memory}");
    }
}

#[tokio::test]
async fn a_plan_that_failed_before_is_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let p = plan(vec![raise_memory()]);
    let id = store.journal_intent(intent(&p)).await.unwrap();
    store.journal_mark(id, StepState::Failed, Some("409 Conflict".into())).await.unwrap();
    let h = harness(&store, "128Mi", healthy());
    match h.runner.run(&execute(&p)).await.outcome {
        ExecutionOutcome::Failed { step: 0, error, rolled_back: false } => {
            assert!(error.contains("already ended") && error.contains("409 Conflict"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(h.log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_redelivered_plan_after_a_restart_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let p = plan(vec![raise_memory()]);
    let first = harness(&store, "128Mi", healthy());
    assert_eq!(first.runner.run(&execute(&p)).await.outcome, ExecutionOutcome::Verified);
    assert_eq!(real_writes(&first.log).len(), 1);
    store.close().await;

    // A new medic: a new store handle on the same file, a new runner (nothing remembered in memory).
    let store = open(&dir);
    let again = harness(&store, "512Mi", healthy());
    assert_eq!(again.runner.run(&execute(&p)).await.outcome, ExecutionOutcome::Verified);
    assert!(real_writes(&again.log).is_empty(), "{:?}", again.log.lock().unwrap());
}

/// Runs `p` until its step is journaled `applied`, then drops the run mid-verification, as `kill -9`
/// would stop it. Verification is slowed so that it is still polling then.
async fn killed_during_verification(store: &Store, p: &Plan) -> Arc<Mutex<Vec<Seen>>> {
    let reader = crashing();
    *reader.on_read.lock().unwrap() = Some(Box::new(|_: &Snapshots| std::thread::sleep(Duration::from_millis(20))));
    let h = harness(store, "128Mi", reader);
    let log = h.log.clone();
    let execute = execute(p);
    let run = tokio::spawn(async move { h.runner.run(&execute).await });
    for _ in 0..500 {
        if states(store, p).await == [(0, false, StepState::Applied)] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled(), "the run was still verifying");
    assert_eq!(states(store, p).await, [(0, false, StepState::Applied)]);
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_verification_it_resumes_verifying_without_writing_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let p = plan(vec![raise_memory()]);
    let before = killed_during_verification(&store, &p).await;
    assert_eq!(real_writes(&before).len(), 1, "applied once before the kill");
    store.close().await;

    let store = open(&dir);
    assert_eq!(store.pending_steps().await.unwrap().len(), 1, "the restart finds the step to resolve");
    let h = harness(&store, "512Mi", healthy());
    assert_eq!(h.runner.run(&execute(&p)).await.outcome, ExecutionOutcome::Verified);
    assert!(real_writes(&h.log).is_empty());
    assert_eq!(states(&store, &p).await, [(0, false, StepState::Verified)]);
    let applied = audit_kinds(&store, &p).await.into_iter().filter(|k| *k == AuditKind::ActionApplied).count();
    assert_eq!(applied, 1, "one write in the whole story");
    assert!(store.pending_steps().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_failed_verification_still_restores_what_the_earlier_run_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let p = plan(vec![raise_memory()]);
    killed_during_verification(&store, &p).await;
    store.close().await;

    // The earlier run's audit record kept how to undo the step: the limit it replaced.
    let store = open(&dir);
    let h = harness(&store, "512Mi", crashing());
    let report = h.runner.run(&execute(&p)).await;
    assert_eq!(report.outcome, ExecutionOutcome::VerificationFailed { rolled_back: true });
    let real = real_writes(&h.log);
    assert_eq!(real.len(), 1, "only the rollback: {real:?}");
    let body: &Value = real[0].body.as_ref().unwrap();
    assert_eq!(body["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "128Mi");
    assert_eq!(states(&store, &p).await, [(0, false, StepState::RolledBack), (0, true, StepState::Verified)]);
}
