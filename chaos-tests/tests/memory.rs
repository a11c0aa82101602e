//! Memory on the lab: what medic learned from one incident changes what it decides the next time the same
//! fault comes back. A fix a human approved after an escalation is applied without asking; a fix that failed
//! verification is not tried first; and both survive a restart of medic on the same store and index.
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use medic::MedicConfig;
use medic::http::auth::{Role, TokenConfig};
use medic::secrets::Secret;
use medic_chaos_tests::{Rig, RigConfig, experiment};
use medic_core::decision::DecisionRecord;
use medic_core::{AuditKind, Plan, RootCauseClass};
use medic_store::{AuditRecord, Incident, IncidentStatus};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Virtual seconds per real second: the failed fix's verification alone runs five minutes of lab time.
const SPEED: f64 = 40.0;
const SETTLE: Duration = Duration::from_secs(600);
const REPAIR: Duration = Duration::from_secs(30 * 60);
const APPROVER: &str = "approver-token-51d2";
const CART: &str = "Deployment/shop/cart";
/// A memory limit far below the cart's working set (about 92 MiB in the lab).
const LOW_LIMIT: &str = "40Mi";

fn approver(config: &mut MedicConfig) {
    config.api.tokens = vec![TokenConfig {
        name: "alice".into(),
        role: Role::Approver,
        token: Some(Secret::new(APPROVER)),
        token_env: None,
        token_file: None,
        token_sha256: None,
    }];
}

async fn healthy_rig(seed: u64, workdir: Option<&Path>, customise: impl FnOnce(&mut MedicConfig)) -> Rig {
    let config = RigConfig { seed, speed: SPEED, workdir: workdir.map(Path::to_path_buf), ..RigConfig::default() };
    let rig = Rig::start(config, customise).await.expect("the rig starts");
    rig.wait_healthy("shop", SETTLE).await.expect("the shop comes up");
    rig
}

/// The cart's containers stressed with `size` of memory on top of their working set, against a 256Mi limit.
fn cart_memory_stress(size: &str) -> String {
    let yaml = experiment("cart-memory-stress.yaml").unwrap();
    assert!(yaml.contains("size: 256MB"), "the experiment changed: {yaml}");
    yaml.replace("size: 256MB", &format!("size: {size}"))
}

/// Ends the stress experiment, as `kubectl delete stresschaos cart-memory-stress` would.
async fn end_cart_memory_stress(rig: &Rig) {
    let resource = ApiResource {
        group: "chaos-mesh.org".into(),
        version: "v1alpha1".into(),
        api_version: "chaos-mesh.org/v1alpha1".into(),
        kind: "StressChaos".into(),
        plural: "stresschaos".into(),
    };
    let chaos: Api<DynamicObject> = Api::namespaced_with(rig.client().await.unwrap(), "shop", &resource);
    chaos.delete("cart-memory-stress", &DeleteParams::default()).await.expect("the experiment is deleted");
}

/// Puts the cart's memory limit back to `limit`, as redeploying its original manifest would.
async fn set_cart_memory_limit(rig: &Rig, limit: &str) {
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let cart = deployments.get("cart").await.unwrap();
    let container = cart.spec.template.spec.unwrap().containers[0].name.clone();
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": container, "resources": {"limits": {"memory": limit}}}]}}}});
    deployments.patch("cart", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
}

async fn cart_memory_limit(rig: &Rig) -> String {
    let deployments: Api<Deployment> = Api::namespaced(rig.client().await.unwrap(), "shop");
    let cart = deployments.get("cart").await.unwrap();
    let container = &cart.spec.template.spec.unwrap().containers[0];
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    limits.and_then(|l| l.get("memory")).map(|q| q.0.clone()).unwrap_or_default()
}

/// The on-call closes what is left open of an occurrence once the cart is healthy again, so that the next
/// occurrence opens incidents of its own.
async fn close_open_incidents(rig: &Rig) {
    for incident in rig.medic.store.incidents_open().await.unwrap() {
        rig.medic.store.set_incident_status(incident.uid, IncidentStatus::Closed).await.unwrap();
    }
}

/// Ends one occurrence of the cart's fault: the stress experiment stopped (if there is one), the limit as in
/// the original manifest, the shop healthy and its incidents closed.
async fn end_occurrence(rig: &Rig, stressed: bool) {
    if stressed {
        end_cart_memory_stress(rig).await;
    }
    set_cart_memory_limit(rig, "256Mi").await;
    rig.wait_healthy("shop", SETTLE).await.expect("the shop recovers");
    // Let the alerts of the occurrence resolve before the on-call closes its incidents.
    tokio::time::sleep(Duration::from_secs(3)).await;
    close_open_incidents(rig).await;
}

fn is_cart_oom(i: &Incident) -> bool {
    i.root_cause == Some(RootCauseClass::OomMemoryLimit) && i.target.as_ref().is_some_and(|t| t.to_string() == CART)
}

async fn timeline(rig: &Rig, incident: &Incident) -> Vec<AuditRecord> {
    rig.medic.store.timeline(incident.uid).await.unwrap()
}

fn has(timeline: &[AuditRecord], kind: AuditKind) -> bool {
    timeline.iter().any(|r| r.entry.kind == kind)
}

/// The decision recorded for the incident (the first; a follower records a second, without detail).
fn decision(timeline: &[AuditRecord]) -> DecisionRecord {
    let entry = timeline.iter().find(|r| r.entry.kind == AuditKind::Decision).expect("a decision is recorded");
    serde_json::from_value(entry.entry.detail.clone()).expect("the decision's detail is a decision record")
}

/// Every note `decide` wrote on the hypotheses, recollections included.
fn notes(record: &DecisionRecord) -> Vec<String> {
    record.ranked.iter().flat_map(|r| r.notes.iter().cloned()).collect()
}

/// Waits for the incident of an occurrence that applied a fix to the cart's OOM and settled.
async fn acted_on_cart(rig: &Rig, after: &[Incident]) -> Incident {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let settled = rig.wait_for_incident(REPAIR, |i| is_cart_oom(i) && !i.status.is_open()).await;
        for candidate in rig.medic.store.incidents(Default::default()).await.unwrap() {
            if !is_cart_oom(&candidate) || after.iter().any(|a| a.uid == candidate.uid) {
                continue;
            }
            let story = timeline(rig, &candidate).await;
            let over = has(&story, AuditKind::IncidentClosed) || candidate.status == IncidentStatus::Failed;
            if has(&story, AuditKind::ActionApplied) && over {
                return candidate;
            }
        }
        let seen = match &settled {
            Ok(i) => rig.timeline(i).await.unwrap(),
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "no incident fixed the cart:\n{seen}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for a decision on the cart by an incident not in `earlier`; returns it with its timeline.
async fn decided_on_cart(rig: &Rig, earlier: &[Incident]) -> (Incident, Vec<AuditRecord>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for candidate in rig.medic.store.incidents(Default::default()).await.unwrap() {
            let cart = candidate.target.as_ref().is_some_and(|t| t.to_string() == CART);
            if !cart || earlier.iter().any(|e| e.uid == candidate.uid) {
                continue;
            }
            let story = timeline(rig, &candidate).await;
            let decided = story.iter().any(|r| r.entry.kind == AuditKind::Decision);
            // Escalated or acted on: what was decided is all recorded.
            if decided && (has(&story, AuditKind::Escalated) || has(&story, AuditKind::ActionApplied)) {
                return (candidate, story);
            }
        }
        if Instant::now() > deadline {
            let mut seen = String::new();
            for incident in rig.medic.store.incidents(Default::default()).await.unwrap() {
                if !earlier.iter().any(|e| e.uid == incident.uid) {
                    seen.push_str(&rig.timeline(&incident).await.unwrap());
                }
            }
            panic!("no decision on the cart; new incidents:\n{seen}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every incident's story, for a failure message.
async fn all_timelines(rig: &Rig) -> String {
    let mut out = String::new();
    for incident in rig.medic.store.incidents(Default::default()).await.unwrap() {
        out.push_str(&rig.timeline(&incident).await.unwrap());
    }
    out
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// The pending plan for the cart's OOM, as the approver finds it with `GET /v1/plans`: the one proposed for
/// the incident of the cart's own alerts (its callers' alerts open incidents of their own).
async fn pending_cart_plan(rig: &Rig) -> Plan {
    let url = format!("{}/v1/plans", rig.medic.url());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed: Value = http().get(&url).bearer_auth(APPROVER).send().await.unwrap().json().await.unwrap();
        let plans = listed["plans"].as_array().into_iter().flatten().filter(|p| p["status"] == "pending");
        for plan in plans.filter_map(|p| serde_json::from_value::<Plan>(p["plan"].clone()).ok()) {
            if plan.class != RootCauseClass::OomMemoryLimit || plan.target.to_string() != CART {
                continue;
            }
            let alerts = rig.medic.store.incident_alerts(plan.incident).await.unwrap();
            if alerts.iter().any(|a| a.workload.as_deref() == Some("cart")) {
                return plan;
            }
        }
        if Instant::now() > deadline {
            panic!("no plan for the cart waits for approval: {listed:#}\n{}", all_timelines(rig).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_rt::test]
async fn an_escalated_fix_approved_through_the_api_is_recalled_and_applied_without_asking() {
    // A cautious operator: the rules' diagnosis of the cart's OOM is not enough to act on (0.85 from the
    // compute specialist alone, 0.92 where the network specialist sees the cart down for its callers).
    let rig = healthy_rig(41, None, |c| {
        approver(c);
        c.director.min_confidence = 0.94;
    })
    .await;

    // First occurrence: medic is not sure enough, escalates, and proposes its plan for approval.
    rig.apply(&cart_memory_stress("256MB")).unwrap();
    let plan = pending_cart_plan(&rig).await;
    let first = rig
        .wait_for_incident(SETTLE, |i| i.uid == plan.incident && i.status == IncidentStatus::Escalated)
        .await
        .expect("the incident with the proposal is escalated");
    let story = timeline(&rig, &first).await;
    let shown = rig.timeline(&first).await.unwrap();
    assert!(has(&story, AuditKind::Escalated) && has(&story, AuditKind::ApprovalRequested), "{shown}");
    assert!(!has(&story, AuditKind::ActionApplied), "acted before the approval:\n{shown}");
    let escalated = story.iter().find(|r| r.entry.kind == AuditKind::Escalated).unwrap();
    assert!(escalated.entry.summary.contains("below the 0.94 confidence threshold"), "{shown}");
    assert!(escalated.entry.summary.contains(&format!("plan {} ", plan.id)), "{shown}");
    assert_eq!(cart_memory_limit(&rig).await, "256Mi", "changed before the approval:\n{}", all_timelines(&rig).await);

    // A human approves it through the API; medic applies it, it is verified, and remembered as approved.
    let approve = format!("{}/v1/plans/{}/approve", rig.medic.url(), plan.id);
    let approved: Value = http().post(&approve).bearer_auth(APPROVER).send().await.unwrap().json().await.unwrap();
    assert_eq!((approved["status"].as_str(), approved["decided_by"].as_str()), (Some("approved"), Some("api:alice")));
    let first = rig
        .wait_for_incident(REPAIR, |i| i.uid == first.uid && i.status == IncidentStatus::Resolved)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{shown}"));
    let story = timeline(&rig, &first).await;
    let remembered = story.iter().find(|r| r.entry.kind == AuditKind::Remembered);
    assert!(
        remembered.is_some_and(|r| r.entry.summary.contains("verified")),
        "{}",
        rig.timeline(&first).await.unwrap()
    );
    assert_eq!(cart_memory_limit(&rig).await, "512Mi");
    end_occurrence(&rig, true).await;
    let earlier = rig.medic.store.incidents(Default::default()).await.unwrap();

    // The same fault again: the approved fix is recalled and applied without asking anyone.
    rig.apply(&cart_memory_stress("256MB")).unwrap();
    let second = acted_on_cart(&rig, &earlier).await;
    let story = timeline(&rig, &second).await;
    let shown = rig.timeline(&second).await.unwrap();
    assert_eq!(second.status, IncidentStatus::Resolved, "{shown}");
    assert!(!has(&story, AuditKind::ApprovalRequested) && !has(&story, AuditKind::Approved), "asked again:\n{shown}");
    let record = decision(&story);
    let recalled = format!("recalled {} similarity", first.uid.short());
    let note = notes(&record).into_iter().find(|n| n.starts_with(&recalled));
    let note = note.unwrap_or_else(|| panic!("no recollection of {}:\n{shown}", first.uid.short()));
    assert!(note.ends_with("fixed by oom-memory-limit, approved by api:alice, verified"), "{note}");
    assert!(record.recalled.iter().any(|r| r.incident == first.uid && r.approved_by.as_deref() == Some("api:alice")));
    assert_eq!(cart_memory_limit(&rig).await, "512Mi");
    rig.stop().await;
}

#[actix_rt::test]
async fn a_fix_that_failed_verification_is_not_tried_first_the_next_time() {
    let rig = healthy_rig(42, None, approver).await;

    // A deploy sets the cart's memory limit far below its working set: the limit medic computes from the
    // killed containers (twice the old one) is still too low, so its fix fails verification.
    set_cart_memory_limit(&rig, LOW_LIMIT).await;
    let first = acted_on_cart(&rig, &[]).await;
    let story = timeline(&rig, &first).await;
    let shown = rig.timeline(&first).await.unwrap();
    let medic_core::Decision::Act { plan: first_plan } = decision(&story).decision else {
        panic!("the first occurrence was not acted on:\n{shown}")
    };
    assert_eq!(first_plan.playbook, "oom-memory-limit", "{shown}");
    assert!(has(&story, AuditKind::RolledBack), "the failed fix was not rolled back:\n{shown}");
    let remembered = story.iter().find(|r| r.entry.kind == AuditKind::Remembered);
    assert!(remembered.is_some_and(|r| r.entry.summary.ends_with("failed")), "{shown}");
    assert_eq!(cart_memory_limit(&rig).await, LOW_LIMIT, "the rollback restores the limit");
    end_occurrence(&rig, false).await;
    let earlier = rig.medic.store.incidents(Default::default()).await.unwrap();

    // The same fault again: the fix that failed is not what medic tries first, and the timeline says why.
    set_cart_memory_limit(&rig, LOW_LIMIT).await;
    let (second, story) = decided_on_cart(&rig, &earlier).await;
    let shown = rig.timeline(&second).await.unwrap();
    let record = decision(&story);
    let similarity = record.recalled.iter().find(|r| r.incident == first.uid).map(|r| r.similarity);
    let similarity = similarity.unwrap_or_else(|| panic!("{} not recalled:\n{shown}", first.uid.short()));
    let note = format!(
        "recalled {} similarity {similarity:.2}: oom-memory-limit failed verification there; not trying it first",
        first.uid.short(),
    );
    assert!(notes(&record).contains(&note), "no note {note:?}:\n{shown}");
    // What medic tries first instead: another remedy, acted on or proposed to a human, or nothing at all.
    let first_step = first_plan.steps[0].to_string();
    let proposed: Option<Plan> = story
        .iter()
        .find(|r| r.entry.kind == AuditKind::ApprovalRequested)
        .map(|r| serde_json::from_value(r.entry.detail.clone()).expect("the proposal's detail is a plan"));
    match (&record.decision, &proposed) {
        (medic_core::Decision::Act { plan }, _) | (medic_core::Decision::Escalate { .. }, Some(plan)) => {
            assert_ne!(plan.steps, first_plan.steps, "the failed fix is tried first again:\n{shown}");
        }
        (medic_core::Decision::Escalate { reason }, None) => {
            assert!(reason.contains("failed verification for a similar incident"), "{reason}:\n{shown}");
        }
        (other, _) => panic!("{other:?}:\n{shown}"),
    }
    let applied = story.iter().filter(|r| r.entry.kind == AuditKind::ActionApplied);
    assert!(!applied.clone().any(|r| r.entry.summary.contains(&first_step)), "{first_step} again:\n{shown}");
    rig.stop().await;
}

#[actix_rt::test]
async fn a_restarted_medic_keeps_its_memory() {
    let workdir = tempfile::tempdir().unwrap();

    // The first medic repairs the cart's OOM and remembers it.
    let rig = healthy_rig(43, Some(workdir.path()), |_| {}).await;
    rig.apply(&cart_memory_stress("256MB")).unwrap();
    let first = acted_on_cart(&rig, &[]).await;
    let shown = rig.timeline(&first).await.unwrap();
    assert_eq!(first.status, IncidentStatus::Resolved, "{shown}");
    assert!(has(&timeline(&rig, &first).await, AuditKind::Remembered), "{shown}");
    close_open_incidents(&rig).await;
    let earlier = rig.medic.store.incidents(Default::default()).await.unwrap();
    rig.stop().await;

    // A new medic on the same store and index (and a new lab, where the fault happens again).
    let rig = healthy_rig(43, Some(workdir.path()), |_| {}).await;
    rig.apply(&cart_memory_stress("256MB")).unwrap();
    let second = acted_on_cart(&rig, &earlier).await;
    let story = timeline(&rig, &second).await;
    let shown = rig.timeline(&second).await.unwrap();
    assert_eq!(second.status, IncidentStatus::Resolved, "{shown}");
    let recall = story.iter().find(|r| r.entry.kind == AuditKind::Recall).map(|r| r.entry.summary.clone());
    let recall = recall.unwrap_or_else(|| panic!("nothing recalled after the restart:\n{shown}"));
    assert!(recall.contains(&format!("{} similarity", first.uid.short())), "{recall}");
    let recalled = format!("recalled {} similarity", first.uid.short());
    let note = notes(&decision(&story)).into_iter().find(|n| n.starts_with(&recalled));
    assert!(note.is_some_and(|n| n.ends_with("fixed by oom-memory-limit, verified")), "{shown}");
    rig.stop().await;
}
