//! Node lifecycle: what kube-controller-manager's node-lifecycle, taint-eviction and pod-gc
//! controllers do.
//!
//! - A node whose kubelet has not renewed its lease for `grace` (40 s) gets its conditions set to
//!   `Unknown` ("Kubelet stopped posting node status."), its pods marked not ready, and the
//!   `node.kubernetes.io/unreachable` taints (`NoSchedule`, `NoExecute`); a kubelet that reports
//!   `Ready=False` gets `node.kubernetes.io/not-ready`; a cordoned node gets
//!   `node.kubernetes.io/unschedulable:NoSchedule`; one under memory pressure
//!   `node.kubernetes.io/memory-pressure:NoSchedule`. Taints go away when the node is healthy again.
//! - Pods on a node with `NoExecute` taints they do not tolerate are evicted at once; pods that tolerate
//!   them for `tolerationSeconds` (300 s by default) are evicted when that runs out, with a
//!   `DisruptionTarget` condition and a `TaintManagerEviction` event.
//! - Pods bound to a node that does not exist are deleted.
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cache::Entry;
use super::events::{EventType, Involved, Source};
use super::pods::node_name;
use super::scheduler::fit::{UNSCHEDULABLE_TAINT, tolerates};
use super::scheduler::set_condition;
use super::{Ctx, api_time, parse_time};
use crate::store::{DeleteOptions, Kind};

pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub const MEMORY_PRESSURE_TAINT: &str = "node.kubernetes.io/memory-pressure";
const NODE_CONTROLLER: Source = Source::controller("node-controller");
const TAINT_EVICTION: Source = Source::controller("taint-eviction-controller");
const ORPHAN_QUARANTINE: SignedDuration = SignedDuration::from_secs(40);

/// Heartbeats: the kubelet renews its node's lease; the controller reads when it last did (what the
/// `kube-node-lease` Leases are to a real cluster).
#[derive(Debug, Default, Clone)]
pub struct Leases {
    renewed: BTreeMap<String, Timestamp>,
}

impl Leases {
    pub fn renew(&mut self, node: &str, now: Timestamp) {
        match self.renewed.get_mut(node) {
            Some(at) => *at = now,
            None => {
                self.renewed.insert(node.to_string(), now);
            }
        }
    }

    pub fn renewed(&self, node: &str) -> Option<Timestamp> {
        self.renewed.get(node).copied()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LifecycleTimings {
    /// `--node-monitor-grace-period`.
    pub grace: SignedDuration,
    /// `--node-monitor-period`.
    pub monitor_period: SignedDuration,
}

impl Default for LifecycleTimings {
    fn default() -> Self {
        Self { grace: SignedDuration::from_secs(40), monitor_period: SignedDuration::from_secs(5) }
    }
}

#[derive(Debug, Default)]
pub struct NodeLifecycleController {
    timings: LifecycleTimings,
    last_monitor: Option<Timestamp>,
    registered: BTreeSet<String>,
    /// Pods bound to nodes that do not exist, and since when.
    orphans: HashMap<String, Timestamp>,
}

impl NodeLifecycleController {
    pub fn new(timings: LifecycleTimings) -> Self {
        Self { timings, ..Default::default() }
    }

    pub fn sync(&mut self, ctx: &mut Ctx<'_>, leases: &Leases) {
        let nodes = ctx.caches.nodes.list(ctx.store);
        for node in &nodes {
            if self.registered.insert(node.name().to_string()) {
                let message = format!("Node {0} event: Registered Node {0} in Controller", node.name());
                ctx.events.record(
                    ctx.store,
                    ctx.now,
                    &NODE_CONTROLLER,
                    &Involved::of(Kind::Node, &node.object),
                    EventType::Normal,
                    "RegisteredNode",
                    message,
                );
            }
        }
        if self.last_monitor.is_some_and(|last| ctx.now.duration_since(last) < self.timings.monitor_period) {
            return;
        }
        self.last_monitor = Some(ctx.now);
        let pods = ctx.caches.pods.list(ctx.store);
        let mut by_node: HashMap<&str, Vec<&Entry<Pod>>> = HashMap::new();
        for pod in &pods {
            if let Some(node) = node_name(&pod.typed) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        let mut live_nodes = BTreeSet::new();
        for node in &nodes {
            live_nodes.insert(node.name());
            let on_node = by_node.get(node.name()).map(Vec::as_slice).unwrap_or_default();
            self.monitor(ctx, node, leases, on_node);
        }
        // Re-read the nodes: monitoring may have changed their taints.
        let nodes = ctx.caches.nodes.list(ctx.store);
        for node in &nodes {
            let on_node = by_node.get(node.name()).map(Vec::as_slice).unwrap_or_default();
            evict_intolerant(ctx, node, on_node);
        }
        self.collect_orphans(ctx, &by_node, &live_nodes);
    }

    fn monitor(&mut self, ctx: &mut Ctx<'_>, node: &Entry<Node>, leases: &Leases, pods: &[&Entry<Pod>]) {
        let ready = ready_status(&node.typed);
        let heartbeat = leases
            .renewed(node.name())
            .or_else(|| condition_time(&node.object.value, "lastHeartbeatTime"))
            .or_else(|| node.typed.metadata.creation_timestamp.as_ref().map(|t| t.0));
        let silent = heartbeat.is_none_or(|at| ctx.now.duration_since(at) > self.timings.grace);
        let mut ready = ready;
        if silent && ready.as_deref() != Some("Unknown") {
            mark_unknown(ctx, node);
            ready = Some("Unknown".to_string());
        }
        if ready.as_deref() != Some("True") {
            mark_pods_not_ready(ctx, pods);
        }
        sync_taints(ctx, node, ready.as_deref());
    }

    fn collect_orphans(&mut self, ctx: &mut Ctx<'_>, by_node: &HashMap<&str, Vec<&Entry<Pod>>>, live: &BTreeSet<&str>) {
        let mut seen = HashMap::new();
        let mut nodes: Vec<(&&str, &Vec<&Entry<Pod>>)> = by_node.iter().collect();
        nodes.sort_by_key(|(node, _)| **node);
        for (node, pods) in nodes {
            if live.contains(node) {
                continue;
            }
            for pod in pods {
                let since = self.orphans.get(pod.uid()).copied().unwrap_or(ctx.now);
                if ctx.now.duration_since(since) >= ORPHAN_QUARANTINE {
                    let _ = ctx.store.delete(Kind::Pod, Some(pod.namespace()), pod.name());
                } else {
                    seen.insert(pod.uid().to_string(), since);
                }
            }
        }
        self.orphans = seen;
    }
}

fn ready_status(node: &Node) -> Option<String> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").map(|c| c.status.clone())
}

fn condition_time(node: &Value, field: &str) -> Option<Timestamp> {
    let conditions = node.pointer("/status/conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    parse_time(ready.get(field).and_then(Value::as_str))
}

/// The kubelet went silent: every condition becomes Unknown.
fn mark_unknown(ctx: &mut Ctx<'_>, node: &Entry<Node>) {
    let now = api_time(ctx.now);
    let written = ctx.store.modify(Kind::Node, None, node.name(), |object| {
        let Some(conditions) = object.pointer_mut("/status/conditions").and_then(Value::as_array_mut) else {
            object["status"]["conditions"] = json!([{
                "type": "Ready", "status": "Unknown", "lastHeartbeatTime": null, "lastTransitionTime": now,
                "reason": "NodeStatusNeverUpdated", "message": "Kubelet never posted node status.",
            }]);
            return Ok(());
        };
        for condition in conditions.iter_mut() {
            condition["status"] = json!("Unknown");
            condition["lastTransitionTime"] = json!(now);
            condition["reason"] = json!("NodeStatusUnknown");
            condition["message"] = json!("Kubelet stopped posting node status.");
        }
        Ok(())
    });
    if written.is_ok() {
        let message = format!("Node {} status is now: NodeNotReady", node.name());
        let involved = Involved::of(Kind::Node, &node.object);
        ctx.events.record(ctx.store, ctx.now, &NODE_CONTROLLER, &involved, EventType::Normal, "NodeNotReady", message);
    }
}

/// `MarkPodsNotReady`: the pods of a node that is not ready are not ready either.
fn mark_pods_not_ready(ctx: &mut Ctx<'_>, pods: &[&Entry<Pod>]) {
    let now = api_time(ctx.now);
    for pod in pods {
        let ready = pod
            .typed
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        if ready.is_none_or(|c| c.status == "False") {
            continue;
        }
        let written = ctx.store.modify(Kind::Pod, Some(pod.namespace()), pod.name(), |object| {
            if let Some(conditions) = object.pointer_mut("/status/conditions").and_then(Value::as_array_mut)
                && let Some(ready) = conditions.iter_mut().find(|c| c["type"] == "Ready")
            {
                ready["status"] = json!("False");
                ready["lastTransitionTime"] = json!(now);
            }
            Ok(())
        });
        if written.is_ok() {
            let involved = Involved::of(Kind::Pod, &pod.object);
            ctx.events.record(
                ctx.store,
                ctx.now,
                &NODE_CONTROLLER,
                &involved,
                EventType::Warning,
                "NodeNotReady",
                "Node is not ready",
            );
        }
    }
}

/// The taints the lifecycle controller owns follow the Ready condition and `spec.unschedulable`.
fn sync_taints(ctx: &mut Ctx<'_>, node: &Entry<Node>, ready: Option<&str>) {
    let spec = node.typed.spec.as_ref();
    let current: Vec<Taint> = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    match ready {
        Some("True") => {}
        Some("Unknown") => wanted.extend([(UNREACHABLE_TAINT, "NoSchedule"), (UNREACHABLE_TAINT, "NoExecute")]),
        _ => wanted.extend([(NOT_READY_TAINT, "NoSchedule"), (NOT_READY_TAINT, "NoExecute")]),
    }
    if spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        wanted.push((UNSCHEDULABLE_TAINT, "NoSchedule"));
    }
    let memory_pressure = node
        .typed
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "MemoryPressure" && c.status == "True"));
    if memory_pressure && ready == Some("True") {
        wanted.push((MEMORY_PRESSURE_TAINT, "NoSchedule"));
    }
    let managed = |t: &Taint| {
        matches!(t.key.as_str(), UNREACHABLE_TAINT | NOT_READY_TAINT | UNSCHEDULABLE_TAINT | MEMORY_PRESSURE_TAINT)
    };
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| !managed(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in &wanted {
        if !next.iter().any(|t| t.key == *key && t.effect == *effect) {
            let time_added =
                (*effect == "NoExecute").then(|| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(second(ctx.now)));
            next.push(Taint { key: (*key).into(), value: None, effect: (*effect).into(), time_added });
        }
    }
    if next == current {
        return;
    }
    let Ok(value) = serde_json::to_value(&next) else { return };
    let _ = ctx.store.modify(Kind::Node, None, node.name(), |object| {
        if next.is_empty() {
            if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("taints");
            }
        } else {
            object["spec"]["taints"] = value;
        }
        Ok(())
    });
}

fn second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// The taint eviction controller for one node.
fn evict_intolerant(ctx: &mut Ctx<'_>, node: &Entry<Node>, pods: &[&Entry<Pod>]) {
    let taints: Vec<&Taint> = node
        .typed
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .collect();
    if taints.is_empty() {
        return;
    }
    let tainted_at = taints.iter().filter_map(|t| t.time_added.as_ref().map(|t| t.0)).min().unwrap_or(ctx.now);
    for pod in pods {
        if pod.typed.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let tolerations = pod.typed.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
        let mut deadline: Option<i64> = None;
        let mut forever = true;
        let mut tolerated_all = true;
        for taint in &taints {
            let matching: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
            if matching.is_empty() {
                tolerated_all = false;
                break;
            }
            // A toleration without tolerationSeconds tolerates forever.
            if let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min()
                && matching.iter().all(|t| t.toleration_seconds.is_some())
            {
                forever = false;
                deadline = Some(deadline.map_or(seconds, |d| d.min(seconds)));
            }
        }
        let due = !tolerated_all
            || (!forever && deadline.is_some_and(|s| tainted_at + SignedDuration::from_secs(s.max(0)) <= ctx.now));
        if due {
            evict(ctx, pod);
        }
    }
}

fn evict(ctx: &mut Ctx<'_>, pod: &Entry<Pod>) {
    let now = api_time(ctx.now);
    let _ = ctx.store.modify(Kind::Pod, Some(pod.namespace()), pod.name(), |object| {
        set_condition(
            object,
            json!({
                "type": "DisruptionTarget",
                "status": "True",
                "lastProbeTime": null,
                "lastTransitionTime": now,
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }),
        );
        Ok(())
    });
    if ctx.store.delete_with(Kind::Pod, Some(pod.namespace()), pod.name(), &DeleteOptions::default()).is_ok() {
        let involved = Involved::of(Kind::Pod, &pod.object);
        let message = format!("Marking for deletion Pod {}/{}", pod.namespace(), pod.name());
        ctx.events.record(
            ctx.store,
            ctx.now,
            &TAINT_EVICTION,
            &involved,
            EventType::Normal,
            "TaintManagerEviction",
            message,
        );
    }
}
