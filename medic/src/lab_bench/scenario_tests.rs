//! Scenario files by table: what loads, and the error (field and line) of what does not.
use super::*;

const VALID: &str = r#"
description: Redis stops serving; the cart's callers fail.
tags: [localisation]
topology: shop
logs:
  cart:
    dependency_refused.redis:
      - 'cart: redis unreachable at ${dep_host}:${dep_port}: connection refused'
steps:
  - wait: 10s
  - experiment: redis-pod-failure.yaml
  - set_image: {deployment: frontend, image: "ghcr.io/medic-lab/shop-frontend:1.8.1"}
  - set_env: {deployment: checkout, env: {PAYMENT_TIMEOUT_MS: fast}}
  - alert: {name: MedicServiceLatency, labels: {service: frontend}, firing: 20s, every: 1m, times: 3}
  - delete: {kind: PodChaos, name: redis-pod-failure}
expect:
  class: dependency-down
  target: cart-redis
  forbidden:
    - {target: cart}
    - {action: drain}
  max_mttr: 4m
"#;

fn experiments_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
    std::fs::write(
        dir.path().join("experiments/redis-pod-failure.yaml"),
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: redis-pod-failure, namespace: shop}\n\
         spec: {action: pod-failure, mode: all, selector: {labelSelectors: {app: cart-redis}}}\n",
    )
    .unwrap();
    dir
}

fn load_text(text: &str) -> Result<Scenario, ScenarioError> {
    let dir = experiments_dir();
    parse(&dir.path().join("scenarios/redis-down.yaml"), text)
}

#[test]
fn a_complete_scenario_loads() {
    let s = load_text(VALID).unwrap();
    assert_eq!(s.name, "redis-down");
    assert_eq!((s.namespace.as_str(), s.topology_name.as_str()), ("shop", "shop"));
    assert_eq!(s.steps.len(), 6);
    assert!(
        matches!(&s.steps[1], Step::Apply { what, yaml } if what == "redis-pod-failure.yaml" && yaml.contains("PodChaos"))
    );
    let Step::Alert(alert) = &s.steps[4] else { panic!("an alert step") };
    assert_eq!((alert.times, alert.firing, alert.every), (3, Some(Duration::from_secs(20)), Duration::from_secs(60)));
    assert_eq!(s.expect.outcome, Outcome::Repaired);
    assert_eq!(s.expect.causes[0].target, Target::Workload("cart-redis".into()));
    assert_eq!(s.expect.causes[0].remedies, ["dependency-down"]);
    assert_eq!(s.expect.max_mttr, Duration::from_secs(240));
    assert_eq!(s.expect.forbidden.len(), 2);
    let topology = Topology::from_yaml(&s.topology_yaml, "t").unwrap();
    let cart = topology.service("cart").unwrap();
    assert!(cart.logs["dependency_refused.redis"][0].starts_with("cart: redis unreachable"));
}

#[test]
fn controls_and_cascades_load() {
    let control = "description: noise\ntopology: hotel\nsteps:\n  - alert: {name: X}\nexpect: {class: no-fault}\n";
    let s = load_text(control).unwrap();
    assert_eq!((s.expect.outcome, s.expect.causes.len(), s.namespace.as_str()), (Outcome::Quiet, 0, "hotel"));
    let cascade = "description: two\ntopology: shop\nexpect:\n  causes:\n    - {class: node-not-ready, target: node/lab-worker-1}\n    - {class: image-pull, target: frontend}\n  outcome: escalated\n";
    let s = load_text(cascade).unwrap();
    assert_eq!(s.expect.outcome, Outcome::Escalated);
    assert_eq!(s.expect.causes[0].target, Target::Node("lab-worker-1".into()));
    assert_eq!(s.expect.label(), "node-not-ready+image-pull");
}

#[test]
fn mistakes_are_reported_with_their_field_and_line() {
    let table: &[(&str, &str, &str, Option<usize>)] = &[
        (
            "description: x\ntopology: shop\nexpect: {class: dependency-down, target: cart-redis}\nsteps:\n  - set_image: {deployment: nope, image: a:b}\n",
            "steps[0].set_image.deployment",
            "no deployment \"nope\"",
            Some(5),
        ),
        (
            "description: x\ntopology: shop\nexpect:\n  class: dependecy-down\n  target: cart\n",
            "expect.causes[0].class",
            "unknown class \"dependecy-down\"",
            Some(4),
        ),
        (
            "description: x\ntopology: shop\nexpect: {class: oom-memory-limit}\n",
            "expect.target",
            "needs its target",
            None,
        ),
        (
            "description: x\ntopology: mall\nexpect: {class: no-fault}\n",
            "topology",
            "neither a built-in topology",
            Some(2),
        ),
        (
            "description: x\ntopology: shop\nsteps:\n  - experiment: missing.yaml\nexpect: {class: no-fault}\n",
            "steps[0].experiment",
            "no experiment \"missing.yaml\"",
            Some(4),
        ),
        (
            "description: x\ntopology: shop\nsteps:\n  - wait: soon\nexpect: {class: no-fault}\n",
            "steps[0].wait",
            "not a duration",
            Some(4),
        ),
        (
            "description: x\ntopology: shop\nexpect:\n  class: no-fault\n  forbidden: [{action: reboot}]\n",
            "expect.forbidden[0].action",
            "unknown action \"reboot\"",
            Some(5),
        ),
        ("description: x\ntopology: shop\nexpct: {}\n", "", "unknown field `expct`", Some(3)),
        (
            "description: x\ntopology: shop\nlogs: {ghost: {ready: [hi]}}\nexpect: {class: no-fault}\n",
            "logs.ghost",
            "no service \"ghost\"",
            Some(3),
        ),
    ];
    for (text, field, message, line) in table {
        let error = load_text(text).expect_err(text);
        assert_eq!(error.field, *field, "{error}");
        assert!(error.message.contains(message), "{error}");
        if line.is_some() {
            assert_eq!(error.line, *line, "{error}");
        }
        assert!(error.to_string().starts_with("loading scenario "), "{error}");
    }
}

#[test]
fn the_shipped_scenarios_all_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaos-tests/scenarios");
    let scenarios = load_dir(&dir).unwrap();
    assert!(scenarios.len() >= 30, "{} scenarios", scenarios.len());
}
