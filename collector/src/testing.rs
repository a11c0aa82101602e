//! Builders and an in-memory [`ClusterRead`] for the collector's unit tests. The end-to-end tests read the
//! lab's API server through kube-rs instead.
use async_trait::async_trait;
use jiff::Timestamp;
use medic_core::context::*;
use medic_core::ports::{ClusterRead, Labels};
use medic_core::{Alert, AlertSource, AlertStatus, Error, ObjectRef, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

pub fn alert(name: &str, pairs: &[(&str, &str)]) -> Alert {
    let mut labels = labels(pairs);
    labels.insert("alertname".into(), name.into());
    Alert {
        source: AlertSource::Alertmanager,
        status: AlertStatus::Firing,
        fingerprint: crate::intake::label_fingerprint(&labels),
        name: name.into(),
        labels,
        annotations: BTreeMap::new(),
        starts_at: t("2026-03-01T12:00:00Z"),
        ends_at: None,
        group_key: None,
        generator_url: None,
    }
}

/// A Deployment of one container `app` with the given env, all replicas ready.
pub fn deployment(namespace: &str, name: &str, env: &[(&str, &str)]) -> WorkloadSnapshot {
    WorkloadSnapshot {
        workload: ObjectRef::deployment(namespace, name),
        labels: labels(&[("app", name)]),
        selector: labels(&[("app", name)]),
        replicas_desired: 1,
        replicas_ready: 1,
        replicas_available: 1,
        replicas_updated: 1,
        generation: 1,
        observed_generation: 1,
        revision: Some(1),
        conditions: Vec::new(),
        containers: vec![ContainerSpecSnapshot {
            name: "app".into(),
            image: format!("example/{name}:1"),
            requests: ResourceList::new(),
            limits: labels(&[("memory", "128Mi")]),
            env: labels(env),
            config_maps: Vec::new(),
        }],
        annotations: BTreeMap::new(),
    }
}

/// A running, ready pod of a Deployment's ReplicaSet.
pub fn pod(namespace: &str, name: &str, deployment: &str, node: &str) -> PodSnapshot {
    PodSnapshot {
        namespace: namespace.into(),
        name: name.into(),
        labels: labels(&[("app", deployment)]),
        owner: Some(ObjectRef::deployment(namespace, deployment)),
        replica_set: Some(format!("{deployment}-5d4f8c7b9")),
        node: Some(node.into()),
        phase: "Running".into(),
        reason: None,
        message: None,
        ready: true,
        created_at: Some(t("2026-03-01T11:00:00Z")),
        deleting: false,
        pod_ip: None,
        conditions: Vec::new(),
        containers: vec![ContainerStatusSnapshot {
            name: "app".into(),
            image: format!("example/{deployment}:1"),
            ready: true,
            restart_count: 0,
            state: ContainerState::Running { started_at: Some(t("2026-03-01T11:00:05Z")) },
            last_state: None,
            requests: ResourceList::new(),
            limits: labels(&[("memory", "128Mi")]),
        }],
    }
}

/// The pod crash-looping after `reason` (`OOMKilled`, `Error`).
pub fn crashing(mut pod: PodSnapshot, reason: &str, exit_code: i32, restarts: i32) -> PodSnapshot {
    pod.ready = false;
    let c = &mut pod.containers[0];
    c.ready = false;
    c.restart_count = restarts;
    c.state = ContainerState::Waiting { reason: Some("CrashLoopBackOff".into()), message: None };
    c.last_state = Some(ContainerState::Terminated {
        reason: Some(reason.into()),
        exit_code,
        signal: None,
        message: None,
        started_at: None,
        finished_at: None,
    });
    pod
}

pub fn service(namespace: &str, name: &str, backend: Option<ObjectRef>, ready: usize) -> ServiceSnapshot {
    ServiceSnapshot {
        namespace: namespace.into(),
        name: name.into(),
        selector: backend.as_ref().map(|b| labels(&[("app", &b.name)])).unwrap_or_default(),
        ports: vec![ServicePort { name: None, port: 80, target_port: None, protocol: "TCP".into() }],
        cluster_ip: None,
        backend,
        ready_endpoints: ready,
        not_ready_endpoints: 0,
    }
}

pub fn node(name: &str, ready: Option<bool>) -> NodeSnapshot {
    NodeSnapshot {
        name: name.into(),
        ready,
        unschedulable: false,
        conditions: Vec::new(),
        taints: Vec::new(),
        allocatable: BTreeMap::new(),
        labels: BTreeMap::new(),
        status_heartbeat: None,
        lease_renewed: None,
    }
}

pub fn event(kind: &str, namespace: &str, name: &str, reason: &str, last_seen: &str) -> EventSnapshot {
    EventSnapshot {
        namespace: Some(namespace.into()),
        involved: InvolvedObject { kind: kind.into(), name: name.into(), namespace: Some(namespace.into()) },
        reason: reason.into(),
        message: format!("{reason} of {name}"),
        type_: "Warning".into(),
        count: 1,
        first_seen: Some(t(last_seen)),
        last_seen: Some(t(last_seen)),
        source: Some("kubelet".into()),
    }
}

/// A cluster held in memory, answering the port like an API server would, with injectable failures and
/// delays, and a record of the calls it got.
#[derive(Debug, Default)]
pub struct InMemoryCluster {
    pub deployments: Vec<WorkloadSnapshot>,
    pub pods: Vec<PodSnapshot>,
    pub services: Vec<ServiceSnapshot>,
    pub events: Vec<EventSnapshot>,
    pub nodes: Vec<NodeSnapshot>,
    pub rollouts: Vec<RolloutSnapshot>,
    pub policies: Vec<NetworkPolicySnapshot>,
    /// `namespace/pod/container[/previous]` → lines.
    pub logs: HashMap<String, Vec<String>>,
    /// Call names (`logs`, `events`, ...) that fail.
    pub failing: Vec<&'static str>,
    /// Call names that hang for this long first.
    pub slow: Vec<(&'static str, Duration)>,
    pub calls: Mutex<Vec<String>>,
}

impl InMemoryCluster {
    async fn call(&self, name: &'static str, detail: String) -> Result<()> {
        self.calls.lock().unwrap().push(format!("{name} {detail}"));
        if let Some((_, delay)) = self.slow.iter().find(|(n, _)| *n == name) {
            tokio::time::sleep(*delay).await;
        }
        if self.failing.contains(&name) {
            return Err(Error::Unavailable { port: "cluster", message: format!("{name} refused") });
        }
        Ok(())
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    pub fn log_key(namespace: &str, pod: &str, container: &str, previous: bool) -> String {
        format!("{namespace}/{pod}/{container}{}", if previous { "/previous" } else { "" })
    }
}

#[async_trait]
impl ClusterRead for InMemoryCluster {
    async fn pod(&self, namespace: &str, name: &str) -> Result<Option<PodSnapshot>> {
        self.call("pod", format!("{namespace}/{name}")).await?;
        Ok(self.pods.iter().find(|p| p.namespace == namespace && p.name == name).cloned())
    }
    async fn pods(&self, namespace: &str, selector: &Labels) -> Result<Vec<PodSnapshot>> {
        self.call("pods", namespace.to_string()).await?;
        Ok(self
            .pods
            .iter()
            .filter(|p| p.namespace == namespace && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
            .cloned()
            .collect())
    }
    async fn pods_on_node(&self, node: &str) -> Result<Vec<PodSnapshot>> {
        self.call("pods_on_node", node.to_string()).await?;
        Ok(self.pods.iter().filter(|p| p.node.as_deref() == Some(node)).cloned().collect())
    }
    async fn deployment(&self, namespace: &str, name: &str) -> Result<Option<WorkloadSnapshot>> {
        self.call("deployment", format!("{namespace}/{name}")).await?;
        Ok(self
            .deployments
            .iter()
            .find(|d| d.workload.namespace() == Some(namespace) && d.workload.name == name)
            .cloned())
    }
    async fn deployments(&self, namespace: &str) -> Result<Vec<WorkloadSnapshot>> {
        self.call("deployments", namespace.to_string()).await?;
        Ok(self.deployments.iter().filter(|d| d.workload.namespace() == Some(namespace)).cloned().collect())
    }
    async fn rollouts(&self, namespace: &str, deployment: &str) -> Result<Vec<RolloutSnapshot>> {
        self.call("rollouts", format!("{namespace}/{deployment}")).await?;
        Ok(self
            .rollouts
            .iter()
            .filter(|r| r.deployment.namespace() == Some(namespace) && r.deployment.name == deployment)
            .cloned()
            .collect())
    }
    async fn events(&self, namespace: Option<&str>) -> Result<Vec<EventSnapshot>> {
        self.call("events", namespace.unwrap_or("*").to_string()).await?;
        Ok(self.events.iter().filter(|e| namespace.is_none() || e.namespace.as_deref() == namespace).cloned().collect())
    }
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        tail: u32,
    ) -> Result<Vec<String>> {
        let key = Self::log_key(namespace, pod, container, previous);
        self.call("logs", key.clone()).await?;
        let lines = self.logs.get(&key).cloned().unwrap_or_default();
        let skip = lines.len().saturating_sub(tail as usize);
        Ok(lines.into_iter().skip(skip).collect())
    }
    async fn nodes(&self) -> Result<Vec<NodeSnapshot>> {
        self.call("nodes", String::new()).await?;
        Ok(self.nodes.clone())
    }
    async fn services(&self, namespace: &str) -> Result<Vec<ServiceSnapshot>> {
        self.call("services", namespace.to_string()).await?;
        Ok(self.services.iter().filter(|s| s.namespace == namespace).cloned().collect())
    }
    async fn network_policies(&self, namespace: &str) -> Result<Vec<NetworkPolicySnapshot>> {
        self.call("network_policies", namespace.to_string()).await?;
        Ok(self.policies.iter().filter(|p| p.namespace == namespace).cloned().collect())
    }
}

/// An actor that records every message it gets, standing in for the next actor of the pipeline.
pub struct Probe<M> {
    pub seen: std::sync::Arc<Mutex<Vec<M>>>,
}

impl<M: 'static> actix::Actor for Probe<M> {
    type Context = actix::Context<Self>;
}

impl<M> actix::Handler<M> for Probe<M>
where
    M: actix::Message<Result = ()> + Send + 'static,
{
    type Result = ();
    fn handle(&mut self, message: M, _: &mut Self::Context) {
        self.seen.lock().unwrap().push(message);
    }
}

/// Starts a probe; returns its mailbox and what it has seen.
pub fn probe<M>() -> (actix::Recipient<M>, std::sync::Arc<Mutex<Vec<M>>>)
where
    M: actix::Message<Result = ()> + Send + 'static,
{
    use actix::Actor;
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let addr = Probe { seen: seen.clone() }.start();
    (addr.recipient(), seen)
}

/// Lets the actors handle what was sent to them.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}
