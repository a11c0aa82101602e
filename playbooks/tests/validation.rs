//! Loading rejects bad playbooks with the file, the field path and the problem.
use medic_playbooks::{Error, parse_playbook};

const GOOD: &str = r#"
id: raise-memory
version: 1.2.0
description: raise the memory limit
match:
  classes: [oom-memory-limit]
  target_kinds: [Deployment]
parameters:
  memory_limit:
    type: quantity
    required: true
steps:
  - action: patch-resources
    namespace: ${target.namespace}
    deployment: ${target.name}
    container: app
    limits:
      memory: ${params.memory_limit}
verify:
  checks:
    - check: workload-healthy
      namespace: ${target.namespace}
      deployment: ${target.name}
  timeout: 5m
  stable: 1m
rollback: automatic
risk: medium
approval: when-risk-high
"#;

#[test]
fn a_good_playbook_loads() {
    let p = parse_playbook("raise.yaml", GOOD).unwrap();
    assert_eq!(p.id, "raise-memory");
    assert_eq!(p.steps.len(), 1);
    assert_eq!(p.verify.timeout.as_secs(), 300);
    assert_eq!(p.source, "raise.yaml");
}

/// One row per mistake: (what to replace in GOOD, with what, the expected field, part of the problem).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("action: patch-resources", "action: patch-resource", "steps[0].action", "unknown action \"patch-resource\""),
    (
        "${params.memory_limit}",
        "${params.mem}",
        "steps[0].limits.memory",
        "unknown parameter \"mem\" (declared: memory_limit)",
    ),
    ("    container: app\n", "", "steps[0].container", "missing field"),
    ("timeout: 5m", "timeout: 5 minutes", "verify.timeout", "bad duration \"5 minutes\""),
    ("timeout: 5m", "timeout: 30s", "verify.stable", "must not be longer than verify.timeout"),
    ("id: raise-memory\n", "", "id", "missing field"),
    ("version: 1.2.0", "version: one", "version", "not a semantic version"),
    ("[oom-memory-limit]", "[oom]", "match.classes[0]", "unknown root-cause class \"oom\""),
    ("[Deployment]", "[Widget]", "match.target_kinds[0]", "unknown object kind \"Widget\""),
    ("risk: medium", "risk: extreme", "risk", "unknown value \"extreme\" (expected one of: low, medium, high)"),
    ("approval: when-risk-high", "approval: sometimes", "approval", "unknown value \"sometimes\""),
    ("rollback: automatic", "rollback: maybe", "rollback", "unknown value \"maybe\""),
    ("type: quantity", "type: float", "parameters.memory_limit.type", "unknown value \"float\""),
    (
        "required: true",
        "required: true\n    default: lots",
        "parameters.memory_limit.default",
        "\"lots\" is not a quantity",
    ),
    ("    container: app\n", "    container: app\n    replicas: 3\n", "steps[0].replicas", "unknown field"),
    ("check: workload-healthy", "check: healthy", "verify.checks[0].check", "unknown check \"healthy\""),
    (
        "deployment: ${target.name}\n  timeout",
        "deployment: ${target.nam}\n  timeout",
        "verify.checks[0].deployment",
        "unknown reference ${target.nam}",
    ),
    (
        "container: app",
        "container: ${context.selector}",
        "steps[0].container",
        "is a map and cannot be used in a single value",
    ),
    ("container: app", "container: ${target.name", "steps[0].container", "unterminated placeholder"),
    ("risk: medium", "risk: medium\nowner: sre", "owner", "unknown field"),
    ("memory: ${params.memory_limit}", "memory: lots", "steps[0].limits.memory", "\"lots\" is not a quantity"),
];

#[test]
fn mistakes_are_named_by_file_field_and_problem() {
    for (from, to, field, problem) in CASES {
        assert!(GOOD.contains(from), "case {from:?} does not apply");
        let text = GOOD.replacen(from, to, 1);
        let err = parse_playbook("catalog/raise.yaml", &text).unwrap_err();
        let issues = err.issues();
        assert!(
            issues.iter().any(|i| i.field == *field && i.problem.contains(problem)),
            "replacing {from:?} with {to:?}: expected `{field}: ...{problem}...`, got: {err}"
        );
        let message = err.to_string();
        assert!(message.starts_with("invalid playbook catalog/raise.yaml: "), "{message}");
        assert!(message.contains(&format!("{field}: ")), "{message}");
    }
}

#[test]
fn typed_fields_are_checked_against_literals_and_parameters() {
    let scale = r#"
id: scale-out
version: 1.0.0
description: scale
match: { classes: [cpu-saturation] }
parameters:
  replicas: { type: string, required: true }
steps:
  - action: scale
    namespace: shop
    deployment: web
    replicas: ${params.replicas}
  - action: scale
    namespace: shop
    deployment: web
    replicas: three
verify: { checks: [{ check: workload-healthy, namespace: shop, deployment: web }], timeout: 1m }
risk: low
"#;
    let err = parse_playbook("scale.yaml", scale).unwrap_err();
    let fields: Vec<_> = err.issues().iter().map(|i| (i.field.as_str(), i.problem.as_str())).collect();
    assert!(
        fields.contains(&("steps[0].replicas", "parameter \"replicas\" is a string but this field needs an integer")),
        "{fields:?}"
    );
    assert!(fields.contains(&("steps[1].replicas", "\"three\" is not an integer")), "{fields:?}");
}

#[test]
fn every_issue_is_reported_not_only_the_first() {
    let text = GOOD.replace("risk: medium", "risk: extreme").replace("timeout: 5m", "timeout: soon");
    let err = parse_playbook("x.yaml", &text).unwrap_err();
    assert_eq!(err.issues().len(), 2, "{err}");
}

#[test]
fn syntax_errors_give_the_line() {
    let err = parse_playbook("broken.yaml", "id: x\nsteps: [\n  - a\n").unwrap_err();
    match &err {
        Error::Syntax { file, line, .. } => {
            assert_eq!(file, "broken.yaml");
            assert!(line.is_some());
        }
        other => panic!("expected a syntax error, got {other}"),
    }
    assert!(err.to_string().starts_with("parsing playbook broken.yaml at line "), "{err}");
}

#[test]
fn a_playbook_that_changes_something_must_verify_it() {
    let text = GOOD.split("verify:").next().unwrap().to_string() + "risk: low\n";
    let err = parse_playbook("x.yaml", &text).unwrap_err();
    assert!(err.issues().iter().any(|i| i.field == "verify" && i.problem.starts_with("missing field")), "{err}");
}

#[test]
fn a_patch_needs_limits_or_requests() {
    let text = GOOD.replace("    limits:\n      memory: ${params.memory_limit}\n", "");
    let err = parse_playbook("x.yaml", &text).unwrap_err();
    assert!(err.to_string().contains("steps[0]: patch-resources needs at least one of: requests, limits"), "{err}");
}

#[test]
fn the_readme_example_is_a_valid_playbook() {
    let readme = include_str!("../README.md");
    let start = readme.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let p = parse_playbook("README.md", &readme[start..end]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p.id.as_str(), p.steps.len(), p.verify.stable.as_secs()), ("oom-memory-limit", 1, 120));
}
