//! The scheduler: binds pending pods to nodes (requests against allocatable, cordoned nodes, taints and
//! tolerations, node selectors and required node affinity), spreads an owner's pods across nodes, and
//! reports pods that fit nowhere with the `PodScheduled=False` condition and `FailedScheduling` events.
pub mod fit;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

use super::cache::Entry;
use super::events::{EventType, Involved, Source};
use super::pods::{controller_of, node_name, phase};
use super::{Ctx, api_time, quantity};
use crate::store::Kind;
use fit::{NodeRequirement, NodeView, PodDemand};

const SOURCE: Source = Source::controller("default-scheduler");
/// How often an unschedulable pod's `FailedScheduling` event repeats while nothing changes.
const FAILED_EVENT_EVERY: SignedDuration = SignedDuration::from_secs(300);

#[derive(Debug)]
pub struct Scheduler {
    rng: ChaCha8Rng,
    /// The last `FailedScheduling` message per pod uid and when it was emitted.
    failures: HashMap<String, (String, Timestamp)>,
}

impl Scheduler {
    pub fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed), failures: HashMap::new() }
    }

    pub fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let pods = ctx.caches.pods.list(ctx.store);
        let mut pending: Vec<&Entry<Pod>> = pods.iter().filter(|p| wants_scheduling(&p.typed)).collect();
        if pending.is_empty() {
            self.failures.clear();
            return;
        }
        pending.sort_by(|a, b| {
            a.typed
                .metadata
                .creation_timestamp
                .cmp(&b.typed.metadata.creation_timestamp)
                .then_with(|| a.namespace().cmp(b.namespace()))
                .then_with(|| a.name().cmp(b.name()))
        });
        let nodes = ctx.caches.nodes.list(ctx.store);
        let mut views: Vec<NodeView> = nodes.iter().map(|n| node_view(&n.typed)).collect();
        let index: HashMap<String, usize> = views.iter().enumerate().map(|(i, v)| (v.name.clone(), i)).collect();
        // Pods of each owner per node, for spreading.
        let mut siblings: HashMap<String, BTreeMap<usize, u64>> = HashMap::new();
        for pod in &pods {
            let Some(node) = node_name(&pod.typed).and_then(|n| index.get(n)) else { continue };
            if matches!(phase(&pod.typed), "Succeeded" | "Failed") {
                continue;
            }
            let demand = demand(pod.typed.spec.as_ref());
            let view = &mut views[*node];
            view.requested_cpu_millis += demand.cpu_millis;
            view.requested_memory_bytes += demand.memory_bytes;
            view.pod_count += 1;
            if let Some(owner) = controller_of(&pod.typed.metadata) {
                *siblings.entry(owner.uid.clone()).or_default().entry(*node).or_default() += 1;
            }
        }
        let still_pending: Vec<String> = pending.iter().map(|p| p.uid().to_string()).collect();
        self.failures.retain(|uid, _| still_pending.contains(uid));

        for pod in pending {
            let demand = demand(pod.typed.spec.as_ref());
            let owner = controller_of(&pod.typed.metadata).map(|o| o.uid.clone());
            let counts = owner.as_ref().and_then(|o| siblings.get(o));
            let max_siblings = counts.map_or(0, |c| c.values().copied().max().unwrap_or(0));
            let mut failures = Vec::new();
            let mut best: Vec<(usize, i64)> = Vec::new();
            for (i, view) in views.iter().enumerate() {
                match fit::filter(&demand, view) {
                    Ok(()) => {
                        let on_node = counts.and_then(|c| c.get(&i)).copied().unwrap_or(0);
                        let score = fit::score(&demand, view, on_node, max_siblings);
                        match best.first() {
                            Some((_, top)) if score < *top => {}
                            Some((_, top)) if score == *top => best.push((i, score)),
                            _ => best = vec![(i, score)],
                        }
                    }
                    Err(reasons) => failures.push(reasons),
                }
            }
            if best.is_empty() {
                let message = fit::failed_scheduling_message(views.len(), &failures);
                self.report_unschedulable(ctx, pod, message);
                continue;
            }
            let chosen = best[if best.len() == 1 { 0 } else { self.rng.random_range(0..best.len()) }].0;
            let node = views[chosen].name.clone();
            if bind(ctx, pod, &node) {
                self.failures.remove(pod.uid());
                let view = &mut views[chosen];
                view.requested_cpu_millis += demand.cpu_millis;
                view.requested_memory_bytes += demand.memory_bytes;
                view.pod_count += 1;
                if let Some(owner) = owner {
                    *siblings.entry(owner).or_default().entry(chosen).or_default() += 1;
                }
            }
        }
    }

    fn report_unschedulable(&mut self, ctx: &mut Ctx<'_>, pod: &Entry<Pod>, message: String) {
        let repeat = match self.failures.get(pod.uid()) {
            Some((last, at)) => *last != message || ctx.now.duration_since(*at) >= FAILED_EVENT_EVERY,
            None => true,
        };
        if !repeat {
            return;
        }
        self.failures.insert(pod.uid().to_string(), (message.clone(), ctx.now));
        let now = api_time(ctx.now);
        let condition_message = message.clone();
        let _ = ctx.store.modify(Kind::Pod, Some(pod.namespace()), pod.name(), |object| {
            set_condition(
                object,
                json!({
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": null,
                    "lastTransitionTime": now,
                    "reason": "Unschedulable",
                    "message": condition_message,
                }),
            );
            Ok(())
        });
        let involved = Involved::of(Kind::Pod, &pod.object);
        ctx.events.record(ctx.store, ctx.now, &SOURCE, &involved, EventType::Warning, "FailedScheduling", message);
    }
}

/// A pending pod of the default scheduler that no node has been assigned to.
fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    spec.node_name.as_deref().is_none_or(str::is_empty)
        && spec.scheduler_name.as_deref().is_none_or(|s| s == "default-scheduler")
        && pod.metadata.deletion_timestamp.is_none()
        && phase(pod) == "Pending"
}

/// Binds the pod (the `binding` subresource: nodeName and `PodScheduled=True`) and records `Scheduled`.
fn bind(ctx: &mut Ctx<'_>, pod: &Entry<Pod>, node: &str) -> bool {
    let now = api_time(ctx.now);
    let bound = ctx.store.modify(Kind::Pod, Some(pod.namespace()), pod.name(), |object| {
        if object.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
            return Err(crate::Error::conflict(
                Kind::Pod,
                pod.name(),
                format!("pod {} is already assigned to a node", pod.name()),
            ));
        }
        object["spec"]["nodeName"] = json!(node);
        set_condition(
            object,
            json!({
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": null,
                "lastTransitionTime": now,
            }),
        );
        Ok(())
    });
    if bound.is_err() {
        return false;
    }
    let involved = Involved::of(Kind::Pod, &pod.object);
    let message = format!("Successfully assigned {}/{} to {node}", pod.namespace(), pod.name());
    ctx.events.record(ctx.store, ctx.now, &SOURCE, &involved, EventType::Normal, "Scheduled", message);
    true
}

/// Replaces the pod condition of the same type (keeping the transition time if the status is unchanged).
pub fn set_condition(pod: &mut Value, mut condition: Value) {
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    if !pod["status"].get("conditions").is_some_and(Value::is_array) {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else { return };
    let type_ = condition["type"].clone();
    if let Some(existing) = conditions.iter_mut().find(|c| c["type"] == type_) {
        if existing["status"] == condition["status"] {
            condition["lastTransitionTime"] = existing["lastTransitionTime"].clone();
        }
        *existing = condition;
    } else {
        conditions.push(condition);
    }
}

/// The pod's requests (requests default to limits; the API server does that on create).
pub fn demand(spec: Option<&PodSpec>) -> PodDemand {
    let Some(spec) = spec else { return PodDemand::default() };
    let mut demand = PodDemand {
        tolerations: spec.tolerations.clone().unwrap_or_default(),
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        ..Default::default()
    };
    for container in &spec.containers {
        let resources = container.resources.as_ref();
        let request = |name: &str| {
            resources
                .and_then(|r| {
                    r.requests
                        .as_ref()
                        .and_then(|q| q.get(name))
                        .or_else(|| r.limits.as_ref().and_then(|q| q.get(name)))
                })
                .map(|q| q.0.as_str())
        };
        demand.cpu_millis += request("cpu").and_then(quantity::cpu_millis).unwrap_or(0);
        demand.memory_bytes += request("memory").and_then(quantity::bytes).unwrap_or(0);
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref());
    if let Some(required) = required {
        demand.required_node_terms = required
            .node_selector_terms
            .iter()
            .map(|term| {
                term.match_expressions
                    .iter()
                    .flatten()
                    .map(|e| NodeRequirement {
                        key: e.key.clone(),
                        operator: e.operator.clone(),
                        values: e.values.clone().unwrap_or_default(),
                    })
                    .collect()
            })
            .collect();
    }
    demand
}

/// What the scheduler needs of a node (requested sums are added by the caller).
pub fn node_view(node: &Node) -> NodeView {
    let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let get = |name: &str| allocatable.and_then(|a| a.get(name)).map(|q| q.0.as_str());
    NodeView {
        name: node.metadata.name.clone().unwrap_or_default(),
        labels: node.metadata.labels.clone().unwrap_or_default(),
        unschedulable: node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        taints: node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default(),
        allocatable_cpu_millis: get("cpu").and_then(quantity::cpu_millis).unwrap_or(0),
        allocatable_memory_bytes: get("memory").and_then(quantity::bytes).unwrap_or(0),
        allocatable_pods: get("pods").and_then(|p| p.parse().ok()).unwrap_or(110),
        ..Default::default()
    }
}
