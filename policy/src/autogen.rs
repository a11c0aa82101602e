//! Autogen: rules written for Pods also apply to the pod templates of controllers (Deployment, DaemonSet,
//! Job, StatefulSet, ReplicaSet, ReplicationController) as `autogen-<rule>` and of CronJobs as
//! `autogen-cronjob-<rule>`, exactly as Kyverno derives them (pkg/autogen/v1): patterns are wrapped under
//! `spec.template` / `spec.jobTemplate.spec.template`, and `request.object.spec` style references are
//! rewritten in the whole rule.
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const CONTROLLERS: [&str; 6] = ["DaemonSet", "Deployment", "Job", "ReplicaSet", "ReplicationController", "StatefulSet"];
const POD_KINDS: [&str; 8] =
    ["Pod", "DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController", "CronJob"];
/// Annotation selecting the controllers (`Deployment,CronJob`, or `none`).
pub const CONTROLLERS_ANNOTATION: &str = "pod-policies.kyverno.io/autogen-controllers";

/// The kind part of a kind selector (`apps/v1/Deployment` → `Deployment`, `Pod/exec` → `Pod`).
fn kind_part(selector: &str) -> String {
    let parts: Vec<&str> = selector.split('/').collect();
    let is_version = |s: &str| s == "*" || crate::matching::is_version(s);
    let kind = match parts.as_slice() {
        [k] => k.replacen('.', "/", 1),
        [a, b] => {
            if *a == "*" && *b == "*" {
                "*/*".to_string()
            } else if is_version(a) {
                b.replacen('.', "/", 1)
            } else {
                format!("{a}/{b}")
            }
        }
        [a, b, c] => {
            if is_version(a) {
                format!("{b}/{c}")
            } else {
                c.replacen('.', "/", 1)
            }
        }
        [_, _, c, d] => format!("{c}/{d}"),
        _ => String::new(),
    };
    kind.split('/').next().unwrap_or("").to_string()
}

fn contains_kind(kinds: &[String], kind: &str) -> bool {
    kinds.iter().any(|k| kind_part(k) == kind)
}

fn kinds_of(filter: &Value) -> Vec<String> {
    filter
        .pointer("/resources/kinds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Every resource filter of a match/exclude block: the legacy one and those in any/all.
fn filters(block: &Value) -> Vec<&Value> {
    let mut out = vec![block];
    for key in ["any", "all"] {
        if let Some(Value::Array(items)) = block.get(key) {
            out.extend(items.iter());
        }
    }
    out
}

fn supports_autogen(filter: &Value, needed: &mut bool) -> bool {
    let Some(resources) = filter.get("resources").filter(|r| !r.is_null()) else { return true };
    let present = |k: &str| resources.get(k).is_some_and(|v| !v.is_null());
    let name_set = resources.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let names_set = resources.get("names").and_then(Value::as_array).is_some_and(|n| !n.is_empty());
    let kinds = kinds_of(filter);
    if name_set
        || names_set
        || present("selector")
        || present("annotations")
        || (kinds.len() > 1 && contains_kind(&kinds, "Pod"))
    {
        return false;
    }
    *needed = *needed || kinds.iter().any(|k| POD_KINDS.contains(&k.as_str()));
    true
}

/// Kyverno's `CanAutoGen`.
fn can_autogen(rules: &[Value]) -> bool {
    let mut needed = false;
    for rule in rules {
        if rule.get("generate").is_some_and(|g| !g.is_null()) {
            return false;
        }
        if let Some(mutate) = rule.get("mutate")
            && mutate.get("patchesJson6902").is_some_and(|p| p.as_str().is_some_and(|s| !s.is_empty()))
        {
            return false;
        }
        for key in ["match", "exclude"] {
            if let Some(block) = rule.get(key).filter(|b| !b.is_null()) {
                for f in filters(block) {
                    if !supports_autogen(f, &mut needed) {
                        return false;
                    }
                }
            }
        }
    }
    needed
}

fn autogen_name(prefix: &str, name: &str) -> String {
    let mut n = format!("{prefix}-{name}");
    if n.len() > 63 {
        let mut end = 63;
        while !n.is_char_boundary(end) {
            end -= 1;
        }
        n.truncate(end);
    }
    n
}

fn block_kinds(block: Option<&Value>) -> Vec<String> {
    block.map(|b| filters(b).into_iter().flat_map(kinds_of).collect()).unwrap_or_default()
}

fn set_kinds(filter: &mut Value, kinds: &[String]) {
    if let Value::Object(m) = filter {
        let resources = m.entry("resources").or_insert_with(|| json!({}));
        if !resources.is_object() {
            *resources = json!({});
        }
        if let Value::Object(r) = resources {
            r.insert("kinds".into(), json!(kinds));
        }
    }
}

/// Replaces the kinds of the filters in `any`/`all`; `only_pod` limits it to filters that name Pod.
fn rewrite_block(block: &mut Value, kinds: &[String], only_pod: bool, exclude: bool) {
    for key in ["any", "all"] {
        if let Some(Value::Array(items)) = block.get_mut(key)
            && !items.is_empty()
        {
            for f in items.iter_mut() {
                if !only_pod || contains_kind(&kinds_of(f), "Pod") {
                    set_kinds(f, kinds);
                }
            }
            return;
        }
    }
    if !exclude || !kinds_of(block).is_empty() {
        set_kinds(block, kinds);
    }
}

fn wrap(pattern: &Value, tpl_key: &str) -> Value {
    json!({"spec": {tpl_key: pattern}})
}

/// Kyverno's `generateRule`: the rule renamed, its kinds replaced and its validation wrapped.
fn generate_rule(name: &str, rule: &Value, tpl_key: &str, kinds: &[String], only_pod: bool) -> Option<Value> {
    let mut rule = rule.clone();
    let m = rule.as_object_mut()?;
    m.insert("name".into(), Value::String(name.to_string()));
    if let Some(block) = m.get_mut("match") {
        rewrite_block(block, kinds, only_pod, false);
    }
    if let Some(block) = m.get_mut("exclude").filter(|b| !b.is_null()) {
        rewrite_block(block, kinds, only_pod, true);
    }
    let validation = m.get("validate").filter(|v| !v.is_null())?.as_object()?.clone();
    let mut out = Map::new();
    for key in ["message", "failureAction", "failureActionOverrides", "allowExistingViolations"] {
        if let Some(v) = validation.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let present = |k: &str| validation.get(k).is_some_and(|v| !v.is_null());
    if present("pattern") {
        out.insert("pattern".into(), wrap(&validation["pattern"], tpl_key));
    } else if present("deny") {
        out.insert("deny".into(), validation["deny"].clone());
    } else if present("podSecurity") {
        out.insert("podSecurity".into(), validation["podSecurity"].clone());
    } else if present("anyPattern") {
        let patterns = validation["anyPattern"].as_array().cloned().unwrap_or_default();
        out.insert("anyPattern".into(), Value::Array(patterns.iter().map(|p| wrap(p, tpl_key)).collect()));
    } else if present("foreach") {
        out.insert("foreach".into(), validation["foreach"].clone());
    } else if present("cel") || present("assert") {
        out = validation;
    } else {
        return None;
    }
    m.insert("validate".into(), Value::Object(out));
    // Only the fields Kyverno's intermediate rule carries survive.
    let keep = ["name", "match", "exclude", "celPreconditions", "context", "preconditions", "validate"];
    m.retain(|k, _| keep.contains(&k.as_str()));
    Some(rule)
}

fn controllers_rule(rule: &Value, controllers: &str) -> Option<Value> {
    let name = rule.get("name").and_then(Value::as_str)?;
    if name.starts_with("autogen-") || controllers.is_empty() {
        return None;
    }
    let match_kinds = block_kinds(rule.get("match"));
    let exclude_kinds = block_kinds(rule.get("exclude").filter(|e| !e.is_null()));
    if !contains_kind(&match_kinds, "Pod") || (!exclude_kinds.is_empty() && !contains_kind(&exclude_kinds, "Pod")) {
        return None;
    }
    let mut kinds: Vec<String> = if controllers == "all" {
        CONTROLLERS.iter().map(|s| s.to_string()).collect()
    } else {
        let validated: Vec<String> =
            controllers.split(',').filter(|c| CONTROLLERS.contains(c)).map(str::to_string).collect();
        if validated.is_empty() { controllers.split(',').map(str::to_string).collect() } else { validated }
    };
    kinds.sort();
    generate_rule(&autogen_name("autogen", name), rule, "template", &kinds, true)
}

fn replace_fields(rule: &Value, cronjob: bool) -> Option<Value> {
    let cel = rule.pointer("/validate/cel").is_some_and(|c| !c.is_null());
    let mut text = serde_json::to_string(rule).ok()?;
    let (spec_to, meta_to) = if cronjob {
        ("spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata")
    } else {
        ("spec.template.spec", "spec.template.metadata")
    };
    let prefixes: &[&str] = if cel { &["object", "oldObject"] } else { &["request.object", "request.oldObject"] };
    for prefix in prefixes {
        text = text.replace(&format!("{prefix}.spec"), &format!("{prefix}.{spec_to}"));
    }
    for prefix in prefixes {
        text = text.replace(&format!("{prefix}.metadata"), &format!("{prefix}.{meta_to}"));
    }
    serde_json::from_str(&text).ok()
}

/// The autogen rules for a policy's raw rules, in Kyverno's order (for each rule: controllers, cronjob).
pub fn generate(rules: &[Value], annotations: &BTreeMap<String, String>) -> Vec<Value> {
    if !can_autogen(rules) {
        return Vec::new();
    }
    let controllers = match annotations.get(CONTROLLERS_ANNOTATION) {
        Some(list) => list.clone(),
        None => "DaemonSet,Deployment,Job,StatefulSet,ReplicaSet,ReplicationController,CronJob".to_string(),
    };
    if controllers == "none" {
        return Vec::new();
    }
    let without_cronjob: String = controllers.split(',').filter(|c| *c != "CronJob").collect::<Vec<_>>().join(",");
    let has_cronjob = controllers.contains("CronJob") || controllers.contains("all");
    let mut out = Vec::new();
    for rule in rules {
        if let Some(generated) = controllers_rule(rule, &without_cronjob).and_then(|r| replace_fields(&r, false)) {
            out.push(generated);
        }
        if has_cronjob {
            let name = rule.get("name").and_then(Value::as_str).unwrap_or_default();
            let cron = controllers_rule(rule, &controllers).and_then(|inner| {
                generate_rule(
                    &autogen_name("autogen-cronjob", name),
                    &inner,
                    "jobTemplate",
                    &["CronJob".to_string()],
                    false,
                )
            });
            if let Some(generated) = cron.and_then(|r| replace_fields(&r, true)) {
                out.push(generated);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Value {
        json!({
            "name": "check",
            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
            "preconditions": {"all": [{"key": "{{ request.object.metadata.name }}", "operator": "Equals", "value": "x"}]},
            "validate": {"message": "m {{request.object.spec.x}}", "pattern": {"spec": {"hostNetwork": false}}}
        })
    }

    #[test]
    fn generates_controller_and_cronjob_rules() {
        let out = generate(&[rule()], &BTreeMap::new());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["name"], "autogen-check");
        assert_eq!(out[0]["match"]["any"][0]["resources"]["kinds"].as_array().unwrap().len(), 6);
        assert_eq!(out[0]["validate"]["pattern"], json!({"spec": {"template": {"spec": {"hostNetwork": false}}}}));
        assert_eq!(out[0]["validate"]["message"], "m {{request.object.spec.template.spec.x}}");
        assert_eq!(out[0]["preconditions"]["all"][0]["key"], "{{ request.object.spec.template.metadata.name }}");
        assert_eq!(out[1]["name"], "autogen-cronjob-check");
        assert_eq!(out[1]["match"]["any"][0]["resources"]["kinds"], json!(["CronJob"]));
        assert_eq!(
            out[1]["validate"]["pattern"],
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"hostNetwork": false}}}}}})
        );
    }

    #[test]
    fn honours_the_controllers_annotation_and_blockers() {
        let only = [(CONTROLLERS_ANNOTATION.to_string(), "Deployment".to_string())].into_iter().collect();
        let out = generate(&[rule()], &only);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["match"]["any"][0]["resources"]["kinds"], json!(["Deployment"]));
        let none = [(CONTROLLERS_ANNOTATION.to_string(), "none".to_string())].into_iter().collect();
        assert!(generate(&[rule()], &none).is_empty());
        let mut named = rule();
        named["match"]["any"][0]["resources"]["names"] = json!(["x"]);
        assert!(generate(&[named], &BTreeMap::new()).is_empty());
        let mut mixed = rule();
        mixed["match"]["any"][0]["resources"]["kinds"] = json!(["Pod", "Service"]);
        assert!(generate(&[mixed], &BTreeMap::new()).is_empty());
    }

    #[test]
    fn kind_parts() {
        for (sel, want) in [
            ("Pod", "Pod"),
            ("v1/Pod", "Pod"),
            ("apps/v1/Deployment", "Deployment"),
            ("Pod/exec", "Pod"),
            ("Pod.exec", "Pod"),
        ] {
            assert_eq!(kind_part(sel), want, "{sel}");
        }
    }
}
