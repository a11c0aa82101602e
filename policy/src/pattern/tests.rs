use super::*;
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, PartialEq)]
enum Outcome {
    Pass,
    Skip,
    Fail(&'static str),
    Error,
}

fn outcome(resource: Value, pattern: Value) -> (Outcome, String) {
    match match_pattern(&resource, &pattern) {
        Ok(()) => (Outcome::Pass, String::new()),
        Err(e) if e.skip => (Outcome::Skip, e.message),
        Err(e) if e.path.is_empty() => (Outcome::Error, e.message),
        Err(e) => (Outcome::Fail(Box::leak(e.path.into_boxed_str())), e.message),
    }
}

#[test]
fn anchors_table() {
    let pod = json!({
        "metadata": {"name": "p", "labels": {"app": "web", "team": "a"}},
        "spec": {
            "hostNetwork": false,
            "containers": [
                {"name": "a", "image": "nginx:latest", "imagePullPolicy": "IfNotPresent"},
                {"name": "b", "image": "redis:7", "securityContext": {"privileged": true}}
            ],
            "volumes": [{"name": "v", "emptyDir": {}}]
        }
    });
    let cases: Vec<(&str, Value, Outcome)> = vec![
        ("plain match", json!({"metadata": {"name": "p"}}), Outcome::Pass),
        ("plain mismatch", json!({"metadata": {"name": "q"}}), Outcome::Fail("/metadata/name/")),
        ("star requires presence", json!({"metadata": {"labels": {"app": "*"}}}), Outcome::Pass),
        ("star on missing key", json!({"metadata": {"labels": {"env": "*"}}}), Outcome::Fail("/metadata/labels/")),
        ("?* on missing key", json!({"metadata": {"labels": {"env": "?*"}}}), Outcome::Fail("/metadata/labels/env/")),
        ("equality anchor absent", json!({"spec": {"=(dnsPolicy)": "None"}}), Outcome::Pass),
        ("equality anchor present ok", json!({"spec": {"=(hostNetwork)": false}}), Outcome::Pass),
        ("equality anchor present bad", json!({"spec": {"=(hostNetwork)": true}}), Outcome::Fail("/spec/hostNetwork/")),
        ("negation absent", json!({"spec": {"X(hostPID)": "null"}}), Outcome::Pass),
        ("negation present", json!({"spec": {"X(hostNetwork)": "null"}}), Outcome::Fail("/spec/hostNetwork/")),
        (
            "conditional element filter",
            json!({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}}),
            Outcome::Fail("/spec/containers/0/imagePullPolicy/"),
        ),
        (
            "conditional element filter passes",
            json!({"spec": {"containers": [{"(image)": "redis*", "name": "b"}]}}),
            Outcome::Pass,
        ),
        (
            "conditional top-level mismatch skips",
            json!({"(metadata)": {"name": "other"}, "spec": {"hostNetwork": true}}),
            Outcome::Skip,
        ),
        (
            "conditional top-level missing key skips",
            json!({"(status)": {}, "spec": {"hostNetwork": true}}),
            Outcome::Skip,
        ),
        (
            "global anchor mismatch skips",
            json!({"spec": {"<(hostNetwork)": true, "containers": [{"name": "zzz"}]}}),
            Outcome::Skip,
        ),
        ("global anchor absent is ignored", json!({"spec": {"<(hostIPC)": true, "hostNetwork": false}}), Outcome::Pass),
        (
            "existence anchor finds one element",
            json!({"spec": {"^(containers)": [{"image": "redis*"}]}}),
            Outcome::Pass,
        ),
        (
            "existence anchor finds none",
            json!({"spec": {"^(containers)": [{"image": "busybox*"}]}}),
            Outcome::Fail("/spec/containers/"),
        ),
        (
            "nested equality inside list",
            json!({"spec": {"containers": [{"=(securityContext)": {"=(privileged)": false}}]}}),
            Outcome::Fail("/spec/containers/1/securityContext/privileged/"),
        ),
        ("scalar against list", json!({"spec": {"containers": [{"name": "?"}]}}), Outcome::Pass),
        ("type mismatch", json!({"spec": {"hostNetwork": {"x": 1}}}), Outcome::Fail("/spec/hostNetwork/")),
        ("empty pattern list", json!({"spec": {"containers": []}}), Outcome::Fail("/spec/containers/")),
        ("wildcard label key", json!({"metadata": {"labels": {"ap*": "web"}}}), Outcome::Pass),
        (
            "wildcard label key mismatch",
            json!({"metadata": {"labels": {"te*": "b"}}}),
            Outcome::Fail("/metadata/labels/team/"),
        ),
    ];
    for (name, pattern, want) in cases {
        let (got, message) = outcome(pod.clone(), pattern);
        assert_eq!(got, want, "{name}: {message}");
    }
}

#[test]
fn anchor_key_absent_everywhere_turns_a_mismatch_into_an_error() {
    // Kyverno tracks conditional, existence and negation anchor keys; when one never appears in the
    // resource, a plain mismatch elsewhere is reported as an error rather than a failure.
    let (got, _) =
        outcome(json!({"spec": {"hostNetwork": true}}), json!({"spec": {"X(hostPID)": "null", "hostNetwork": false}}));
    assert_eq!(got, Outcome::Error);
    // Every element skipped by a conditional anchor: the rule is skipped.
    let (got, _) = outcome(
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"(image)": "*", "name": "b"}], "replicas": 2}}),
    );
    assert_eq!(got, Outcome::Skip);
}

proptest! {
    #[test]
    fn conditional_anchor_in_a_list_checks_only_the_elements_it_selects(
        containers in prop::collection::vec((0usize..3, any::<bool>()), 0..5)
    ) {
        let images = ["nginx:1.27", "nginx:latest", "redis:7"];
        let items: Vec<Value> = containers
            .iter()
            .map(|(i, always)| json!({"image": images[*i], "imagePullPolicy": if *always { "Always" } else { "IfNotPresent" }}))
            .collect();
        let resource = json!({"spec": {"containers": items}});
        let pattern = json!({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}});
        let selected: Vec<bool> = containers.iter().filter(|(i, _)| *i == 1).map(|(_, always)| *always).collect();
        let want = if containers.is_empty() {
            Outcome::Pass
        } else if selected.is_empty() {
            Outcome::Skip
        } else if selected.iter().all(|a| *a) {
            Outcome::Pass
        } else {
            Outcome::Fail("")
        };
        let (got, message) = outcome(resource, pattern);
        match want {
            Outcome::Fail(_) => prop_assert!(matches!(got, Outcome::Fail(_)), "{got:?} {message}"),
            other => prop_assert_eq!(got, other, "{}", message),
        }
    }

    #[test]
    fn a_resource_always_matches_itself_as_a_pattern(v in arb_json(3)) {
        // Lists hold one element: a list pattern applies its first element to every resource element.
        prop_assert!(match_pattern(&v, &v).is_ok(), "{v}");
    }

    #[test]
    fn negation_anchor_fails_exactly_when_the_key_is_present(present in any::<bool>(), key in "[a-z]{1,8}") {
        let resource = if present { json!({ key.clone(): 1 }) } else { json!({}) };
        let pattern = json!({ format!("X({key})"): "null" });
        prop_assert_eq!(match_pattern(&resource, &pattern).is_err(), present);
    }

    #[test]
    fn equality_anchor_passes_when_the_key_is_absent(key in "[a-z]{1,8}", value in "[a-z]{1,8}") {
        let pattern = json!({ format!("=({key})"): value });
        let empty = json!({});
        prop_assert!(match_pattern(&empty, &pattern).is_ok());
    }
}

fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|i| json!(i)),
        "[a-z0-9]{1,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..2).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 1..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
