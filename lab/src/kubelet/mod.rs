//! The kubelets of every node.
//!
//! Each tick, for every node whose kubelet runs: register the node and post its status, renew its
//! lease, sync the pods bound to it (pull, start, restart with back-off, stop), step the application
//! model for every running container, apply what it observed (exits, OOM kills against the memory
//! limit, probes), and write the pod statuses that changed. A node whose kubelet is stopped (a node
//! failure) does none of this: its processes are gone, its pods keep their last reported status until
//! the node controller marks them, and its heartbeats stop.
pub mod backoff;
pub mod container;
pub mod env;
pub mod images;
pub mod node;
pub mod pod_worker;
pub mod probes;
pub mod status;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::controllers::Ctx;
use crate::controllers::cache::Entry;
use crate::controllers::node_lifecycle::Leases;
use crate::controllers::pods::node_name;
use crate::logs::LogStore;
use crate::runtime::{ContainerInfo, ContainerKey, Exit, ProcessModel};
use crate::store::Kind;
use node::NodeAgent;
pub use node::NodeConfig;
use pod_worker::{Next, PodWorker, SyncEnv};

/// Requests from outside the kubelet (the fault engine), applied at the start of the next tick.
#[derive(Debug, Default, Clone)]
pub struct NodeControl {
    requests: Vec<Request>,
    running: BTreeMap<String, bool>,
}

#[derive(Debug, Clone)]
enum Request {
    Stop(String),
    Start(String),
    Kill(ContainerKey, Exit),
}

impl NodeControl {
    /// The node fails: its kubelet stops heartbeating and its processes are gone.
    pub fn stop_node(&mut self, node: &str) {
        self.requests.push(Request::Stop(node.to_string()));
    }

    /// The node comes back (a reboot): the kubelet registers again and restarts the pods still bound
    /// to it.
    pub fn start_node(&mut self, node: &str) {
        self.requests.push(Request::Start(node.to_string()));
    }

    /// Ends a running container's process with `exit` (e.g. Chaos Mesh's container-kill: code 137).
    pub fn kill_container(&mut self, key: ContainerKey, exit: Exit) {
        self.requests.push(Request::Kill(key, exit));
    }

    /// Whether the node's kubelet runs, as of the last tick.
    pub fn is_running(&self, node: &str) -> Option<bool> {
        self.running.get(node).copied()
    }

    /// Every node the lab runs and whether its kubelet runs.
    pub fn nodes(&self) -> &BTreeMap<String, bool> {
        &self.running
    }
}

pub struct Kubelet {
    agents: Vec<NodeAgent>,
    agent_by_name: HashMap<String, usize>,
    /// Pod workers by pod uid.
    workers: HashMap<String, PodWorker>,
    model: Box<dyn ProcessModel>,
    logs: Arc<LogStore>,
    rng: ChaCha8Rng,
    /// The running containers passed to the model, rebuilt when the set changes.
    running: Vec<ContainerInfo>,
    /// Pod uid of each entry of `running`.
    running_pods: Vec<String>,
    /// Sum of the workers' running signatures when `running` was built.
    running_signature: u64,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").field("nodes", &self.agents.len()).field("pods", &self.workers.len()).finish()
    }
}

impl Kubelet {
    pub fn new(
        nodes: Vec<NodeConfig>,
        version: &str,
        model: Box<dyn ProcessModel>,
        logs: Arc<LogStore>,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let agents: Vec<NodeAgent> = nodes
            .into_iter()
            .enumerate()
            .map(|(i, config)| NodeAgent::new(config, i as u32 + 1, version, &mut rng))
            .collect();
        let agent_by_name = agents.iter().enumerate().map(|(i, a)| (a.name().to_string(), i)).collect();
        Self {
            agents,
            agent_by_name,
            workers: HashMap::new(),
            model,
            logs,
            rng,
            running: Vec::new(),
            running_pods: Vec::new(),
            running_signature: 0,
        }
    }

    fn agent_index(&self, node: &str) -> Option<usize> {
        self.agent_by_name.get(node).copied()
    }

    /// The node side of a tick, before the control plane runs: requests from the fault engine take
    /// effect, running kubelets register their nodes, post node status and renew their leases.
    pub fn heartbeat(&mut self, ctx: &mut Ctx<'_>, leases: &mut Leases, control: &mut NodeControl) {
        self.apply_requests(ctx.now, control);
        for agent in self.agents.iter_mut().filter(|a| a.running) {
            agent.sync(ctx);
            leases.renew(agent.name(), ctx.now);
        }
        for agent in &self.agents {
            control.running.insert(agent.name().to_string(), agent.running);
        }
    }

    /// The pod side of a tick, after the scheduler: `dt` is the virtual time since the previous tick.
    pub fn tick(&mut self, ctx: &mut Ctx<'_>, dt: Duration) {
        let pods = ctx.caches.pods.list(ctx.store);
        let config_maps: env::ConfigMaps = if pods.is_empty() {
            env::ConfigMaps::new()
        } else {
            ctx.caches
                .config_maps
                .list(ctx.store)
                .into_iter()
                .map(|cm| ((cm.namespace().to_string(), cm.name().to_string()), cm.typed.clone()))
                .collect()
        };
        let mut by_uid: HashMap<&str, &Entry<Pod>> = HashMap::with_capacity(pods.len());
        let mut removals = Vec::new();
        for pod in &pods {
            let Some(node) = node_name(&pod.typed) else { continue };
            let Some(agent_index) = self.agent_index(node) else { continue };
            by_uid.insert(pod.uid(), pod);
            if !self.agents[agent_index].running {
                continue;
            }
            let agent = &mut self.agents[agent_index];
            if !self.workers.contains_key(pod.uid()) {
                let Some(ip) = agent.allocate_ip() else { continue };
                self.workers.insert(pod.uid().to_string(), PodWorker::new(pod, node, ip, ctx.now));
            }
            let Some(worker) = self.workers.get_mut(pod.uid()) else { continue };
            let mut env = SyncEnv {
                ctx: &mut *ctx,
                model: self.model.as_mut(),
                logs: &self.logs,
                rng: &mut self.rng,
                agent,
                config_maps: &config_maps,
            };
            if worker.sync(&mut env, pod) == Next::Remove {
                removals.push(pod.uid().to_string());
            }
        }
        // Pods that are gone (deleted, or force-deleted while the node was down).
        // In a stable order: the model sees these stops in it.
        let mut gone: Vec<String> =
            self.workers.keys().filter(|uid| !by_uid.contains_key(uid.as_str())).cloned().collect();
        gone.sort();
        for uid in gone {
            self.forget(&uid, ctx.now);
        }
        self.step_model(ctx, dt, &by_uid, &config_maps);
        self.write_statuses(ctx, &by_uid);
        for uid in removals {
            if let Some(pod) = by_uid.get(uid.as_str()) {
                let _ = ctx.store.delete(Kind::Pod, Some(pod.namespace()), pod.name());
            }
            self.forget(&uid, ctx.now);
        }
    }

    fn forget(&mut self, uid: &str, now: Timestamp) {
        let Some(mut worker) = self.workers.remove(uid) else { return };
        worker.kill_all(self.model.as_mut(), now);
        self.logs.remove_pod(&worker.namespace, &worker.name);
        if let Some(agent) = self.agent_index(&worker.node) {
            self.agents[agent].release_ip(&worker.ip);
        }
    }

    fn apply_requests(&mut self, now: Timestamp, control: &mut NodeControl) {
        for request in std::mem::take(&mut control.requests) {
            match request {
                Request::Stop(node) => {
                    let Some(index) = self.agent_index(&node) else { continue };
                    if !self.agents[index].running {
                        continue;
                    }
                    self.agents[index].shut_down();
                    let mut on_node: Vec<&mut PodWorker> =
                        self.workers.values_mut().filter(|w| w.node == node).collect();
                    on_node.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
                    for worker in on_node {
                        worker.lose_processes(self.model.as_mut(), now);
                    }
                }
                Request::Start(node) => {
                    if let Some(index) = self.agent_index(&node)
                        && !self.agents[index].running
                    {
                        self.agents[index].boot(&mut self.rng);
                    }
                }
                Request::Kill(key, exit) => {
                    let worker = self.workers.values_mut().find(|w| w.namespace == key.namespace && w.name == key.pod);
                    if let Some(worker) = worker {
                        worker.kill_container(self.model.as_mut(), &key.container, exit, now);
                    }
                }
            }
        }
    }

    /// Steps the model over every running container of running nodes, in a stable order.
    fn step_model(
        &mut self,
        ctx: &mut Ctx<'_>,
        dt: Duration,
        pods: &HashMap<&str, &Entry<Pod>>,
        config_maps: &env::ConfigMaps,
    ) {
        let running_nodes: Vec<&str> = self.agents.iter().filter(|a| a.running).map(|a| a.name()).collect();
        let live = |worker: &PodWorker| running_nodes.contains(&worker.node.as_str());
        let signature =
            self.workers.values().filter(|w| live(w)).fold(0u64, |sum, w| sum.wrapping_add(w.running_signature()));
        if signature != self.running_signature || self.running.is_empty() {
            let mut wanted: Vec<(ContainerKey, &str, &ContainerInfo)> = Vec::new();
            for (uid, worker) in self.workers.iter().filter(|(_, w)| live(w)) {
                for container in worker.containers.iter().filter(|c| c.is_running() && !c.init) {
                    if let Some(info) = &container.info {
                        wanted.push((worker.key(&container.name), uid.as_str(), info));
                    }
                }
            }
            wanted.sort_by(|a, b| a.0.cmp(&b.0));
            self.running = wanted.iter().map(|(_, _, info)| (*info).clone()).collect();
            self.running_pods = wanted.iter().map(|(_, uid, _)| uid.to_string()).collect();
            self.running_signature = signature;
        }
        if self.running.is_empty() {
            return;
        }
        let observations = self.model.step(ctx.now, dt, &self.running);
        for (index, observation) in observations.iter().enumerate() {
            let Some(uid) = self.running_pods.get(index) else { break };
            let Some(pod) = pods.get(uid.as_str()) else { continue };
            let Some(worker) = self.workers.get_mut(uid) else { continue };
            let Some(agent_index) = self.agents.iter().position(|a| a.name() == worker.node) else { continue };
            let mut env = SyncEnv {
                ctx: &mut *ctx,
                model: self.model.as_mut(),
                logs: &self.logs,
                rng: &mut self.rng,
                agent: &mut self.agents[agent_index],
                config_maps,
            };
            worker.observe(&mut env, pod, observation);
        }
        self.relieve_memory_pressure(ctx, &observations, pods, config_maps);
    }

    /// The eviction manager: a node whose pods leave less than the hard threshold of memory evicts one
    /// pod per interval, the one using the most memory beyond its requests.
    fn relieve_memory_pressure(
        &mut self,
        ctx: &mut Ctx<'_>,
        observations: &[crate::runtime::ContainerObservation],
        pods: &HashMap<&str, &Entry<Pod>>,
        config_maps: &env::ConfigMaps,
    ) {
        let mut used_by_node = vec![0u64; self.agents.len()];
        let mut used_by_pod: BTreeMap<&str, HashMap<String, u64>> = BTreeMap::new();
        for (index, observation) in observations.iter().enumerate() {
            let Some(uid) = self.running_pods.get(index) else { break };
            let Some(node) = self.workers.get(uid).and_then(|w| self.agent_by_name.get(&w.node)) else { continue };
            used_by_node[*node] += observation.memory_working_set_bytes;
            used_by_pod
                .entry(uid.as_str())
                .or_default()
                .insert(observation.key.container.clone(), observation.memory_working_set_bytes);
        }
        for (node, used) in used_by_node.into_iter().enumerate() {
            if !self.agents[node].running {
                continue;
            }
            let Some(available) = self.agents[node].observe_memory(used, ctx.now) else { continue };
            let node_name = self.agents[node].name().to_string();
            let victim = used_by_pod
                .iter()
                .filter_map(|(uid, usage)| {
                    let worker = self.workers.get(*uid)?;
                    (worker.node == node_name && worker.evicted.is_none() && worker.stopped_at.is_none())
                        .then(|| (worker.memory_over_request(usage), *uid))
                })
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
                .map(|(_, uid)| uid.to_string());
            let Some(uid) = victim else { continue };
            let Some(pod) = pods.get(uid.as_str()) else { continue };
            let usage = &used_by_pod[uid.as_str()];
            let Some(worker) = self.workers.get_mut(&uid) else { continue };
            let heaviest = worker
                .containers
                .iter()
                .filter(|c| c.is_running() && !c.init)
                .max_by_key(|c| usage.get(&c.name).copied().unwrap_or(0));
            let detail = heaviest
                .map(|c| {
                    let used = usage.get(&c.name).copied().unwrap_or(0);
                    let request = c.info.as_ref().and_then(|i| i.memory_request_bytes).unwrap_or(0);
                    format!(
                        " Container {} was using {}Ki, request is {}, has larger consumption of memory.",
                        c.name,
                        used / 1024,
                        if request == 0 { "0".to_string() } else { format!("{}Ki", request / 1024) }
                    )
                })
                .unwrap_or_default();
            let message = format!(
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: {}Ki.{detail}",
                available / 1024
            );
            let agent = &mut self.agents[node];
            agent.event(
                ctx,
                crate::controllers::events::EventType::Warning,
                "EvictionThresholdMet",
                "Attempting to reclaim memory".into(),
            );
            let mut env = SyncEnv {
                ctx: &mut *ctx,
                model: self.model.as_mut(),
                logs: &self.logs,
                rng: &mut self.rng,
                agent,
                config_maps,
            };
            worker.evict(&mut env, pod, message);
        }
    }

    fn write_statuses(&mut self, ctx: &mut Ctx<'_>, pods: &HashMap<&str, &Entry<Pod>>) {
        let mut uids: Vec<&String> = self.workers.keys().collect();
        uids.sort();
        let uids: Vec<String> = uids.into_iter().cloned().collect();
        for uid in uids {
            let Some(worker) = self.workers.get_mut(&uid) else { continue };
            let Some(agent) = self.agents.iter().find(|a| a.name() == worker.node) else { continue };
            if !agent.running {
                continue;
            }
            let Some(pod) = pods.get(uid.as_str()) else { continue };
            let fingerprint = worker.fingerprint();
            if worker.status_checked == Some((fingerprint, pod.object.resource_version)) {
                continue;
            }
            let fields = status::build(worker, &agent.internal_ip(), ctx.now);
            if status::up_to_date(&pod.object.value, &fields) {
                worker.status_checked = Some((fingerprint, pod.object.resource_version));
                continue;
            }
            let written = ctx.store.modify(Kind::Pod, Some(pod.namespace()), pod.name(), |object| {
                status::merge(object, fields);
                Ok(())
            });
            if let Ok(object) = written {
                worker.status_checked = Some((fingerprint, object.resource_version));
            }
        }
    }

    /// The nodes and whether their kubelets run.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, bool)> {
        self.agents.iter().map(|a| (a.name(), a.running))
    }
}
