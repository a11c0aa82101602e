//! The application model behind [`ProcessModel`]: what runs inside every container.
//!
//! The kubelet calls `pull`, `start`, `step` and `stop`; `step` computes the request flow of the
//! whole cluster for the tick (from the processes, the Service endpoints, NetworkPolicies and the
//! active faults), advances every process (memory, CPU, counters), writes its log lines and reports
//! what its probes would see. The fault engine, `/metrics` and the alert evaluator share the state
//! through an [`AppHandle`].
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::cluster::ClusterView;
use super::flow::{self, Flow, Instance, Link, Network, Target};
use super::phrases::{Condition, LogMode, LogVars, ServicePhrases};
use super::process::{self, Counters, DependencyAddress, Process};
use super::technology::{Technology, parse_address};
use super::topology::{PAUSE_IMAGE, Topology};
use crate::faults::effects::{FaultEffects, PodRef, round_trip};
use crate::logs::LogStore;
use crate::runtime::{ContainerInfo, ContainerKey, ContainerObservation, Exit, ProcessModel, PullResult};
use crate::store::Store;

/// The model as the kubelet holds it.
#[derive(Debug)]
pub struct AppModel {
    handle: AppHandle,
}

/// Shared access to the model's state for the fault engine, metrics and alerts.
#[derive(Debug, Clone)]
pub struct AppHandle {
    state: Arc<Mutex<AppState>>,
}

impl AppHandle {
    pub fn lock(&self) -> MutexGuard<'_, AppState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which pod (and process) each flow instance stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRef {
    pub pod: PodRef,
    pub process: Option<ContainerKey>,
}

#[derive(Debug)]
pub struct AppState {
    pub topology: Arc<Topology>,
    store: Arc<Store>,
    logs: Arc<LogStore>,
    phrases: Vec<ServicePhrases>,
    generic_phrases: HashMap<Technology, ServicePhrases>,
    rng: ChaCha8Rng,
    pub processes: BTreeMap<ContainerKey, Process>,
    /// Written by the fault engine every tick.
    pub effects: FaultEffects,
    /// Nodes that failed (their kubelet and network are gone), from the fault engine.
    pub nodes_down: BTreeSet<String>,
    pub view: ClusterView,
    /// The request flow of the last step, and which pod each of its instances is.
    pub flow: Flow,
    pub instances: Vec<InstanceRef>,
    pub now: Timestamp,
    line: String,
}

impl AppModel {
    pub fn new(topology: Arc<Topology>, store: Arc<Store>, logs: Arc<LogStore>, seed: u64) -> AppModel {
        let phrases =
            topology.services.iter().map(|s| ServicePhrases::new(s.technology, &s.logs, s.log_mode)).collect();
        let generic_phrases = Technology::ALL
            .into_iter()
            .map(|t| (t, ServicePhrases::new(t, &BTreeMap::new(), LogMode::Extend)))
            .collect();
        let now = store.clock().now();
        let state = AppState {
            topology,
            store,
            logs,
            phrases,
            generic_phrases,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6170_705f_6d6f_6465),
            processes: BTreeMap::new(),
            effects: FaultEffects::default(),
            nodes_down: BTreeSet::new(),
            view: ClusterView::default(),
            flow: Flow::default(),
            instances: Vec::new(),
            now,
            line: String::new(),
        };
        AppModel { handle: AppHandle { state: Arc::new(Mutex::new(state)) } }
    }

    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }
}

impl ProcessModel for AppModel {
    fn pull(&mut self, image: &str) -> PullResult {
        let state = self.handle.lock();
        if state.topology.image_exists(image) {
            return PullResult::Pulled;
        }
        let reference = qualified_image(image);
        PullResult::NotFound {
            message: format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}\": failed to \
                 resolve reference \"{reference}\": {reference}: not found"
            ),
        }
    }

    fn start(&mut self, container: &ContainerInfo, now: Timestamp) -> Result<(), Exit> {
        self.handle.lock().start(container, now)
    }

    fn step(&mut self, now: Timestamp, dt: Duration, running: &[ContainerInfo]) -> Vec<ContainerObservation> {
        self.handle.lock().step(now, dt, running)
    }

    fn stop(&mut self, key: &ContainerKey, now: Timestamp, reason: &str) {
        self.handle.lock().stop(key, now, reason)
    }
}

/// How containerd names an image in its errors: `redis:7` → `docker.io/library/redis:7`.
fn qualified_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    let has_registry = image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let named = if has_registry {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    };
    if super::topology::split_image(&named).1 == Some("latest") && !named.ends_with(":latest") {
        format!("{named}:latest")
    } else {
        named
    }
}

/// Network paths between flow instances: NetworkChaos rules, NetworkPolicies, dead nodes.
struct LabNetwork<'a> {
    state: &'a AppState,
    ports: Vec<u16>,
    nodes: Vec<Option<&'a str>>,
}

impl Network for LabNetwork<'_> {
    fn link(&self, from: usize, to: usize) -> Link {
        let (a, b) = (&self.state.instances[from].pod, &self.state.instances[to].pod);
        let callee_dead = self.nodes[to].is_some_and(|n| self.state.node_is_down(n));
        let (delay_ms, loss, partitioned) = round_trip(&self.state.effects.network, a, b);
        let allowed = self.state.view.policy_allows((&a.0, &a.1), (&b.0, &b.1), self.ports[to]);
        Link { delay_ms, loss, blocked: partitioned || callee_dead || !allowed }
    }
}

impl AppState {
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn node_is_down(&self, node: &str) -> bool {
        self.nodes_down.contains(node)
    }

    fn phrases_for(&self, service: Option<usize>, technology: Technology) -> &ServicePhrases {
        match service {
            Some(s) => &self.phrases[s],
            None => &self.generic_phrases[&technology],
        }
    }

    /// Write the lines of one condition for a process, if it writes any.
    fn write_lines(
        &mut self,
        key: &ContainerKey,
        condition: Condition,
        protocol: Option<super::technology::Protocol>,
        vars: &LogVars<'_>,
    ) {
        let Some(process) = self.processes.get(key) else { return };
        let (service, technology) = (process.service, process.technology);
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        if let Some(template) = self.phrases_for(service, technology).choose(condition, protocol, &mut rng) {
            let mut vars = vars.clone();
            vars.noise = rng.random();
            template.render(&vars, &mut line);
            let at = vars.now.unwrap_or(self.now);
            for text in line.split('\n') {
                self.logs.append(key, at, text);
            }
        }
        self.line = line;
    }

    /// Whether a line of kind `what` is due for this process (and book the next one).
    fn due(&mut self, key: &ContainerKey, what: &str, now: Timestamp, every: Duration) -> bool {
        let jitter = self.rng.random_range(0.75..1.25);
        let Some(process) = self.processes.get_mut(key) else { return false };
        if process.next_line.get(what).is_some_and(|next| *next > now) {
            return false;
        }
        let next = now + SignedDuration::from_secs_f64(every.as_secs_f64() * jitter);
        process.next_line.insert(what.to_string(), next);
        true
    }

    fn start(&mut self, container: &ContainerInfo, now: Timestamp) -> Result<(), Exit> {
        self.now = now;
        let topology = self.topology.clone();
        let service_index = topology.service_for_labels(&container.labels).filter(|&s| {
            topology.services[s].container == container.key.container || topology.services[s].image == container.image
        });
        let service = service_index.map(|s| &topology.services[s]);
        let technology = service
            .map(|s| s.technology)
            .or_else(|| Technology::from_image(&container.image))
            .unwrap_or(Technology::Go);
        let paused = container.image == PAUSE_IMAGE;
        let dependencies = service
            .map(|s| {
                s.dependencies
                    .iter()
                    .map(|d| {
                        let value = container.env.get(&d.env)?;
                        let (host, port) = parse_address(value)?;
                        let default_port = topology.services[d.service].port;
                        Some(DependencyAddress { env: d.env.clone(), host, port: port.unwrap_or(default_port) })
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let baseline = service.map_or(32 << 20, |s| s.memory_baseline_bytes);
        let process = Process {
            key: container.key.clone(),
            service: service_index,
            technology,
            image: container.image.clone(),
            version: process::version_of(&container.image),
            paused,
            started_at: now,
            uptime: Duration::ZERO,
            startup: service.map_or(Duration::from_secs(2), |s| s.startup),
            announced_ready: false,
            node: container.node.clone(),
            memory_limit_bytes: container.memory_limit_bytes,
            cpu_limit_millis: container.cpu_limit_millis,
            heap_limit_bytes: process::heap_limit(technology, &container.env),
            non_heap_bytes: process::non_heap(technology),
            baseline_bytes: baseline,
            leaked_bytes: 0.0,
            outside_heap_bytes: 0,
            memory_bytes: baseline / 3,
            cpu_cores: 0.0,
            leaked_connections: vec![0.0; dependencies.len()],
            held_connections: vec![0.0; dependencies.len()],
            accepted_from: BTreeMap::new(),
            dependencies,
            counters: Counters::default(),
            next_line: BTreeMap::new(),
        };
        let key = container.key.clone();
        self.processes.insert(key.clone(), process);
        if paused {
            return Ok(());
        }
        let version = process::version_of(&container.image);
        let port = service.map_or(technology.default_port(), |s| s.port);
        let service_name = service.map_or(container.key.container.as_str(), |s| s.name.as_str());
        let base = LogVars {
            now: Some(now),
            service: service_name,
            pod: &container.key.pod,
            port,
            version: &version,
            ..Default::default()
        };
        self.write_lines(&key, Condition::Starting, None, &base);

        // The software reads its configuration and refuses what it cannot use.
        let rejection = service.and_then(|s| {
            let bad_config = s.config.iter().find_map(|(name, entry)| {
                let value = container.env.get(name)?;
                entry.check(value).err().map(|expected| (name.clone(), value.clone(), expected))
            });
            bad_config.or_else(|| {
                s.dependencies.iter().zip(&self.processes[&key].dependencies).find_map(|(d, address)| {
                    if address.is_some() {
                        return None;
                    }
                    let value = container.env.get(&d.env).cloned().unwrap_or_default();
                    let expected = if value.is_empty() { "a value (it is not set)" } else { "a host:port address" };
                    Some((d.env.clone(), value, expected.to_string()))
                })
            })
        });
        if let Some((name, value, expected)) = rejection {
            let vars = LogVars { key: &name, value: &value, expected: &expected, ..base };
            self.write_lines(&key, Condition::ConfigRejected, None, &vars);
            self.processes.remove(&key);
            return Err(Exit { code: technology.config_error_exit_code(), reason: "Error".into(), message: None });
        }
        // A release with a regression: the new code fails as it starts, whatever the configuration.
        if topology.is_regression(&container.image) {
            self.write_lines(&key, Condition::Crash, None, &base);
            self.processes.remove(&key);
            return Err(Exit { code: technology.crash_exit_code(), reason: "Error".into(), message: None });
        }
        Ok(())
    }

    fn stop(&mut self, key: &ContainerKey, now: Timestamp, reason: &str) {
        self.now = now;
        let Some(process) = self.processes.get(key) else { return };
        // SIGTERM (a graceful stop) lets the software say goodbye; SIGKILL and OOM kills do not.
        if reason == "Killing" && !process.paused && process.uptime >= Duration::from_secs(1) {
            let service_name = process.service.map(|s| self.topology.services[s].name.clone()).unwrap_or_default();
            let pod = key.pod.clone();
            let vars = LogVars { now: Some(now), service: &service_name, pod: &pod, ..Default::default() };
            self.write_lines(key, Condition::Shutdown, None, &vars);
        }
        self.processes.remove(key);
    }

    fn step(&mut self, now: Timestamp, dt: Duration, running: &[ContainerInfo]) -> Vec<ContainerObservation> {
        self.now = now;
        let store = self.store.clone();
        self.view.refresh(&store);
        for container in running {
            if !self.processes.contains_key(&container.key) {
                // A process the model did not see start (the model was replaced): adopt it quietly.
                let logs = self.logs.clone();
                self.logs = Arc::new(LogStore::default());
                let _ = self.start(container, now);
                self.logs = logs;
            }
            if let Some(process) = self.processes.get_mut(&container.key) {
                process.uptime += dt;
                process.node.clone_from(&container.node);
            }
        }
        self.compute_flow();
        let mut observations = Vec::with_capacity(running.len());
        let by_key: HashMap<&ContainerKey, usize> =
            self.instances.iter().enumerate().filter_map(|(i, r)| r.process.as_ref().map(|k| (k, i))).collect();
        let by_key: HashMap<ContainerKey, usize> = by_key.into_iter().map(|(k, i)| (k.clone(), i)).collect();
        for container in running {
            let instance = by_key.get(&container.key).copied();
            observations.push(self.advance(container, instance, now, dt));
        }
        observations
    }

    /// Build the flow's instances (running processes of topology services, plus endpoints whose process
    /// is gone) and compute the request flow.
    fn compute_flow(&mut self) {
        let topology = self.topology.clone();
        let namespace = topology.namespace.as_str();
        let mut instances = Vec::new();
        let mut refs = Vec::new();
        let mut seen_pods = BTreeSet::new();
        for (key, process) in &self.processes {
            let Some(s) = process.service else { continue };
            let service = &topology.services[s];
            let pod: PodRef = (key.namespace.clone(), key.pod.clone());
            let effects = self.effects.pods.get(&pod);
            let in_endpoints =
                self.view.service(&key.namespace, &service.name).is_some_and(|i| i.ready_pods.contains(&key.pod));
            let cpu_limit = process.cpu_limit_millis.map_or(4000.0, |m| m as f64);
            let stress = effects.filter(|e| e.stresses(&key.container)).map_or(0.0, |e| e.stress_cpu_millis);
            let targets = process
                .dependencies
                .iter()
                .map(|address| {
                    let Some(address) = address else { return Target::Unresolvable };
                    match self.view.resolve(&key.namespace, &address.host) {
                        Some((ns, name)) if ns == namespace => {
                            topology.service_index(&name).map_or(Target::Unresolvable, Target::Service)
                        }
                        _ => Target::Unresolvable,
                    }
                })
                .collect();
            instances.push(Instance {
                service: s,
                endpoint: in_endpoints && !process.paused,
                listening: process.is_ready(),
                cpu_limit_millis: cpu_limit,
                stress_cpu_millis: stress,
                targets,
                leaked: process.leaked_connections.clone(),
                held: process.held_connections.clone(),
                leaking: service
                    .dependencies
                    .iter()
                    .enumerate()
                    .map(|(d, dep)| {
                        effects.is_some_and(|e| {
                            e.connection_leak_per_minute > 0.0 && advance::leak_target(service, &topology, e) == Some(d)
                        }) && dep.pool.is_some()
                    })
                    .collect(),
                traffic_factor: effects.map_or(1.0, |e| e.traffic_factor),
            });
            seen_pods.insert(pod.clone());
            refs.push(InstanceRef { pod, process: Some(key.clone()) });
        }
        // Endpoints whose process is not running (a dead node, a crash the endpoints do not show yet):
        // traffic still goes there and fails.
        for (s, service) in topology.services.iter().enumerate() {
            let Some(info) = self.view.service(namespace, &service.name) else { continue };
            for pod in &info.ready_pods {
                let pod_ref: PodRef = (namespace.to_string(), pod.clone());
                if seen_pods.contains(&pod_ref) {
                    continue;
                }
                instances.push(Instance {
                    service: s,
                    endpoint: true,
                    listening: false,
                    cpu_limit_millis: 1000.0,
                    stress_cpu_millis: 0.0,
                    targets: service.dependencies.iter().map(|d| Target::Service(d.service)).collect(),
                    leaked: vec![0.0; service.dependencies.len()],
                    held: vec![0.0; service.dependencies.len()],
                    leaking: vec![false; service.dependencies.len()],
                    traffic_factor: 1.0,
                });
                refs.push(InstanceRef { pod: pod_ref, process: None });
            }
        }
        self.instances = refs;
        let ports: Vec<u16> = instances.iter().map(|i| topology.services[i.service].port).collect();
        let nodes: Vec<Option<String>> =
            self.instances.iter().map(|r| self.view.pod(&r.pod.0, &r.pod.1).and_then(|p| p.node.clone())).collect();
        let network = LabNetwork { state: self, ports, nodes: nodes.iter().map(|n| n.as_deref()).collect() };
        let flow = flow::compute(&topology, &instances, &network);
        self.flow = flow;
    }
}

mod advance;
mod lines;
