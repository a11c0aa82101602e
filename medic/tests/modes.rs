//! Namespace modes end to end on the lab: the shop's cache (`cart-redis`) goes down (Chaos Mesh's
//! pod-failure) and medic diagnoses it. In observe mode it records and reports the restart it would have
//! run and writes nothing; in propose mode the restart waits for an approval and runs once approved; in act
//! mode it runs at once — unless the playbook is high-risk, which always waits.
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use medic::lab_rig::{Rig, RigConfig};
use medic_core::messages::PlanVerdict;
use medic_core::{AuditKind, IncidentUid, Mode, ModesConfig, PlanId};
use medic_store::{IncidentFilter, IncidentStatus};
use std::path::PathBuf;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(600);
const REPAIR: Duration = Duration::from_secs(30 * 60);
const RESTART: &str = "rollout restart deployment shop/cart-redis";
const RESTARTED_FOR: &str = "medic.io/restarted-for";

/// A healthy shop watched by medic in `modes`; then its cache fails.
async fn failing_cache(seed: u64, modes: ModesConfig, playbooks: Option<PathBuf>) -> Rig {
    let rig = Rig::start(RigConfig { seed, ..RigConfig::default() }, |c| {
        c.modes = modes;
        c.playbooks.dir = playbooks;
    })
    .await
    .expect("the rig starts");
    rig.wait_healthy("shop", SETTLE).await.expect("the shop comes up");
    let experiment = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chaos-tests/experiments/redis-pod-failure.yaml"),
    )
    .unwrap();
    rig.apply(&experiment).unwrap();
    rig
}

fn modes(default: Mode, namespaces: &[(&str, Mode)]) -> ModesConfig {
    ModesConfig { default, namespaces: namespaces.iter().map(|(ns, m)| (ns.to_string(), *m)).collect() }
}

/// Waits, in lab time, for an audit record of `kind` whose summary contains every one of `parts`.
async fn wait_for_record(rig: &Rig, kind: AuditKind, parts: &[&str]) -> (IncidentUid, String) {
    let deadline = rig.clock.now() + jiff::SignedDuration::try_from(REPAIR).unwrap();
    loop {
        for incident in rig.medic.store.incidents(IncidentFilter::default().limit(100)).await.unwrap() {
            for r in rig.medic.store.timeline(incident.uid).await.unwrap() {
                if r.entry.kind == kind && parts.iter().all(|p| r.entry.summary.contains(p)) {
                    return (incident.uid, r.entry.summary);
                }
            }
        }
        assert!(rig.clock.now() < deadline, "no {kind} record with {parts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status(rig: &Rig, incident: IncidentUid) -> IncidentStatus {
    rig.medic.store.incident(incident).await.unwrap().unwrap().status
}

async fn wait_for_status(rig: &Rig, incident: IncidentUid, want: IncidentStatus) {
    let deadline = rig.clock.now() + jiff::SignedDuration::try_from(REPAIR).unwrap();
    loop {
        let now = status(rig, incident).await;
        if now == want {
            return;
        }
        if rig.clock.now() > deadline {
            let incident = rig.medic.store.incident(incident).await.unwrap().unwrap();
            panic!("not {want} but {now}:\n{}", rig.timeline(&incident).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every `action-applied` record of every incident.
async fn writes(rig: &Rig) -> Vec<String> {
    let mut applied = Vec::new();
    for incident in rig.medic.store.incidents(IncidentFilter::default().limit(100)).await.unwrap() {
        for r in rig.medic.store.timeline(incident.uid).await.unwrap() {
            if r.entry.kind == AuditKind::ActionApplied {
                applied.push(r.entry.summary);
            }
        }
    }
    applied
}

/// The incident the cache was last restarted for, as the deployment records it.
async fn restarted_for(rig: &Rig) -> Option<String> {
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let cache = deployments.get("cart-redis").await.unwrap();
    cache.metadata.annotations.and_then(|a| a.get(RESTARTED_FOR).cloned())
}

/// The plan waiting for approval whose steps restart the cache.
async fn pending_restart(rig: &Rig, incident: IncidentUid) -> PlanId {
    let pending = rig.medic.store.pending_plans().await.unwrap();
    let plan = pending.iter().find(|p| p.plan.incident == incident).expect("the incident's plan is pending");
    assert!(plan.plan.steps.iter().any(|s| s.to_string() == RESTART), "{:?}", plan.plan.steps);
    plan.plan.id
}

#[actix_rt::test]
async fn observe_mode_reports_the_plan_it_would_have_run_and_writes_nothing() {
    let rig = failing_cache(41, modes(Mode::Observe, &[]), None).await;
    let (incident, summary) =
        wait_for_record(&rig, AuditKind::Decision, &["namespace shop is in observe mode", RESTART]).await;
    assert!(summary.contains("medic would have run dependency-down"), "{summary}");
    wait_for_status(&rig, incident, IncidentStatus::Escalated).await;
    let (_, escalated) = wait_for_record(&rig, AuditKind::Escalated, &["observe mode; nothing was written"]).await;
    assert!(escalated.contains(RESTART), "the escalation says what medic would have done: {escalated}");
    // Let the other incidents of the outage run their course too: still nothing is written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(writes(&rig).await, Vec::<String>::new());
    assert_eq!(restarted_for(&rig).await, None);
    assert!(rig.medic.store.pending_steps().await.unwrap().is_empty(), "nothing was journaled");
    rig.stop().await;
}

#[actix_rt::test]
async fn propose_mode_waits_for_an_approval_then_restarts_once() {
    let rig = failing_cache(42, modes(Mode::Act, &[("shop", Mode::Propose)]), None).await;
    let (incident, _) =
        wait_for_record(&rig, AuditKind::ApprovalRequested, &["namespace shop is in propose mode", RESTART]).await;
    wait_for_status(&rig, incident, IncidentStatus::AwaitingApproval).await;
    let plan = pending_restart(&rig, incident).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(writes(&rig).await, Vec::<String>::new(), "nothing is written before the approval");
    assert_eq!(restarted_for(&rig).await, None);

    rig.medic.director.send(PlanVerdict { plan, approved: true, by: "api:alice".into() }).await.unwrap().unwrap();
    wait_for_status(&rig, incident, IncidentStatus::Resolved).await;
    let restarts: Vec<String> = writes(&rig).await.into_iter().filter(|w| w.contains(RESTART)).collect();
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert_eq!(restarted_for(&rig).await, Some(incident.to_string()));
    rig.stop().await;
}

#[actix_rt::test]
async fn act_mode_restarts_without_waiting() {
    // The default acts; another namespace's propose mode does not concern the shop.
    let rig = failing_cache(43, modes(Mode::Act, &[("payments", Mode::Propose)]), None).await;
    let (incident, _) = wait_for_record(&rig, AuditKind::ActionApplied, &["applied", RESTART]).await;
    wait_for_status(&rig, incident, IncidentStatus::Resolved).await;
    let timeline = rig.medic.store.timeline(incident).await.unwrap();
    assert!(!timeline.iter().any(|r| r.entry.kind == AuditKind::ApprovalRequested), "no approval was asked");
    assert_eq!(restarted_for(&rig).await, Some(incident.to_string()));
    rig.stop().await;
}

#[actix_rt::test]
async fn a_high_risk_playbook_waits_for_approval_even_in_act_mode() {
    // The same restart, from a playbook an operator marked high-risk.
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = medic_playbooks::catalog::BUILTIN.iter().find(|(n, _)| n.starts_with("dependency-down")).unwrap();
    assert!(text.contains("risk: medium"), "{text}");
    std::fs::write(dir.path().join("dependency-down.yaml"), text.replace("risk: medium", "risk: high")).unwrap();
    let rig = failing_cache(44, modes(Mode::Act, &[]), Some(dir.path().to_path_buf())).await;
    let (incident, summary) =
        wait_for_record(&rig, AuditKind::ApprovalRequested, &["playbook dependency-down is high-risk", RESTART]).await;
    wait_for_status(&rig, incident, IncidentStatus::AwaitingApproval).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(writes(&rig).await, Vec::<String>::new(), "nothing is written before the approval: {summary}");
    let plan = pending_restart(&rig, incident).await;
    rig.medic.director.send(PlanVerdict { plan, approved: true, by: "api:alice".into() }).await.unwrap().unwrap();
    wait_for_status(&rig, incident, IncidentStatus::Resolved).await;
    assert_eq!(restarted_for(&rig).await, Some(incident.to_string()));
    rig.stop().await;
}
