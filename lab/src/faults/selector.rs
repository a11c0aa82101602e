//! Chaos Mesh's pod selection: the selectors narrow the candidates, then the mode picks among them.
//!
//! `pods` names pods outright (the other selectors are not consulted, as in Chaos Mesh); otherwise a
//! pod must be in one of `namespaces` and match every label, expression, annotation and field
//! selector, be on one of `nodes` (and on a node matching `nodeSelectors`) and be in one of
//! `podPhaseSelectors`. Terminating pods are not candidates. Candidates are sorted by namespace and
//! name, so that a seeded generator picks the same pods every run.
use rand::Rng;
use rand::seq::index::sample;
use serde_json::Value;
use std::collections::BTreeMap;

use super::effects::PodRef;
use super::spec::{Mode, SelectorSpec};
use crate::store::{Kind, Object, Store};

fn map_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a serde_json::Map<String, Value>> {
    value.pointer(pointer).and_then(Value::as_object)
}

fn matches_map(actual: Option<&serde_json::Map<String, Value>>, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| actual.and_then(|m| m.get(k)).and_then(Value::as_str) == Some(v.as_str()))
}

/// The value of a field selector key on a pod.
fn field(pod: &Value, key: &str) -> Option<String> {
    let pointer = match key {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" => "/metadata/namespace",
        "spec.nodeName" => "/spec/nodeName",
        "status.phase" => "/status/phase",
        "spec.serviceAccountName" => "/spec/serviceAccountName",
        "status.podIP" => "/status/podIP",
        _ => return None,
    };
    pod.pointer(pointer).and_then(Value::as_str).map(String::from)
}

/// Whether `pod` matches every selector of `spec` (`pods` aside).
pub fn matches(
    spec: &SelectorSpec,
    pod: &Object,
    node_labels: &BTreeMap<String, serde_json::Map<String, Value>>,
) -> bool {
    let value = &pod.value;
    let namespace = pod.namespace().unwrap_or_default();
    if !spec.namespaces.is_empty() && !spec.namespaces.iter().any(|n| n == namespace) {
        return false;
    }
    let labels = map_at(value, "/metadata/labels");
    if !matches_map(labels, &spec.label_selectors) {
        return false;
    }
    if !matches_map(map_at(value, "/metadata/annotations"), &spec.annotation_selectors) {
        return false;
    }
    let expressions_ok = spec.expression_selectors.iter().all(|e| {
        let actual = labels.and_then(|m| m.get(&e.key)).and_then(Value::as_str);
        match e.operator.as_str() {
            "In" => actual.is_some_and(|a| e.values.iter().any(|v| v == a)),
            "NotIn" => actual.is_none_or(|a| !e.values.iter().any(|v| v == a)),
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            _ => false,
        }
    });
    if !expressions_ok {
        return false;
    }
    let fields_ok =
        spec.field_selectors.iter().all(|(key, wanted)| field(value, key).as_deref() == Some(wanted.as_str()));
    if !fields_ok {
        return false;
    }
    let node = value.pointer("/spec/nodeName").and_then(Value::as_str);
    if !spec.nodes.is_empty() && !node.is_some_and(|n| spec.nodes.iter().any(|w| w == n)) {
        return false;
    }
    if !spec.node_selectors.is_empty()
        && !node.and_then(|n| node_labels.get(n)).is_some_and(|l| matches_map(Some(l), &spec.node_selectors))
    {
        return false;
    }
    let phase = value.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending");
    spec.pod_phase_selectors.is_empty() || spec.pod_phase_selectors.iter().any(|p| p == phase)
}

/// Every pod the selectors match now, sorted.
pub fn candidates(store: &Store, spec: &SelectorSpec) -> Vec<Object> {
    let mut pods: Vec<Object> = Vec::new();
    if !spec.pods.is_empty() {
        for (namespace, names) in &spec.pods {
            for name in names {
                if let Some(pod) = store.get(Kind::Pod, Some(namespace), name) {
                    pods.push(pod);
                }
            }
        }
    } else {
        let node_labels: BTreeMap<String, serde_json::Map<String, Value>> = if spec.node_selectors.is_empty() {
            BTreeMap::new()
        } else {
            let (nodes, _) = store.list(Kind::Node, None);
            nodes.iter().map(|n| (n.name().to_string(), n.labels().cloned().unwrap_or_default())).collect()
        };
        let scopes: Vec<Option<&str>> = if spec.namespaces.is_empty() {
            vec![None]
        } else {
            spec.namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        for scope in scopes {
            let (list, _) = store.list(Kind::Pod, scope);
            pods.extend(list.into_iter().filter(|p| matches(spec, p, &node_labels)));
        }
    }
    pods.retain(|p| !p.is_terminating());
    pods.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    pods.dedup_by(|a, b| a.uid() == b.uid());
    pods
}

/// How many of `count` candidates a mode picks (Chaos Mesh's `FilterObjectsByMode`).
pub fn pick_count(mode: Mode, count: usize, rng: &mut impl Rng) -> usize {
    match mode {
        Mode::One => count.min(1),
        Mode::All => count,
        Mode::Fixed(n) => n.min(count),
        Mode::FixedPercent(p) => (count as f64 * f64::from(p) / 100.0).floor() as usize,
        Mode::RandomMaxPercent(max) => {
            let percent = rng.random_range(0..=max);
            (count as f64 * f64::from(percent) / 100.0).floor() as usize
        }
    }
}

/// Apply the mode to the candidates: a random subset of the size the mode asks for, in candidate order.
pub fn pick(mode: Mode, candidates: Vec<Object>, rng: &mut impl Rng) -> Vec<Object> {
    let n = pick_count(mode, candidates.len(), rng);
    if n >= candidates.len() {
        return candidates;
    }
    let mut chosen: Vec<usize> = sample(rng, candidates.len(), n).into_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| candidates[i].clone()).collect()
}

pub fn pod_ref(pod: &Object) -> PodRef {
    (pod.namespace().unwrap_or_default().to_string(), pod.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::LabClock;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;
    use std::sync::Arc;

    fn store() -> Store {
        let store = Store::new(Arc::new(LabClock::starting_now(1.0)));
        for ns in ["shop", "ops"] {
            store.create(Kind::Namespace, json!({"metadata": {"name": ns}})).unwrap();
        }
        for (ns, name, app, tier, node, phase) in [
            ("shop", "cart-1", "cart", "backend", "n1", "Running"),
            ("shop", "cart-2", "cart", "backend", "n2", "Running"),
            ("shop", "frontend-1", "frontend", "web", "n1", "Running"),
            ("shop", "redis-1", "cart-redis", "data", "n3", "Pending"),
            ("ops", "probe-1", "probe", "web", "n2", "Running"),
        ] {
            store
                .create(
                    Kind::Pod,
                    json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app, "tier": tier},
                                        "annotations": {"team": if app == "cart" { "checkout" } else { "core" }}},
                           "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x"}]},
                           "status": {"phase": phase}}),
                )
                .unwrap();
        }
        store
    }

    fn names(pods: &[Object]) -> Vec<String> {
        pods.iter().map(|p| format!("{}/{}", p.namespace().unwrap(), p.name())).collect()
    }

    #[test]
    fn selectors_narrow_the_candidates() {
        let store = store();
        let cases: [(serde_json::Value, &[&str]); 8] = [
            (json!({"namespaces": ["shop"]}), &["shop/cart-1", "shop/cart-2", "shop/frontend-1", "shop/redis-1"]),
            (json!({"namespaces": ["shop"], "labelSelectors": {"app": "cart"}}), &["shop/cart-1", "shop/cart-2"]),
            (
                json!({"namespaces": ["shop", "ops"], "expressionSelectors": [{"key": "tier", "operator": "In", "values": ["web"]}]}),
                &["ops/probe-1", "shop/frontend-1"],
            ),
            (
                json!({"namespaces": ["shop"], "annotationSelectors": {"team": "checkout"}}),
                &["shop/cart-1", "shop/cart-2"],
            ),
            (
                json!({"namespaces": ["shop"], "fieldSelectors": {"spec.nodeName": "n1"}}),
                &["shop/cart-1", "shop/frontend-1"],
            ),
            (json!({"namespaces": ["shop"], "podPhaseSelectors": ["Pending"]}), &["shop/redis-1"]),
            (json!({"namespaces": ["shop"], "nodes": ["n2", "n3"]}), &["shop/cart-2", "shop/redis-1"]),
            // Named pods win over the other selectors; a missing one is skipped.
            (
                json!({"pods": {"shop": ["frontend-1", "gone"]}, "labelSelectors": {"app": "cart"}}),
                &["shop/frontend-1"],
            ),
        ];
        for (selector, expected) in cases {
            let spec: SelectorSpec = serde_json::from_value(selector.clone()).unwrap();
            assert_eq!(names(&candidates(&store, &spec)), expected, "{selector}");
        }
    }

    #[test]
    fn modes_pick_as_chaos_mesh_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (mode, count, expected) in [
            (Mode::One, 5, 1),
            (Mode::One, 0, 0),
            (Mode::All, 5, 5),
            (Mode::Fixed(2), 5, 2),
            (Mode::Fixed(9), 5, 5),
            (Mode::FixedPercent(50), 5, 2),
            (Mode::FixedPercent(100), 5, 5),
        ] {
            assert_eq!(pick_count(mode, count, &mut rng), expected, "{mode:?} of {count}");
        }
        for _ in 0..50 {
            assert!(pick_count(Mode::RandomMaxPercent(40), 10, &mut rng) <= 4);
        }
        let store = store();
        let spec: SelectorSpec = serde_json::from_value(json!({"namespaces": ["shop"]})).unwrap();
        let draw = |seed| names(&pick(Mode::Fixed(2), candidates(&store, &spec), &mut ChaCha8Rng::seed_from_u64(seed)));
        assert_eq!(draw(7), draw(7));
        assert_eq!(draw(7).len(), 2);
        assert!((0..20).any(|seed| draw(seed) != draw(7)));
    }
}
