//! The context of an incident: a read-only snapshot of everything the collector gathered.
//!
//! These types are cluster-agnostic projections of Kubernetes objects, so specialists reason over plain
//! data and can be tested without a cluster. They carry real signals only (status reasons, exit codes,
//! events, log lines, metrics), never anything specific to a simulated cluster.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::alert::Alert;
use crate::ids::IncidentUid;
use crate::workload::ObjectRef;

/// Everything a specialist may look at. Travels between actors in an `Arc`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentContext {
    pub incident: Option<IncidentUid>,
    /// The alerts of the incident, oldest first.
    pub alerts: Vec<Alert>,
    /// The workload (or node) the alert points at, when the collector could resolve it.
    pub target: Option<ObjectRef>,
    pub collected_at: Option<Timestamp>,
    /// The target workload first, then the workloads it depends on and those that depend on it.
    pub workloads: Vec<WorkloadSnapshot>,
    pub pods: Vec<PodSnapshot>,
    pub nodes: Vec<NodeSnapshot>,
    pub services: Vec<ServiceSnapshot>,
    pub events: Vec<EventSnapshot>,
    pub logs: Vec<LogExcerpt>,
    pub rollouts: Vec<RolloutSnapshot>,
    pub dependencies: Vec<DependencyEdge>,
    pub network_policies: Vec<NetworkPolicySnapshot>,
    pub metrics: Vec<MetricSample>,
    /// What could not be collected and why ("prometheus unreachable: ..."). Specialists lower their
    /// confidence when evidence they would need is missing.
    pub gaps: Vec<String>,
}

impl IncidentContext {
    pub fn workload(&self, target: &ObjectRef) -> Option<&WorkloadSnapshot> {
        self.workloads.iter().find(|w| &w.workload == target)
    }

    /// Pods owned (through their ReplicaSet) by the given workload.
    pub fn pods_of<'a>(&'a self, workload: &'a ObjectRef) -> impl Iterator<Item = &'a PodSnapshot> + 'a {
        self.pods.iter().filter(move |p| p.owner.as_ref() == Some(workload))
    }

    pub fn node(&self, name: &str) -> Option<&NodeSnapshot> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn logs_of<'a>(&'a self, pod: &'a str) -> impl Iterator<Item = &'a LogExcerpt> + 'a {
        self.logs.iter().filter(move |l| l.pod == pod)
    }

    pub fn events_for<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a EventSnapshot> + 'a {
        self.events.iter().filter(move |e| e.involved.name == name)
    }

    /// Workloads the given workload depends on.
    pub fn dependencies_of<'a>(&'a self, workload: &'a ObjectRef) -> impl Iterator<Item = &'a DependencyEdge> + 'a {
        self.dependencies.iter().filter(move |d| &d.from == workload)
    }
}

/// Resource quantities as Kubernetes writes them ("250m", "512Mi").
pub type ResourceList = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpecSnapshot {
    pub name: String,
    pub image: String,
    pub requests: ResourceList,
    pub limits: ResourceList,
    /// Environment variables with their literal values (secrets are never collected).
    pub env: BTreeMap<String, String>,
    /// Names of ConfigMaps the container reads (env or volumes).
    pub config_maps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub last_transition: Option<Timestamp>,
}

/// A Deployment (or other controller) as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSnapshot {
    pub workload: ObjectRef,
    pub labels: BTreeMap<String, String>,
    pub selector: BTreeMap<String, String>,
    pub replicas_desired: i32,
    pub replicas_ready: i32,
    pub replicas_available: i32,
    pub replicas_updated: i32,
    pub generation: i64,
    pub observed_generation: i64,
    /// The `deployment.kubernetes.io/revision` annotation.
    pub revision: Option<i64>,
    pub conditions: Vec<Condition>,
    pub containers: Vec<ContainerSpecSnapshot>,
    pub annotations: BTreeMap<String, String>,
}

impl WorkloadSnapshot {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ContainerState {
    Waiting {
        reason: Option<String>,
        message: Option<String>,
    },
    Running {
        started_at: Option<Timestamp>,
    },
    Terminated {
        reason: Option<String>,
        exit_code: i32,
        signal: Option<i32>,
        message: Option<String>,
        started_at: Option<Timestamp>,
        finished_at: Option<Timestamp>,
    },
}

impl ContainerState {
    /// The reason of a waiting or terminated state.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ContainerState::Waiting { reason, .. } | ContainerState::Terminated { reason, .. } => reason.as_deref(),
            ContainerState::Running { .. } => None,
        }
    }
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ContainerState::Terminated { exit_code, .. } => Some(*exit_code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatusSnapshot {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restart_count: i32,
    pub state: ContainerState,
    pub last_state: Option<ContainerState>,
    pub requests: ResourceList,
    pub limits: ResourceList,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodSnapshot {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The controller at the top of the owner chain (Pod → ReplicaSet → Deployment).
    pub owner: Option<ObjectRef>,
    /// The ReplicaSet that owns the pod, if any.
    pub replica_set: Option<String>,
    pub node: Option<String>,
    pub phase: String,
    /// Pod-level reason (`Evicted`, `NodeLost`, ...).
    pub reason: Option<String>,
    pub message: Option<String>,
    pub ready: bool,
    pub created_at: Option<Timestamp>,
    pub deleting: bool,
    pub pod_ip: Option<String>,
    pub conditions: Vec<Condition>,
    pub containers: Vec<ContainerStatusSnapshot>,
}

impl PodSnapshot {
    pub fn restarts(&self) -> i32 {
        self.containers.iter().map(|c| c.restart_count).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub name: String,
    /// `Some(true)` Ready, `Some(false)` NotReady, `None` Unknown (the kubelet stopped reporting).
    pub ready: Option<bool>,
    pub unschedulable: bool,
    pub conditions: Vec<Condition>,
    pub taints: Vec<Taint>,
    pub allocatable: ResourceList,
    pub labels: BTreeMap<String, String>,
    /// The Ready condition's `lastHeartbeatTime`: when the kubelet last posted the node's status (every
    /// 5 minutes when nothing changed, where the node has a lease).
    #[serde(default)]
    pub status_heartbeat: Option<Timestamp>,
    /// The `renewTime` of the node's Lease in `kube-node-lease`: the kubelet renews it every 10 s, so it is
    /// the first sign that a node stopped reporting. `None` when the cluster serves no node lease.
    #[serde(default)]
    pub lease_renewed: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: i32,
    pub target_port: Option<String>,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    pub namespace: String,
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
    /// The service's virtual IP (`None` for headless services).
    #[serde(default)]
    pub cluster_ip: Option<String>,
    /// The workload whose pods the selector picks, when there is one.
    pub backend: Option<ObjectRef>,
    pub ready_endpoints: usize,
    pub not_ready_endpoints: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSnapshot {
    pub namespace: Option<String>,
    /// The object the event is about: kind and name as the event's involvedObject gives them.
    pub involved: InvolvedObject,
    pub reason: String,
    pub message: String,
    /// `Normal` or `Warning`.
    pub type_: String,
    pub count: i32,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// The reporting component (kubelet, default-scheduler, deployment-controller, ...).
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvolvedObject {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

/// Bounded log lines of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogExcerpt {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// From the previous (terminated) instance of the container.
    pub previous: bool,
    pub lines: Vec<String>,
    /// Lines were dropped to respect the bound.
    pub truncated: bool,
}

/// One revision of a Deployment: a ReplicaSet and what it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSnapshot {
    pub deployment: ObjectRef,
    pub revision: i64,
    pub replica_set: String,
    pub created_at: Option<Timestamp>,
    pub images: Vec<String>,
    pub replicas: i32,
    pub ready_replicas: i32,
    /// A digest of the pod template so two revisions can be compared.
    pub template_hash: Option<String>,
    pub change_cause: Option<String>,
    /// Container resources of this revision (`container` → `resource` → quantity), to tell what changed.
    pub limits: BTreeMap<String, ResourceList>,
    /// Environment of this revision's containers, to tell a config change.
    pub env: BTreeMap<String, BTreeMap<String, String>>,
}

/// How a dependency between two workloads was discovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DependencyVia {
    /// An environment variable or config value names the service (`REDIS_ADDR=redis:6379`).
    Config,
    /// A log line names the service (`dial tcp redis:6379: connection refused`).
    Log,
    /// Declared in an annotation.
    Annotation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyEdge {
    pub from: ObjectRef,
    /// The workload behind the service that `from` calls, when it could be resolved.
    pub to: ObjectRef,
    pub service: String,
    pub via: DependencyVia,
    /// The line that revealed it.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkPolicySnapshot {
    pub namespace: String,
    pub name: String,
    pub pod_selector: BTreeMap<String, String>,
    pub policy_types: Vec<String>,
    pub annotations: BTreeMap<String, String>,
}

/// A value from the metrics backend, with the query that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// What the value means, stable across backends (`memory_working_set_ratio`, `error_rate`, ...).
    pub signal: String,
    pub query: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// For range queries: the values over the window, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<(i64, f64)>,
}

/// Names of the metric signals specialists understand (`MetricSample::signal`). A metrics adapter maps its
/// backend's queries onto these; labels carry `namespace`, `pod`, `container`, `service`, `client` as relevant.
pub mod signals {
    /// Container CPU usage divided by its CPU limit, 0..1+.
    pub const CPU_USAGE_RATIO: &str = "cpu_usage_ratio";
    /// Share of CFS periods that were throttled, 0..1.
    pub const CPU_THROTTLED_RATIO: &str = "cpu_throttled_ratio";
    /// Container working set divided by its memory limit; `series` holds the trend.
    pub const MEMORY_WORKING_SET_RATIO: &str = "memory_working_set_ratio";
    /// Container working set in bytes; `series` holds the trend.
    pub const MEMORY_WORKING_SET_BYTES: &str = "memory_working_set_bytes";
    /// Share of a service's requests answered with 5xx, 0..1.
    pub const ERROR_RATE: &str = "error_rate";
    /// A service's 99th percentile latency in seconds.
    pub const LATENCY_P99_SECONDS: &str = "latency_p99_seconds";
    /// Connections in use divided by the database's max_connections, 0..1.
    pub const DB_CONNECTIONS_RATIO: &str = "db_connections_ratio";
    /// Connections a client workload holds to a database (label `client`).
    pub const DB_CONNECTIONS_BY_CLIENT: &str = "db_connections_by_client";
    /// Container restarts per second over the window.
    pub const RESTART_RATE: &str = "restart_rate";
    /// Bytes per second a pod sends to addresses outside the cluster (label `destination`).
    pub const EXTERNAL_EGRESS_BYTES_RATE: &str = "external_egress_bytes_rate";
}
