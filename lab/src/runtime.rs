//! The boundary between the kubelet model and the application model.
//!
//! The kubelet (controllers) owns pods and container lifecycles: pulling, starting, restarting with
//! back-off, OOM kills against the memory limit, probes, states and events. The application model owns
//! what the processes inside do: how much memory and CPU they use, whether they serve, what they log,
//! and when they exit on their own. The kubelet calls this trait; the application model implements it.
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// Identifies one container of one pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// What the kubelet knows about a container it runs or is about to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    pub key: ContainerKey,
    pub image: String,
    /// Pod labels (the app model finds its service through them).
    pub labels: BTreeMap<String, String>,
    /// Environment, with ConfigMap references already resolved to their values.
    pub env: BTreeMap<String, String>,
    pub node: String,
    pub memory_limit_bytes: Option<u64>,
    pub memory_request_bytes: Option<u64>,
    pub cpu_limit_millis: Option<u64>,
    pub cpu_request_millis: Option<u64>,
    /// How many times this container has restarted (0 on the first start).
    pub restart_count: u32,
}

/// Why a process ended, as the container runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    /// `Error`, `Completed`, `OOMKilled`, `ContainerCannotRun`, ...
    pub reason: String,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullResult {
    Pulled,
    /// The registry has no such repository or tag: `ErrImagePull` then `ImagePullBackOff`.
    NotFound {
        message: String,
    },
}

/// What the application model says about one running container after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerObservation {
    pub key: ContainerKey,
    pub memory_working_set_bytes: u64,
    /// CPU used during the step, in cores.
    pub cpu_cores: f64,
    /// The readiness probe would pass.
    pub ready: bool,
    /// The liveness probe would pass.
    pub live: bool,
    /// The process exited on its own during the step.
    pub exit: Option<Exit>,
}

/// Implemented by the application model; called by the kubelet.
pub trait ProcessModel: Send {
    /// Pull an image from the (simulated) registry.
    fn pull(&mut self, image: &str) -> PullResult;
    /// The container's process starts. An `Err` is an immediate exit (a config value the app rejects).
    fn start(&mut self, container: &ContainerInfo, now: Timestamp) -> Result<(), Exit>;
    /// Advance every running container by `dt`; one observation per container in `running`, same order.
    fn step(&mut self, now: Timestamp, dt: Duration, running: &[ContainerInfo]) -> Vec<ContainerObservation>;
    /// The container's process was killed (OOM, liveness, pod deletion, node failure).
    fn stop(&mut self, key: &ContainerKey, now: Timestamp, reason: &str);
}
