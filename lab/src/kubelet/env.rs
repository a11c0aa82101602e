//! A container's environment as the kubelet builds it: literal values, ConfigMap keys and whole
//! ConfigMaps, and the downward API fields. A missing ConfigMap, key or Secret is the
//! `CreateContainerConfigError` the kubelet reports with the same message.
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// ConfigMaps by `(namespace, name)`.
pub type ConfigMaps = HashMap<(String, String), Arc<ConfigMap>>;

fn config_map<'a>(maps: &'a ConfigMaps, namespace: &str, name: &str) -> Option<&'a ConfigMap> {
    maps.get(&(namespace.to_string(), name.to_string())).map(Arc::as_ref)
}

fn field(pod: &Pod, path: &str, pod_ip: &str) -> Option<String> {
    let meta = &pod.metadata;
    match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => pod.spec.as_ref().and_then(|s| s.service_account_name.clone()),
        "status.podIP" => Some(pod_ip.to_string()),
        other => {
            let key = other.strip_prefix("metadata.labels['")?.strip_suffix("']")?;
            meta.labels.as_ref()?.get(key).cloned()
        }
    }
}

/// The resolved environment, or the kubelet's error message.
pub fn resolve(
    container: &Container,
    pod: &Pod,
    maps: &ConfigMaps,
    pod_ip: &str,
) -> Result<BTreeMap<String, String>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut env = BTreeMap::new();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.as_deref().unwrap_or_default();
        if let Some(reference) = &source.config_map_ref {
            match config_map(maps, namespace, &reference.name) {
                Some(map) => {
                    for (key, value) in map.data.iter().flatten() {
                        env.insert(format!("{prefix}{key}"), value.clone());
                    }
                }
                None if reference.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", reference.name)),
            }
        }
        if let Some(reference) = &source.secret_ref
            && reference.optional != Some(true)
        {
            return Err(format!("secret \"{}\" not found", reference.name));
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = &var.value {
            env.insert(var.name.clone(), value.clone());
            continue;
        }
        let Some(source) = &var.value_from else {
            env.insert(var.name.clone(), String::new());
            continue;
        };
        if let Some(selector) = &source.config_map_key_ref {
            let optional = selector.optional == Some(true);
            match config_map(maps, namespace, &selector.name) {
                Some(map) => match map.data.as_ref().and_then(|d| d.get(&selector.key)) {
                    Some(value) => {
                        env.insert(var.name.clone(), value.clone());
                    }
                    None if optional => {}
                    None => {
                        return Err(format!(
                            "couldn't find key {} in ConfigMap {namespace}/{}",
                            selector.key, selector.name
                        ));
                    }
                },
                None if optional => {}
                None => return Err(format!("configmap \"{}\" not found", selector.name)),
            }
        } else if let Some(selector) = &source.secret_key_ref {
            if selector.optional != Some(true) {
                return Err(format!("secret \"{}\" not found", selector.name));
            }
        } else if let Some(selector) = &source.field_ref
            && let Some(value) = field(pod, &selector.field_path, pod_ip)
        {
            env.insert(var.name.clone(), value);
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "cart-1", "namespace": "shop", "labels": {"app": "cart"}},
            "spec": {"nodeName": "node-1", "containers": []},
        }))
        .unwrap()
    }

    fn container(env: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": "app", "image": "cart:1", "env": env})).unwrap()
    }

    #[test]
    fn environment_resolves_config_maps_and_fields() {
        let map: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "cart"}, "data": {"POOL": "10"}})).unwrap();
        let maps: ConfigMaps = [(("shop".to_string(), "cart".to_string()), Arc::new(map))].into();
        let c = container(json!([
            {"name": "A", "value": "1"},
            {"name": "POOL", "valueFrom": {"configMapKeyRef": {"name": "cart", "key": "POOL"}}},
            {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        ]));
        let env = resolve(&c, &pod(), &maps, "10.244.1.5").unwrap();
        assert_eq!(env["A"], "1");
        assert_eq!(env["POOL"], "10");
        assert_eq!(env["ME"], "cart-1");
        assert_eq!(env["IP"], "10.244.1.5");
        assert_eq!(env["APP"], "cart");
    }

    #[test]
    fn missing_references_are_config_errors() {
        let maps = ConfigMaps::new();
        let c = container(json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]));
        assert_eq!(resolve(&c, &pod(), &maps, "ip"), Err("configmap \"absent\" not found".into()));
        let optional = container(
            json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": true}}}]),
        );
        assert_eq!(resolve(&optional, &pod(), &maps, "ip"), Ok(BTreeMap::new()));
        let secret =
            container(json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]));
        assert_eq!(resolve(&secret, &pod(), &maps, "ip"), Err("secret \"db\" not found".into()));
    }
}
