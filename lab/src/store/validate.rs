//! Validation of written objects: the checks whose 422 answers users meet most (names, containers,
//! selectors matching templates, replicas).
use serde_json::Value;

use super::Kind;
use crate::error::{Cause, Error, Result};

/// Check `object` (already defaulted) as the API server would before storing it.
pub(super) fn check(kind: Kind, object: &Value) -> Result<()> {
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let mut causes = Vec::new();
    if let Some(message) = name_problem(kind, name) {
        causes.push(Cause::invalid("metadata.name", message));
    }
    check_labels(object.pointer("/metadata/labels"), "metadata.labels", &mut causes);
    match kind {
        Kind::Pod => pod_spec(object.get("spec"), "spec", &mut causes),
        Kind::Deployment | Kind::ReplicaSet => {
            let spec = object.get("spec");
            pod_spec(spec.and_then(|s| s.pointer("/template/spec")), "spec.template.spec", &mut causes);
            replicas(spec, &mut causes);
            selector_matches_template(spec, &mut causes);
        }
        Kind::Service => {
            let ports = object.pointer("/spec/ports").and_then(Value::as_array);
            for (i, port) in ports.into_iter().flatten().enumerate() {
                let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&number) {
                    causes.push(Cause::invalid(
                        format!("spec.ports[{i}].port"),
                        format!("Invalid value: {number}: must be between 1 and 65535, inclusive"),
                    ));
                }
            }
        }
        _ => {}
    }
    if causes.is_empty() { Ok(()) } else { Err(Error::invalid(kind, name, causes)) }
}

/// Why `name` is not a valid name for `kind`, in the API server's words.
pub(super) fn name_problem(kind: Kind, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("Required value: name or generateName is required".into());
    }
    // Namespaces and services are DNS-1123 labels; the rest are DNS-1123 subdomains.
    let label_only = matches!(kind, Kind::Namespace | Kind::Service);
    let max = if label_only { 63 } else { 253 };
    let valid_part = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && part.as_bytes()[0].is_ascii_alphanumeric()
            && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
    };
    let valid = name.len() <= max
        && if label_only { valid_part(name) } else { name.split('.').all(|p| valid_part(p) && p.len() <= 63) };
    if valid {
        return None;
    }
    let what = if label_only { "RFC 1123 label" } else { "RFC 1123 subdomain" };
    Some(format!(
        "Invalid value: \"{name}\": a lowercase {what} must consist of lower case alphanumeric characters, '-' \
         or '.', and must start and end with an alphanumeric character"
    ))
}

fn check_labels(labels: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(labels) = labels else { return };
    let Some(labels) = labels.as_object() else {
        causes.push(Cause::invalid(field, "must be a map of strings"));
        return;
    };
    for (key, value) in labels {
        let Some(value) = value.as_str() else {
            causes.push(Cause::invalid(format!("{field}.{key}"), "Invalid value: must be a string"));
            continue;
        };
        let ok = value.len() <= 63
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
            && value.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric());
        if !ok {
            causes.push(Cause::invalid(
                field,
                format!(
                    "Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric \
                     characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
    }
}

fn pod_spec(spec: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(Cause::required(format!("{field}.containers")));
        return;
    };
    let mut seen = Vec::new();
    for (i, container) in containers.iter().enumerate() {
        let name = container.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            causes.push(Cause::required(format!("{field}.containers[{i}].name")));
        } else if seen.contains(&name) {
            causes.push(Cause {
                reason: "FieldValueDuplicate",
                field: format!("{field}.containers[{i}].name"),
                message: format!("Duplicate value: \"{name}\""),
            });
        }
        seen.push(name);
        if container.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
            causes.push(Cause::required(format!("{field}.containers[{i}].image")));
        }
    }
}

fn replicas(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    if let Some(replicas) = spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64).filter(|r| *r < 0) {
        causes.push(Cause::invalid(
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
}

fn selector_matches_template(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let Some(selector) = spec.and_then(|s| s.get("selector")) else {
        causes.push(Cause::required("spec.selector"));
        return;
    };
    let labels = spec.and_then(|s| s.pointer("/template/metadata/labels"));
    let selector = match crate::api::selector::LabelSelector::from_json(selector) {
        Ok(selector) => selector,
        Err(message) => {
            causes.push(Cause::invalid("spec.selector", message));
            return;
        }
    };
    if selector.is_empty() {
        causes
            .push(Cause::invalid("spec.selector", "Invalid value: \"null\": empty selector is invalid for deployment"));
    } else if !selector.matches_json(labels) {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_dns_rules() {
        assert_eq!(name_problem(Kind::Pod, "cart-7d9f-x2b4z"), None);
        assert_eq!(name_problem(Kind::ConfigMap, "kube-root-ca.crt"), None);
        assert!(name_problem(Kind::Pod, "Cart").is_some());
        assert!(name_problem(Kind::Namespace, "a.b").is_some());
        assert!(name_problem(Kind::Pod, "-a").is_some());
        assert!(name_problem(Kind::Pod, "").is_some());
    }

    #[test]
    fn invalid_deployments_list_every_cause() {
        let deployment = json!({"metadata": {"name": "web"}, "spec": {
            "replicas": -1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "a"}]}}}});
        let Err(Error::Invalid { causes, .. }) = check(Kind::Deployment, &deployment) else { panic!("valid") };
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.template.spec.containers[0].image", "spec.replicas", "spec.template.metadata.labels"]
        );
    }
}
