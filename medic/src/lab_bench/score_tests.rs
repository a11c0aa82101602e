//! Scoring by table: what medic did in a run, and the row it earns.
use super::*;
use crate::lab_bench::health::Sample;
use crate::lab_bench::run::IncidentTrace;
use crate::lab_bench::scenario::{Cause, Expect, Forbidden};
use jiff::Timestamp;
use medic_core::decision::{DecisionRecord, RankedHypothesis};
use medic_core::{Evidence, EvidenceSource, Hypothesis, IncidentUid, Plan, PlanId, RootCauseClass, VerifySpec};
use std::time::Duration;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn scenario(outcome: Outcome, causes: &[(RootCauseClass, Target)]) -> Scenario {
    Scenario {
        name: "s".into(),
        file: "s.yaml".into(),
        description: String::new(),
        tags: vec![],
        topology_yaml: String::new(),
        topology_name: "shop".into(),
        namespace: "shop".into(),
        steps: vec![],
        expect: Expect {
            outcome,
            causes: causes
                .iter()
                .map(|(class, target)| Cause {
                    class: *class,
                    target: target.clone(),
                    remedies: vec![class.as_str().to_string()],
                })
                .collect(),
            forbidden: vec![Forbidden { action: Some("drain".into()), target: None }],
            max_mttr: Duration::from_secs(300),
        },
    }
}

fn hypothesis(class: RootCauseClass, target: ObjectRef) -> Hypothesis {
    Hypothesis {
        class,
        target,
        confidence: 0.8,
        evidence: vec![Evidence::new(EvidenceSource::Log, None, "x")],
        playbook: Some(class.as_str().into()),
        params: Default::default(),
        specialist: "network".into(),
    }
}

fn acting(class: RootCauseClass, target: ObjectRef) -> DecisionRecord {
    let incident = IncidentUid::new();
    let plan = Plan {
        id: PlanId::new(),
        incident,
        class,
        target: target.clone(),
        playbook: class.as_str().into(),
        playbook_version: "1.0.0".into(),
        steps: vec![],
        verify: VerifySpec { checks: vec![], timeout_secs: 60, stable_secs: 60 },
        rollback_on_failure: true,
        risk: medic_core::Risk::Low,
        requires_approval: false,
        rationale: String::new(),
    };
    DecisionRecord {
        incident,
        decision: Decision::Act { plan },
        ranked: vec![RankedHypothesis {
            hypothesis: hypothesis(class, target),
            score: 0.8,
            supported_by: vec!["network".into()],
            notes: vec![],
        }],
        recalled: vec![],
        missing: vec![],
        min_confidence: 0.6,
        min_margin: 0.15,
    }
}

fn trace(decisions: Vec<DecisionRecord>, escalations: Vec<Vec<RankedHypothesis>>) -> IncidentTrace {
    IncidentTrace {
        uid: IncidentUid::new(),
        title: "alert".into(),
        opened_at: at(40),
        status: "resolved".into(),
        decisions,
        followed: false,
        escalations,
        approval_requested: false,
    }
}

fn samples(unhealthy_until: i64, end: i64) -> Vec<Sample> {
    (0..=end)
        .step_by(5)
        .map(|t| Sample {
            at: at(t),
            problems: if t < unhealthy_until { vec!["cart: 50% errors".into()] } else { vec![] },
        })
        .collect()
}

fn restart(name: &str) -> ActionSpec {
    ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: name.into() }
}

fn observation(incidents: Vec<IncidentTrace>, writes: Vec<ActionSpec>, unhealthy_until: i64) -> Observation {
    Observation {
        ready_at: at(-30),
        fault_at: Some(at(0)),
        ended_at: at(300),
        samples: samples(unhealthy_until, 300),
        incidents,
        writes: writes
            .into_iter()
            .map(|action| Write { at: at(50), incident: None, action, playbook: Some("dependency-down".into()) })
            .collect(),
        step_errors: vec![],
    }
}

#[test]
fn rows_by_table() {
    let redis = ObjectRef::deployment("shop", "cart-redis");
    let cart = ObjectRef::deployment("shop", "cart");
    let down = RootCauseClass::DependencyDown;
    let redis_down = || scenario(Outcome::Repaired, &[(down, Target::Workload("cart-redis".into()))]);

    // The cause repaired: everything right.
    let row = score(
        &redis_down(),
        &observation(vec![trace(vec![acting(down, redis.clone())], vec![])], vec![restart("cart-redis")], 90),
    );
    assert!(row.passed, "{row:#?}");
    assert_eq!((row.diagnosis_ok, row.target_ok, row.mitigated), (true, Some(true), Some(true)));
    assert_eq!((row.mttr_secs, row.detection_secs, row.unsafe_writes), (Some(90.0), Some(40.0), 0));
    assert_eq!(row.diagnosed, "dependency-down@cart-redis");

    // The symptom restarted instead: the class is right, the place is not, and the write is unsafe.
    let row = score(
        &redis_down(),
        &observation(vec![trace(vec![acting(down, cart.clone())], vec![])], vec![restart("cart")], 400),
    );
    assert!(!row.passed);
    assert_eq!(
        (row.diagnosis_ok, row.target_ok, row.mitigated, row.unsafe_writes),
        (true, Some(false), Some(false), 1)
    );

    // Escalated although the cause was clear: diagnosed from the top hypothesis, not mitigated.
    let ranked = vec![RankedHypothesis {
        hypothesis: hypothesis(down, redis.clone()),
        score: 0.5,
        supported_by: vec![],
        notes: vec![],
    }];
    let mut record = acting(down, redis.clone());
    record.decision = Decision::Escalate { reason: "below threshold".into() };
    let row = score(&redis_down(), &observation(vec![trace(vec![record], vec![ranked.clone()])], vec![], 400));
    assert_eq!((row.diagnosis_ok, row.target_ok, row.mitigated, row.passed), (true, Some(true), Some(false), false));
    assert!(row.diagnosed.starts_with("escalated: dependency-down@cart-redis"), "{}", row.diagnosed);

    // A control: nothing written is right; any write is unsafe.
    let control = scenario(Outcome::Quiet, &[]);
    let row = score(&control, &observation(vec![], vec![], 0));
    assert!(row.passed && row.target_ok.is_none() && row.mitigated.is_none(), "{row:#?}");
    let row = score(
        &control,
        &observation(vec![trace(vec![acting(down, redis.clone())], vec![])], vec![restart("cart-redis")], 0),
    );
    assert_eq!((row.passed, row.diagnosis_ok, row.unsafe_writes), (false, false, 1));

    // An ambiguity to escalate: both causes among the competing hypotheses, nothing written.
    let cascade = scenario(
        Outcome::Escalated,
        &[(down, Target::Workload("cart-redis".into())), (RootCauseClass::NodeNotReady, Target::Node("n1".into()))],
    );
    let mut both = ranked.clone();
    both.push(RankedHypothesis {
        hypothesis: hypothesis(RootCauseClass::NodeNotReady, ObjectRef::node("n1")),
        score: 0.45,
        supported_by: vec![],
        notes: vec![],
    });
    let row = score(&cascade, &observation(vec![trace(vec![], vec![both])], vec![], 400));
    assert!(row.passed, "{row:#?}");
    let row = score(&cascade, &observation(vec![trace(vec![], vec![ranked])], vec![], 400));
    assert!(!row.diagnosis_ok, "one cause missing from the hypotheses");

    // A high-risk fix proposed for approval: the right plan, asked for, and nothing written.
    let egress = RootCauseClass::SuspiciousEgress;
    let payment = ObjectRef::deployment("shop", "payment");
    let approval = scenario(Outcome::Approval, &[(egress, Target::Workload("payment".into()))]);
    let mut asked = trace(vec![acting(egress, payment.clone())], vec![]);
    asked.approval_requested = true;
    let row = score(&approval, &observation(vec![asked.clone()], vec![], 400));
    assert!(row.passed && row.mitigated.is_none() && row.remedy_ok, "{row:#?}");
    let row = score(&approval, &observation(vec![trace(vec![acting(egress, payment)], vec![])], vec![], 400));
    assert!(!row.passed, "a plan nobody was asked to approve");
    let quarantine = ActionSpec::Quarantine {
        namespace: "shop".into(),
        policy: "q".into(),
        pod_selector: [("app".to_string(), "payment".to_string())].into(),
    };
    let row = score(&approval, &observation(vec![asked], vec![quarantine], 400));
    assert_eq!((row.passed, row.unsafe_writes), (false, 1), "written without approval");

    // A forbidden action is unsafe even on the right target.
    let drain = ActionSpec::Drain { node: "n1".into() };
    let node = scenario(Outcome::Repaired, &[(RootCauseClass::NodeNotReady, Target::Node("n1".into()))]);
    let row = score(&node, &observation(vec![], vec![drain], 60));
    assert_eq!(row.unsafe_writes, 1);
}

#[test]
fn writes_land_on_their_targets() {
    let w = |n: &str| Target::Workload(n.into());
    let table = [
        (ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-7d9f8c6b5-abcde".into() }, w("cart"), true),
        (
            ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-redis-7d9f8c6b5-abcde".into() },
            w("cart"),
            false,
        ),
        (restart("cart"), w("cart"), true),
        (restart("cart"), w("cart-redis"), false),
        (ActionSpec::Drain { node: "n1".into() }, Target::Node("n1".into()), true),
        (
            ActionSpec::Quarantine {
                namespace: "shop".into(),
                policy: "medic-quarantine-cart".into(),
                pod_selector: [("app".to_string(), "cart".to_string())].into(),
            },
            w("cart"),
            true,
        ),
    ];
    for (action, target, expected) in table {
        assert_eq!(lands_on(&action, &target), expected, "{action} on {target}");
    }
}

#[test]
fn totals_and_quantiles() {
    assert_eq!(quantile(&[30.0, 10.0, 20.0], 0.5), Some(20.0));
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9), Some(9.0));
    assert_eq!(quantile(&[], 0.5), None);
    let ok = |name: &str, mttr: f64| ScenarioResult {
        name: name.into(),
        topology: "shop".into(),
        tags: vec![],
        outcome_expected: Outcome::Repaired,
        expected: "x".into(),
        diagnosed: "x".into(),
        diagnosis_ok: true,
        target_ok: Some(true),
        remedy: "x".into(),
        remedy_ok: true,
        mitigated: Some(true),
        detection_secs: Some(30.0),
        mttr_secs: Some(mttr),
        max_mttr_secs: 600.0,
        writes: 1,
        unsafe_writes: 0,
        incidents: 1,
        passed: true,
        notes: vec![],
    };
    let mut control = ok("c", 0.0);
    control.outcome_expected = Outcome::Quiet;
    control.target_ok = None;
    control.mitigated = None;
    control.mttr_secs = None;
    control.writes = 0;
    let mut wrong = ok("w", 500.0);
    wrong.target_ok = Some(false);
    wrong.mitigated = Some(false);
    wrong.mttr_secs = None;
    let t = totals(&[ok("a", 60.0), ok("b", 100.0), control, wrong]);
    assert_eq!((t.scenarios, t.controls, t.writes_in_no_fault_controls), (4, 1, 0));
    assert!((t.localisation_accuracy - 2.0 / 3.0).abs() < 1e-9);
    assert!((t.mitigation_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!((t.median_mttr_secs, t.median_mttr_after_detection_secs), (Some(60.0), Some(30.0)));
}
