//! The pipeline end to end, on the lab: a fault → the lab's alert evaluator posts Alertmanager webhooks to
//! medic's real endpoint → context through kube-rs → specialists → decision → the action through kube-rs →
//! verified recovery → the incident closed with a complete timeline. One test per root-cause class of the
//! deterministic path (oom-memory-limit, dependency-down, node-not-ready, crash-transient, image-pull, bad-rollout).
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use medic_chaos_tests::{Rig, RigConfig, experiment};
use medic_core::{AuditKind, RootCauseClass};
use medic_store::{Incident, IncidentStatus};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(600);
const REPAIR: Duration = Duration::from_secs(30 * 60);

async fn healthy_rig(seed: u64) -> Rig {
    let rig = Rig::start(RigConfig { seed, ..RigConfig::default() }, |_| {}).await.expect("the rig starts");
    rig.wait_healthy("shop", SETTLE).await.expect("the shop comes up");
    rig
}

fn settled(i: &Incident) -> bool {
    matches!(i.status, IncidentStatus::Resolved | IncidentStatus::Escalated | IncidentStatus::Failed)
}

/// Waits for the incident that acted on the cause diagnosed as `class` to settle, and checks its story:
/// resolved, the cause at `target`, an action whose description contains `action`, verified, every step in
/// the timeline. Other incidents with the same diagnosis (the symptoms' own alerts) must have followed that
/// fix rather than acted again.
async fn assert_repaired(rig: &Rig, class: RootCauseClass, target: &str, action: &str) -> Incident {
    let store = &rig.medic.store;
    let mut leader = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while leader.is_none() {
        let acted = rig
            .wait_for_incident(REPAIR, |i| i.root_cause == Some(class) && settled(i))
            .await
            .expect("an incident with that diagnosis settles");
        for candidate in store.incidents(Default::default()).await.unwrap() {
            if candidate.root_cause != Some(class) || !settled(&candidate) {
                continue;
            }
            let timeline = store.timeline(candidate.uid).await.unwrap();
            if timeline.iter().any(|r| r.entry.kind == AuditKind::ActionApplied) {
                leader = Some(candidate);
                break;
            }
        }
        if leader.is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "no incident acted:\n{}",
                rig.timeline(&acted).await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let incident = leader.unwrap();
    let story = rig.timeline(&incident).await.unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved, "{story}");
    assert_eq!(incident.target.as_ref().map(ToString::to_string).as_deref(), Some(target), "{story}");
    let timeline = store.timeline(incident.uid).await.unwrap();
    let kinds: Vec<AuditKind> = timeline.iter().map(|r| r.entry.kind).collect();
    for kind in [
        AuditKind::ContextCollected,
        AuditKind::Findings,
        AuditKind::Decision,
        AuditKind::ActionApplied,
        AuditKind::Verified,
        AuditKind::IncidentClosed,
    ] {
        assert!(kinds.contains(&kind), "{kind} missing:\n{story}");
    }
    let applied =
        timeline.iter().filter(|r| r.entry.kind == AuditKind::ActionApplied).map(|r| r.entry.summary.as_str());
    assert!(applied.clone().any(|s| s.contains(action)), "no action like {action:?}:\n{story}");
    // Every other incident with this diagnosis followed the one fix.
    for other in store.incidents(Default::default()).await.unwrap() {
        if other.uid == incident.uid || other.root_cause != Some(class) || !settled(&other) {
            continue;
        }
        let writes = store
            .timeline(other.uid)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.entry.kind == AuditKind::ActionApplied)
            .count();
        assert_eq!(writes, 0, "a second incident acted on the same cause:\n{}", rig.timeline(&other).await.unwrap());
    }
    assert!(store.verify_audit().await.unwrap() > 0, "the audit chain verifies");
    incident
}

#[actix_rt::test]
async fn oom_memory_limit_is_repaired_by_raising_the_limit() {
    let rig = healthy_rig(11).await;
    rig.apply(&experiment("cart-memory-stress.yaml").unwrap()).unwrap();
    assert_repaired(&rig, RootCauseClass::OomMemoryLimit, "Deployment/shop/cart", "limits.memory=512Mi").await;
    rig.stop().await;
}

#[actix_rt::test]
async fn a_down_dependency_is_restarted_not_its_callers() {
    let rig = healthy_rig(12).await;
    rig.apply(&experiment("redis-pod-failure.yaml").unwrap()).unwrap();
    assert_repaired(&rig, RootCauseClass::DependencyDown, "Deployment/shop/cart-redis", "rollout restart").await;
    rig.stop().await;
}

#[actix_rt::test]
async fn a_failed_node_is_cordoned_and_drained() {
    let rig = healthy_rig(13).await;
    rig.apply(&experiment("worker-node-failure.yaml").unwrap()).unwrap();
    assert_repaired(&rig, RootCauseClass::NodeNotReady, "Node/lab-worker-2", "drain node lab-worker-2").await;
    rig.stop().await;
}

#[actix_rt::test]
async fn one_failing_replica_is_replaced() {
    let rig = healthy_rig(14).await;
    rig.apply(&experiment("catalog-pod-failure-one.yaml").unwrap()).unwrap();
    assert_repaired(&rig, RootCauseClass::CrashTransient, "Deployment/shop/catalog", "delete pod").await;
    rig.stop().await;
}

#[actix_rt::test]
async fn an_image_that_cannot_be_pulled_is_rolled_back() {
    let rig = healthy_rig(15).await;
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    // `kubectl set image deployment/frontend frontend=...:1.8.3`: a tag the registry does not have.
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "frontend", "image": "ghcr.io/medic-lab/shop-frontend:1.8.3"}]}}}});
    deployments.patch("frontend", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    assert_repaired(&rig, RootCauseClass::ImagePull, "Deployment/shop/frontend", "rollout undo").await;
    let frontend = deployments.get("frontend").await.unwrap();
    let image = frontend.spec.template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("ghcr.io/medic-lab/shop-frontend:1.8.2"));
    rig.stop().await;
}

#[actix_rt::test]
async fn a_release_that_crashes_at_start_is_rolled_back() {
    let rig = healthy_rig(16).await;
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    // `kubectl set image deployment/frontend frontend=...:1.9.0`: a release whose new code crashes as it starts.
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "frontend", "image": "ghcr.io/medic-lab/shop-frontend:1.9.0"}]}}}});
    deployments.patch("frontend", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    assert_repaired(&rig, RootCauseClass::BadRollout, "Deployment/shop/frontend", "rollout undo").await;
    let frontend = deployments.get("frontend").await.unwrap();
    let image = frontend.spec.template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("ghcr.io/medic-lab/shop-frontend:1.8.2"));
    rig.stop().await;
}
