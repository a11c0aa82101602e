//! Malformed policies are reported with their file, document and field; nothing panics.
use std::io::Write;

use medic_policy::{Error, PolicySet};

fn load(text: &str) -> Result<PolicySet, Error> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("policies.yaml");
    std::fs::File::create(&path).and_then(|mut f| f.write_all(text.as_bytes())).expect("write");
    PolicySet::load_dirs(&[dir.path().to_path_buf()])
}

const GOOD: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: good}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate: {pattern: {spec: {hostNetwork: false}}}
"#;

#[test]
fn errors_name_file_document_policy_and_field() {
    let cases = [
        ("rules: [{name: r, match: {any: oops}}]", "spec.rules[0].match.any", "expected a list"),
        ("rules: [{match: {any: [{resources: {kinds: [Pod]}}]}}]", "spec.rules[0].name", "missing"),
        ("rules: [{name: r}]", "spec.rules[0].match", "missing"),
        (
            "rules: [{name: r, match: {any: [{resources: {kinds: [Pod, 3]}}]}}]",
            "spec.rules[0].match.any[0].resources.kinds[1]",
            "expected a string",
        ),
        (
            "rules: [{name: r, match: {resources: {kinds: [Pod]}}, validate: {deny: {conditions: {any: [{key: a, operator: Bogus, value: b}]}}}}]",
            "spec.rules[0].validate.deny.conditions.any[0].operator",
            "unknown operator",
        ),
        (
            "rules: [{name: r, match: {resources: {kinds: [Pod]}}, validate: {cel: {expressions: [{expression: 'object.spec.'}]}}}]",
            "spec.rules[0].validate.cel.expressions[0].expression",
            "compilation failed",
        ),
        (
            "rules: [{name: r, match: {resources: {kinds: [Pod], selector: {matchExpressions: [{key: a, operator: Near}]}}}}]",
            "spec.rules[0].match.resources.selector.matchExpressions[0].operator",
            "unsupported operator",
        ),
    ];
    for (spec, field, message) in cases {
        let text = format!(
            "{GOOD}---\napiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {{name: bad}}\nspec:\n  {spec}\n"
        );
        match load(&text) {
            Err(Error::InvalidPolicy { path, document, policy, field: f, message: m }) => {
                assert!(path.ends_with("policies.yaml"), "{path:?}");
                assert_eq!(document, 2, "{spec}");
                assert_eq!(policy, "bad");
                assert_eq!(f, field, "{spec}");
                assert!(m.contains(message), "{spec}: {m}");
            }
            other => panic!("{spec}: expected an invalid policy error, got {other:?}"),
        }
    }
}

#[test]
fn yaml_syntax_errors_name_the_document() {
    match load(&format!("{GOOD}---\nkind: ClusterPolicy\nspec: [unclosed\n")) {
        Err(Error::Yaml { document, message, .. }) => {
            assert_eq!(document, 2);
            assert!(message.contains("line"), "{message}");
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

#[test]
fn non_policy_documents_are_ignored() {
    let text = format!("{GOOD}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n---\n# comment only\n");
    assert_eq!(load(&text).expect("loads").len(), 1);
}

#[test]
fn arbitrary_documents_never_panic() {
    // Shapes a hand-written policy could have by mistake, in every position the loader reads.
    let values = ["null", "3", "'x'", "[]", "{}", "[1, {a: b}]", "{any: 3, all: [x]}", "true"];
    let fields =
        ["rules", "rules[0].match", "rules[0].validate", "rules[0].validate.foreach", "rules[0].preconditions"];
    for field in fields {
        for value in values {
            let spec = match field {
                "rules" => format!("rules: {value}"),
                "rules[0].match" => format!("rules: [{{name: r, match: {value}}}]"),
                "rules[0].validate" => {
                    format!("rules: [{{name: r, match: {{resources: {{kinds: [Pod]}}}}, validate: {value}}}]")
                }
                "rules[0].validate.foreach" => {
                    format!(
                        "rules: [{{name: r, match: {{resources: {{kinds: [Pod]}}}}, validate: {{foreach: {value}}}}}]"
                    )
                }
                _ => format!("rules: [{{name: r, match: {{resources: {{kinds: [Pod]}}}}, preconditions: {value}}}]"),
            };
            let text =
                format!("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {{name: p}}\nspec:\n  {spec}\n");
            if let Ok(set) = load(&text) {
                let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}});
                let _ = set.validate(&pod, &Default::default());
            }
        }
    }
}
