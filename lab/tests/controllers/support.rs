//! Shared harness of the controller tests: a store, a simulation of three nodes, and a scripted
//! application model (a test double of lab-app's model: each image behaves as the test says).
#![allow(dead_code)]

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use medic_lab::clock::LabClock;
use medic_lab::kubelet::NodeConfig;
use medic_lab::logs::{LogQuery, LogStore};
use medic_lab::runtime::{ContainerInfo, ContainerKey, ContainerObservation, Exit, ProcessModel, PullResult};
use medic_lab::sim::{Sim, SimConfig};
use medic_lab::store::{DeleteOptions, Kind, Store};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const EPOCH: &str = "2026-01-01T00:00:00Z";
pub const MI: u64 = 1 << 20;

/// How the processes of one image behave.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Serves forever with a flat working set.
    Serve { memory: u64 },
    /// Exits with `code` after running for `after`.
    CrashAfter { after: Duration, code: i32 },
    /// The working set grows every second (a leak, or a load the limit cannot hold).
    Grow { base: u64, per_second: u64 },
    /// Exits at once: a config value the app rejects.
    RejectConfig,
    /// Runs but never passes its readiness probe.
    Unready,
    /// Runs but stops answering its liveness probe after `after`.
    HangAfter { after: Duration },
}

#[derive(Debug, Clone)]
pub struct Process {
    pub started: Timestamp,
    pub image: String,
    pub info: ContainerInfo,
}

#[derive(Debug, Default)]
pub struct ModelState {
    pub behaviours: BTreeMap<String, Behaviour>,
    pub missing_images: BTreeSet<String>,
    pub running: BTreeMap<ContainerKey, Process>,
    /// Every start: container and when.
    pub starts: Vec<(ContainerKey, Timestamp)>,
    /// Every end: container, when, and why (an exit reason or the kubelet's stop reason).
    pub ends: Vec<(ContainerKey, Timestamp, String)>,
    pub pulls: Vec<String>,
}

/// The test's handle on the model the kubelet drives.
#[derive(Debug, Clone, Default)]
pub struct ModelHandle(pub Arc<Mutex<ModelState>>);

impl ModelHandle {
    pub fn behave(&self, image: &str, behaviour: Behaviour) {
        self.0.lock().unwrap().behaviours.insert(image.to_string(), behaviour);
    }

    pub fn remove_image(&self, image: &str) {
        self.0.lock().unwrap().missing_images.insert(image.to_string());
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, ModelState> {
        self.0.lock().unwrap()
    }
}

struct ScriptedModel {
    handle: ModelHandle,
    logs: Arc<LogStore>,
}

impl ScriptedModel {
    fn behaviour(state: &ModelState, image: &str) -> Behaviour {
        state.behaviours.get(image).cloned().unwrap_or(Behaviour::Serve { memory: 64 * MI })
    }
}

impl ProcessModel for ScriptedModel {
    fn pull(&mut self, image: &str) -> PullResult {
        let mut state = self.handle.0.lock().unwrap();
        state.pulls.push(image.to_string());
        if state.missing_images.contains(image) {
            let reference = format!("docker.io/library/{image}");
            PullResult::NotFound {
                message: format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}\": failed to resolve \
                     reference \"{reference}\": {reference}: not found"
                ),
            }
        } else {
            PullResult::Pulled
        }
    }

    fn start(&mut self, container: &ContainerInfo, now: Timestamp) -> Result<(), Exit> {
        let mut state = self.handle.0.lock().unwrap();
        state.starts.push((container.key.clone(), now));
        self.logs.append(
            &container.key,
            now,
            format!("starting {} (restart {})", container.image, container.restart_count),
        );
        if Self::behaviour(&state, &container.image) == Behaviour::RejectConfig {
            self.logs.append(&container.key, now, "FATAL: invalid value for POOL_SIZE");
            state.ends.push((container.key.clone(), now, "Error".into()));
            return Err(Exit { code: 1, reason: "Error".into(), message: None });
        }
        let process = Process { started: now, image: container.image.clone(), info: container.clone() };
        state.running.insert(container.key.clone(), process);
        Ok(())
    }

    fn step(&mut self, now: Timestamp, _dt: Duration, running: &[ContainerInfo]) -> Vec<ContainerObservation> {
        let mut state = self.handle.0.lock().unwrap();
        let mut observations = Vec::with_capacity(running.len());
        for info in running {
            let behaviour = Self::behaviour(&state, &info.image);
            let started = state.running.get(&info.key).map_or(now, |p| p.started);
            let age = now.duration_since(started).as_secs_f64().max(0.0);
            let mut observation = ContainerObservation {
                key: info.key.clone(),
                memory_working_set_bytes: 64 * MI,
                cpu_cores: 0.05,
                ready: true,
                live: true,
                exit: None,
            };
            match behaviour {
                Behaviour::Serve { memory } => observation.memory_working_set_bytes = memory,
                Behaviour::CrashAfter { after, code } => {
                    if age >= after.as_secs_f64() {
                        observation.exit = Some(Exit { code, reason: "Error".into(), message: None });
                    }
                }
                Behaviour::Grow { base, per_second } => {
                    observation.memory_working_set_bytes = base + (per_second as f64 * age) as u64;
                }
                Behaviour::RejectConfig => {}
                Behaviour::Unready => observation.ready = false,
                Behaviour::HangAfter { after } => {
                    let hung = age >= after.as_secs_f64();
                    observation.live = !hung;
                    observation.ready = !hung;
                }
            }
            if let Some(exit) = &observation.exit {
                state.running.remove(&info.key);
                state.ends.push((info.key.clone(), now, exit.reason.clone()));
            }
            observations.push(observation);
        }
        observations
    }

    fn stop(&mut self, key: &ContainerKey, now: Timestamp, reason: &str) {
        let mut state = self.handle.0.lock().unwrap();
        state.running.remove(key);
        state.ends.push((key.clone(), now, reason.to_string()));
    }
}

/// A lab of three 4-core, 8 GiB nodes with namespaces `default` and `shop`.
pub struct Cluster {
    pub sim: Sim,
    pub store: Arc<Store>,
    pub logs: Arc<LogStore>,
    pub model: ModelHandle,
}

pub fn nodes(count: usize) -> Vec<NodeConfig> {
    (1..=count).map(|i| NodeConfig::new(format!("node-{i}"), 4000, 8 << 30)).collect()
}

impl Cluster {
    pub fn new(seed: u64) -> Self {
        Self::with_nodes(seed, nodes(3))
    }

    pub fn with_nodes(seed: u64, nodes: Vec<NodeConfig>) -> Self {
        Self::with_config(SimConfig { seed, nodes, ..SimConfig::default() })
    }

    pub fn with_config(config: SimConfig) -> Self {
        let seed = config.seed;
        let clock = Arc::new(LabClock::new(EPOCH.parse().unwrap(), 1.0));
        let store = Arc::new(Store::with_seed(clock, seed));
        for namespace in ["default", "shop"] {
            store.create(Kind::Namespace, json!({"metadata": {"name": namespace}})).unwrap();
        }
        let logs = Arc::new(LogStore::default());
        let model = ModelHandle::default();
        let scripted = ScriptedModel { handle: model.clone(), logs: logs.clone() };
        let sim = Sim::new(config, store.clone(), logs.clone(), Box::new(scripted));
        let mut cluster = Self { sim, store, logs, model };
        cluster.sim.tick();
        cluster
    }

    pub fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    pub fn run(&mut self, seconds: u64) {
        self.sim.run_for(Duration::from_secs(seconds));
    }

    /// Ticks until `done` holds; panics with `what` after `limit` seconds of virtual time.
    pub fn run_until(&mut self, limit: u64, what: &str, mut done: impl FnMut(&Cluster) -> bool) {
        for _ in 0..limit {
            self.sim.tick();
            if done(self) {
                return;
            }
        }
        panic!("after {limit} s: {what}\n{}", self.describe());
    }

    pub fn create(&self, kind: Kind, object: Value) {
        self.store.create(kind, object).unwrap_or_else(|e| panic!("creating {kind:?}: {e}"));
    }

    pub fn modify(&self, kind: Kind, namespace: Option<&str>, name: &str, f: impl FnOnce(&mut Value)) {
        self.store
            .modify(kind, namespace, name, |v| {
                f(v);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("modifying {kind:?} {name}: {e}"));
    }

    pub fn delete_pod(&self, namespace: &str, name: &str) {
        self.store.delete_with(Kind::Pod, Some(namespace), name, &DeleteOptions::default()).unwrap();
    }

    pub fn get<T: DeserializeOwned>(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Option<T> {
        self.store.get(kind, namespace, name).map(|o| serde_json::from_value(o.value.clone()).unwrap())
    }

    pub fn list<T: DeserializeOwned>(&self, kind: Kind, namespace: Option<&str>) -> Vec<T> {
        self.store.list(kind, namespace).0.iter().map(|o| serde_json::from_value(o.value.clone()).unwrap()).collect()
    }

    pub fn raw(&self, kind: Kind, namespace: Option<&str>) -> Vec<Value> {
        self.store.list(kind, namespace).0.iter().map(|o| o.value.clone()).collect()
    }

    pub fn pods(&self, namespace: &str) -> Vec<Pod> {
        self.list(Kind::Pod, Some(namespace))
    }

    /// Pods whose name starts with `prefix` and that are not terminating.
    pub fn live_pods(&self, namespace: &str, prefix: &str) -> Vec<Pod> {
        self.pods(namespace)
            .into_iter()
            .filter(|p| p.metadata.name.as_deref().unwrap_or_default().starts_with(prefix))
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    pub fn deployment(&self, namespace: &str, name: &str) -> Deployment {
        self.get(Kind::Deployment, Some(namespace), name).expect("deployment exists")
    }

    pub fn replica_sets(&self, namespace: &str) -> Vec<ReplicaSet> {
        self.list(Kind::ReplicaSet, Some(namespace))
    }

    pub fn node(&self, name: &str) -> Node {
        self.get(Kind::Node, None, name).expect("node exists")
    }

    /// Events with `reason`, as raw objects.
    pub fn events(&self, reason: &str) -> Vec<Value> {
        let mut events: Vec<Value> =
            self.raw(Kind::Event, None).into_iter().filter(|e| e["reason"] == reason).collect();
        events.sort_by(|a, b| a["firstTimestamp"].as_str().cmp(&b["firstTimestamp"].as_str()));
        events
    }

    /// Events about one object (by name), oldest first.
    pub fn events_for(&self, name: &str) -> Vec<Value> {
        let mut events: Vec<Value> =
            self.raw(Kind::Event, None).into_iter().filter(|e| e["involvedObject"]["name"] == name).collect();
        events.sort_by(|a, b| a["firstTimestamp"].as_str().cmp(&b["firstTimestamp"].as_str()));
        events
    }

    pub fn log(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> String {
        let key = ContainerKey { namespace: namespace.into(), pod: pod.into(), container: container.into() };
        self.logs.read(&key, &LogQuery { previous, ..Default::default() })
    }

    /// A short picture of the cluster for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for pod in self.raw(Kind::Pod, None) {
            let state = pod.pointer("/status/containerStatuses/0/state").cloned().unwrap_or(Value::Null);
            out.push_str(&format!(
                "pod {} node={} phase={} deleting={} state={}\n",
                pod["metadata"]["name"],
                pod["spec"]["nodeName"],
                pod["status"]["phase"],
                pod["metadata"]["deletionTimestamp"],
                state
            ));
        }
        for rs in self.raw(Kind::ReplicaSet, None) {
            out.push_str(&format!(
                "rs {} spec={} status={}\n",
                rs["metadata"]["name"], rs["spec"]["replicas"], rs["status"]
            ));
        }
        out
    }
}

/// A Deployment manifest as a user would write it.
pub fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                }]},
            },
        },
    })
}

/// The first container status of a pod.
pub fn container_status(pod: &Pod) -> k8s_openapi::api::core::v1::ContainerStatus {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first().cloned())
        .expect("a container status")
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn waiting_reason(pod: &Pod) -> Option<String> {
    container_status(pod).state?.waiting?.reason
}
