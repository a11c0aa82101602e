//! References to cluster objects: what a hypothesis localises to and what an action touches.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Pod,
    Node,
    Service,
    Namespace,
    NetworkPolicy,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Deployment => "Deployment",
            ObjectKind::StatefulSet => "StatefulSet",
            ObjectKind::DaemonSet => "DaemonSet",
            ObjectKind::ReplicaSet => "ReplicaSet",
            ObjectKind::Pod => "Pod",
            ObjectKind::Node => "Node",
            ObjectKind::Service => "Service",
            ObjectKind::Namespace => "Namespace",
            ObjectKind::NetworkPolicy => "NetworkPolicy",
        }
    }

    /// Cluster-scoped kinds have no namespace.
    pub fn is_cluster_scoped(self) -> bool {
        matches!(self, ObjectKind::Node | ObjectKind::Namespace)
    }
}

impl FromStr for ObjectKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "deployment" | "deploy" | "deployments" => ObjectKind::Deployment,
            "statefulset" | "sts" | "statefulsets" => ObjectKind::StatefulSet,
            "daemonset" | "ds" | "daemonsets" => ObjectKind::DaemonSet,
            "replicaset" | "rs" | "replicasets" => ObjectKind::ReplicaSet,
            "pod" | "po" | "pods" => ObjectKind::Pod,
            "node" | "no" | "nodes" => ObjectKind::Node,
            "service" | "svc" | "services" => ObjectKind::Service,
            "namespace" | "ns" | "namespaces" => ObjectKind::Namespace,
            "networkpolicy" | "netpol" | "networkpolicies" => ObjectKind::NetworkPolicy,
            _ => return Err(Error::UnknownObjectKind(s.to_string())),
        })
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cluster object by kind, namespace and name. Displayed as `Kind/namespace/name` (`Node/name` when
/// cluster-scoped), which is also the form it parses from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: ObjectKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { kind, namespace: Some(namespace.into()), name: name.into() }
    }
    pub fn deployment(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(ObjectKind::Deployment, namespace, name)
    }
    pub fn pod(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(ObjectKind::Pod, namespace, name)
    }
    pub fn node(name: impl Into<String>) -> Self {
        Self { kind: ObjectKind::Node, namespace: None, name: name.into() }
    }
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl FromStr for ObjectRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let invalid = || Error::InvalidObjectRef(s.to_string());
        match parts.as_slice() {
            [kind, name] if !name.is_empty() => {
                let kind: ObjectKind = kind.parse()?;
                if !kind.is_cluster_scoped() {
                    return Err(invalid());
                }
                Ok(Self { kind, namespace: None, name: (*name).to_string() })
            }
            [kind, ns, name] if !ns.is_empty() && !name.is_empty() => Ok(Self::new(kind.parse()?, *ns, *name)),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_round_trip_through_text() {
        for text in ["Deployment/shop/cart", "Node/node-1", "Pod/default/web-abc"] {
            let parsed: ObjectRef = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!("deploy/shop/cart".parse::<ObjectRef>().unwrap(), ObjectRef::deployment("shop", "cart"));
    }

    #[test]
    fn namespaced_kinds_need_a_namespace() {
        assert!("Deployment/cart".parse::<ObjectRef>().is_err());
        assert!("Widget/x/y".parse::<ObjectRef>().is_err());
        assert!("Deployment//cart".parse::<ObjectRef>().is_err());
    }
}
