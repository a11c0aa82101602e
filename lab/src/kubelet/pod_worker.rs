//! One pod on one node: the kubelet's pod worker. Each sync moves every container along its lifecycle
//! (image pull, config, create, start, restart with back-off), applies what the application model
//! observed (exits, OOM kills, probe results), stops containers of a terminating pod, and builds the
//! pod status.
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Container as ContainerSpec, Pod};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use super::container::{Container, Phase, Terminated};
use super::env::{self, ConfigMaps};
use super::images;
use super::node::NodeAgent;
use super::probes::{Outcome, ProbeKind};
use crate::controllers::Ctx;
use crate::controllers::cache::Entry;
use crate::controllers::events::{EventType, Involved, Source};
use crate::controllers::quantity;
use crate::logs::LogStore;
use crate::runtime::{ContainerInfo, ContainerKey, ContainerObservation, Exit, ProcessModel, PullResult};

/// How long an init container runs before it exits 0: the kubelet runs init containers itself (the
/// application model scripts the app containers only).
const INIT_RUN: SignedDuration = SignedDuration::from_secs(2);

/// How often a repeating back-off event (`BackOff`, `Failed`) is recorded while the back-off lasts.
const BACKOFF_EVENT_EVERY: SignedDuration = SignedDuration::from_secs(10);

/// What the kubelet has to do with a pod after a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Keep,
    /// Every container has stopped and the pod is terminating: remove the object.
    Remove,
}

/// Everything a sync needs besides the worker.
pub struct SyncEnv<'a, 'b> {
    pub ctx: &'a mut Ctx<'b>,
    pub model: &'a mut dyn ProcessModel,
    pub logs: &'a LogStore,
    pub rng: &'a mut ChaCha8Rng,
    pub agent: &'a mut NodeAgent,
    pub config_maps: &'a ConfigMaps,
}

#[derive(Debug)]
pub struct PodWorker {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ip: String,
    pub start_time: Timestamp,
    pub restart_policy: String,
    /// Init containers first (in order), then the app containers.
    pub containers: Vec<Container>,
    /// Every init container has completed.
    pub initialized: bool,
    /// Evicted by the kubelet under node pressure: the message its status carries. Such a pod has
    /// failed for good; its controller replaces it.
    pub evicted: Option<String>,
    /// When the kubelet stopped the containers of this terminating pod.
    pub stopped_at: Option<Timestamp>,
    /// Condition transition times, kept while the status stays the same.
    pub transitions: super::status::Transitions,
    /// The worker's fingerprint and the pod's resourceVersion when its status was last known to be
    /// up to date: while neither changes, there is nothing to write.
    pub status_checked: Option<(u64, u64)>,
    uid_hash: u64,
}

impl PodWorker {
    pub fn new(pod: &Entry<Pod>, node: &str, ip: String, now: Timestamp) -> Self {
        let spec = pod.typed.spec.as_ref();
        Self {
            uid: pod.uid().to_string(),
            namespace: pod.namespace().to_string(),
            name: pod.name().to_string(),
            node: node.to_string(),
            ip,
            start_time: now,
            restart_policy: spec.and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into()),
            containers: spec
                .map(|s| {
                    let init = s.init_containers.iter().flatten().map(Container::new_init);
                    init.chain(s.containers.iter().map(Container::new)).collect()
                })
                .unwrap_or_default(),
            evicted: None,
            initialized: spec.is_none_or(|s| s.init_containers.as_ref().is_none_or(Vec::is_empty)),
            stopped_at: None,
            transitions: Default::default(),
            status_checked: None,
            uid_hash: {
                let mut hasher = DefaultHasher::new();
                pod.uid().hash(&mut hasher);
                hasher.finish()
            },
        }
    }

    /// Everything the pod status is made of: when it is unchanged, so is the status.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        (self.stopped_at.is_some(), self.initialized, &self.evicted).hash(&mut hasher);
        for container in &self.containers {
            container.name.hash(&mut hasher);
            container.image.hash(&mut hasher);
            container.restart_count.hash(&mut hasher);
            container.ready().hash(&mut hasher);
            container.started().hash(&mut hasher);
            container.last_terminated.is_some().hash(&mut hasher);
            match &container.phase {
                Phase::NeedsImage => 0u8.hash(&mut hasher),
                Phase::Pulling { .. } => 1u8.hash(&mut hasher),
                Phase::ImageError { reason, message } => (2u8, reason, message).hash(&mut hasher),
                Phase::ConfigError { message } => (3u8, message).hash(&mut hasher),
                Phase::Running { container_id, .. } => (4u8, container_id).hash(&mut hasher),
                Phase::Exited { terminated, reported } => (5u8, &terminated.container_id, reported).hash(&mut hasher),
            }
        }
        hasher.finish()
    }

    /// Which containers run, and which instance of each: the model's running list changes with it.
    /// Cheap (no hashing of strings): called for every pod every tick.
    pub fn running_signature(&self) -> u64 {
        let mut mask = 0u64;
        let mut restarts = 0u64;
        for (index, container) in self.containers.iter().enumerate() {
            if container.is_running() && !container.init {
                mask |= 1 << (index % 64);
                restarts = restarts.wrapping_add(container.restart_count as u64);
            }
        }
        let mixed = (mask.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ restarts).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        self.uid_hash ^ mixed
    }

    /// `name_namespace(uid)`, as kubelet messages name a pod.
    pub fn label(&self) -> String {
        format!("{}_{}({})", self.name, self.namespace, self.uid)
    }

    pub fn key(&self, container: &str) -> ContainerKey {
        ContainerKey { namespace: self.namespace.clone(), pod: self.name.clone(), container: container.to_string() }
    }

    /// Whether an exited container with `exit_code` is restarted under the pod's restart policy.
    pub fn restarts(&self, exit_code: i32) -> bool {
        if self.evicted.is_some() {
            return false;
        }
        match self.restart_policy.as_str() {
            "Never" => false,
            "OnFailure" => exit_code != 0,
            _ => true,
        }
    }

    fn event(
        &self,
        env: &mut SyncEnv<'_, '_>,
        pod: &Entry<Pod>,
        container: &str,
        kind: EventType,
        reason: &str,
        message: String,
    ) {
        let source = Source::kubelet(&self.node);
        let involved = Involved::container(&pod.object, container);
        env.ctx.events.record(env.ctx.store, env.ctx.now, &source, &involved, kind, reason, message);
    }

    /// Moves every container along; called once per tick while the node's kubelet runs.
    pub fn sync(&mut self, env: &mut SyncEnv<'_, '_>, pod: &Entry<Pod>) -> Next {
        let now = env.ctx.now;
        if let Some(deadline) = pod.typed.metadata.deletion_timestamp.as_ref() {
            return self.terminate(env, pod, deadline.0);
        }
        if self.evicted.is_some() {
            return Next::Keep;
        }
        let init_count = self.containers.iter().filter(|c| c.init).count();
        if !self.initialized {
            let init_specs = pod.typed.spec.as_ref().and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
            self.initialized = self.run_init(env, pod, &init_specs[..init_specs.len().min(init_count)], now);
            if !self.initialized {
                return Next::Keep;
            }
        }
        let specs = pod.typed.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
        for (offset, spec) in specs.iter().enumerate() {
            let index = init_count + offset;
            if index >= self.containers.len() {
                self.containers.push(Container::new(spec));
            }
            self.follow_spec_change(env, pod, index, spec);
            self.advance(env, pod, index, spec, now);
        }
        Next::Keep
    }

    /// Init containers one after another; says whether all have completed.
    fn run_init(
        &mut self,
        env: &mut SyncEnv<'_, '_>,
        pod: &Entry<Pod>,
        specs: &[ContainerSpec],
        now: Timestamp,
    ) -> bool {
        for (index, spec) in specs.iter().enumerate() {
            if self.containers[index].completed() {
                continue;
            }
            if let Phase::Running { started_at, container_id } = self.containers[index].phase.clone() {
                if now >= started_at + INIT_RUN {
                    let exit = Exit { code: 0, reason: "Completed".into(), message: None };
                    let terminated = Terminated::from_exit(&exit, started_at, now, &container_id);
                    self.containers[index].phase = Phase::Exited { terminated, reported: false };
                }
                // The next one starts at the next sync.
                return false;
            }
            self.advance(env, pod, index, spec, now);
            return false;
        }
        true
    }

    /// A changed image (e.g. `kubectl set image` on a bare pod, or Chaos Mesh's pod-failure) restarts
    /// the container with the new image.
    fn follow_spec_change(&mut self, env: &mut SyncEnv<'_, '_>, pod: &Entry<Pod>, index: usize, spec: &ContainerSpec) {
        let wanted = spec.image.clone().unwrap_or_default();
        if self.containers[index].image == wanted {
            return;
        }
        let name = self.containers[index].name.clone();
        if let Phase::Running { started_at, container_id } = self.containers[index].phase.clone() {
            let message = format!("Container {name} definition changed, will be restarted");
            self.event(env, pod, &name, EventType::Normal, "Killing", message);
            env.model.stop(&self.key(&name), env.ctx.now, "Killing");
            let exit = Exit { code: 143, reason: "Error".into(), message: None };
            let terminated = Terminated::from_exit(&exit, started_at, env.ctx.now, &container_id);
            self.containers[index].phase = Phase::Exited { terminated, reported: true };
        }
        let container = &mut self.containers[index];
        container.image = wanted.clone();
        container.pull_policy =
            spec.image_pull_policy.clone().unwrap_or_else(|| super::container::default_pull_policy(&wanted).into());
        container.pull_backoff.reset();
        container.backoff.reset();
        if !matches!(container.phase, Phase::Exited { .. }) {
            container.phase = Phase::NeedsImage;
        }
    }

    fn advance(
        &mut self,
        env: &mut SyncEnv<'_, '_>,
        pod: &Entry<Pod>,
        index: usize,
        spec: &ContainerSpec,
        now: Timestamp,
    ) {
        match self.containers[index].phase.clone() {
            Phase::Running { .. } => {}
            Phase::Exited { terminated, reported } => {
                if !reported {
                    // Shown as Terminated for this sync; the restart decision comes at the next one.
                    if let Phase::Exited { reported, .. } = &mut self.containers[index].phase {
                        *reported = true;
                    }
                    return;
                }
                if !self.restarts(terminated.exit_code) {
                    return;
                }
                let container = &mut self.containers[index];
                if container.backoff.is_in_backoff_since(terminated.finished_at, now) {
                    let due =
                        container.last_backoff_event.is_none_or(|at| now.duration_since(at) >= BACKOFF_EVENT_EVERY);
                    if due {
                        container.last_backoff_event = Some(now);
                        let name = container.name.clone();
                        let message = format!("Back-off restarting failed container {name} in pod {}", self.label());
                        self.event(env, pod, &name, EventType::Warning, "BackOff", message);
                    }
                    return;
                }
                container.backoff.next(terminated.finished_at, now);
                container.last_backoff_event = None;
                self.start_when_image_ready(env, pod, index, spec, now);
            }
            Phase::NeedsImage | Phase::ImageError { .. } | Phase::ConfigError { .. } => {
                self.start_when_image_ready(env, pod, index, spec, now);
            }
            Phase::Pulling { started, until } => {
                if now >= until {
                    self.finish_pull(env, pod, index, spec, started, until);
                }
            }
        }
    }

    fn start_when_image_ready(
        &mut self,
        env: &mut SyncEnv<'_, '_>,
        pod: &Entry<Pod>,
        index: usize,
        spec: &ContainerSpec,
        now: Timestamp,
    ) {
        let container = &self.containers[index];
        let image = container.image.clone();
        let name = container.name.clone();
        let present = env.agent.images.contains(&image);
        match container.pull_policy.as_str() {
            "Never" if !present => {
                let message = format!("Container image \"{image}\" is not present with pull policy of Never");
                self.containers[index].phase =
                    Phase::ImageError { reason: "ErrImageNeverPull", message: message.clone() };
                self.event(env, pod, &name, EventType::Warning, "ErrImageNeverPull", message);
                return;
            }
            "Never" | "IfNotPresent" if present => {
                let message = format!("Container image \"{image}\" already present on machine");
                self.event(env, pod, &name, EventType::Normal, "Pulled", message);
                self.create_and_start(env, pod, index, spec, now);
                return;
            }
            _ => {}
        }
        if self.containers[index].pull_backoff.is_in_backoff_since_update(now) {
            let container = &mut self.containers[index];
            let was_erring = matches!(container.phase, Phase::ImageError { reason: "ErrImagePull", .. });
            let due = was_erring
                || container.last_backoff_event.is_none_or(|at| now.duration_since(at) >= BACKOFF_EVENT_EVERY);
            container.phase = Phase::ImageError {
                reason: "ImagePullBackOff",
                message: format!("Back-off pulling image \"{image}\""),
            };
            if due {
                container.last_backoff_event = Some(now);
                self.event(
                    env,
                    pod,
                    &name,
                    EventType::Normal,
                    "BackOff",
                    format!("Back-off pulling image \"{image}\""),
                );
                self.event(env, pod, &name, EventType::Warning, "Failed", "Error: ImagePullBackOff".into());
            }
            return;
        }
        self.event(env, pod, &name, EventType::Normal, "Pulling", format!("Pulling image \"{image}\""));
        let jitter = env.rng.random_range(0.8..1.2);
        let duration = if present {
            Duration::from_millis(env.rng.random_range(150..700))
        } else {
            images::pull_duration(&image, jitter)
        };
        let until = now + SignedDuration::try_from(duration).unwrap_or(SignedDuration::ZERO);
        self.containers[index].phase = Phase::Pulling { started: now, until };
        // A pull of an image already on the node is over within the same sync.
        if present {
            self.finish_pull(env, pod, index, spec, now, until);
        }
    }

    /// The pull that ran from `started` to `finished` is over; the registry's answer comes from the model.
    fn finish_pull(
        &mut self,
        env: &mut SyncEnv<'_, '_>,
        pod: &Entry<Pod>,
        index: usize,
        spec: &ContainerSpec,
        started: Timestamp,
        finished: Timestamp,
    ) {
        let image = self.containers[index].image.clone();
        let name = self.containers[index].name.clone();
        match env.model.pull(&image) {
            PullResult::Pulled => {
                env.agent.images.insert(image.clone());
                let took = images::go_duration(finished.duration_since(started).unsigned_abs());
                let message = format!(
                    "Successfully pulled image \"{image}\" in {took} ({took} including waiting). Image size: {} bytes.",
                    images::size_bytes(&image)
                );
                self.event(env, pod, &name, EventType::Normal, "Pulled", message);
                self.containers[index].pull_backoff.reset();
                self.create_and_start(env, pod, index, spec, env.ctx.now);
            }
            PullResult::NotFound { message } => {
                self.event(
                    env,
                    pod,
                    &name,
                    EventType::Warning,
                    "Failed",
                    format!("Failed to pull image \"{image}\": {message}"),
                );
                self.event(env, pod, &name, EventType::Warning, "Failed", "Error: ErrImagePull".into());
                let container = &mut self.containers[index];
                container.pull_backoff.next(env.ctx.now, env.ctx.now);
                container.phase = Phase::ImageError { reason: "ErrImagePull", message };
            }
        }
    }

    fn create_and_start(
        &mut self,
        env: &mut SyncEnv<'_, '_>,
        pod: &Entry<Pod>,
        index: usize,
        spec: &ContainerSpec,
        now: Timestamp,
    ) {
        let name = self.containers[index].name.clone();
        let environment = match env::resolve(spec, &pod.typed, env.config_maps, &self.ip) {
            Ok(environment) => environment,
            Err(message) => {
                let container = &mut self.containers[index];
                let due = !matches!(container.phase, Phase::ConfigError { .. })
                    || container.last_backoff_event.is_none_or(|at| now.duration_since(at) >= BACKOFF_EVENT_EVERY);
                container.phase = Phase::ConfigError { message: message.clone() };
                if due {
                    container.last_backoff_event = Some(now);
                    self.event(env, pod, &name, EventType::Warning, "Failed", format!("Error: {message}"));
                }
                return;
            }
        };
        let key = self.key(&name);
        let container = &mut self.containers[index];
        if container.ever_started {
            container.restart_count += 1;
            if let Phase::Exited { terminated, .. } = &container.phase {
                container.last_terminated = Some(terminated.clone());
            }
            env.logs.rotate(&key);
        }
        let resources = spec.resources.as_ref();
        let quantity_of = |which: &str, name: &str| {
            resources
                .and_then(|r| if which == "limits" { r.limits.as_ref() } else { r.requests.as_ref() })
                .and_then(|q| q.get(name))
                .map(|q| q.0.clone())
        };
        let info = ContainerInfo {
            key: key.clone(),
            image: container.image.clone(),
            labels: pod.typed.metadata.labels.clone().unwrap_or_default(),
            env: environment,
            node: self.node.clone(),
            memory_limit_bytes: quantity_of("limits", "memory").as_deref().and_then(quantity::bytes),
            memory_request_bytes: quantity_of("requests", "memory").as_deref().and_then(quantity::bytes),
            cpu_limit_millis: quantity_of("limits", "cpu").as_deref().and_then(quantity::cpu_millis),
            cpu_request_millis: quantity_of("requests", "cpu").as_deref().and_then(quantity::cpu_millis),
            restart_count: container.restart_count.max(0) as u32,
        };
        let container_id = format!("containerd://{}", random_hex(env.rng, 64));
        container.ever_started = true;
        container.reset_probes();
        container.info = Some(info.clone());
        let started = if container.init { Ok(()) } else { env.model.start(&info, now) };
        self.event(env, pod, &name, EventType::Normal, "Created", format!("Created container {name}"));
        self.event(env, pod, &name, EventType::Normal, "Started", format!("Started container {name}"));
        let container = &mut self.containers[index];
        container.phase = match started {
            Ok(()) => Phase::Running { started_at: now, container_id },
            Err(exit) => {
                Phase::Exited { terminated: Terminated::from_exit(&exit, now, now, &container_id), reported: false }
            }
        };
    }

    /// The model's view of a running container after a step: exits, OOM kills, probes.
    pub fn observe(&mut self, env: &mut SyncEnv<'_, '_>, pod: &Entry<Pod>, observation: &ContainerObservation) {
        let now = env.ctx.now;
        let Some(index) = self.containers.iter().position(|c| c.name == observation.key.container && !c.init) else {
            return;
        };
        let Phase::Running { started_at, container_id } = self.containers[index].phase.clone() else { return };
        let name = self.containers[index].name.clone();
        let limit = self.containers[index].info.as_ref().and_then(|i| i.memory_limit_bytes);
        if let Some(exit) = &observation.exit {
            self.containers[index].phase = Phase::Exited {
                terminated: Terminated::from_exit(exit, started_at, now, &container_id),
                reported: false,
            };
            return;
        }
        if limit.is_some_and(|limit| observation.memory_working_set_bytes > limit) {
            env.model.stop(&observation.key, now, "OOMKilled");
            let exit = Exit { code: 137, reason: "OOMKilled".into(), message: None };
            self.containers[index].phase = Phase::Exited {
                terminated: Terminated::from_exit(&exit, started_at, now, &container_id),
                reported: false,
            };
            return;
        }
        let ip = self.ip.clone();
        let mut unhealthy: Vec<String> = Vec::new();
        let mut kill_reason: Option<String> = None;
        let container = &mut self.containers[index];
        if let Some(probe) = container.startup.as_mut().filter(|p| !p.passing)
            && let Outcome::Failed { message, .. } = probe.run(started_at, now, observation.live, &ip)
        {
            unhealthy.push(message);
        }
        let started = container.startup.as_ref().is_none_or(|p| p.passing);
        if started {
            for probe in [container.liveness.as_mut(), container.readiness.as_mut()].into_iter().flatten() {
                let answer = if probe.kind() == ProbeKind::Liveness { observation.live } else { observation.ready };
                if let Outcome::Failed { message, verdict_changed } = probe.run(started_at, now, answer, &ip) {
                    unhealthy.push(message);
                    if verdict_changed && probe.kind() == ProbeKind::Liveness {
                        kill_reason = Some("liveness".into());
                    }
                }
            }
        }
        for message in unhealthy {
            self.event(env, pod, &name, EventType::Warning, "Unhealthy", message);
        }
        if let Some(reason) = kill_reason {
            let message = format!("Container {name} failed {reason} probe, will be restarted");
            self.event(env, pod, &name, EventType::Normal, "Killing", message);
            env.model.stop(&observation.key, now, "Killing");
            let exit = Exit { code: 143, reason: "Error".into(), message: None };
            self.containers[index].phase = Phase::Exited {
                terminated: Terminated::from_exit(&exit, started_at, now, &container_id),
                reported: false,
            };
        }
    }

    /// Stops the containers of a terminating pod; the pod goes once they have stopped and their last
    /// state has been reported (or the grace period is over).
    fn terminate(&mut self, env: &mut SyncEnv<'_, '_>, pod: &Entry<Pod>, deadline: Timestamp) -> Next {
        let now = env.ctx.now;
        if self.stopped_at.is_none() {
            for index in 0..self.containers.len() {
                let Phase::Running { started_at, container_id } = self.containers[index].phase.clone() else {
                    continue;
                };
                let name = self.containers[index].name.clone();
                self.event(env, pod, &name, EventType::Normal, "Killing", format!("Stopping container {name}"));
                if !self.containers[index].init {
                    env.model.stop(&self.key(&name), now, "Killing");
                }
                let exit = Exit { code: 0, reason: "Completed".into(), message: None };
                self.containers[index].phase = Phase::Exited {
                    terminated: Terminated::from_exit(&exit, started_at, now, &container_id),
                    reported: true,
                };
            }
            self.stopped_at = Some(now);
            if now < deadline {
                return Next::Keep;
            }
        }
        Next::Remove
    }

    /// Memory the pod's running app containers use beyond their requests (eviction ranks by it).
    pub fn memory_over_request(&self, usage: &std::collections::HashMap<String, u64>) -> (bool, i64) {
        let mut over = 0i64;
        for container in self.containers.iter().filter(|c| c.is_running() && !c.init) {
            let used = usage.get(&container.name).copied().unwrap_or(0);
            let request = container.info.as_ref().and_then(|i| i.memory_request_bytes).unwrap_or(0);
            over += used as i64 - request as i64;
        }
        (over > 0, over)
    }

    /// The kubelet evicts the pod to reclaim node memory: every container is killed and the pod fails
    /// with reason `Evicted`.
    pub fn evict(&mut self, env: &mut SyncEnv<'_, '_>, pod: &Entry<Pod>, message: String) {
        let now = env.ctx.now;
        for index in 0..self.containers.len() {
            let Phase::Running { started_at, container_id } = self.containers[index].phase.clone() else { continue };
            if !self.containers[index].init {
                env.model.stop(&self.key(&self.containers[index].name), now, "Evicted");
            }
            let exit = Exit { code: 137, reason: "Error".into(), message: None };
            self.containers[index].phase = Phase::Exited {
                terminated: Terminated::from_exit(&exit, started_at, now, &container_id),
                reported: true,
            };
        }
        let source = Source::kubelet(&self.node);
        let involved = Involved::of(crate::store::Kind::Pod, &pod.object);
        env.ctx.events.record(env.ctx.store, now, &source, &involved, EventType::Warning, "Evicted", message.clone());
        self.evicted = Some(message);
    }

    /// The machine went down: every process is gone (the kubelet reports it when it is back).
    pub fn lose_processes(&mut self, model: &mut dyn ProcessModel, now: Timestamp) {
        for index in 0..self.containers.len() {
            let Phase::Running { started_at, container_id } = self.containers[index].phase.clone() else { continue };
            if !self.containers[index].init {
                model.stop(&self.key(&self.containers[index].name), now, "NodeShutdown");
            }
            let exit = Exit { code: 255, reason: "Unknown".into(), message: None };
            self.containers[index].phase = Phase::Exited {
                terminated: Terminated::from_exit(&exit, started_at, now, &container_id),
                reported: false,
            };
        }
    }

    /// Stops whatever still runs (the pod object is gone).
    pub fn kill_all(&mut self, model: &mut dyn ProcessModel, now: Timestamp) {
        for container in &self.containers {
            if container.is_running() && !container.init {
                model.stop(&self.key(&container.name), now, "Killing");
            }
        }
    }

    /// Ends one running container from outside (a fault killing the process).
    pub fn kill_container(&mut self, model: &mut dyn ProcessModel, name: &str, exit: Exit, now: Timestamp) {
        let Some(container) = self.containers.iter_mut().find(|c| c.name == name && !c.init) else { return };
        let Phase::Running { started_at, container_id } = container.phase.clone() else { return };
        model.stop(
            &ContainerKey { namespace: self.namespace.clone(), pod: self.name.clone(), container: name.into() },
            now,
            &exit.reason,
        );
        container.phase =
            Phase::Exited { terminated: Terminated::from_exit(&exit, started_at, now, &container_id), reported: false };
    }
}

fn random_hex(rng: &mut ChaCha8Rng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len).map(|_| HEX[rng.random_range(0..16)] as char).collect()
}
