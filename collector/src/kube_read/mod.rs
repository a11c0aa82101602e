//! The kube-rs adapter of the read-only [`ClusterRead`] port.
//!
//! Every method is one request (two or three concurrent ones for services), never a request per object:
//! owners are read from owner references and the `pod-template-hash` label, lists are filtered on the server
//! with label and field selectors. Architecture invariant: this module only reads (get, list, log).
mod convert;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Event, Node, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};
use medic_core::context::{
    EventSnapshot, NetworkPolicySnapshot, NodeSnapshot, PodSnapshot, RolloutSnapshot, ServiceSnapshot, WorkloadSnapshot,
};
use medic_core::ports::{ClusterRead, Labels};
use medic_core::{Error as PortError, Result as PortResult};
use std::collections::HashMap;

pub use convert::{backend_of, pod_owner, redact_env_value};

/// How many bytes of one container's log a read may return at most, whatever the line count: a log of
/// very long lines must not blow the bound.
const DEFAULT_LOG_BYTES: i64 = 256 * 1024;

/// Where kubelets keep their heartbeat Leases, one per node, named after it.
const NODE_LEASES: &str = "kube-node-lease";

/// Reads a cluster through kube-rs. Cheap to clone (the client is).
#[derive(Clone)]
pub struct KubeClusterRead {
    client: Client,
    log_bytes: i64,
}

impl std::fmt::Debug for KubeClusterRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClusterRead").field("log_bytes", &self.log_bytes).finish_non_exhaustive()
    }
}

impl KubeClusterRead {
    pub fn new(client: Client) -> Self {
        Self { client, log_bytes: DEFAULT_LOG_BYTES }
    }

    /// Caps the bytes one log read returns.
    pub fn with_log_bytes(mut self, bytes: i64) -> Self {
        self.log_bytes = bytes.max(1);
        self
    }

    fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }
}

/// `k=v,k2=v2`, the label selector syntax.
fn selector_string(selector: &Labels) -> String {
    let mut out = String::new();
    for (k, v) in selector {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// A kube error as the port reports it, saying what was being read.
fn port_error(what: String, error: kube::Error) -> PortError {
    match error {
        kube::Error::Api(status) if status.is_not_found() => PortError::NotFound(what),
        kube::Error::Api(status) => PortError::Backend {
            port: "cluster",
            message: format!("reading {what}: {} ({})", status.message, status.code),
        },
        kube::Error::SerdeError(e) => {
            PortError::Backend { port: "cluster", message: format!("reading {what}: undecodable answer: {e}") }
        }
        other => PortError::Unavailable { port: "cluster", message: format!("reading {what}: {other}") },
    }
}

/// A list that the server does not serve (an API group the cluster lacks) is empty, not an error.
fn or_empty<T>(result: kube::Result<Vec<T>>) -> kube::Result<Vec<T>> {
    match result {
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}

#[async_trait]
impl ClusterRead for KubeClusterRead {
    async fn pod(&self, namespace: &str, name: &str) -> PortResult<Option<PodSnapshot>> {
        let pod = self.namespaced::<Pod>(namespace).get_opt(name).await;
        let pod = pod.map_err(|e| port_error(format!("pod {namespace}/{name}"), e))?;
        Ok(pod.as_ref().map(convert::pod))
    }

    async fn pods(&self, namespace: &str, selector: &Labels) -> PortResult<Vec<PodSnapshot>> {
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(&selector_string(selector));
        }
        let list = self.namespaced::<Pod>(namespace).list(&params).await;
        let list = list.map_err(|e| port_error(format!("pods of {namespace}"), e))?;
        Ok(list.items.iter().map(convert::pod).collect())
    }

    async fn pods_on_node(&self, node: &str) -> PortResult<Vec<PodSnapshot>> {
        let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let list = Api::<Pod>::all(self.client.clone()).list(&params).await;
        let list = list.map_err(|e| port_error(format!("pods on node {node}"), e))?;
        Ok(list.items.iter().map(convert::pod).collect())
    }

    async fn deployment(&self, namespace: &str, name: &str) -> PortResult<Option<WorkloadSnapshot>> {
        let deployment = self.namespaced::<Deployment>(namespace).get_opt(name).await;
        let deployment = deployment.map_err(|e| port_error(format!("deployment {namespace}/{name}"), e))?;
        Ok(deployment.as_ref().map(convert::deployment))
    }

    async fn deployments(&self, namespace: &str) -> PortResult<Vec<WorkloadSnapshot>> {
        let list = self.namespaced::<Deployment>(namespace).list(&ListParams::default()).await;
        let list = list.map_err(|e| port_error(format!("deployments of {namespace}"), e))?;
        Ok(list.items.iter().map(convert::deployment).collect())
    }

    async fn rollouts(&self, namespace: &str, deployment: &str) -> PortResult<Vec<RolloutSnapshot>> {
        // The ReplicaSets of a Deployment are the ones it controls; one list of the namespace, filtered by
        // owner here, saves reading the Deployment's selector first.
        let list = self.namespaced::<ReplicaSet>(namespace).list(&ListParams::default()).await;
        let list = list.map_err(|e| port_error(format!("replicasets of {namespace}"), e))?;
        let mut rollouts: Vec<RolloutSnapshot> = list
            .items
            .iter()
            .filter(|rs| convert::replicaset_deployment(rs) == Some(deployment))
            .map(|rs| convert::rollout(rs, deployment))
            .collect();
        rollouts.sort_by(|a, b| b.revision.cmp(&a.revision).then(b.created_at.cmp(&a.created_at)));
        Ok(rollouts)
    }

    async fn events(&self, namespace: Option<&str>) -> PortResult<Vec<EventSnapshot>> {
        let api: Api<Event> = match namespace {
            Some(ns) => self.namespaced(ns),
            None => Api::all(self.client.clone()),
        };
        let list = api.list(&ListParams::default()).await;
        let list = list.map_err(|e| port_error(format!("events of {}", namespace.unwrap_or("all namespaces")), e))?;
        let mut events: Vec<EventSnapshot> = list.items.iter().map(convert::event).collect();
        events.sort_by_key(|e| e.last_seen);
        Ok(events)
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        tail_lines: u32,
    ) -> PortResult<Vec<String>> {
        let params = LogParams {
            container: Some(container.to_string()),
            previous,
            tail_lines: Some(i64::from(tail_lines)),
            limit_bytes: Some(self.log_bytes),
            ..LogParams::default()
        };
        let which = if previous { "previous log" } else { "log" };
        match self.namespaced::<Pod>(namespace).logs(pod, &params).await {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            // No such log: no previous instance (the container never restarted), or a container waiting
            // to start. The API server answers 400; there is nothing to read, which is not a failure.
            Err(kube::Error::Api(status)) if status.code == 400 => Ok(Vec::new()),
            Err(e) => Err(port_error(format!("{which} of {namespace}/{pod}/{container}"), e)),
        }
    }

    async fn nodes(&self) -> PortResult<Vec<NodeSnapshot>> {
        let lp = ListParams::default();
        let (nodes_api, leases_api) =
            (Api::<Node>::all(self.client.clone()), Api::<Lease>::namespaced(self.client.clone(), NODE_LEASES));
        let (list, leases) = futures::join!(nodes_api.list(&lp), leases_api.list(&lp));
        let list = list.map_err(|e| port_error("nodes".to_string(), e))?;
        // Node leases are optional evidence: a cluster without them (or a role that may not read them)
        // still has the nodes' own status.
        let renewed: HashMap<String, jiff::Timestamp> = leases
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|l| Some((l.metadata.name?, l.spec?.renew_time?.0)))
            .collect();
        Ok(list
            .items
            .iter()
            .map(|n| {
                let mut node = convert::node(n);
                node.lease_renewed = renewed.get(&node.name).copied();
                node
            })
            .collect())
    }

    async fn services(&self, namespace: &str) -> PortResult<Vec<ServiceSnapshot>> {
        let lp = ListParams::default();
        let (services_api, endpoints_api, deployments_api, statefulsets_api) = (
            self.namespaced::<Service>(namespace),
            self.namespaced::<Endpoints>(namespace),
            self.namespaced::<Deployment>(namespace),
            self.namespaced::<StatefulSet>(namespace),
        );
        let (services, endpoints, deployments, statefulsets) = futures::join!(
            services_api.list(&lp),
            endpoints_api.list(&lp),
            deployments_api.list(&lp),
            statefulsets_api.list(&lp),
        );
        let services = services.map_err(|e| port_error(format!("services of {namespace}"), e))?;
        // Endpoint counts and backends enrich the services; without them the services still stand.
        let endpoints = or_empty(endpoints.map(|l| l.items)).unwrap_or_else(|e| {
            tracing::debug!(namespace, error = %e, "endpoints unreadable; counting none");
            Vec::new()
        });
        let mut templates: Vec<_> = or_empty(deployments.map(|l| l.items))
            .unwrap_or_default()
            .iter()
            .map(convert::deployment_template)
            .collect();
        templates.extend(
            or_empty(statefulsets.map(|l| l.items)).unwrap_or_default().iter().map(convert::statefulset_template),
        );
        let by_name: HashMap<&str, &Endpoints> =
            endpoints.iter().filter_map(|e| e.metadata.name.as_deref().map(|n| (n, e))).collect();
        Ok(services
            .items
            .iter()
            .map(|svc| {
                let name = svc.metadata.name.as_deref().unwrap_or_default();
                convert::service(svc, by_name.get(name).copied(), &templates)
            })
            .collect())
    }

    async fn network_policies(&self, namespace: &str) -> PortResult<Vec<NetworkPolicySnapshot>> {
        let list = self.namespaced::<NetworkPolicy>(namespace).list(&ListParams::default()).await;
        let list =
            or_empty(list.map(|l| l.items)).map_err(|e| port_error(format!("network policies of {namespace}"), e))?;
        Ok(list.iter().map(convert::network_policy).collect())
    }
}

#[cfg(test)]
mod tests;
