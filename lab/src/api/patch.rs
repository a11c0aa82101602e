//! PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch for the
//! fields kubectl and medic send (lists merged by their merge keys, `$patch`, `$setElementOrder`,
//! `$retainKeys`, `$deleteFromPrimitiveList`, maps merged, `null` deletes).
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply; the lab applies it as a merge patch that creates the object when missing.
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Result<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            _ => Err(Error::UnsupportedMediaType(ACCEPTED.into())),
        }
    }
}

pub const ACCEPTED: &str = "application/json-patch+json, application/merge-patch+json, \
                            application/strategic-merge-patch+json, application/apply-patch+yaml";

/// Apply `patch` of `patch_type` to `original`.
pub fn apply(original: &Value, patch: &Value, patch_type: PatchType) -> Result<Value> {
    match patch_type {
        PatchType::Json => json_patch(original, patch),
        PatchType::Merge | PatchType::Apply => {
            let mut out = original.clone();
            merge_patch(&mut out, patch);
            Ok(out)
        }
        PatchType::Strategic => strategic_merge(original, patch),
    }
}

/// RFC 7386: objects merge recursively, `null` removes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// RFC 6902.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value> {
    let operations = patch.as_array().ok_or_else(|| bad("a JSON patch must be an array of operations"))?;
    let mut doc = original.clone();
    for operation in operations {
        let op = operation.get("op").and_then(Value::as_str).ok_or_else(|| bad("JSON patch operation has no op"))?;
        let path = operation.get("path").and_then(Value::as_str).ok_or_else(|| bad("JSON patch op has no path"))?;
        let value = || operation.get("value").cloned().ok_or_else(|| bad(format!("{op} {path}: missing value")));
        let from = || operation.get("from").and_then(Value::as_str).ok_or_else(|| bad(format!("{op}: missing from")));
        match op {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let moved = remove(&mut doc, from()?)?;
                add(&mut doc, path, moved)?;
            }
            "copy" => {
                let copied = doc.pointer(from()?).cloned().ok_or_else(|| missing(from().unwrap_or_default()))?;
                add(&mut doc, path, copied)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(Error::Invalid {
                        kind: String::new(),
                        group: String::new(),
                        name: String::new(),
                        causes: vec![crate::error::Cause::invalid(path, "testing value failed")],
                    });
                }
            }
            other => return Err(bad(format!("unknown JSON patch operation {other:?}"))),
        }
    }
    Ok(doc)
}

fn bad(message: impl Into<String>) -> Error {
    Error::BadRequest(message.into())
}

fn missing(path: &str) -> Error {
    Error::Invalid {
        kind: String::new(),
        group: String::new(),
        name: String::new(),
        causes: vec![crate::error::Cause::invalid(path, "doc is missing path")],
    }
}

fn split_pointer(path: &str) -> Result<(String, String)> {
    if path.is_empty() {
        return Err(bad("JSON patch path must not be the whole document"));
    }
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| bad(format!("invalid JSON pointer {path:?}")))?;
    Ok((parent.to_string(), last.replace("~1", "/").replace("~0", "~")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<()> {
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent).ok_or_else(|| missing(path))? {
        Value::Object(map) => {
            map.insert(last, value);
        }
        Value::Array(list) => {
            let index = if last == "-" { list.len() } else { last.parse().map_err(|_| missing(path))? };
            if index > list.len() {
                return Err(missing(path));
            }
            list.insert(index, value);
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value> {
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(&parent).ok_or_else(|| missing(path))? {
        Value::Object(map) => map.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(list) => {
            let index: usize = last.parse().map_err(|_| missing(path))?;
            if index >= list.len() {
                return Err(missing(path));
            }
            Ok(list.remove(index))
        }
        _ => Err(missing(path)),
    }
}

/// The merge key of a list field, as the Kubernetes types declare it (`patchMergeKey`).
fn merge_key(field: &str, elements: &[Value]) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            Some("name")
        }
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "conditions" | "addresses" => Some("type"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" => {
            let container_ports = elements.iter().any(|e| e.get("containerPort").is_some());
            Some(if container_ports { "containerPort" } else { "port" })
        }
        _ => None,
    }
}

/// Lists of scalars that merge as sets (`patchStrategy: merge`).
fn merges_as_set(field: &str) -> bool {
    field == "finalizers"
}

/// Apply a strategic merge patch.
pub fn strategic_merge(original: &Value, patch: &Value) -> Result<Value> {
    let patch = patch.as_object().ok_or_else(|| bad("a strategic merge patch must be a JSON object"))?;
    let mut out = original.clone();
    if !out.is_object() {
        out = Value::Object(Map::new());
    }
    if let Value::Object(map) = &mut out
        && merge_map(map, patch)? == Outcome::Delete
    {
        return Err(bad("a strategic merge patch cannot delete the whole object"));
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    Delete,
}

fn merge_map(target: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<Outcome> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *target = without_directives(patch);
            return Ok(Outcome::Keep);
        }
        Some("delete") => return Ok(Outcome::Delete),
        Some("merge") | None => {}
        Some(other) => return Err(bad(format!("unknown patch directive $patch: {other:?}"))),
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        let retain: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| retain.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => match target.get_mut(key) {
                Some(Value::Object(existing)) => {
                    if merge_map(existing, inner)? == Outcome::Delete {
                        target.remove(key);
                    }
                }
                _ => {
                    if inner.get("$patch").and_then(Value::as_str) == Some("delete") {
                        target.remove(key);
                    } else {
                        target.insert(key.clone(), Value::Object(without_directives(inner)));
                    }
                }
            },
            Value::Array(items) => {
                let merged = merge_list(key, target.get(key), items)?;
                target.insert(key.clone(), merged);
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(list)), Some(drop)) = (target.get_mut(field), value.as_array())
        {
            list.retain(|v| !drop.contains(v));
        }
    }
    for (key, order) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/")
            && let (Some(Value::Array(list)), Some(order)) = (target.get_mut(field), order.as_array())
        {
            reorder(field, list, order);
        }
    }
    Ok(Outcome::Keep)
}

fn merge_list(field: &str, existing: Option<&Value>, items: &[Value]) -> Result<Value> {
    let existing = existing.and_then(Value::as_array).cloned().unwrap_or_default();
    let all: Vec<Value> = existing.iter().chain(items).cloned().collect();
    if let Some(key) = merge_key(field, &all)
        && items.iter().all(Value::is_object)
    {
        if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
            let kept = items.iter().filter(|i| i.get("$patch").is_none()).cloned();
            return Ok(Value::Array(kept.map(|v| strip(&v)).collect()));
        }
        let mut out = existing;
        for item in items {
            let item = item.as_object().expect("checked above");
            let id = item.get(key);
            let position = id.and_then(|id| out.iter().position(|e| e.get(key) == Some(id)));
            if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                if let Some(id) = id {
                    out.retain(|e| e.get(key) != Some(id));
                }
                continue;
            }
            match position {
                Some(i) => {
                    if let Value::Object(target) = &mut out[i]
                        && merge_map(target, item)? == Outcome::Delete
                    {
                        out.remove(i);
                    }
                }
                None => out.push(Value::Object(without_directives(item))),
            }
        }
        return Ok(Value::Array(out));
    }
    if merges_as_set(field) {
        let mut out = existing;
        for item in items {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
        return Ok(Value::Array(out));
    }
    Ok(Value::Array(items.iter().map(strip).collect()))
}

/// Order `list` as `order` says (by merge key for objects, by value for scalars); unlisted items last.
fn reorder(field: &str, list: &mut [Value], order: &[Value]) {
    let key = merge_key(field, list);
    let rank = |item: &Value| {
        order
            .iter()
            .position(|o| match (key, o) {
                (Some(key), Value::Object(_)) => o.get(key).is_some() && o.get(key) == item.get(key),
                _ => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    list.sort_by_key(rank);
}

fn without_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().filter(|(k, v)| !k.starts_with('$') && !v.is_null()).map(|(k, v)| (k.clone(), strip(v))).collect()
}

fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(without_directives(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "annotations": {"a": "1"}, "finalizers": ["x"]},
               "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                   {"name": "app", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 8080}]},
                   {"name": "sidecar", "image": "proxy:1"}]}}}})
    }

    #[test]
    fn strategic_merge_table() {
        type Check = Box<dyn Fn(&Value)>;
        let cases: Vec<(&str, Value, Check)> = vec![
            (
                "rollout restart adds an annotation to the template",
                json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "t"}}}}}),
                Box::new(|d| {
                    assert_eq!(
                        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
                        "t"
                    );
                    assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], "web");
                }),
            ),
            (
                "set image merges containers by name",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}}}),
                Box::new(|d| {
                    let containers = &d["spec"]["template"]["spec"]["containers"];
                    assert_eq!(containers[0]["image"], "web:2");
                    assert_eq!(containers[0]["env"][1]["value"], "2", "untouched fields stay");
                    assert_eq!(containers[1]["image"], "proxy:1");
                }),
            ),
            (
                "resources patch merges maps inside a container",
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]}}}}),
                Box::new(|d| {
                    assert_eq!(
                        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
                        "512Mi"
                    );
                }),
            ),
            (
                "$patch delete removes a list element by key",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
                Box::new(|d| assert_eq!(d["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1)),
            ),
            (
                "env merges by name and null deletes a key",
                json!({"metadata": {"annotations": {"a": null}}, "spec": {"template": {"spec": {"containers": [
                    {"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}]}}}}),
                Box::new(|d| {
                    assert_eq!(d["metadata"]["annotations"], json!({}));
                    let env = &d["spec"]["template"]["spec"]["containers"][0]["env"];
                    assert_eq!(
                        env,
                        &json!([{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}])
                    );
                }),
            ),
            (
                "$setElementOrder orders the merged list",
                json!({"spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [{"name": "app", "image": "web:3"}]}}}}),
                Box::new(|d| {
                    let containers = &d["spec"]["template"]["spec"]["containers"];
                    assert_eq!(
                        (containers[0]["name"].as_str(), containers[1]["image"].as_str()),
                        (Some("sidecar"), Some("web:3"))
                    );
                }),
            ),
            (
                "$patch replace on a map replaces it",
                json!({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "app": "web", "v": "2"}}}}}),
                Box::new(|d| assert_eq!(d["spec"]["template"]["metadata"]["labels"], json!({"app": "web", "v": "2"}))),
            ),
            (
                "finalizers merge as a set; $deleteFromPrimitiveList removes",
                json!({"metadata": {"finalizers": ["y", "x"], "$deleteFromPrimitiveList/finalizers": ["x"]}}),
                Box::new(|d| assert_eq!(d["metadata"]["finalizers"], json!(["y"]))),
            ),
            (
                "lists without a merge key are replaced",
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}}}),
                Box::new(|d| assert_eq!(d["spec"]["template"]["spec"]["tolerations"].as_array().unwrap().len(), 1)),
            ),
            (
                "cordon sets a scalar",
                json!({"spec": {"unschedulable": true}}),
                Box::new(|d| assert_eq!(d["spec"]["unschedulable"], true)),
            ),
        ];
        for (name, patch, check) in cases {
            let patched = strategic_merge(&deployment(), &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
            check(&patched);
        }
    }

    #[test]
    fn merge_patch_replaces_lists_and_deletes_nulls() {
        let patched = apply(
            &deployment(),
            &json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "only"}]}}}, "metadata": {"finalizers": null}}),
            PatchType::Merge,
        )
        .unwrap();
        assert_eq!(patched["spec"]["replicas"], 5);
        assert_eq!(patched["spec"]["template"]["spec"]["containers"], json!([{"name": "only"}]));
        assert!(patched["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn json_patch_table() {
        let doc = json!({"metadata": {"annotations": {"a/b": "1"}}, "spec": {"list": [1, 2, 3]}});
        let cases = [
            (json!([{"op": "replace", "path": "/spec/list/0", "value": 9}]), Some(json!([9, 2, 3]))),
            (json!([{"op": "add", "path": "/spec/list/-", "value": 4}]), Some(json!([1, 2, 3, 4]))),
            (json!([{"op": "remove", "path": "/spec/list/1"}]), Some(json!([1, 3]))),
            (json!([{"op": "move", "from": "/spec/list/0", "path": "/spec/list/2"}]), Some(json!([2, 3, 1]))),
            (json!([{"op": "copy", "from": "/spec/list/2", "path": "/spec/list/0"}]), Some(json!([3, 1, 2, 3]))),
            (json!([{"op": "test", "path": "/spec/list/0", "value": 1}]), Some(json!([1, 2, 3]))),
            (json!([{"op": "test", "path": "/spec/list/0", "value": 2}]), None),
            (json!([{"op": "remove", "path": "/spec/missing"}]), None),
        ];
        for (patch, expected) in cases {
            let result = json_patch(&doc, &patch);
            match expected {
                Some(list) => assert_eq!(result.unwrap()["spec"]["list"], list, "{patch}"),
                None => assert!(result.is_err(), "{patch}"),
            }
        }
        let escaped = json_patch(&doc, &json!([{"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"}]));
        assert_eq!(escaped.unwrap()["metadata"]["annotations"]["a/b"], "2");
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/strategic-merge-patch+json").unwrap(),
            PatchType::Strategic
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchType::Merge
        );
        assert_eq!(PatchType::from_content_type("text/plain").unwrap_err().code(), 415);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf =
            prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from), "[a-c]{0,3}".prop_map(Value::from)];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// JSON objects of objects and scalars (no arrays, no `$` keys).
    fn list_free_object() -> impl Strategy<Value = Value> {
        let leaf =
            prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from), "[a-c]{0,3}".prop_map(Value::from)];
        let tree = leaf.prop_recursive(3, 24, 4, |inner| {
            proptest::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        proptest::collection::btree_map("[a-d]", tree, 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// Applying the same merge patch twice is applying it once (RFC 7386 patches are idempotent).
        #[test]
        fn merge_patches_are_idempotent(target in json_value(), patch in json_value()) {
            let mut once = target.clone();
            merge_patch(&mut once, &patch);
            let mut twice = once.clone();
            merge_patch(&mut twice, &patch);
            prop_assert_eq!(once, twice);
        }

        /// A strategic merge patch without directives or lists acts as a merge patch.
        #[test]
        fn strategic_merge_without_lists_is_a_merge_patch(target in list_free_object(), patch in list_free_object()) {
            let mut merged = target.clone();
            merge_patch(&mut merged, &patch);
            prop_assert_eq!(strategic_merge(&target, &patch).unwrap(), merged);
        }
    }
}
