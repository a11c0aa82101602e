//! The simulation driver: a loop on its own thread that advances the virtual clock in fixed ticks and
//! runs the control plane, the kubelets and the application model.
//!
//! One tick, in this order: the clock moves by `tick`; the garbage collector; the kubelets' node side
//! (registration, node status, leases); the node lifecycle, Deployment and ReplicaSet controllers and
//! the scheduler; the kubelets' pod side (which steps the [`ProcessModel`]); the Endpoints controller;
//! event expiry; then every [`TickHook`] in the order they were added (the fault engine, metrics,
//! alerts). At `--speed N` ticks come N times faster than real
//! time. A run is deterministic under its seed: randomness comes from seeded generators, iteration
//! follows object keys, and nothing in a tick reads the wall clock; API writes land between ticks.
use jiff::Timestamp;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::LabClock;
use crate::controllers::Ctx;
use crate::controllers::cache::Caches;
use crate::controllers::deployment::DeploymentController;
use crate::controllers::endpoints::EndpointsController;
use crate::controllers::events::EventRecorder;
use crate::controllers::node_lifecycle::{Leases, LifecycleTimings, NodeLifecycleController};
use crate::controllers::replicaset::ReplicaSetController;
use crate::controllers::scheduler::Scheduler;
use crate::kubelet::{Kubelet, NodeConfig, NodeControl};
use crate::logs::LogStore;
use crate::runtime::ProcessModel;
use crate::store::Store;

/// The Kubernetes version the kubelets report (the API server's `/version`).
pub const KUBELET_VERSION: &str = "v1.31.4";

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every random choice of the simulation (names, IPs, pull times, tie breaks).
    pub seed: u64,
    /// Virtual time per tick.
    pub tick: Duration,
    /// The nodes whose kubelets the lab runs; they register themselves at the first tick.
    pub nodes: Vec<NodeConfig>,
    pub kubelet_version: String,
    pub lifecycle: LifecycleTimings,
    /// How often the garbage collector's full pass runs. Deletions propagate at once (the store deletes
    /// dependents); the pass is the backstop for objects whose owners vanished otherwise, and it costs
    /// a walk over every object.
    pub gc_period: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            tick: Duration::from_secs(1),
            nodes: Vec::new(),
            kubelet_version: KUBELET_VERSION.to_string(),
            lifecycle: LifecycleTimings::default(),
            gc_period: Duration::from_secs(5),
        }
    }
}

/// What a [`TickHook`] gets each tick, after the controllers and kubelets ran.
pub struct TickContext<'a> {
    pub store: &'a Store,
    pub logs: &'a LogStore,
    /// Virtual time now.
    pub now: Timestamp,
    /// Virtual time since the previous tick.
    pub dt: Duration,
    /// Ticks so far, this one included.
    pub tick: u64,
    /// The simulation's seed, to derive a hook's own generator from.
    pub seed: u64,
    /// Stop and start nodes, kill containers (applied at the start of the next tick).
    pub nodes: &'a mut NodeControl,
}

/// Something that runs once per tick after the cluster's own components: lab-app's fault engine,
/// metrics and alert evaluator.
pub trait TickHook: Send {
    fn name(&self) -> &str;
    fn on_tick(&mut self, tick: &mut TickContext<'_>);
}

/// Figures about the driver itself (wall time, not virtual).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SimStats {
    pub ticks: u64,
    /// Wall time spent inside ticks.
    pub busy: Duration,
    pub slowest_tick: Duration,
    /// Ticks that started later than their schedule by more than a whole tick.
    pub late_ticks: u64,
    /// Ticks cut short by a panic in a component (logged; the simulation goes on with the next tick).
    pub failed_ticks: u64,
}

/// The simulation, driven either by [`Sim::tick`] (tests) or by its own thread ([`Sim::spawn`]).
pub struct Sim {
    config: SimConfig,
    store: Arc<Store>,
    logs: Arc<LogStore>,
    caches: Caches,
    events: EventRecorder,
    node_lifecycle: NodeLifecycleController,
    deployments: DeploymentController,
    replica_sets: ReplicaSetController,
    scheduler: Scheduler,
    endpoints: EndpointsController,
    kubelet: Kubelet,
    leases: Leases,
    control: NodeControl,
    hooks: Vec<Box<dyn TickHook>>,
    ticks: u64,
    stats: SimStats,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("ticks", &self.ticks).field("kubelet", &self.kubelet).finish()
    }
}

/// A seed for one component, derived from the simulation's seed so that components do not share a
/// random stream (adding randomness to one leaves the others' choices unchanged).
fn derive_seed(seed: u64, component: &str) -> u64 {
    let mut hasher = crate::controllers::hash::Fnv32a::default();
    hasher.write(component.as_bytes());
    seed ^ (u64::from(hasher.finish()) << 32 | u64::from(hasher.finish()))
}

impl Sim {
    /// The simulation of `store`'s cluster. The clock is the store's.
    pub fn new(config: SimConfig, store: Arc<Store>, logs: Arc<LogStore>, model: Box<dyn ProcessModel>) -> Self {
        let kubelet = Kubelet::new(
            config.nodes.clone(),
            &config.kubelet_version,
            model,
            logs.clone(),
            derive_seed(config.seed, "kubelet"),
        );
        Self {
            scheduler: Scheduler::new(derive_seed(config.seed, "scheduler")),
            node_lifecycle: NodeLifecycleController::new(config.lifecycle),
            config,
            store,
            logs,
            caches: Caches::default(),
            events: EventRecorder::default(),
            deployments: DeploymentController::default(),
            replica_sets: ReplicaSetController,
            endpoints: EndpointsController::default(),
            kubelet,
            leases: Leases::default(),
            control: NodeControl::default(),
            hooks: Vec::new(),
            ticks: 0,
            stats: SimStats::default(),
        }
    }

    /// Adds a hook; hooks run in the order they were added.
    pub fn add_hook(&mut self, hook: Box<dyn TickHook>) {
        self.hooks.push(hook);
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<LabClock> {
        self.store.clock()
    }

    /// Node failures and container kills, applied at the next tick.
    pub fn control(&mut self) -> &mut NodeControl {
        &mut self.control
    }

    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Advances the clock by one tick and runs everything once.
    pub fn tick(&mut self) {
        let started = Instant::now();
        let dt = self.config.tick;
        self.store.clock().advance(dt);
        let now = self.store.clock().now();
        self.ticks += 1;
        let gc_every = (self.config.gc_period.as_nanos() / dt.as_nanos().max(1)).max(1) as u64;
        if self.ticks % gc_every == 1 || gc_every == 1 {
            self.store.collect_garbage();
        }
        {
            let mut ctx = Ctx { store: &self.store, now, caches: &mut self.caches, events: &mut self.events };
            self.kubelet.heartbeat(&mut ctx, &mut self.leases, &mut self.control);
            self.node_lifecycle.sync(&mut ctx, &self.leases);
            self.deployments.sync(&mut ctx);
            self.replica_sets.sync(&mut ctx);
            self.scheduler.sync(&mut ctx);
            self.kubelet.tick(&mut ctx, dt);
            self.endpoints.sync(&mut ctx);
        }
        self.events.sweep(&self.store, now);
        for hook in &mut self.hooks {
            let mut tick = TickContext {
                store: &self.store,
                logs: &self.logs,
                now,
                dt,
                tick: self.ticks,
                seed: self.config.seed,
                nodes: &mut self.control,
            };
            hook.on_tick(&mut tick);
        }
        let took = started.elapsed();
        self.stats.ticks = self.ticks;
        self.stats.busy += took;
        self.stats.slowest_tick = self.stats.slowest_tick.max(took);
    }

    /// Runs ticks until `virtual_time` has passed.
    pub fn run_for(&mut self, virtual_time: Duration) {
        let ticks = virtual_time.as_nanos().div_ceil(self.config.tick.as_nanos().max(1));
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// Runs ticks until `done` holds (checked after each tick) or `limit` of virtual time has passed;
    /// says whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Store) -> bool) -> bool {
        let ticks = limit.as_nanos().div_ceil(self.config.tick.as_nanos().max(1));
        for _ in 0..ticks {
            self.tick();
            if done(&self.store) {
                return true;
            }
        }
        false
    }

    /// Runs the simulation on its own thread at the clock's speed until the handle stops it.
    pub fn spawn(self) -> SimHandle {
        let signal = Arc::new((Mutex::new(false), Condvar::new()));
        let stats = Arc::new(Mutex::new(SimStats::default()));
        let thread_signal = signal.clone();
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("lab-sim".into())
            .spawn(move || run(self, &thread_signal, &thread_stats))
            .ok();
        SimHandle { signal, stats, thread }
    }
}

fn run(mut sim: Sim, signal: &(Mutex<bool>, Condvar), stats: &Mutex<SimStats>) -> Sim {
    let real_tick = sim.clock().real(sim.config.tick).max(Duration::from_micros(100));
    // The first tick at once: the kubelets register their nodes.
    let mut next = Instant::now();
    let (lock, wake) = signal;
    loop {
        {
            let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if *stopped {
                    return sim;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                stopped = wake.wait_timeout(stopped, next - now).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
        // A bug in one component (a hook, the application model) must not stop the cluster: the tick is
        // logged as failed and the next one runs.
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.tick())) {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(tick = sim.ticks, panic = %what, "a simulation tick failed");
            sim.stats.failed_ticks += 1;
        }
        next += real_tick;
        let now = Instant::now();
        if now > next + real_tick {
            // Too slow for this speed: skip the backlog rather than race to catch up.
            sim.stats.late_ticks += 1;
            next = now;
        }
        *stats.lock().unwrap_or_else(|e| e.into_inner()) = sim.stats;
    }
}

/// The running simulation. Dropping it stops the thread.
#[derive(Debug)]
pub struct SimHandle {
    signal: Arc<(Mutex<bool>, Condvar)>,
    stats: Arc<Mutex<SimStats>>,
    thread: Option<JoinHandle<Sim>>,
}

impl SimHandle {
    /// Driver figures so far.
    pub fn stats(&self) -> SimStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the thread after its current tick and hands the simulation back.
    pub fn stop(mut self) -> Option<Sim> {
        self.halt()
    }

    fn halt(&mut self) -> Option<Sim> {
        let (lock, wake) = &*self.signal;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts the simulation of `store`'s cluster on its own thread: what `Lab::start` calls.
pub fn start(
    config: SimConfig,
    store: Arc<Store>,
    logs: Arc<LogStore>,
    model: Box<dyn ProcessModel>,
    hooks: Vec<Box<dyn TickHook>>,
) -> SimHandle {
    let mut sim = Sim::new(config, store, logs, model);
    for hook in hooks {
        sim.add_hook(hook);
    }
    sim.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ContainerInfo, ContainerKey, ContainerObservation, Exit, PullResult};
    use crate::store::Kind;
    use serde_json::json;

    /// Processes that run and serve, nothing else.
    struct Idle;

    impl ProcessModel for Idle {
        fn pull(&mut self, _image: &str) -> PullResult {
            PullResult::Pulled
        }
        fn start(&mut self, _container: &ContainerInfo, _now: Timestamp) -> Result<(), Exit> {
            Ok(())
        }
        fn step(&mut self, _now: Timestamp, _dt: Duration, running: &[ContainerInfo]) -> Vec<ContainerObservation> {
            running
                .iter()
                .map(|c| ContainerObservation {
                    key: c.key.clone(),
                    memory_working_set_bytes: 1 << 20,
                    cpu_cores: 0.01,
                    ready: true,
                    live: true,
                    exit: None,
                })
                .collect()
        }
        fn stop(&mut self, _key: &ContainerKey, _now: Timestamp, _reason: &str) {}
    }

    /// Records which hook ran at which tick, and stops a node at tick 2.
    struct Recorder {
        name: &'static str,
        seen: Arc<Mutex<Vec<(&'static str, u64)>>>,
    }

    impl TickHook for Recorder {
        fn name(&self) -> &str {
            self.name
        }
        fn on_tick(&mut self, tick: &mut TickContext<'_>) {
            self.seen.lock().unwrap().push((self.name, tick.tick));
            if tick.tick == 2 && self.name == "faults" {
                tick.nodes.stop_node("n1");
            }
        }
    }

    fn store(speed: f64) -> Arc<Store> {
        let clock = Arc::new(LabClock::new("2026-01-01T00:00:00Z".parse().unwrap(), speed));
        Arc::new(Store::with_seed(clock, 9))
    }

    fn config() -> SimConfig {
        SimConfig { seed: 9, nodes: vec![NodeConfig::new("n1", 2000, 4 << 30)], ..SimConfig::default() }
    }

    #[test]
    fn hooks_run_after_the_cluster_in_their_order_and_control_nodes() {
        let store = store(1.0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut sim = Sim::new(config(), store.clone(), Arc::new(LogStore::default()), Box::new(Idle));
        sim.add_hook(Box::new(Recorder { name: "faults", seen: seen.clone() }));
        sim.add_hook(Box::new(Recorder { name: "metrics", seen: seen.clone() }));
        sim.tick();
        assert!(store.get(Kind::Node, None, "n1").is_some(), "the kubelet registered its node");
        sim.tick();
        assert_eq!(*seen.lock().unwrap(), [("faults", 1), ("metrics", 1), ("faults", 2), ("metrics", 2)]);
        sim.tick();
        assert_eq!(sim.control().is_running("n1"), Some(false), "the stop requested at tick 2 took effect");
        assert_eq!(store.clock().elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn the_driver_thread_ticks_at_the_clock_speed_and_stops() {
        let store = store(1000.0);
        store.create(Kind::Namespace, json!({"metadata": {"name": "default"}})).unwrap();
        let handle = start(config(), store.clone(), Arc::new(LogStore::default()), Box::new(Idle), Vec::new());
        let waited = Instant::now();
        while handle.stats().ticks < 50 && waited.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let sim = handle.stop().expect("the thread hands the simulation back");
        assert!(sim.ticks() >= 50, "{} ticks", sim.ticks());
        assert_eq!(store.clock().elapsed(), Duration::from_secs(sim.ticks()));
        let stopped_at = store.clock().elapsed();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(store.clock().elapsed(), stopped_at, "no tick after stop");
    }

    /// Panics at its third tick.
    struct Faulty;

    impl TickHook for Faulty {
        fn name(&self) -> &str {
            "faulty"
        }
        fn on_tick(&mut self, tick: &mut TickContext<'_>) {
            assert!(tick.tick != 3, "a bug in a hook");
        }
    }

    #[test]
    fn a_panicking_component_costs_one_tick_not_the_simulation() {
        let store = store(1000.0);
        let handle =
            start(config(), store.clone(), Arc::new(LogStore::default()), Box::new(Idle), vec![Box::new(Faulty)]);
        let waited = Instant::now();
        while handle.stats().ticks < 10 && waited.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stats = handle.stats();
        assert!(stats.ticks >= 10, "{stats:?}");
        assert_eq!(stats.failed_ticks, 1);
    }

    #[test]
    fn dropping_the_handle_stops_the_thread() {
        let store = store(1000.0);
        let handle = start(config(), store.clone(), Arc::new(LogStore::default()), Box::new(Idle), Vec::new());
        std::thread::sleep(Duration::from_millis(20));
        drop(handle);
        let stopped_at = store.clock().elapsed();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(store.clock().elapsed(), stopped_at);
    }
}
