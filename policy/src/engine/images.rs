//! The `images` context variable: every container image of a Pod or pod template, parsed into registry,
//! path, name, tag and digest (Kyverno's `images.containers.<name>.registry` and friends).
use serde_json::{Map, Value, json};

/// Parses an image reference the way Kyverno's image utils do (Docker Hub defaults, `latest` tag).
pub fn image_info(image: &str) -> Value {
    let (name_part, digest) = match image.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => (image, String::new()),
    };
    let last_slash = name_part.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name_part[last_slash..].rfind(':') {
        Some(i) => (&name_part[..last_slash + i], name_part[last_slash + i + 1..].to_string()),
        None => (name_part, String::new()),
    };
    let first = repo.split('/').next().unwrap_or("");
    let (registry, path) = if repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        (first.to_string(), repo[first.len() + 1..].to_string())
    } else if repo.contains('/') {
        ("docker.io".to_string(), repo.to_string())
    } else {
        ("docker.io".to_string(), format!("library/{repo}"))
    };
    let tag = if tag.is_empty() && digest.is_empty() { "latest".to_string() } else { tag };
    let name = path.rsplit('/').next().unwrap_or("").to_string();
    let base = format!("{registry}/{path}");
    let reference = if !digest.is_empty() { format!("{base}@{digest}") } else { format!("{base}:{tag}") };
    let reference_with_tag = if tag.is_empty() { base.clone() } else { format!("{base}:{tag}") };
    let mut m = Map::new();
    m.insert("registry".into(), json!(registry));
    m.insert("path".into(), json!(path));
    m.insert("name".into(), json!(name));
    m.insert("tag".into(), json!(tag));
    if !digest.is_empty() {
        m.insert("digest".into(), json!(digest));
    }
    m.insert("reference".into(), json!(reference));
    m.insert("referenceWithTag".into(), json!(reference_with_tag));
    Value::Object(m)
}

/// The pod spec of a Pod, a pod controller's template, or a CronJob's job template.
fn pod_spec(resource: &Value) -> Option<&Value> {
    match resource.get("kind").and_then(Value::as_str)? {
        "Pod" => resource.get("spec"),
        "CronJob" => resource.pointer("/spec/jobTemplate/spec/template/spec"),
        "Deployment" | "DaemonSet" | "StatefulSet" | "ReplicaSet" | "Job" | "ReplicationController" => {
            resource.pointer("/spec/template/spec")
        }
        _ => None,
    }
}

/// `{containers: {name: info}, initContainers: ..., ephemeralContainers: ...}`, or `None` without images.
pub fn images(resource: &Value) -> Option<Value> {
    let spec = pod_spec(resource)?;
    let mut out = Map::new();
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(Value::Array(items)) = spec.get(key) else { continue };
        let mut group = Map::new();
        for c in items {
            if let (Some(name), Some(image)) =
                (c.get("name").and_then(Value::as_str), c.get("image").and_then(Value::as_str))
            {
                group.insert(name.to_string(), image_info(image));
            }
        }
        if !group.is_empty() {
            out.insert(key.to_string(), Value::Object(group));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let i = image_info("nginx");
        assert_eq!(i["registry"], "docker.io");
        assert_eq!(i["path"], "library/nginx");
        assert_eq!(i["tag"], "latest");
        assert_eq!(i["reference"], "docker.io/library/nginx:latest");
        let i = image_info("ghcr.io/org/app:1.2@sha256:abc");
        assert_eq!(i["registry"], "ghcr.io");
        assert_eq!(i["path"], "org/app");
        assert_eq!(i["name"], "app");
        assert_eq!(i["tag"], "1.2");
        assert_eq!(i["digest"], "sha256:abc");
        let i = image_info("localhost:5000/app");
        assert_eq!(i["registry"], "localhost:5000");
    }
}
