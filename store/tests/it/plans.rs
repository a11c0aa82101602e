//! Plans awaiting approval: one verdict each.
use medic_core::{ActionSpec, IncidentUid, ObjectRef, Plan, PlanId, Risk, RootCauseClass, VerifyCheck, VerifySpec};
use medic_store::{Error, PlanStatus};

use crate::common::TestStore;

fn plan() -> Plan {
    Plan {
        id: PlanId::new(),
        incident: IncidentUid::new(),
        class: RootCauseClass::OomMemoryLimit,
        target: ObjectRef::deployment("shop", "cart"),
        playbook: "raise-memory-limit".into(),
        playbook_version: "1".into(),
        steps: vec![ActionSpec::PatchResources {
            namespace: "shop".into(),
            deployment: "cart".into(),
            container: "cart".into(),
            requests: Default::default(),
            limits: [("memory".to_string(), "512Mi".to_string())].into(),
        }],
        verify: VerifySpec {
            checks: vec![VerifyCheck::WorkloadHealthy { namespace: "shop".into(), deployment: "cart".into() }],
            timeout_secs: 120,
            stable_secs: 30,
        },
        rollback_on_failure: true,
        risk: Risk::Medium,
        requires_approval: true,
        rationale: "OOMKilled at the limit".into(),
    }
}

#[tokio::test]
async fn a_saved_plan_reads_back_pending() {
    let t = TestStore::new();
    let p = plan();
    t.store.save_plan(&p).await.unwrap();
    let stored = t.store.plan(p.id).await.unwrap().unwrap();
    assert_eq!(stored.plan, p);
    assert_eq!(stored.status, PlanStatus::Pending);
    assert_eq!(stored.created_at, t.clock_now());
    assert!(stored.decided_by.is_none());
    assert!(matches!(t.store.save_plan(&p).await, Err(Error::PlanExists(id)) if id == p.id));
    assert!(t.store.plan(PlanId::new()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_plan_takes_exactly_one_verdict() {
    let t = TestStore::new();
    let (approved, rejected) = (plan(), plan());
    t.store.save_plan(&approved).await.unwrap();
    t.store.save_plan(&rejected).await.unwrap();
    assert_eq!(t.store.pending_plans().await.unwrap().len(), 2);

    let decided = t.store.decide_plan(approved.id, true, "slack:U123").await.unwrap();
    assert_eq!(decided.status, PlanStatus::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("slack:U123"));
    assert_eq!(decided.decided_at, Some(t.clock_now()));
    match t.store.decide_plan(approved.id, false, "api:mallory").await {
        Err(Error::PlanAlreadyDecided { status: PlanStatus::Approved, by, .. }) => assert_eq!(by, "slack:U123"),
        other => panic!("a second verdict must be refused, got {other:?}"),
    }
    assert!(t.store.decide_plan(approved.id, true, "slack:U123").await.is_err(), "even the same verdict");

    t.store.decide_plan(rejected.id, false, "api:alice").await.unwrap();
    assert!(t.store.pending_plans().await.unwrap().is_empty());
    let stored = t.store.plan(rejected.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.decided_by.as_deref()), (PlanStatus::Rejected, Some("api:alice")));
    assert!(matches!(t.store.decide_plan(PlanId::new(), true, "x").await, Err(Error::PlanNotFound(_))));
}

#[tokio::test]
async fn concurrent_verdicts_let_exactly_one_through() {
    let t = TestStore::new();
    let p = plan();
    t.store.save_plan(&p).await.unwrap();
    let voters: Vec<_> = (0..8)
        .map(|i| {
            let store = t.store.clone();
            tokio::spawn(async move { store.decide_plan(p.id, i % 2 == 0, format!("api:user{i}")).await })
        })
        .collect();
    let mut accepted = 0;
    for voter in voters {
        match voter.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(Error::PlanAlreadyDecided { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(accepted, 1);
}
