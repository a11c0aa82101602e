//! `decide` by table: one row per situation, the decision it must lead to.
use medic_core::decision::{DecisionRecord, Recollection};
use medic_core::testkit::ContextBuilder;
use medic_core::{
    Decision, Evidence, EvidenceSource, FindingReport, Hypothesis, IncidentContext, IncidentUid, ObjectRef,
    RootCauseClass,
};
use medic_playbooks::Catalog;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::decide::{DecisionInput, Thresholds, decide, proposal, track_record_weight};

/// `specialist class target confidence [key=value ...]`; the playbook is the class's built-in one, or none
/// with `playbook=none`.
fn h(line: &str) -> Hypothesis {
    let mut words = line.split_whitespace();
    let specialist = words.next().unwrap();
    let class: RootCauseClass = words.next().unwrap().parse().unwrap();
    let target: ObjectRef = words.next().unwrap().parse().unwrap();
    let confidence: f64 = words.next().unwrap().parse().unwrap();
    let mut params: BTreeMap<String, String> = words
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let no_playbook = params.remove("playbook").as_deref() == Some("none");
    Hypothesis {
        class,
        target: target.clone(),
        confidence,
        evidence: vec![Evidence::new(EvidenceSource::PodStatus, Some(target), format!("{class} observed"))],
        playbook: (class != RootCauseClass::NoFault && !no_playbook).then(|| class.as_str().to_string()),
        params,
        specialist: specialist.to_string(),
    }
}

fn reports(incident: IncidentUid, lines: &[&str]) -> Vec<FindingReport> {
    let mut by_specialist: BTreeMap<String, Vec<Hypothesis>> = BTreeMap::new();
    for line in lines {
        let hyp = h(line);
        by_specialist.entry(hyp.specialist.clone()).or_default().push(hyp);
    }
    by_specialist
        .into_iter()
        .map(|(specialist, hypotheses)| FindingReport {
            incident,
            specialist,
            hypotheses,
            error: None,
            elapsed: Duration::from_millis(1),
        })
        .collect()
}

/// The shop as the rows see it: cart depends on redis; cart and redis run on node-1.
fn context() -> IncidentContext {
    ContextBuilder::new()
        .node("node-1", Some(true))
        .deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {})
        .deployment("shop", "redis", "redis:7", 1, "node-1", |_, _| {})
        .deployment("shop", "frontend", "frontend:1", 2, "node-2", |_, _| {})
        .dependency(
            ObjectRef::deployment("shop", "cart"),
            ObjectRef::deployment("shop", "redis"),
            "redis",
            medic_core::context::DependencyVia::Config,
        )
        .build()
}

fn recollection(class: &str, worked: bool, approved_by: Option<&str>, similarity: f64) -> Recollection {
    Recollection {
        incident: IncidentUid::new(),
        similarity,
        class: class.parse().unwrap(),
        target: None,
        playbook: Some(class.to_string()),
        fix_worked: worked,
        approved_by: approved_by.map(str::to_string),
    }
}

struct Row {
    name: &'static str,
    hypotheses: &'static [&'static str],
    recalled: Vec<Recollection>,
    missing: &'static [&'static str],
    weights: Vec<(&'static str, f64)>,
    /// `act <class> <target>`, `escalate <words in the reason>`, or `observe`.
    expect: &'static str,
}

fn row(name: &'static str, hypotheses: &'static [&'static str], expect: &'static str) -> Row {
    Row { name, hypotheses, recalled: vec![], missing: &[], weights: vec![], expect }
}

fn check(row: &Row) {
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    let incident = IncidentUid::new();
    let ctx = context();
    let findings = reports(incident, row.hypotheses);
    let missing: Vec<String> = row.missing.iter().map(|s| s.to_string()).collect();
    let weights: BTreeMap<String, f64> = row.weights.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let input = DecisionInput {
        incident,
        context: &ctx,
        findings: &findings,
        missing: &missing,
        recalled: &row.recalled,
        catalog: &catalog,
        weights: &weights,
        thresholds: Thresholds::default(),
    };
    let record = decide(&input);
    let got = match &record.decision {
        Decision::Act { plan } => format!("act {} {}", plan.class, plan.target),
        Decision::Escalate { reason } => format!("escalate {reason}"),
        Decision::Observe { .. } => "observe".to_string(),
    };
    let mut expected_words = row.expect.split_whitespace();
    let kind = expected_words.next().unwrap();
    let ok = match kind {
        "act" => got == row.expect,
        "escalate" => got.starts_with("escalate") && expected_words.all(|w| got.contains(w)),
        _ => got == row.expect,
    };
    assert!(ok, "row {:?}: expected {:?}, got {:?}\nranked: {:#?}", row.name, row.expect, got, record.ranked);
    assert_eq!(decide(&input), record, "row {:?}: decide is not deterministic", row.name);
}

#[test]
fn decisions_by_table() {
    let rows = vec![
        row(
            "a confident OOM is acted on",
            &["compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi"],
            "act oom-memory-limit Deployment/shop/cart",
        ),
        row("nothing found is observed, not acted on", &[], "observe"),
        row(
            "a weak hypothesis escalates",
            &["compute crash-transient Deployment/shop/cart 0.5 pod=cart-1"],
            "escalate below threshold",
        ),
        row(
            "two close remedies escalate with both named",
            &[
                "compute oom-memory-limit Deployment/shop/cart 0.7 container=app memory_limit=256Mi",
                "compute bad-rollout Deployment/shop/cart 0.65 to_revision=1",
            ],
            "escalate too close oom-memory-limit bad-rollout",
        ),
        row(
            "hypotheses that lead to the same plan do not compete",
            &[
                "compute bad-rollout Deployment/shop/cart 0.8 to_revision=1",
                "compute config-error Deployment/shop/cart 0.75 to_revision=1",
            ],
            "act bad-rollout Deployment/shop/cart",
        ),
        row(
            "agreeing specialists lift a hypothesis over the threshold",
            &[
                "network dependency-down Deployment/shop/redis 0.45 caller=Deployment/shop/cart",
                "database dependency-down Deployment/shop/redis 0.45",
            ],
            "act dependency-down Deployment/shop/redis",
        ),
        row(
            "the failing dependency is the cause, the crashing caller a symptom",
            &[
                "compute crash-transient Deployment/shop/cart 0.75 pod=cart-1",
                "network dependency-down Deployment/shop/redis 0.8 caller=Deployment/shop/cart",
            ],
            "act dependency-down Deployment/shop/redis",
        ),
        row(
            "a specific cause on the dependency beats 'dependency down'",
            &[
                "network dependency-down Deployment/shop/redis 0.85 caller=Deployment/shop/cart",
                "compute oom-memory-limit Deployment/shop/redis 0.8 container=app memory_limit=512Mi",
            ],
            "act oom-memory-limit Deployment/shop/redis",
        ),
        row(
            "a node that went away explains its workloads' outage",
            &[
                "compute node-not-ready Node/node-1 0.9",
                "network dependency-down Deployment/shop/cart 0.8 caller=Deployment/shop/frontend",
            ],
            "act node-not-ready Node/node-1",
        ),
        Row {
            name: "a failed specialist with nothing else found escalates",
            missing: &["database"],
            ..row("", &[], "escalate did not answer database")
        },
        Row {
            name: "a specialist with a poor record counts for less",
            weights: vec![("compute", track_record_weight(1, 9))],
            ..row(
                "",
                &["compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi"],
                "escalate below threshold",
            )
        },
        Row {
            name: "a close past fix that worked tips an ambiguous case",
            recalled: vec![recollection("bad-rollout", true, Some("slack:U123"), 0.95)],
            ..row(
                "",
                &[
                    "compute oom-memory-limit Deployment/shop/cart 0.7 container=app memory_limit=256Mi",
                    "compute bad-rollout Deployment/shop/cart 0.65 to_revision=1",
                ],
                "act bad-rollout Deployment/shop/cart",
            )
        },
        Row {
            name: "a fix that failed for a close match is not tried first",
            recalled: vec![recollection("oom-memory-limit", false, None, 0.93)],
            ..row(
                "",
                &[
                    "compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi",
                    "compute memory-leak Deployment/shop/cart 0.7 container=app memory_limit=256Mi",
                ],
                "act memory-leak Deployment/shop/cart",
            )
        },
        Row {
            name: "a failed fix with no alternative escalates",
            recalled: vec![recollection("oom-memory-limit", false, None, 0.93)],
            ..row(
                "",
                &["compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi"],
                "escalate failed verification",
            )
        },
        Row {
            name: "a distant recollection changes nothing",
            recalled: vec![recollection("oom-memory-limit", false, None, 0.4)],
            ..row(
                "",
                &["compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi"],
                "act oom-memory-limit Deployment/shop/cart",
            )
        },
        row(
            "a hypothesis without a playbook escalates",
            &["compute no-fault Deployment/shop/cart 0.9", "compute image-pull Deployment/shop/cart 0.8 playbook=none"],
            "escalate no playbook image-pull",
        ),
    ];
    for r in &rows {
        check(r);
    }
}

#[test]
fn every_playbook_a_specialist_proposes_is_in_the_catalog() {
    let catalog = Catalog::builtin().unwrap();
    for class in RootCauseClass::ALL {
        if class == RootCauseClass::NoFault {
            continue;
        }
        assert!(catalog.get(class.as_str()).is_some(), "no built-in playbook for {class}");
    }
}

#[test]
fn track_record_weights() {
    assert_eq!(track_record_weight(0, 0), 1.0);
    assert!(track_record_weight(20, 0) > 1.4);
    assert!(track_record_weight(0, 20) < 0.6);
}

#[test]
fn an_escalation_proposes_the_best_remedy_for_approval() {
    // (name, hypotheses, recalled, the proposed plan as `<class> <target>` or "none")
    let rows: Vec<(&str, &[&str], Vec<Recollection>, &str)> = vec![
        (
            "a weak hypothesis is proposed",
            &["compute crash-transient Deployment/shop/cart 0.5 pod=cart-1"],
            vec![],
            "crash-transient Deployment/shop/cart",
        ),
        (
            "of two close remedies the better is proposed",
            &[
                "compute oom-memory-limit Deployment/shop/cart 0.7 container=app memory_limit=256Mi",
                "compute bad-rollout Deployment/shop/cart 0.65 to_revision=1",
            ],
            vec![],
            "oom-memory-limit Deployment/shop/cart",
        ),
        (
            "a remedy that failed for a close match is not proposed",
            &["compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi"],
            vec![recollection("oom-memory-limit", false, None, 0.93)],
            "none",
        ),
        (
            "the alternative to a remedy that failed is proposed",
            &[
                "compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi",
                "compute memory-leak Deployment/shop/cart 0.4 container=app memory_limit=256Mi",
            ],
            vec![recollection("oom-memory-limit", false, None, 0.93)],
            "memory-leak Deployment/shop/cart",
        ),
        ("nothing without a playbook", &["compute image-pull Deployment/shop/cart 0.5 playbook=none"], vec![], "none"),
        ("nothing when nothing is wrong", &[], vec![], "none"),
        (
            "nothing when medic acts",
            &["compute oom-memory-limit Deployment/shop/cart 0.85 container=app memory_limit=256Mi"],
            vec![],
            "none",
        ),
    ];
    let catalog = Catalog::builtin().unwrap();
    let ctx = context();
    for (name, hypotheses, recalled, expect) in rows {
        let incident = IncidentUid::new();
        let findings = reports(incident, hypotheses);
        let weights = BTreeMap::new();
        let input = DecisionInput {
            incident,
            context: &ctx,
            findings: &findings,
            missing: &[],
            recalled: &recalled,
            catalog: &catalog,
            weights: &weights,
            thresholds: Thresholds::default(),
        };
        let record = decide(&input);
        let got = proposal(&input, &record).map_or("none".to_string(), |p| format!("{} {}", p.class, p.target));
        assert_eq!(got, expect, "row {name:?}: {:?}", record.decision);
    }
}

#[test]
fn a_human_approved_fix_recalled_lifts_the_same_weak_case_to_act() {
    // The first time the case is weak and escalates with a proposal; the proposal, approved and verified,
    // comes back as a close recollection and the same findings are acted on without asking.
    let catalog = Catalog::builtin().unwrap();
    let ctx = context();
    let incident = IncidentUid::new();
    let findings = reports(incident, &["compute crash-transient Deployment/shop/cart 0.5 pod=cart-1"]);
    let weights = BTreeMap::new();
    let mut input = DecisionInput {
        incident,
        context: &ctx,
        findings: &findings,
        missing: &[],
        recalled: &[],
        catalog: &catalog,
        weights: &weights,
        thresholds: Thresholds::default(),
    };
    let first = decide(&input);
    assert!(matches!(first.decision, Decision::Escalate { .. }), "{:?}", first.decision);
    let proposed = proposal(&input, &first).expect("a plan is proposed");
    let approved = [Recollection {
        playbook: Some(proposed.playbook.clone()),
        ..recollection("crash-transient", true, Some("api:alice"), 0.9)
    }];
    input.recalled = &approved;
    match decide(&input).decision {
        Decision::Act { plan } => {
            assert_eq!(plan.steps, proposed.steps);
            assert!(plan.rationale.contains("approved by api:alice, verified"), "{}", plan.rationale);
        }
        other => panic!("expected to act on the recalled fix, got {other:?}"),
    }
}

/// A worker node stopped reporting with one frontend pod and the cart on it; the frontend's other pod, on
/// a Ready node, cannot pull its new image. `handled`: the node was cordoned and drained already.
fn dead_node_and_a_bad_image(handled: bool) -> IncidentContext {
    let mut ctx = ContextBuilder::new()
        .node("node-1", None)
        .node("node-2", Some(true))
        .deployment("shop", "cart", "cart:1", 1, "node-1", |_, _| {})
        .deployment("shop", "frontend", "frontend:2", 2, "node-1", |i, pod| {
            if i == 1 {
                pod.node = Some("node-2".into());
                pod.containers[0].ready = false;
                pod.containers[0].state = medic_core::testkit::waiting("ImagePullBackOff", "Back-off pulling image");
            }
        })
        .build();
    if handled {
        ctx.nodes.iter_mut().filter(|n| n.name == "node-1").for_each(|n| n.unschedulable = true);
        ctx.pods.iter_mut().filter(|p| p.node.as_deref() == Some("node-1")).for_each(|p| p.deleting = true);
    }
    ctx
}

fn decide_on(ctx: &IncidentContext, hypotheses: &[&str]) -> DecisionRecord {
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    let incident = IncidentUid::new();
    let findings = reports(incident, hypotheses);
    let weights = BTreeMap::new();
    decide(&DecisionInput {
        incident,
        context: ctx,
        findings: &findings,
        missing: &[],
        recalled: &[],
        catalog: &catalog,
        weights: &weights,
        thresholds: Thresholds::default(),
    })
}

/// The notes the Director left on the hypothesis of `class`.
fn notes_on(record: &DecisionRecord, class: RootCauseClass) -> &[String] {
    &record.ranked.iter().find(|r| r.hypothesis.class == class).expect("a hypothesis of that class").notes
}

#[test]
fn a_bad_image_pulled_on_a_healthy_node_is_not_the_dead_nodes_symptom() {
    let record = decide_on(
        &dead_node_and_a_bad_image(false),
        &["compute node-not-ready Node/node-1 0.9", "compute image-pull Deployment/shop/frontend 0.9"],
    );
    let image = notes_on(&record, RootCauseClass::ImagePull);
    assert!(!image.iter().any(|n| n.contains("symptom")), "{image:?}");
    // Two causes, two remedies, equally sure: a human decides.
    assert!(matches!(record.decision, Decision::Escalate { .. }), "{:?}", record.decision);
}

#[test]
fn a_node_cordoned_and_drained_already_yields_to_the_cause_that_still_needs_a_fix() {
    let record = decide_on(
        &dead_node_and_a_bad_image(true),
        &["compute node-not-ready Node/node-1 0.95", "compute image-pull Deployment/shop/frontend 0.9"],
    );
    match record.decision {
        Decision::Act { plan } => {
            assert_eq!(plan.class, RootCauseClass::ImagePull);
            assert_eq!(plan.target, ObjectRef::deployment("shop", "frontend"));
        }
        other => panic!("expected to act on the image, got {other:?}"),
    }
}

#[test]
fn a_handled_node_still_explains_the_symptoms_of_its_workloads() {
    let record = decide_on(
        &dead_node_and_a_bad_image(true),
        &["compute node-not-ready Node/node-1 0.9", "compute crash-transient Deployment/shop/cart 0.8 pod=cart-1"],
    );
    let cart = notes_on(&record, RootCauseClass::CrashTransient);
    assert!(cart.iter().any(|n| n.contains("symptom of node-not-ready")), "{cart:?}");
    match record.decision {
        Decision::Act { plan } => assert_eq!(plan.class, RootCauseClass::NodeNotReady),
        other => panic!("the cart's restart is the node's doing, got {other:?}"),
    }
}
