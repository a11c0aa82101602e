//! What the application model knows of the cluster around the processes, read from the store the
//! way kube-proxy, CoreDNS and the CNI would: Service ClusterIPs and ready endpoints, pod IPs and
//! labels, node readiness, NetworkPolicies.
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

use super::netpol::{Labels, NetworkPolicies, Peer};
use crate::store::{Kind, Store};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceInfo {
    pub cluster_ip: String,
    pub ports: Vec<u16>,
    /// Names of the pods in the Service's ready endpoints.
    pub ready_pods: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodInfo {
    pub uid: String,
    pub ip: Option<Ipv4Addr>,
    pub node: Option<String>,
    pub labels: Labels,
    pub terminating: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Keyed `(namespace, name)`.
    pub services: HashMap<(String, String), ServiceInfo>,
    pub pods: HashMap<(String, String), PodInfo>,
    /// Nodes whose Ready condition is not True.
    pub nodes_not_ready: BTreeSet<String>,
    pub policies: NetworkPolicies,
    /// The store revision this view was read at.
    pub revision: u64,
}

fn labels_of(value: &Value) -> Labels {
    value
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

impl ClusterView {
    /// Read the view from the store, unless nothing changed since `self` was read.
    pub fn refresh(&mut self, store: &Store) {
        let revision = store.revision();
        if revision == self.revision && revision != 0 {
            return;
        }
        *self = Self::read(store);
    }

    pub fn read(store: &Store) -> ClusterView {
        let revision = store.revision();
        let mut view = ClusterView { revision, ..Default::default() };
        let (services, _) = store.list(Kind::Service, None);
        for service in &services {
            let v = &service.value;
            let key = (service.namespace().unwrap_or_default().to_string(), service.name().to_string());
            let ports = v
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|p| p.iter().filter_map(|p| p.get("port")?.as_u64().map(|n| n as u16)).collect())
                .unwrap_or_default();
            let cluster_ip = str_at(v, "/spec/clusterIP").unwrap_or_default().to_string();
            view.services.insert(key, ServiceInfo { cluster_ip, ports, ready_pods: BTreeSet::new() });
        }
        let (endpoints, _) = store.list(Kind::Endpoints, None);
        for endpoint in &endpoints {
            let key = (endpoint.namespace().unwrap_or_default().to_string(), endpoint.name().to_string());
            let Some(service) = view.services.get_mut(&key) else { continue };
            for subset in endpoint.value.get("subsets").and_then(Value::as_array).into_iter().flatten() {
                for address in subset.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(name) = str_at(address, "/targetRef/name") {
                        service.ready_pods.insert(name.to_string());
                    }
                }
            }
        }
        let (pods, _) = store.list(Kind::Pod, None);
        for pod in &pods {
            let v = &pod.value;
            let key = (pod.namespace().unwrap_or_default().to_string(), pod.name().to_string());
            view.pods.insert(
                key,
                PodInfo {
                    uid: pod.uid().to_string(),
                    ip: str_at(v, "/status/podIP").and_then(|ip| ip.parse().ok()),
                    node: str_at(v, "/spec/nodeName").map(String::from),
                    labels: labels_of(v),
                    terminating: pod.is_terminating(),
                },
            );
        }
        let (nodes, _) = store.list(Kind::Node, None);
        for node in &nodes {
            let ready = node
                .value
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready")))
                .and_then(|c| c.get("status"))
                .and_then(Value::as_str)
                == Some("True");
            if !ready {
                view.nodes_not_ready.insert(node.name().to_string());
            }
        }
        let (policies, _) = store.list(Kind::NetworkPolicy, None);
        if !policies.is_empty() {
            let (namespaces, _) = store.list(Kind::Namespace, None);
            view.policies =
                NetworkPolicies::new(policies.iter().map(|p| &p.value), namespaces.iter().map(|n| &n.value));
        }
        view
    }

    /// Resolve a host name as CoreDNS would for a pod in `namespace`: `svc`, `svc.ns`, `svc.ns.svc`,
    /// `svc.ns.svc.cluster.local`. Returns the Service's `(namespace, name)`.
    pub fn resolve(&self, namespace: &str, host: &str) -> Option<(String, String)> {
        let host = host.trim_end_matches('.');
        let parts: Vec<&str> = host.split('.').collect();
        let key = match parts.as_slice() {
            [name] => (namespace.to_string(), name.to_string()),
            [name, ns] | [name, ns, "svc"] | [name, ns, "svc", "cluster", "local"] => {
                (ns.to_string(), name.to_string())
            }
            _ => return None,
        };
        self.services.contains_key(&key).then_some(key)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceInfo> {
        self.services.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        self.pods.get(&(namespace.to_string(), name.to_string()))
    }

    /// Whether NetworkPolicies let pod `from` connect to pod `to` on `port`.
    pub fn policy_allows(&self, from: (&str, &str), to: (&str, &str), port: u16) -> bool {
        if self.policies.is_empty() {
            return true;
        }
        let (Some(a), Some(b)) = (self.pod(from.0, from.1), self.pod(to.0, to.1)) else { return true };
        self.policies.allows(
            &Peer { namespace: from.0, labels: &a.labels, ip: a.ip },
            &Peer { namespace: to.0, labels: &b.labels, ip: b.ip },
            Some(port),
        )
    }

    /// Whether NetworkPolicies let pod `from` reach an address outside the cluster.
    pub fn policy_allows_external(&self, from: (&str, &str), ip: Ipv4Addr, port: Option<u16>) -> bool {
        if self.policies.is_empty() {
            return true;
        }
        let Some(pod) = self.pod(from.0, from.1) else { return true };
        self.policies.allows_external(&Peer { namespace: from.0, labels: &pod.labels, ip: pod.ip }, ip, port)
    }

    /// Pods per node name, for the lookups of node failure.
    pub fn pods_by_node(&self) -> BTreeMap<&str, Vec<(&str, &str)>> {
        let mut map: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for ((ns, name), pod) in &self.pods {
            if let Some(node) = &pod.node {
                map.entry(node.as_str()).or_default().push((ns.as_str(), name.as_str()));
            }
        }
        map
    }
}
