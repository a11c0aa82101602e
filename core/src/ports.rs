//! Port traits: what medic needs from the outside world. Adapters implement them in the crates that own
//! the I/O (kube-rs in collector/executor, SQLite in store, FAISS in memory, Slack in the notifier).
use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::audit::AuditEntry;
use crate::context::{
    EventSnapshot, MetricSample, NetworkPolicySnapshot, NodeSnapshot, PodSnapshot, RolloutSnapshot, ServiceSnapshot,
    WorkloadSnapshot,
};
use crate::error::Result;

pub type Labels = BTreeMap<String, String>;

/// Read-only access to a cluster. Architecture invariant: there is no write method here; only the
/// executor holds a client that writes.
#[async_trait]
pub trait ClusterRead: Send + Sync {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodSnapshot>>;
    /// Pods matching a label selector (all pods of the namespace when empty).
    async fn pods(&self, namespace: &str, selector: &Labels) -> Result<Vec<PodSnapshot>>;
    async fn pods_on_node(&self, node: &str) -> Result<Vec<PodSnapshot>>;
    async fn deployment(&self, namespace: &str, name: &str) -> Result<Option<WorkloadSnapshot>>;
    async fn deployments(&self, namespace: &str) -> Result<Vec<WorkloadSnapshot>>;
    /// The revisions of a deployment, newest first.
    async fn rollouts(&self, namespace: &str, deployment: &str) -> Result<Vec<RolloutSnapshot>>;
    /// Events of a namespace (all namespaces when `None`), newest last.
    async fn events(&self, namespace: Option<&str>) -> Result<Vec<EventSnapshot>>;
    /// The last `tail_lines` lines of a container's log (of its previous instance when `previous`).
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        tail_lines: u32,
    ) -> Result<Vec<String>>;
    async fn nodes(&self) -> Result<Vec<NodeSnapshot>>;
    async fn services(&self, namespace: &str) -> Result<Vec<ServiceSnapshot>>;
    async fn network_policies(&self, namespace: &str) -> Result<Vec<NetworkPolicySnapshot>>;
}

/// A metrics backend (Prometheus).
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// An instant query; `signal` names what the value means for the specialists.
    async fn instant(&self, signal: &str, promql: &str) -> Result<Vec<MetricSample>>;
    /// A range query over the last `window` with `step` resolution.
    async fn range(&self, signal: &str, promql: &str, window: Duration, step: Duration) -> Result<Vec<MetricSample>>;
}

/// Where audit entries go (the store's hash-chained trail).
#[async_trait]
pub trait AuditSink: Send + Sync {
    async fn append(&self, entry: AuditEntry) -> Result<()>;
}

/// Turns text into a fixed-dimension vector for similarity search.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Name and version, recorded with every memory it embeds.
    fn id(&self) -> &str;
    fn dimension(&self) -> usize;
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// The time medic runs on: the wall clock in production, the lab's virtual clock in the lab, so that
/// verification windows and back-offs scale with an accelerated simulation.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
    /// How many clock seconds pass per real second.
    fn speed(&self) -> f64 {
        1.0
    }
    /// The real duration that corresponds to `d` of this clock's time.
    fn to_real(&self, d: Duration) -> Duration {
        let speed = self.speed();
        if speed > 0.0 && speed.is_finite() { d.div_f64(speed) } else { d }
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Whether medic may write to the cluster at all right now: the watchtower suspends every write while the
/// reasoning backend is too slow or failing, and the executor asks before it runs a plan.
pub trait WriteGate: Send + Sync + std::fmt::Debug {
    /// Why writes are suspended, or `None` when they may go ahead.
    fn suspended(&self) -> Option<String>;
}
