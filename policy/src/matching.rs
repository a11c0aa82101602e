//! `match` / `exclude` (Kyverno's pkg/engine/utils/match.go): kinds with group/version/subresource and
//! wildcards, names, namespaces, annotations, selectors, namespace selectors, operations and user info.
use crate::policy::{MatchResources, ResourceFilter, Rule};
use crate::selector::{labels_of, string_map};
use crate::wildcard;
use serde_json::Value;
use std::collections::BTreeMap;

/// Who made the request: roles and cluster roles bound to the user, and the user itself.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub cluster_roles: Vec<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn is_empty(&self) -> bool {
        *self == UserInfo::default()
    }
}

/// The resource under evaluation, with the facts matching needs extracted once (borrowed, no copies).
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub object: &'a Value,
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
}

/// (group, version) of an `apiVersion`.
pub fn split_api_version(api: &str) -> (&str, &str) {
    match api.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api),
    }
}

impl<'a> Target<'a> {
    pub fn new(object: &'a Value, subresource: &'a str) -> Self {
        let api = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let (group, version) = split_api_version(api);
        let str_at = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
        let mut name = str_at("/metadata/name");
        if name.is_empty() {
            name = str_at("/metadata/generateName");
        }
        Target {
            object,
            group,
            version,
            kind: object.get("kind").and_then(Value::as_str).unwrap_or(""),
            subresource,
            name,
            namespace: str_at("/metadata/namespace"),
        }
    }

    /// The same object seen as its parent kind (a `Scale` payload checked as its `Deployment`).
    pub fn as_kind(mut self, api_version: &'a str, kind: &'a str) -> Self {
        let (group, version) = split_api_version(api_version);
        self.group = group;
        self.version = version;
        self.kind = kind;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.object.as_object().is_none_or(|m| m.is_empty())
    }
}

/// What matching needs besides the resource.
#[derive(Debug, Clone, Copy)]
pub struct MatchEnv<'a> {
    pub operation: &'a str,
    pub user: &'a UserInfo,
    pub namespace_labels: &'a BTreeMap<String, String>,
}

/// `v1`, `v1beta1`, `v2alpha3` ...
pub fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else { return false };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    if tail.is_empty() {
        return true;
    }
    for stage in ["alpha", "beta"] {
        if let Some(n) = tail.strip_prefix(stage) {
            return !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
        }
    }
    false
}

/// Kyverno's `ParseKindSelector`: (group, version, kind, subresource).
pub fn parse_kind_selector(input: &str) -> (String, String, String, String) {
    let mut parts: Vec<String> = input.split('/').map(str::to_string).collect();
    if let Some(last) = parts.pop() {
        parts.extend(last.split('.').map(str::to_string));
    }
    let s = |x: &str| x.to_string();
    match parts.len() {
        1 => (s("*"), s("*"), parts[0].clone(), String::new()),
        2 => {
            if parts[0] == "*" && parts[1] == "*" {
                (s("*"), s("*"), s("*"), s("*"))
            } else if parts[0] == "*" && parts[1].to_lowercase() == parts[1] {
                (s("*"), s("*"), parts[0].clone(), parts[1].clone())
            } else if is_version(&parts[0]) || parts[0] == "*" {
                (s("*"), parts[0].clone(), parts[1].clone(), String::new())
            } else {
                (s("*"), s("*"), parts[0].clone(), parts[1].clone())
            }
        }
        3 => {
            if is_version(&parts[0]) || parts[0] == "*" {
                (s("*"), parts[0].clone(), parts[1].clone(), parts[2].clone())
            } else {
                (parts[0].clone(), parts[1].clone(), parts[2].clone(), String::new())
            }
        }
        4 => (parts[0].clone(), parts[1].clone(), parts[2].clone(), parts[3].clone()),
        _ => (String::new(), String::new(), String::new(), String::new()),
    }
}

fn kind_matches(kinds: &[(String, String, String, String)], t: &Target<'_>) -> bool {
    kinds.iter().any(|(g, v, kind, sub)| {
        wildcard::matches(g, t.group)
            && wildcard::matches(v, t.version)
            && wildcard::matches(kind, t.kind)
            && (wildcard::matches(sub, t.subresource)
                || (t.group.is_empty()
                    && t.version == "v1"
                    && t.kind == "Pod"
                    && t.subresource == "ephemeralcontainers"))
    })
}

fn subjects_match(f: &ResourceFilter, user: &UserInfo) -> bool {
    f.subjects.iter().any(|s| match s.kind.as_str() {
        "ServiceAccount" => {
            wildcard::matches(&format!("system:serviceaccount:{}:{}", s.namespace, s.name), &user.username)
        }
        "Group" => user.groups.iter().any(|g| wildcard::matches(&s.name, g)),
        "User" => wildcard::matches(&s.name, &user.username),
        _ => false,
    })
}

/// Whether every criterion of one filter holds (Kyverno's `doesResourceMatchConditionBlock` without errors).
fn filter_holds(f: &ResourceFilter, t: &Target<'_>, env: &MatchEnv<'_>, with_user: bool) -> bool {
    if !f.operations.is_empty() && !f.operations.iter().any(|o| o == env.operation) {
        return false;
    }
    if !f.kinds.is_empty() && !kind_matches(&f.kind_selectors, t) {
        return false;
    }
    if let Some(name) = f.name.as_deref().filter(|n| !n.is_empty())
        && !wildcard::matches(name, t.name)
    {
        return false;
    }
    if !f.names.is_empty() && !f.names.iter().any(|n| wildcard::matches(n, t.name)) {
        return false;
    }
    if !f.namespaces.is_empty() {
        let ns = if t.kind == "Namespace" { t.name } else { t.namespace };
        if !f.namespaces.iter().any(|n| wildcard::matches(n, ns)) {
            return false;
        }
    }
    if !f.annotations.is_empty() {
        let actual = string_map(t.object.pointer("/metadata/annotations"));
        let ok = f
            .annotations
            .iter()
            .all(|(k, v)| actual.iter().any(|(k1, v1)| wildcard::matches(k, k1) && wildcard::matches(v, v1)));
        if !ok {
            return false;
        }
    }
    if let Some(sel) = &f.selector
        && !sel.matches(&labels_of(t.object))
    {
        return false;
    }
    if let Some(sel) = &f.namespace_selector {
        if t.kind == "Namespace" {
            return false;
        }
        if !t.kind.is_empty() && !sel.matches(env.namespace_labels) {
            return false;
        }
    }
    if with_user {
        if !f.roles.is_empty() && !env.user.roles.iter().any(|r| f.roles.contains(r)) {
            return false;
        }
        if !f.cluster_roles.is_empty() && !env.user.cluster_roles.iter().any(|r| f.cluster_roles.contains(r)) {
            return false;
        }
        if !f.subjects.is_empty() && !subjects_match(f, env.user) {
            return false;
        }
    }
    true
}

fn match_filter(f: &ResourceFilter, t: &Target<'_>, env: &MatchEnv<'_>) -> bool {
    // Without admission info, user criteria in a match are ignored.
    let with_user = !env.user.is_empty();
    if !(f.has_resource_description() || with_user && f.has_user_info()) {
        return false; // "match cannot be empty"
    }
    filter_holds(f, t, env, with_user)
}

fn exclude_filter(f: &ResourceFilter, t: &Target<'_>, env: &MatchEnv<'_>) -> bool {
    if !f.has_resource_description() && !f.has_user_info() {
        return false;
    }
    filter_holds(f, t, env, true)
}

fn matches_block(m: &MatchResources, t: &Target<'_>, env: &MatchEnv<'_>) -> bool {
    if !m.any.is_empty() {
        m.any.iter().any(|f| match_filter(f, t, env))
    } else if !m.all.is_empty() {
        m.all.iter().all(|f| match_filter(f, t, env))
    } else {
        match_filter(&m.single, t, env)
    }
}

fn excluded_by(m: &MatchResources, t: &Target<'_>, env: &MatchEnv<'_>) -> bool {
    if !m.any.is_empty() {
        m.any.iter().any(|f| exclude_filter(f, t, env))
    } else if !m.all.is_empty() {
        m.all.iter().all(|f| exclude_filter(f, t, env))
    } else {
        exclude_filter(&m.single, t, env)
    }
}

/// Kyverno's `MatchesResourceDescription` for one resource.
pub fn resource_matches(rule: &Rule, t: &Target<'_>, env: &MatchEnv<'_>, policy_namespace: Option<&str>) -> bool {
    if t.object.is_null() {
        return false;
    }
    if let Some(ns) = policy_namespace.filter(|ns| !ns.is_empty())
        && ns != t.namespace
    {
        return false;
    }
    if !matches_block(&rule.matches, t, env) {
        return false;
    }
    !rule.exclude.as_ref().is_some_and(|ex| excluded_by(ex, t, env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_rule;
    use serde_json::json;

    fn check(rule: Value, object: Value, operation: &str) -> bool {
        let rule = parse_rule(&rule, "rule").unwrap();
        let user = UserInfo::default();
        let ns_labels: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into_iter().collect();
        let env = MatchEnv { operation, user: &user, namespace_labels: &ns_labels };
        resource_matches(&rule, &Target::new(&object, ""), &env, None)
    }

    fn rule(m: Value) -> Value {
        json!({"name": "r", "match": m, "validate": {"pattern": {}}})
    }

    #[test]
    fn match_table() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}, "annotations": {"team": "a"}}});
        let deploy =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}});
        let cases: Vec<(Value, &Value, bool)> = vec![
            (json!({"any": [{"resources": {"kinds": ["Pod"]}}]}), &pod, true),
            (json!({"any": [{"resources": {"kinds": ["Deployment"]}}]}), &pod, false),
            (json!({"resources": {"kinds": ["v1/Pod"]}}), &pod, true),
            (json!({"resources": {"kinds": ["apps/v1/Deployment"]}}), &deploy, true),
            (json!({"resources": {"kinds": ["apps/*/Deployment"]}}), &deploy, true),
            (json!({"resources": {"kinds": ["batch/*/Deployment"]}}), &deploy, false),
            (json!({"resources": {"kinds": ["*"]}}), &deploy, true),
            (json!({"resources": {"kinds": ["Pod/exec"]}}), &pod, false),
            (json!({"any": [{"resources": {"kinds": ["Pod"], "names": ["web-*"]}}]}), &pod, true),
            (json!({"any": [{"resources": {"kinds": ["Pod"], "namespaces": ["kube-*"]}}]}), &pod, false),
            (
                json!({"any": [{"resources": {"kinds": ["Pod"], "selector": {"matchLabels": {"app": "web"}}}}]}),
                &pod,
                true,
            ),
            (json!({"any": [{"resources": {"kinds": ["Pod"], "annotations": {"te*": "a"}}}]}), &pod, true),
            (
                json!({"any": [{"resources": {"kinds": ["Pod"], "namespaceSelector": {"matchLabels": {"env": "prod"}}}}]}),
                &pod,
                true,
            ),
            (
                json!({"any": [{"resources": {"kinds": ["Pod"], "namespaceSelector": {"matchLabels": {"env": "dev"}}}}]}),
                &pod,
                false,
            ),
            (json!({"any": [{"resources": {"kinds": ["Pod"], "operations": ["UPDATE"]}}]}), &pod, false),
            (json!({"all": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"names": ["x"]}}]}), &pod, false),
            (json!({"any": [{}]}), &pod, false),
            (json!({"any": [{"clusterRoles": ["admin"]}]}), &pod, false),
        ];
        for (m, object, want) in cases {
            assert_eq!(check(rule(m.clone()), object.clone(), "CREATE"), want, "{m}");
        }
    }

    #[test]
    fn exclude_table() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "kube-system"}});
        let base = json!({"any": [{"resources": {"kinds": ["Pod"]}}]});
        let cases = [
            (json!({"any": [{"resources": {"namespaces": ["kube-system"]}}]}), false),
            (json!({"any": [{"resources": {"namespaces": ["default"]}}]}), true),
            (json!({"all": [{"resources": {"namespaces": ["kube-system"]}}, {"resources": {"names": ["q"]}}]}), true),
            (json!({"any": [{"clusterRoles": ["cluster-admin"]}]}), true),
        ];
        for (ex, want) in cases {
            let mut r = rule(base.clone());
            r["exclude"] = ex.clone();
            assert_eq!(check(r, pod.clone(), "CREATE"), want, "{ex}");
        }
    }

    #[test]
    fn kind_selectors() {
        let s = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
        assert_eq!(parse_kind_selector("Pod"), s("*", "*", "Pod", ""));
        assert_eq!(parse_kind_selector("v1/Pod"), s("*", "v1", "Pod", ""));
        assert_eq!(parse_kind_selector("Pod/exec"), s("*", "*", "Pod", "exec"));
        assert_eq!(parse_kind_selector("Pod.exec"), s("*", "*", "Pod", "exec"));
        assert_eq!(parse_kind_selector("apps/v1/Deployment"), s("apps", "v1", "Deployment", ""));
        assert_eq!(parse_kind_selector("apps/v1/Deployment/scale"), s("apps", "v1", "Deployment", "scale"));
        assert_eq!(parse_kind_selector("*/*"), s("*", "*", "*", "*"));
        assert_eq!(parse_kind_selector("networking.k8s.io/v1/Ingress"), s("networking.k8s.io", "v1", "Ingress", ""));
        assert!(is_version("v1beta1") && is_version("v2") && !is_version("apps") && !is_version("v1x"));
    }
}
