//! The built-in catalog: it loads, covers every root-cause class, and renders the plans the Executor
//! expects for each class of this issue.
use medic_core::context::{
    ContainerSpecSnapshot, ContainerState, ContainerStatusSnapshot, PodSnapshot, RolloutSnapshot, WorkloadSnapshot,
};
use medic_core::{
    ActionSpec, Hypothesis, IncidentContext, IncidentUid, ObjectKind, ObjectRef, Risk, RootCauseClass, VerifyCheck,
};
use medic_playbooks::{Catalog, Error};
use std::collections::BTreeMap;
use std::str::FromStr;

fn uid() -> IncidentUid {
    IncidentUid::from_str("01900000-0000-7000-8000-000000000001").unwrap()
}

fn hypothesis(class: RootCauseClass, target: ObjectRef, params: &[(&str, &str)]) -> Hypothesis {
    Hypothesis {
        class,
        target,
        confidence: 0.9,
        evidence: Vec::new(),
        playbook: Some(class.as_str().to_string()),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        specialist: "compute".into(),
    }
}

fn pod(name: &str, owner: &ObjectRef, node: &str, restarts: i32, waiting: Option<&str>) -> PodSnapshot {
    let state = match waiting {
        Some(r) => ContainerState::Waiting { reason: Some(r.into()), message: None },
        None => ContainerState::Running { started_at: None },
    };
    PodSnapshot {
        namespace: owner.namespace.clone().unwrap(),
        name: name.into(),
        labels: BTreeMap::from([("app".into(), owner.name.clone())]),
        owner: Some(owner.clone()),
        replica_set: Some(format!("{}-abc", owner.name)),
        node: Some(node.into()),
        phase: "Running".into(),
        reason: None,
        message: None,
        ready: waiting.is_none(),
        created_at: None,
        deleting: false,
        pod_ip: None,
        conditions: Vec::new(),
        containers: vec![ContainerStatusSnapshot {
            name: "app".into(),
            image: "shop/cart:1".into(),
            ready: waiting.is_none(),
            restart_count: restarts,
            state,
            last_state: None,
            requests: BTreeMap::new(),
            limits: BTreeMap::new(),
        }],
    }
}

fn context() -> IncidentContext {
    let cart = ObjectRef::deployment("shop", "cart");
    let workload = WorkloadSnapshot {
        workload: cart.clone(),
        labels: BTreeMap::new(),
        selector: BTreeMap::from([("app".into(), "cart".into())]),
        replicas_desired: 2,
        replicas_ready: 1,
        replicas_available: 1,
        replicas_updated: 2,
        generation: 3,
        observed_generation: 3,
        revision: Some(3),
        conditions: Vec::new(),
        containers: vec![ContainerSpecSnapshot {
            name: "app".into(),
            image: "shop/cart:1".into(),
            ..Default::default()
        }],
        annotations: BTreeMap::new(),
    };
    let rollout = |revision: i64| RolloutSnapshot {
        deployment: cart.clone(),
        revision,
        replica_set: format!("cart-{revision}"),
        created_at: None,
        images: vec![format!("shop/cart:{revision}")],
        replicas: 0,
        ready_replicas: 0,
        template_hash: None,
        change_cause: None,
        limits: BTreeMap::new(),
        env: BTreeMap::new(),
    };
    IncidentContext {
        incident: Some(uid()),
        target: Some(cart.clone()),
        workloads: vec![workload],
        pods: vec![
            pod("cart-abc-1", &cart, "node-1", 0, None),
            pod("cart-abc-2", &cart, "node-2", 7, Some("CrashLoopBackOff")),
        ],
        rollouts: vec![rollout(3), rollout(2), rollout(1)],
        ..Default::default()
    }
}

#[test]
fn the_builtin_catalog_loads_and_embeds_every_file() {
    let catalog = Catalog::builtin().unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
    let on_disk = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "yaml"))
        .count();
    assert_eq!(catalog.len(), on_disk, "every catalog/*.yaml must be listed in catalog::BUILTIN");
    // The folder loads the same playbooks as the embedded copy.
    let from_disk = Catalog::load_dir(std::path::Path::new(dir)).unwrap();
    for p in catalog.iter() {
        let q = from_disk.get(&p.id).unwrap();
        assert_eq!((&p.steps, &p.verify, p.risk), (&q.steps, &q.verify, q.risk), "{}", p.id);
    }
}

#[test]
fn every_root_cause_class_has_a_playbook() {
    let catalog = Catalog::builtin().unwrap();
    for class in RootCauseClass::ALL {
        assert!(catalog.iter().any(|p| p.classes.contains(&class)), "no playbook for {class}");
    }
}

#[test]
fn the_issue_classes_render_the_expected_plans() {
    let catalog = Catalog::builtin().unwrap();
    let cart = ObjectRef::deployment("shop", "cart");
    let healthy = |d: &str| VerifyCheck::WorkloadHealthy { namespace: "shop".into(), deployment: d.into() };
    let rows: Vec<(Hypothesis, Vec<ActionSpec>, VerifyCheck)> = vec![
        (
            hypothesis(RootCauseClass::OomMemoryLimit, cart.clone(), &[("memory_limit", "512Mi")]),
            vec![ActionSpec::PatchResources {
                namespace: "shop".into(),
                deployment: "cart".into(),
                container: "app".into(),
                requests: BTreeMap::new(),
                limits: BTreeMap::from([("memory".into(), "512Mi".into())]),
            }],
            healthy("cart"),
        ),
        (
            hypothesis(RootCauseClass::CrashTransient, cart.clone(), &[]),
            vec![ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-abc-2".into() }],
            healthy("cart"),
        ),
        (
            hypothesis(RootCauseClass::CrashTransient, cart.clone(), &[("pod", "cart-abc-1")]),
            vec![ActionSpec::DeletePod { namespace: "shop".into(), pod: "cart-abc-1".into() }],
            healthy("cart"),
        ),
        (
            hypothesis(RootCauseClass::BadRollout, cart.clone(), &[]),
            vec![ActionSpec::RollbackDeployment {
                namespace: "shop".into(),
                deployment: "cart".into(),
                to_revision: None,
            }],
            healthy("cart"),
        ),
        (
            hypothesis(RootCauseClass::ImagePull, cart.clone(), &[("to_revision", "1")]),
            vec![ActionSpec::RollbackDeployment {
                namespace: "shop".into(),
                deployment: "cart".into(),
                to_revision: Some(1),
            }],
            healthy("cart"),
        ),
        (
            hypothesis(RootCauseClass::NodeNotReady, ObjectRef::node("node-2"), &[]),
            vec![
                ActionSpec::Cordon { node: "node-2".into(), unschedulable: true },
                ActionSpec::Drain { node: "node-2".into() },
            ],
            VerifyCheck::NodeDrained { node: "node-2".into() },
        ),
        (
            hypothesis(RootCauseClass::DependencyDown, ObjectRef::deployment("shop", "redis"), &[]),
            vec![ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: "redis".into() }],
            healthy("redis"),
        ),
        (
            hypothesis(RootCauseClass::SuspiciousEgress, cart.clone(), &[]),
            vec![ActionSpec::Quarantine {
                namespace: "shop".into(),
                policy: "medic-quarantine-cart".into(),
                pod_selector: BTreeMap::from([("app".into(), "cart".into())]),
            }],
            VerifyCheck::Quarantined { namespace: "shop".into(), policy: "medic-quarantine-cart".into() },
        ),
        (
            hypothesis(RootCauseClass::CpuSaturation, cart.clone(), &[("replicas", "4")]),
            vec![ActionSpec::Scale { namespace: "shop".into(), deployment: "cart".into(), replicas: 4 }],
            healthy("cart"),
        ),
    ];
    let context = context();
    for (h, steps, check) in rows {
        let plan = catalog.plan(&h, uid(), &context).unwrap_or_else(|e| panic!("{}: {e}", h.class));
        assert_eq!(plan.steps, steps, "{}", h.class);
        assert_eq!(plan.verify.checks, vec![check], "{}", h.class);
        assert_eq!(plan.incident, uid());
        assert_eq!(plan.class, h.class);
        assert_eq!(plan.target, h.target);
        assert_eq!(plan.playbook, h.class.as_str());
        assert!(plan.verify.timeout_secs > 0 && plan.verify.stable_secs <= plan.verify.timeout_secs);
        assert_eq!(plan.requires_approval, plan.risk == Risk::High, "{}", h.class);
    }
}

#[test]
fn rendering_is_pure() {
    let catalog = Catalog::builtin().unwrap();
    let h =
        hypothesis(RootCauseClass::OomMemoryLimit, ObjectRef::deployment("shop", "cart"), &[("memory_limit", "1Gi")]);
    let a = catalog.plan(&h, uid(), &context()).unwrap();
    let b = catalog.plan(&h, uid(), &context()).unwrap();
    assert_eq!(a, b);
    let other = catalog.plan(&h, IncidentUid::new(), &context()).unwrap();
    assert_ne!(a.id, other.id, "another incident gets another plan id");
}

#[test]
fn rendering_errors_name_the_playbook_and_field() {
    let catalog = Catalog::builtin().unwrap();
    let cart = ObjectRef::deployment("shop", "cart");
    let cases: Vec<(Hypothesis, IncidentContext, &str)> = vec![
        (
            hypothesis(RootCauseClass::OomMemoryLimit, cart.clone(), &[]),
            context(),
            "rendering playbook oom-memory-limit: parameters.memory_limit: required, but the hypothesis gives no value",
        ),
        (
            hypothesis(RootCauseClass::OomMemoryLimit, cart.clone(), &[("memory_limit", "a lot")]),
            context(),
            "rendering playbook oom-memory-limit: parameters.memory_limit: \"a lot\" is not a quantity",
        ),
        (
            hypothesis(RootCauseClass::CrashTransient, cart.clone(), &[]),
            IncidentContext::default(),
            "parameters.pod.default: no failing pod of Deployment/shop/cart in the incident's context",
        ),
        (
            hypothesis(RootCauseClass::NodeNotReady, cart.clone(), &[]),
            context(),
            "playbook node-not-ready does not handle node-not-ready on a Deployment",
        ),
    ];
    for (h, cx, expected) in cases {
        let err = catalog.plan(&h, uid(), &cx).unwrap_err();
        assert!(err.to_string().contains(expected), "expected {expected:?}, got {err}");
    }
    let mut unknown = hypothesis(RootCauseClass::BadRollout, cart, &[]);
    unknown.playbook = Some("undo-everything".into());
    assert!(matches!(catalog.plan(&unknown, uid(), &context()), Err(Error::UnknownPlaybook(_))));
}

#[test]
fn a_hypothesis_without_a_playbook_gets_the_first_that_matches() {
    let catalog = Catalog::builtin().unwrap();
    let mut h = hypothesis(RootCauseClass::BadRollout, ObjectRef::deployment("shop", "cart"), &[]);
    h.playbook = None;
    assert_eq!(catalog.for_hypothesis(&h).unwrap().id, "bad-rollout");
    h.target = ObjectRef::node("n");
    assert!(matches!(catalog.for_hypothesis(&h), Err(Error::NoPlaybookFor { .. })));
    assert_eq!(catalog.matching(RootCauseClass::SuspiciousEgress, ObjectKind::Pod).count(), 1);
}

#[test]
fn a_folder_overrides_the_builtin_catalog_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("../catalog/crash-transient.yaml").replace("version: 1.0.0", "version: 2.0.0").replace(
        "action: delete-pod\n    namespace: ${target.namespace}\n    pod: ${params.pod}",
        "action: rollout-restart\n    namespace: ${target.namespace}\n    deployment: ${target.name}",
    );
    std::fs::write(dir.path().join("crash.yaml"), text).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a playbook").unwrap();
    let catalog = Catalog::builtin_with_overrides(dir.path()).unwrap();
    assert_eq!(catalog.len(), Catalog::builtin().unwrap().len());
    let h = hypothesis(RootCauseClass::CrashTransient, ObjectRef::deployment("shop", "cart"), &[]);
    let plan = catalog.plan(&h, uid(), &context()).unwrap();
    assert_eq!(plan.playbook_version, "2.0.0");
    assert_eq!(plan.steps, vec![ActionSpec::RolloutRestart { namespace: "shop".into(), deployment: "cart".into() }]);

    // Two files with one id: both are named.
    std::fs::write(dir.path().join("crash-again.yaml"), include_str!("../catalog/crash-transient.yaml")).unwrap();
    let err = Catalog::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("crash-again.yaml") && err.contains("crash.yaml") && err.contains("\"crash-transient\""),
        "{err}"
    );

    // A broken file names itself.
    std::fs::write(dir.path().join("crash-again.yaml"), "id: broken\nversion: 1.0.0\n").unwrap();
    let err = Catalog::load_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("crash-again.yaml: description: missing field"), "{err}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a specialist puts in the memory limit, rendering never panics; it succeeds exactly when
        /// the value is a quantity, and then the plan writes only to the hypothesis' target.
        #[test]
        fn any_memory_limit_renders_or_is_refused(limit in "\\PC{0,12}", ns in "[a-z]{1,8}", name in "[a-z]{1,8}") {
            let catalog = Catalog::builtin().unwrap();
            let target = ObjectRef::deployment(ns.clone(), name.clone());
            let mut h = hypothesis(RootCauseClass::OomMemoryLimit, target.clone(), &[("memory_limit", &limit), ("container", "app")]);
            h.target = target.clone();
            match catalog.plan(&h, uid(), &IncidentContext::default()) {
                Ok(plan) => {
                    prop_assert!(medic_playbooks::values::is_quantity(limit.trim()));
                    for step in &plan.steps {
                        prop_assert_eq!(step.object(), target.clone());
                    }
                }
                Err(e) => prop_assert!(!medic_playbooks::values::is_quantity(limit.trim()), "{}", e),
            }
        }
    }
}
