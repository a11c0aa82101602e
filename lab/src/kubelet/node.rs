//! One node's kubelet as a node agent: registration, the node status it posts (capacity,
//! allocatable, conditions, addresses, node info), heartbeats, the node's images and its pod IPs.
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Taint;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use crate::controllers::events::{EventType, Involved, Source};
use crate::controllers::{Ctx, api_time, quantity};
use crate::store::Kind;

/// Memory the kubelet keeps back from pods (the default hard eviction threshold).
pub const EVICTION_RESERVE_BYTES: u64 = 100 << 20;
/// How often the kubelet posts its node status when nothing changed (`nodeStatusReportFrequency`).
const REPORT_EVERY: SignedDuration = SignedDuration::from_secs(300);
/// `evictionPressureTransitionPeriod`: how long memory must stay above the threshold before the
/// MemoryPressure condition clears.
const PRESSURE_TRANSITION: SignedDuration = SignedDuration::from_secs(300);
/// The eviction manager's housekeeping interval: at most one eviction per interval.
const EVICTION_INTERVAL: SignedDuration = SignedDuration::from_secs(10);

/// A node the lab runs, as the topology describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    pub name: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub max_pods: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

impl NodeConfig {
    pub fn new(name: impl Into<String>, cpu_millis: u64, memory_bytes: u64) -> Self {
        Self { name: name.into(), cpu_millis, memory_bytes, max_pods: 110, labels: BTreeMap::new(), taints: Vec::new() }
    }
}

#[derive(Debug)]
pub struct NodeAgent {
    pub config: NodeConfig,
    /// 1-based position: pod CIDR `10.244.<n>.0/24`, address `10.0.0.<10+n>`.
    pub number: u32,
    pub running: bool,
    pub images: BTreeSet<String>,
    ips_in_use: BTreeSet<u8>,
    registered: bool,
    last_report: Option<Timestamp>,
    machine_id: String,
    boot_id: String,
    /// Whether the kubelet has seen the node cordoned (it reports the change as an event).
    seen_unschedulable: Option<bool>,
    version: String,
    /// Memory below the hard eviction threshold: since when it was last seen so.
    pressure_seen: Option<Timestamp>,
    /// The MemoryPressure condition as last posted.
    reported_pressure: bool,
    last_eviction: Option<Timestamp>,
}

fn hex(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

fn uuid_like(hex: &str) -> String {
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

impl NodeAgent {
    pub fn new(config: NodeConfig, number: u32, version: &str, rng: &mut ChaCha8Rng) -> Self {
        Self {
            config,
            number,
            running: true,
            images: BTreeSet::new(),
            ips_in_use: BTreeSet::new(),
            registered: false,
            last_report: None,
            machine_id: hex(rng, 32),
            boot_id: uuid_like(&hex(rng, 32)),
            seen_unschedulable: None,
            version: version.to_string(),
            pressure_seen: None,
            reported_pressure: false,
            last_eviction: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn internal_ip(&self) -> String {
        format!("10.0.0.{}", 10 + self.number)
    }

    pub fn pod_cidr(&self) -> String {
        format!("10.244.{}.0/24", self.number)
    }

    /// The lowest free pod IP of the node's range.
    pub fn allocate_ip(&mut self) -> Option<String> {
        let octet = (2u8..=254).find(|o| !self.ips_in_use.contains(o))?;
        self.ips_in_use.insert(octet);
        Some(format!("10.244.{}.{octet}", self.number))
    }

    pub fn release_ip(&mut self, ip: &str) {
        if let Some(octet) = ip.rsplit('.').next().and_then(|o| o.parse::<u8>().ok()) {
            self.ips_in_use.remove(&octet);
        }
    }

    /// The machine goes down: the kubelet stops posting; images stay on disk.
    pub fn shut_down(&mut self) {
        self.running = false;
    }

    /// The machine comes back with a new boot id; the kubelet registers again.
    pub fn boot(&mut self, rng: &mut ChaCha8Rng) {
        self.running = true;
        self.boot_id = uuid_like(&hex(rng, 32));
        self.registered = false;
        self.last_report = None;
    }

    /// The node's memory available to pods, as the eviction manager measures it, against the hard
    /// threshold. Returns whether a pod should be evicted now.
    pub fn observe_memory(&mut self, used_bytes: u64, now: Timestamp) -> Option<u64> {
        let available = self.config.memory_bytes.saturating_sub(used_bytes);
        if available >= EVICTION_RESERVE_BYTES {
            return None;
        }
        self.pressure_seen = Some(now);
        if self.last_eviction.is_some_and(|at| now.duration_since(at) < EVICTION_INTERVAL) {
            return None;
        }
        self.last_eviction = Some(now);
        Some(available)
    }

    /// MemoryPressure holds from the first time memory ran short until it has been enough for the
    /// transition period.
    fn memory_pressure(&self, now: Timestamp) -> bool {
        self.pressure_seen.is_some_and(|at| now.duration_since(at) < PRESSURE_TRANSITION)
    }

    pub fn event(&self, ctx: &mut Ctx<'_>, kind: EventType, reason: &str, message: String) {
        let source = Source::kubelet(self.name());
        ctx.events.record(ctx.store, ctx.now, &source, &Involved::node(self.name()), kind, reason, message);
    }

    fn capacity(&self) -> Value {
        json!({
            "cpu": quantity::format_cpu(self.config.cpu_millis),
            "memory": format!("{}Ki", self.config.memory_bytes / 1024),
            "pods": self.config.max_pods.to_string(),
            "ephemeral-storage": "102626232Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        })
    }

    fn allocatable(&self) -> Value {
        json!({
            "cpu": quantity::format_cpu(self.config.cpu_millis),
            "memory": format!("{}Ki", self.config.memory_bytes.saturating_sub(EVICTION_RESERVE_BYTES) / 1024),
            "pods": self.config.max_pods.to_string(),
            "ephemeral-storage": "94580335255",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        })
    }

    fn conditions(&self, now: &str, pressure: bool, previous: Option<&Value>) -> Value {
        let since = |type_: &str, status: &str| {
            previous
                .and_then(|p| p.as_array())
                .and_then(|c| c.iter().find(|c| c["type"] == type_))
                .filter(|c| c["status"] == status)
                .and_then(|c| c.get("lastTransitionTime").cloned())
                .unwrap_or_else(|| json!(now))
        };
        let condition = |type_: &str, status: &str, reason: &str, message: &str| {
            json!({
                "type": type_,
                "status": status,
                "lastHeartbeatTime": now,
                "lastTransitionTime": since(type_, status),
                "reason": reason,
                "message": message,
            })
        };
        let memory = if pressure {
            condition(
                "MemoryPressure",
                "True",
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            )
        } else {
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            )
        };
        json!([
            memory,
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ])
    }

    fn node_info(&self) -> Value {
        json!({
            "machineID": self.machine_id,
            "systemUUID": uuid_like(&self.machine_id),
            "bootID": self.boot_id,
            "kernelVersion": "6.1.0-31-amd64",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://1.7.24",
            "kubeletVersion": self.version,
            "kubeProxyVersion": self.version,
            "operatingSystem": "linux",
            "architecture": "amd64",
        })
    }

    /// Registers the node (or re-registers after a reboot), posts its status when it changed or every
    /// five minutes, and reports cordon changes. Called every tick while the kubelet runs.
    pub fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let now = api_time(ctx.now);
        let existing = ctx.store.get(Kind::Node, None, self.name());
        if !self.registered {
            self.register(ctx, existing.as_ref().map(|o| &o.value), &now);
            return;
        }
        let Some(existing) = existing else {
            // Deleted through the API: the kubelet registers it again.
            self.registered = false;
            return;
        };
        let ready = existing
            .value
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .map(|c| c["status"] == "True")
            .unwrap_or(false);
        let due = self.last_report.is_none_or(|at| ctx.now.duration_since(at) >= REPORT_EVERY);
        let pressure = self.memory_pressure(ctx.now);
        let pressure_changed = pressure != self.reported_pressure;
        if !ready || due || pressure_changed {
            let conditions = self.conditions(&now, pressure, existing.value.pointer("/status/conditions"));
            let written = ctx.store.modify(Kind::Node, None, self.name(), |node| {
                node["status"]["conditions"] = conditions;
                Ok(())
            });
            if written.is_ok() {
                self.last_report = Some(ctx.now);
                self.reported_pressure = pressure;
                if pressure_changed {
                    let state = if pressure { "NodeHasInsufficientMemory" } else { "NodeHasSufficientMemory" };
                    let message = format!("Node {} status is now: {state}", self.name());
                    self.event(ctx, EventType::Normal, state, message);
                }
                if !ready {
                    let message = format!("Node {} status is now: NodeReady", self.name());
                    self.event(ctx, EventType::Normal, "NodeReady", message);
                }
            }
        }
        let unschedulable = existing.value.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
        if self.seen_unschedulable.is_some_and(|seen| seen != unschedulable) {
            let state = if unschedulable { "NodeNotSchedulable" } else { "NodeSchedulable" };
            let message = format!("Node {} status is now: {state}", self.name());
            self.event(ctx, EventType::Normal, state, message);
        }
        self.seen_unschedulable = Some(unschedulable);
    }

    fn register(&mut self, ctx: &mut Ctx<'_>, existing: Option<&Value>, now: &str) {
        let pressure = self.memory_pressure(ctx.now);
        self.reported_pressure = pressure;
        let conditions = self.conditions(now, pressure, existing.and_then(|e| e.pointer("/status/conditions")));
        let mut labels: serde_json::Map<String, Value> = [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", self.name()),
            ("kubernetes.io/os", "linux"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
        for (key, value) in &self.config.labels {
            labels.insert(key.clone(), json!(value));
        }
        let status = json!({
            "capacity": self.capacity(),
            "allocatable": self.allocatable(),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": self.internal_ip()},
                {"type": "Hostname", "address": self.name()},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": self.node_info(),
        });
        let written = match existing {
            Some(_) => ctx.store.modify(Kind::Node, None, self.name(), |node| {
                node["status"] = status;
                Ok(())
            }),
            None => {
                let mut spec = json!({"podCIDR": self.pod_cidr(), "podCIDRs": [self.pod_cidr()]});
                if !self.config.taints.is_empty() {
                    spec["taints"] = serde_json::to_value(&self.config.taints).unwrap_or_else(|_| json!([]));
                }
                ctx.store.create(
                    Kind::Node,
                    json!({
                        "apiVersion": "v1",
                        "kind": "Node",
                        "metadata": {
                            "name": self.name(),
                            "labels": labels,
                            "annotations": {
                                "node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                            },
                        },
                        "spec": spec,
                        "status": status,
                    }),
                )
            }
        };
        if let Err(error) = written {
            tracing::warn!(node = self.name(), %error, "node registration failed; retrying next tick");
            return;
        }
        let rebooted = existing.is_some();
        self.registered = true;
        self.last_report = Some(ctx.now);
        self.event(ctx, EventType::Normal, "Starting", "Starting kubelet.".into());
        if rebooted {
            let message = format!("Node {} has been rebooted, boot id: {}", self.name(), self.boot_id);
            self.event(ctx, EventType::Warning, "Rebooted", message);
        }
        for state in ["NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"] {
            let message = format!("Node {} status is now: {state}", self.name());
            self.event(ctx, EventType::Normal, state, message);
        }
        self.event(
            ctx,
            EventType::Normal,
            "NodeAllocatableEnforced",
            "Updated Node Allocatable limit across pods".into(),
        );
        let message = format!("Node {} status is now: NodeReady", self.name());
        self.event(ctx, EventType::Normal, "NodeReady", message);
    }
}
