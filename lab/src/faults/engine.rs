//! The fault engine: Chaos Mesh's controller manager and chaos daemon, for the lab.
//!
//! Every tick it reads the experiments (PodChaos, NetworkChaos, StressChaos, LabFault) from the store
//! and, as Chaos Mesh's controllers do: puts its finalizer on new ones, selects their targets, injects
//! the fault into each (recording it in `status.experiment.containerRecords`), recovers them when the
//! duration is over, the experiment is paused (`experiment.chaos-mesh.org/pause: "true"`) or deleted,
//! and emits the events Chaos Mesh emits. Then it hands the model the combined effect of every
//! active fault. Chaos Mesh's own faults act on the pods selected at injection; the lab's faults model
//! defects of the software, so with mode `all` they follow the workload to its new pods.
use jiff::{SignedDuration, Timestamp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::effects::{Egress, FaultEffects, NetworkAction, NetworkRule, PodEffects, PodRef};
use super::selector::{self, pod_ref};
use super::spec::{self, Experiment, Fault, Mode, NetworkFault};
use crate::app::AppHandle;
use crate::app::topology::PAUSE_IMAGE;
use crate::controllers::events::{EventRecorder, EventType, Involved, Source};
use crate::runtime::{ContainerKey, Exit};
use crate::sim::{TickContext, TickHook};
use crate::store::{DeleteOptions, Kind, Object, Store};

pub const FINALIZER: &str = "chaos-mesh/records";
pub const PAUSE_ANNOTATION: &str = "experiment.chaos-mesh.org/pause";
const ORIGINAL_IMAGE: &str = "chaos-mesh.org/origin-image-";
const RETRY_SELECTION: SignedDuration = SignedDuration::from_secs(10);
const KINDS: [Kind; 4] = [Kind::PodChaos, Kind::NetworkChaos, Kind::StressChaos, Kind::LabFault];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for targets to select.
    Selecting,
    Injected,
    /// Recovered because the duration is over (or a one-shot action is done).
    Finished,
    /// Recovered while paused; injected again when the pause ends.
    Paused,
}

#[derive(Debug, Clone)]
struct Record {
    id: String,
    pod: Option<PodRef>,
    container: Option<String>,
    injected: u32,
    recovered: u32,
    events: Vec<Value>,
}

#[derive(Debug)]
struct Active {
    uid: String,
    experiment: Option<Experiment>,
    invalid: Option<String>,
    started: Timestamp,
    phase: Phase,
    records: Vec<Record>,
    /// NetworkChaos `target`, selected at injection.
    network_target: Option<BTreeSet<PodRef>>,
    next_selection: Timestamp,
    announced_start: bool,
}

/// The experiment an event is about.
struct Subject<'a> {
    store: &'a Store,
    now: Timestamp,
    kind: Kind,
    object: &'a Object,
}

/// The tick hook that runs experiments.
pub struct FaultEngine {
    app: AppHandle,
    rng: ChaCha8Rng,
    events: EventRecorder,
    active: BTreeMap<(Kind, String, String), Active>,
}

impl std::fmt::Debug for FaultEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultEngine").field("experiments", &self.active.len()).finish()
    }
}

impl FaultEngine {
    pub fn new(app: AppHandle, seed: u64) -> Self {
        FaultEngine {
            app,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6661_756c_7473),
            events: EventRecorder::default(),
            active: BTreeMap::new(),
        }
    }

    fn event(&mut self, on: &Subject<'_>, component: &'static str, warning: bool, reason: &str, message: String) {
        let event_type = if warning { EventType::Warning } else { EventType::Normal };
        let involved = Involved::of(on.kind, on.object);
        self.events.record(on.store, on.now, &Source::controller(component), &involved, event_type, reason, message);
    }
}

impl TickHook for FaultEngine {
    fn name(&self) -> &str {
        "faults"
    }

    fn on_tick(&mut self, tick: &mut TickContext<'_>) {
        let store = tick.store;
        let now = tick.now;
        let mut seen = BTreeSet::new();
        for kind in KINDS {
            let (objects, _) = store.list(kind, None);
            for object in objects {
                let key = (kind, object.namespace().unwrap_or_default().to_string(), object.name().to_string());
                seen.insert(key.clone());
                self.reconcile(tick, kind, &key, &object);
            }
        }
        // Experiments that are gone without our finalizer (force-deleted): recover what they did.
        let gone: Vec<_> = self.active.keys().filter(|k| !seen.contains(*k)).cloned().collect();
        for key in gone {
            if let Some(mut active) = self.active.remove(&key)
                && active.phase == Phase::Injected
            {
                recover(&mut active, tick, now);
            }
        }
        let effects = self.effects(store);
        let mut state = self.app.lock();
        state.effects = effects.0;
        state.nodes_down = effects.1;
    }
}

impl FaultEngine {
    fn reconcile(&mut self, tick: &mut TickContext<'_>, kind: Kind, key: &(Kind, String, String), object: &Object) {
        let store = tick.store;
        let now = tick.now;
        let on = Subject { store, now, kind, object };
        let renewed = self.active.get(key).is_some_and(|a| a.uid != object.uid());
        if renewed
            && let Some(mut old) = self.active.remove(key)
            && old.phase == Phase::Injected
        {
            recover(&mut old, tick, now);
        }
        if !self.active.contains_key(key) {
            let created = object
                .value
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok())
                .unwrap_or(now);
            let (experiment, invalid) = match spec::parse(kind, &object.value) {
                Ok(e) => (Some(e), None),
                Err(errors) => (None, Some(errors.join(", "))),
            };
            self.active.insert(
                key.clone(),
                Active {
                    uid: object.uid().to_string(),
                    experiment,
                    invalid,
                    started: created,
                    phase: Phase::Selecting,
                    records: Vec::new(),
                    network_target: None,
                    next_selection: now,
                    announced_start: false,
                },
            );
        }
        let has_finalizer = object
            .value
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(FINALIZER)));
        let deleting = object.is_terminating();
        if !has_finalizer && !deleting {
            let _ = store.modify(kind, Some(&key.1), &key.2, |v| {
                let finalizers = v["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
                let mut finalizers: Vec<Value> = finalizers;
                finalizers.push(json!(FINALIZER));
                v["metadata"]["finalizers"] = Value::Array(finalizers);
                Ok(())
            });
            self.event(&on, "initFinalizers", false, "FinalizerInited", "Finalizer has been inited".into());
        }

        let mut active = self.active.remove(key).expect("inserted above");
        if let Some(problem) = active.invalid.clone() {
            if !active.announced_start {
                active.announced_start = true;
                self.event(&on, "records", true, "Failed", format!("Failed to parse the experiment: {problem}"));
            }
        } else if let Some(experiment) = active.experiment.clone() {
            let paused = object
                .value
                .pointer(&format!("/metadata/annotations/{}", PAUSE_ANNOTATION.replace('/', "~1")))
                .and_then(Value::as_str)
                == Some("true");
            let expired = experiment
                .duration
                .is_some_and(|d| now >= active.started + SignedDuration::try_from(d).unwrap_or_default());
            let run = !paused && !expired && !deleting;
            if !active.announced_start && run {
                active.announced_start = true;
                self.event(&on, "desiredphase", false, "Started", "Experiment has started".into());
            }
            match active.phase {
                Phase::Selecting if run && now >= active.next_selection => {
                    let targets = self.select(store, &experiment);
                    if targets.is_empty() {
                        active.next_selection = now + RETRY_SELECTION;
                        let message = "Failed to apply chaos: no pod is selected".to_string();
                        self.event(&on, "records", true, "Failed", message);
                    } else {
                        active.records = targets;
                        if let Fault::Network { target: Some(target), .. } = &experiment.fault {
                            let candidates = selector::candidates(store, &target.selector);
                            let picked = selector::pick(target.mode, candidates, &mut self.rng);
                            active.network_target = Some(picked.iter().map(pod_ref).collect());
                        }
                        self.inject(&mut active, &experiment, tick, object, kind);
                    }
                }
                Phase::Paused if run => self.inject(&mut active, &experiment, tick, object, kind),
                Phase::Injected if experiment.fault.is_one_shot() => {
                    // Nothing to undo: the pods were killed. The experiment is over.
                    for record in &mut active.records {
                        record.recovered += 1;
                    }
                    active.phase = Phase::Finished;
                }
                Phase::Injected if !run => {
                    recover(&mut active, tick, now);
                    for record in &active.records {
                        let message = format!("Successfully recover chaos for {}", record.id);
                        self.event(&on, "records", false, "Recovered", message);
                    }
                    if expired {
                        self.event(&on, "desiredphase", false, "TimeUp", "Time up according to the duration".into());
                    }
                    active.phase = if paused && !expired && !deleting { Phase::Paused } else { Phase::Finished };
                }
                _ => {}
            }
            if deleting && active.phase == Phase::Selecting {
                active.phase = Phase::Finished;
            }
            if experiment.fault.follows_workload()
                && experiment.selection.mode == Mode::All
                && active.phase == Phase::Injected
            {
                // The lab's faults follow the workload: new pods of it carry the defect too.
                let current = self.select(store, &experiment);
                let known: BTreeSet<String> = active.records.iter().map(|r| r.id.clone()).collect();
                for mut record in current.into_iter().filter(|r| !known.contains(&r.id)) {
                    record.injected = 1;
                    record.events.push(json!({"type": "Succeeded", "operation": "Apply", "timestamp": stamp(now)}));
                    active.records.push(record);
                }
            }
        }
        self.write_status(store, kind, key, object, &active, deleting);
        if deleting && active.phase != Phase::Injected {
            // Recovered: let the deletion finish.
            let _ = store.modify(kind, Some(&key.1), &key.2, |v| {
                if let Some(list) = v["metadata"]["finalizers"].as_array_mut() {
                    list.retain(|f| f.as_str() != Some(FINALIZER));
                }
                Ok(())
            });
            return;
        }
        if deleting && active.phase == Phase::Injected {
            recover(&mut active, tick, now);
            active.phase = Phase::Finished;
        }
        self.active.insert(key.clone(), active);
    }

    /// The experiment's targets now: one record per pod (per container for container-level faults).
    fn select(&mut self, store: &Store, experiment: &Experiment) -> Vec<Record> {
        let record = |id: String, pod: Option<PodRef>, container: Option<String>| Record {
            id,
            pod,
            container,
            injected: 0,
            recovered: 0,
            events: Vec::new(),
        };
        if let Fault::NodeFailure { nodes } = &experiment.fault {
            let known: BTreeSet<String> = store.list(Kind::Node, None).0.iter().map(|n| n.name().to_string()).collect();
            return nodes.iter().filter(|n| known.contains(*n)).map(|n| record(n.clone(), None, None)).collect();
        }
        let candidates = selector::candidates(store, &experiment.selection.selector);
        let picked = selector::pick(experiment.selection.mode, candidates, &mut self.rng);
        let mut records = Vec::new();
        for pod in picked {
            let (namespace, name) = pod_ref(&pod);
            let containers: Vec<String> = pod
                .value
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|c| c.iter().filter_map(|c| c.get("name")?.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let wanted: Vec<String> = match &experiment.fault {
                Fault::ContainerKill { containers: names } => names.clone(),
                Fault::Stress { containers: names, .. } if !names.is_empty() => names.clone(),
                Fault::Stress { .. } => containers.iter().take(1).cloned().collect(),
                _ => Vec::new(),
            };
            if wanted.is_empty() {
                records.push(record(format!("{namespace}/{name}"), Some((namespace.clone(), name.clone())), None));
            }
            for container in wanted.iter().filter(|c| containers.contains(c)) {
                records.push(record(
                    format!("{namespace}/{name}/{container}"),
                    Some((namespace.clone(), name.clone())),
                    Some(container.clone()),
                ));
            }
        }
        records
    }

    fn inject(
        &mut self,
        active: &mut Active,
        experiment: &Experiment,
        tick: &mut TickContext<'_>,
        object: &Object,
        kind: Kind,
    ) {
        let store = tick.store;
        let now = tick.now;
        for record in &mut active.records {
            match &experiment.fault {
                Fault::PodKill { grace_period_seconds } => {
                    if let Some((ns, name)) = &record.pod {
                        let options =
                            DeleteOptions { grace_period_seconds: Some(*grace_period_seconds), ..Default::default() };
                        let _ = store.delete_with(Kind::Pod, Some(ns), name, &options);
                    }
                }
                Fault::PodFailure => {
                    if let Some((ns, name)) = &record.pod {
                        let _ = store.modify(Kind::Pod, Some(ns), name, |pod| {
                            let mut originals = Vec::new();
                            for container in pod["spec"]["containers"].as_array_mut().into_iter().flatten() {
                                let name = container["name"].as_str().unwrap_or_default().to_string();
                                let image = container["image"].as_str().unwrap_or_default().to_string();
                                if image != PAUSE_IMAGE {
                                    originals.push((name, image));
                                    container["image"] = json!(PAUSE_IMAGE);
                                }
                            }
                            for (container, image) in originals {
                                pod["metadata"]["annotations"][format!("{ORIGINAL_IMAGE}{container}")] = json!(image);
                            }
                            Ok(())
                        });
                    }
                }
                Fault::ContainerKill { .. } => {
                    if let (Some((ns, pod)), Some(container)) = (&record.pod, &record.container) {
                        let key =
                            ContainerKey { namespace: ns.clone(), pod: pod.clone(), container: container.clone() };
                        tick.nodes.kill_container(key, Exit { code: 137, reason: "Error".into(), message: None });
                    }
                }
                Fault::NodeFailure { .. } => tick.nodes.stop_node(&record.id),
                // The rest act through the effects handed to the model every tick.
                _ => {}
            }
            record.injected += 1;
            record.events.push(json!({"type": "Succeeded", "operation": "Apply", "timestamp": stamp(now)}));
        }
        let on = Subject { store, now, kind, object };
        for record in &active.records {
            let message = format!("Successfully apply chaos for {}", record.id);
            self.event(&on, "records", false, "Applied", message);
        }
        active.phase = Phase::Injected;
    }

    /// The combined effect of every injected fault, and the failed nodes.
    fn effects(&self, store: &Store) -> (FaultEffects, BTreeSet<String>) {
        let mut effects = FaultEffects::default();
        let mut nodes_down = BTreeSet::new();
        for active in self.active.values().filter(|a| a.phase == Phase::Injected) {
            let Some(experiment) = &active.experiment else { continue };
            let pods: Vec<(&PodRef, Option<&String>)> =
                active.records.iter().filter_map(|r| Some((r.pod.as_ref()?, r.container.as_ref()))).collect();
            let mut each = |f: &dyn Fn(&mut PodEffects, Option<&String>)| {
                for (pod, container) in &pods {
                    let entry = effects.pods.entry((*pod).clone()).or_default();
                    f(entry, *container);
                }
            };
            match &experiment.fault {
                Fault::Stress { cpu_millis, memory_bytes, .. } => each(&|e, container| {
                    e.stress_cpu_millis += cpu_millis;
                    e.stress_memory_bytes += memory_bytes;
                    if let Some(c) = container {
                        e.stress_containers.push(c.clone());
                    }
                }),
                Fault::MemoryLeak { bytes_per_second } => {
                    each(&|e, _| e.memory_leak_bytes_per_second += bytes_per_second)
                }
                Fault::ConnectionLeak { per_minute, target } => each(&|e, _| {
                    e.connection_leak_per_minute += per_minute;
                    e.connection_leak_target.clone_from(target);
                }),
                Fault::TrafficSurge { factor } => each(&|e, _| e.traffic_factor *= factor),
                Fault::Egress { address, ip, port, bytes_per_second } => each(&|e, _| {
                    e.egress.push(Egress {
                        address: address.clone(),
                        ip: *ip,
                        port: *port,
                        bytes_per_second: *bytes_per_second,
                    })
                }),
                Fault::Network { fault, direction, .. } => {
                    let action = match fault {
                        NetworkFault::Delay { latency, jitter } => NetworkAction::Delay {
                            latency_ms: latency.as_secs_f64() * 1000.0,
                            jitter_ms: jitter.as_secs_f64() * 1000.0,
                        },
                        NetworkFault::Loss { percent } => NetworkAction::Loss { probability: percent / 100.0 },
                        NetworkFault::Partition => NetworkAction::Partition,
                    };
                    effects.network.push(NetworkRule {
                        source: pods.iter().map(|(p, _)| (*p).clone()).collect(),
                        target: active.network_target.clone(),
                        direction: *direction,
                        action,
                    });
                }
                Fault::NodeFailure { .. } => nodes_down.extend(active.records.iter().map(|r| r.id.clone())),
                Fault::PodKill { .. } | Fault::PodFailure | Fault::ContainerKill { .. } => {}
            }
        }
        let _ = store;
        (effects, nodes_down)
    }

    fn write_status(
        &self,
        store: &Store,
        kind: Kind,
        key: &(Kind, String, String),
        object: &Object,
        active: &Active,
        deleting: bool,
    ) {
        let injected = active.phase == Phase::Injected;
        let selected = !active.records.is_empty();
        let running = injected || active.phase == Phase::Selecting;
        let desired = if running && !deleting { "Run" } else { "Stop" };
        let condition =
            |kind: &str, status: bool| json!({"type": kind, "status": if status { "True" } else { "False" }});
        let records: Vec<Value> = active
            .records
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "selectorKey": ".",
                    "phase": if injected && r.injected > r.recovered { "Injected" } else { "Not Injected" },
                    "injectedCount": r.injected,
                    "recoveredCount": r.recovered,
                    "events": r.events,
                })
            })
            .collect();
        let mut status = json!({
            "conditions": [
                condition("AllRecovered", !injected && selected),
                condition("Paused", active.phase == Phase::Paused),
                condition("Selected", selected),
                condition("AllInjected", injected),
            ],
            "experiment": {"desiredPhase": desired},
        });
        if !records.is_empty() {
            status["experiment"]["containerRecords"] = Value::Array(records);
        }
        if let Some(problem) = &active.invalid {
            status["failedMessage"] = json!(problem);
        }
        if object.value.get("status") == Some(&status) {
            return;
        }
        let _ = store.modify(kind, Some(&key.1), &key.2, |v| {
            v["status"] = status;
            Ok(())
        });
    }
}

/// Undo what an injected experiment did that outlives the tick (images, nodes; effects simply stop).
fn recover(active: &mut Active, tick: &mut TickContext<'_>, now: Timestamp) {
    let Some(experiment) = &active.experiment else { return };
    for record in &mut active.records {
        if record.injected <= record.recovered {
            continue;
        }
        match &experiment.fault {
            Fault::PodFailure => {
                if let Some((ns, name)) = &record.pod {
                    let _ = tick.store.modify(Kind::Pod, Some(ns), name, |pod| {
                        let annotations = pod["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
                        for container in pod["spec"]["containers"].as_array_mut().into_iter().flatten() {
                            let name = container["name"].as_str().unwrap_or_default().to_string();
                            if let Some(image) = annotations.get(&format!("{ORIGINAL_IMAGE}{name}")) {
                                container["image"] = image.clone();
                            }
                        }
                        if let Some(map) = pod["metadata"]["annotations"].as_object_mut() {
                            map.retain(|k, _| !k.starts_with(ORIGINAL_IMAGE));
                        }
                        Ok(())
                    });
                }
            }
            Fault::NodeFailure { .. } => tick.nodes.start_node(&record.id),
            _ => {}
        }
        record.recovered += 1;
        record.events.push(json!({"type": "Succeeded", "operation": "Recover", "timestamp": stamp(now)}));
    }
    active.phase = Phase::Finished;
}

fn stamp(now: Timestamp) -> String {
    Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}
