//! The Endpoints controller: for every Service with a selector, the IPs of the pods it selects, ready
//! ones under `addresses` and the others under `notReadyAddresses`, with the Service's target ports
//! resolved against the pods' container ports.
use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cache::Entry;
use super::pods::{is_ready, node_name, phase};
use super::selector::map_matches;
use super::{Ctx, api_time};
use crate::store::Kind;

/// Set on the Endpoints this controller writes (as the real one does).
const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

#[derive(Debug, Default)]
pub struct EndpointsController {
    /// Per Service (namespace/name): a digest of the Service's, its Endpoints' and its namespace's pods'
    /// versions at the last sync; unchanged means nothing to do.
    synced: HashMap<String, u64>,
}

fn mix(acc: u64, value: u64) -> u64 {
    (acc ^ value).wrapping_mul(0x0100_0000_01b3).rotate_left(17)
}

impl EndpointsController {
    pub fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let services = ctx.caches.services.list(ctx.store);
        let endpoints = ctx.caches.endpoints.list(ctx.store);
        if services.is_empty() && endpoints.is_empty() {
            return;
        }
        let pods = ctx.caches.pods.list(ctx.store);
        let mut pods_by_namespace: HashMap<&str, Vec<&Entry<Pod>>> = HashMap::new();
        let mut pod_versions: HashMap<&str, u64> = HashMap::new();
        for pod in &pods {
            pods_by_namespace.entry(pod.namespace()).or_default().push(pod);
            let digest = pod_versions.entry(pod.namespace()).or_insert(0xcbf2_9ce4_8422_2325);
            *digest = mix(*digest, pod.object.resource_version);
        }
        let existing: HashMap<(&str, &str), &Entry<k8s_openapi::api::core::v1::Endpoints>> =
            endpoints.iter().map(|e| ((e.namespace(), e.name()), e)).collect();
        for service in &services {
            let selector = service.typed.spec.as_ref().and_then(|s| s.selector.as_ref());
            let Some(selector) = selector.filter(|s| !s.is_empty()) else { continue };
            let current = existing.get(&(service.namespace(), service.name()));
            let key = format!("{}/{}", service.namespace(), service.name());
            let pods_digest = pod_versions.get(service.namespace()).copied().unwrap_or(0);
            let digest = mix(
                mix(pods_digest, service.object.resource_version),
                current.map_or(0, |e| e.object.resource_version),
            );
            if self.synced.get(&key) == Some(&digest) {
                continue;
            }
            let candidates = pods_by_namespace.get(service.namespace()).map(Vec::as_slice).unwrap_or_default();
            let subsets = subsets(&service.typed, selector, candidates);
            if write(ctx, service, current.map(|e| &e.object.value), subsets) {
                // Written: the Endpoints' new version differs; the next tick checks once more.
                self.synced.remove(&key);
            } else {
                self.synced.insert(key, digest);
            }
        }
        if self.synced.len() > services.len() {
            let live: BTreeSet<String> = services.iter().map(|s| format!("{}/{}", s.namespace(), s.name())).collect();
            self.synced.retain(|key, _| live.contains(key));
        }
        // Endpoints this controller made whose Service is gone are deleted; hand-made ones stay.
        let services: BTreeSet<(&str, &str)> = services.iter().map(|s| (s.namespace(), s.name())).collect();
        for endpoint in &endpoints {
            let key = (endpoint.namespace(), endpoint.name());
            let ours = endpoint.typed.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(TRIGGER_TIME));
            if ours && !services.contains(&key) {
                let _ = ctx.store.delete(Kind::Endpoints, Some(endpoint.namespace()), endpoint.name());
            }
        }
    }
}

/// Whether a pod belongs in a Service's endpoints (`ShouldPodBeInEndpoints`).
fn eligible(pod: &Pod, publish_not_ready: bool) -> bool {
    let has_ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).is_some_and(|ip| !ip.is_empty());
    has_ip
        && !matches!(phase(pod), "Succeeded" | "Failed")
        && (pod.metadata.deletion_timestamp.is_none() || publish_not_ready)
}

fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// One subset being built: its ports, then ready and not-ready addresses keyed by IP.
type Group = (Value, Vec<(String, Value)>, Vec<(String, Value)>);

fn subsets(service: &Service, selector: &BTreeMap<String, String>, pods: &[&Entry<Pod>]) -> Value {
    let spec = service.spec.as_ref();
    let publish_not_ready = spec.and_then(|s| s.publish_not_ready_addresses).unwrap_or(false);
    let ports = spec.and_then(|s| s.ports.as_ref()).map(Vec::as_slice).unwrap_or_default();
    // Pods grouped by their resolved port list, as the controller repacks subsets.
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for pod in pods {
        if !map_matches(selector, pod.typed.metadata.labels.as_ref()) || !eligible(&pod.typed, publish_not_ready) {
            continue;
        }
        let mut resolved = Vec::new();
        for port in ports {
            let Some(number) = resolve_port(port, &pod.typed) else { continue };
            let mut entry = json!({"port": number, "protocol": port.protocol.clone().unwrap_or_else(|| "TCP".into())});
            if let Some(name) = port.name.as_ref().filter(|n| !n.is_empty()) {
                entry["name"] = json!(name);
            }
            if let Some(app_protocol) = &port.app_protocol {
                entry["appProtocol"] = json!(app_protocol);
            }
            resolved.push(entry);
        }
        if !ports.is_empty() && resolved.is_empty() {
            continue;
        }
        let ip = pod.typed.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
        let mut address = json!({
            "ip": ip,
            "targetRef": {"kind": "Pod", "namespace": pod.namespace(), "name": pod.name(), "uid": pod.uid()},
        });
        if let Some(node) = node_name(&pod.typed) {
            address["nodeName"] = json!(node);
        }
        let key = serde_json::to_string(&resolved).unwrap_or_default();
        let group = groups.entry(key).or_insert_with(|| (Value::Array(resolved), Vec::new(), Vec::new()));
        if is_ready(&pod.typed) || publish_not_ready {
            group.1.push((ip, address));
        } else {
            group.2.push((ip, address));
        }
    }
    let subsets: Vec<Value> = groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(|a, b| a.0.cmp(&b.0));
            not_ready.sort_by(|a, b| a.0.cmp(&b.0));
            let mut subset = serde_json::Map::new();
            if !ready.is_empty() {
                subset.insert("addresses".into(), Value::Array(ready.into_iter().map(|(_, a)| a).collect()));
            }
            if !not_ready.is_empty() {
                subset
                    .insert("notReadyAddresses".into(), Value::Array(not_ready.into_iter().map(|(_, a)| a).collect()));
            }
            if ports.as_array().is_some_and(|p| !p.is_empty()) {
                subset.insert("ports".into(), ports);
            }
            Value::Object(subset)
        })
        .collect();
    Value::Array(subsets)
}

/// Creates or updates the Endpoints; says whether it wrote anything.
fn write(ctx: &mut Ctx<'_>, service: &Entry<Service>, current: Option<&Value>, subsets: Value) -> bool {
    let labels = service.object.value.pointer("/metadata/labels").cloned();
    let empty = subsets.as_array().is_none_or(Vec::is_empty);
    match current {
        Some(current) => {
            let current_subsets = current.get("subsets").cloned().unwrap_or_else(|| json!([]));
            let current_labels = current.pointer("/metadata/labels").cloned();
            if current_subsets == subsets && current_labels == labels {
                return false;
            }
            let now = api_time(ctx.now);
            let _ = ctx.store.modify(Kind::Endpoints, Some(service.namespace()), service.name(), |object| {
                object["metadata"]["annotations"][TRIGGER_TIME] = json!(now);
                if empty {
                    object.as_object_mut().map(|o| o.remove("subsets"));
                } else {
                    object["subsets"] = subsets;
                }
                if let Some(labels) = labels {
                    object["metadata"]["labels"] = labels;
                }
                Ok(())
            });
            true
        }
        None => {
            let mut object = json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": service.name(),
                    "namespace": service.namespace(),
                    "annotations": {TRIGGER_TIME: api_time(ctx.now)},
                },
            });
            if let Some(labels) = labels {
                object["metadata"]["labels"] = labels;
            }
            if !empty {
                object["subsets"] = subsets;
            }
            let _ = ctx.store.create(Kind::Endpoints, object);
            true
        }
    }
}
