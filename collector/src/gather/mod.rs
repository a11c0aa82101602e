//! Gathering an incident's context from the cluster: concurrent reads, one round of reads per hop of the
//! dependency walk, all within one deadline.
//!
//! 1. The alert's namespace is read in one concurrent round (deployments, pods, services and their
//!    addresses, events, network policies) together with the nodes; the target is resolved against it.
//! 2. Walk: the target's logs (current and previous, bounded) and rollouts are read; its configuration and
//!    logs name the services it calls (hop 1), whose pods, logs and rollouts are read in the next round; a
//!    dependency that is itself failing has its own dependencies read too (hop 2). Workloads that call the
//!    target are included without their logs.
//! 3. The result is cut down to what concerns those workloads (their pods, nodes, services, events,
//!    network policies) and assembled.
mod assemble;
mod budget;
pub mod dependencies;
pub mod target;

use futures::future::join_all;
use jiff::Timestamp;
use medic_core::context::{
    DependencyVia, EventSnapshot, LogExcerpt, NetworkPolicySnapshot, NodeSnapshot, PodSnapshot, RolloutSnapshot,
    ServiceSnapshot, WorkloadSnapshot,
};
use medic_core::ports::{ClusterRead, Labels};
use medic_core::{Alert, IncidentContext, IncidentUid, ObjectKind, ObjectRef};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::error::{Error, Result};
use budget::{Budget, keep};
use dependencies::{AddressBook, Callee, Reference};
use target::Hint;

fn default_deadline_ms() -> u64 {
    5_000
}
fn default_log_tail_lines() -> u32 {
    200
}
fn default_max_log_pods() -> usize {
    3
}
fn default_max_hops() -> usize {
    2
}
fn default_max_dependencies() -> usize {
    8
}
fn default_max_events() -> usize {
    200
}
fn default_max_namespaces() -> usize {
    4
}

/// `[collector]` in medic's configuration: how much context to read and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    /// Everything must be read within this; what is late becomes a gap.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Lines read from the end of each container log (current and previous instance each).
    #[serde(default = "default_log_tail_lines")]
    pub log_tail_lines: u32,
    /// Pods of one workload whose logs are read (the unhealthiest first).
    #[serde(default = "default_max_log_pods")]
    pub max_log_pods: usize,
    /// How far the dependency walk goes: 1 reads what the target calls, 2 also what a failing dependency calls.
    #[serde(default = "default_max_hops")]
    pub max_hops: usize,
    /// Workloads added per hop of the walk (and dependents of the target).
    #[serde(default = "default_max_dependencies")]
    pub max_dependencies: usize,
    /// The most recent events kept.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Namespaces read in one collection (the alert's and those its dependencies live in).
    #[serde(default = "default_max_namespaces")]
    pub max_namespaces: usize,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            deadline_ms: default_deadline_ms(),
            log_tail_lines: default_log_tail_lines(),
            max_log_pods: default_max_log_pods(),
            max_hops: default_max_hops(),
            max_dependencies: default_max_dependencies(),
            max_events: default_max_events(),
            max_namespaces: default_max_namespaces(),
        }
    }
}

impl CollectConfig {
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("deadline_ms", self.deadline_ms as usize),
            ("log_tail_lines", self.log_tail_lines as usize),
            ("max_namespaces", self.max_namespaces),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::Config(format!("collector.{field} must be at least 1")));
            }
        }
        if self.log_tail_lines > 10_000 {
            return Err(Error::Config("collector.log_tail_lines must be at most 10000".into()));
        }
        Ok(())
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }
}

/// Collects the context of an incident. Never fails: what could not be read is listed in `gaps`.
pub async fn collect(
    cluster: &dyn ClusterRead,
    incident: IncidentUid,
    alerts: Vec<Alert>,
    config: &CollectConfig,
    now: Timestamp,
) -> IncidentContext {
    let mut gathering = Gathering::new(cluster, config);
    let hint = target::hint(&alerts);
    tracing::debug!(?hint, "collecting context");
    let target = match &hint {
        Hint::Node(name) => gathering.around_node(name).await,
        Hint::Nothing => {
            gathering.gaps.push("target: the alerts name no namespace, workload, pod or node".into());
            None
        }
        _ => gathering.around_workload(&hint).await,
    };
    let mut context = gathering.assemble(target);
    context.incident = Some(incident);
    context.alerts = alerts;
    context.collected_at = Some(now);
    context
}

/// What one namespace holds, read once per collection.
#[derive(Debug, Default)]
struct NamespaceView {
    deployments: Vec<WorkloadSnapshot>,
    pods: Vec<PodSnapshot>,
    services: Vec<ServiceSnapshot>,
    events: Vec<EventSnapshot>,
    policies: Vec<NetworkPolicySnapshot>,
}

struct Gathering<'a> {
    cluster: &'a dyn ClusterRead,
    config: &'a CollectConfig,
    budget: Budget,
    gaps: Vec<String>,
    book: AddressBook,
    views: BTreeMap<String, NamespaceView>,
    nodes: Vec<NodeSnapshot>,
    /// Events about nodes (recorded in the `default` namespace).
    node_events: Vec<EventSnapshot>,
    /// Pods read outside a namespace view (the pods of a node).
    node_pods: Vec<PodSnapshot>,
    logs: Vec<LogExcerpt>,
    rollouts: Vec<RolloutSnapshot>,
    references: Vec<Reference>,
    /// The workloads the context is about, in order: target, dependencies by hop, dependents.
    included: Vec<ObjectRef>,
}

/// A log read: which container, and whether of its previous instance.
struct LogRead {
    namespace: String,
    pod: String,
    container: String,
    previous: bool,
}

impl<'a> Gathering<'a> {
    fn new(cluster: &'a dyn ClusterRead, config: &'a CollectConfig) -> Self {
        Self {
            cluster,
            config,
            budget: Budget::new(config.deadline()),
            gaps: Vec::new(),
            book: AddressBook::default(),
            views: BTreeMap::new(),
            nodes: Vec::new(),
            node_events: Vec::new(),
            node_pods: Vec::new(),
            logs: Vec::new(),
            rollouts: Vec::new(),
            references: Vec::new(),
            included: Vec::new(),
        }
    }

    /// Reads the namespaces not read yet, all of them and all their lists concurrently.
    async fn load(&mut self, namespaces: Vec<String>) {
        let mut wanted: Vec<String> = namespaces.into_iter().filter(|ns| !self.views.contains_key(ns)).collect();
        wanted.sort();
        wanted.dedup();
        let room = self.config.max_namespaces.saturating_sub(self.views.len());
        for skipped in wanted.iter().skip(room) {
            self.gaps.push(format!(
                "namespace {skipped}: not read, the collection reads at most {} namespaces",
                self.config.max_namespaces
            ));
        }
        wanted.truncate(room);
        let (cluster, budget) = (self.cluster, self.budget);
        let everything = Labels::new();
        let reads = wanted.iter().map(|ns| {
            let everything = &everything;
            async move {
                futures::join!(
                    budget.read(format!("deployments of {ns}"), cluster.deployments(ns)),
                    budget.read(format!("pods of {ns}"), cluster.pods(ns, everything)),
                    budget.read(format!("services of {ns}"), cluster.services(ns)),
                    budget.read(format!("events of {ns}"), cluster.events(Some(ns))),
                    budget.read(format!("network policies of {ns}"), cluster.network_policies(ns)),
                )
            }
        });
        let results = join_all(reads).await;
        for (ns, (deployments, pods, services, events, policies)) in wanted.into_iter().zip(results) {
            let gaps = &mut self.gaps;
            let view = NamespaceView {
                deployments: keep(deployments, gaps),
                pods: keep(pods, gaps),
                services: keep(services, gaps),
                events: keep(events, gaps),
                policies: keep(policies, gaps),
            };
            self.book.add_namespace(&ns, &view.services, &view.pods);
            self.views.insert(ns, view);
        }
    }

    /// The target is a workload (or a pod, or only a namespace).
    async fn around_workload(&mut self, hint: &Hint) -> Option<ObjectRef> {
        let namespace = hint.namespace().unwrap_or_default().to_string();
        let (cluster, budget) = (self.cluster, self.budget);
        let (_, nodes) = futures::join!(self.load(vec![namespace.clone()]), budget.read("nodes", cluster.nodes()));
        self.nodes = keep(nodes, &mut self.gaps);
        let view = self.views.get(&namespace)?;
        let target = match target::resolve(hint, &view.deployments, &view.pods, &view.services) {
            Ok(target) => Some(target),
            Err(gap) => {
                self.gaps.push(gap);
                None
            }
        };
        let frontier = match &target {
            Some(target) => vec![target.clone()],
            // Nothing precise: the namespace's unhealthy workloads are the candidates.
            None => view
                .deployments
                .iter()
                .filter(|d| d.replicas_available < d.replicas_desired)
                .map(|d| d.workload.clone())
                .take(self.config.max_dependencies)
                .collect(),
        };
        self.walk(frontier, self.config.max_hops).await;
        if let Some(target) = &target {
            self.add_dependents(target);
        }
        target
    }

    /// The target is a node: its pods, their workloads, and the node's events. Logs of pods on a node
    /// that is not ready are not read (the kubelet would not answer).
    async fn around_node(&mut self, node: &str) -> Option<ObjectRef> {
        let (cluster, budget) = (self.cluster, self.budget);
        let (nodes, pods, events) = futures::join!(
            budget.read("nodes", cluster.nodes()),
            budget.read(format!("pods on node {node}"), cluster.pods_on_node(node)),
            budget.read("events of default", cluster.events(Some("default"))),
        );
        self.nodes = keep(nodes, &mut self.gaps);
        self.node_pods = keep(pods, &mut self.gaps);
        self.node_events = keep(events, &mut self.gaps).into_iter().filter(|e| e.involved.kind == "Node").collect();
        if !self.nodes.iter().any(|n| n.name == node) {
            self.gaps.push(format!("node {node}: not in the cluster's node list"));
        }
        let namespaces: Vec<String> = self.node_pods.iter().map(|p| p.namespace.clone()).collect();
        self.load(namespaces).await;
        let mut owners: Vec<ObjectRef> = Vec::new();
        for owner in self.node_pods.iter().filter_map(|p| p.owner.clone()) {
            if !owners.contains(&owner) && owners.len() < self.config.max_dependencies {
                owners.push(owner);
            }
        }
        self.walk(owners, 0).await;
        Some(ObjectRef::node(node))
    }

    /// Reads the frontier's logs and rollouts, finds what it calls, and moves on to that, `hops` times.
    async fn walk(&mut self, mut frontier: Vec<ObjectRef>, hops: usize) {
        for hop in 0..=hops {
            if frontier.is_empty() {
                break;
            }
            if self.budget.expired() {
                let names: Vec<String> = frontier.iter().map(ToString::to_string).collect();
                self.gaps.push(format!("dependencies: the deadline passed before {} was read", names.join(", ")));
                break;
            }
            for w in &frontier {
                if !self.included.contains(w) {
                    self.included.push(w.clone());
                }
            }
            self.read_logs_and_rollouts(&frontier, hop == 0).await;
            let mut references = self.references_of(&frontier);
            let unread: Vec<String> = references
                .iter()
                .filter_map(|r| match &r.callee {
                    Callee::Service { namespace, .. } if !self.book.has_namespace(namespace) => Some(namespace.clone()),
                    _ => None,
                })
                .collect();
            if !unread.is_empty() {
                self.load(unread).await;
                references = self.references_of(&frontier);
            }
            let next: Vec<ObjectRef> = if hop < hops {
                let mut next = Vec::new();
                // Past the first hop, only a dependency that is failing itself, or whose logs report
                // failures of what they name, leads further.
                let leads_further = |r: &&Reference| {
                    hop == 0
                        || self.is_failing(&r.from)
                        || (r.via == DependencyVia::Log && dependencies::reports_failure(&r.detail))
                };
                for r in references.iter().filter(leads_further) {
                    if let Some(w) = self.callee_workload(&r.callee)
                        && !self.included.contains(&w)
                        && !next.contains(&w)
                    {
                        next.push(w);
                    }
                }
                // Failing dependencies first: they are the likelier cause, and the cap must not drop them.
                next.sort_by_key(|w| !self.is_failing(w));
                next.truncate(self.config.max_dependencies);
                next
            } else {
                Vec::new()
            };
            self.references.extend(references);
            frontier = next;
        }
    }

    /// Workloads that call the target, found in their configuration; their logs are not read.
    fn add_dependents(&mut self, target: &ObjectRef) {
        let mut added = 0;
        let mut found = Vec::new();
        for view in self.views.values() {
            for d in &view.deployments {
                if added >= self.config.max_dependencies {
                    break;
                }
                let calls: Vec<Reference> = dependencies::from_config(d, &self.book)
                    .into_iter()
                    .filter(|r| self.callee_workload(&r.callee).as_ref() == Some(target))
                    .collect();
                if !calls.is_empty() && &d.workload != target {
                    added += 1;
                    found.push((d.workload.clone(), calls));
                }
            }
        }
        for (workload, calls) in found {
            if !self.included.contains(&workload) {
                self.included.push(workload);
            }
            for call in calls {
                if !self.references.contains(&call) {
                    self.references.push(call);
                }
            }
        }
    }

    fn callee_workload(&self, callee: &Callee) -> Option<ObjectRef> {
        match callee {
            Callee::Service { namespace, name } => self.book.service(namespace, name).and_then(|s| s.backend.clone()),
            Callee::Workload(w) => Some(w.clone()),
        }
    }

    fn deployment(&self, workload: &ObjectRef) -> Option<&WorkloadSnapshot> {
        let view = self.views.get(workload.namespace()?)?;
        view.deployments.iter().find(|d| &d.workload == workload)
    }

    /// The pods of a workload (the pod itself when the workload is a pod), from every read that has them.
    fn pods_of(&self, workload: &ObjectRef) -> Vec<&PodSnapshot> {
        let in_view =
            workload.namespace().and_then(|ns| self.views.get(ns)).map(|v| v.pods.as_slice()).unwrap_or_default();
        let mut pods: Vec<&PodSnapshot> = Vec::new();
        for pod in in_view.iter().chain(&self.node_pods) {
            let belongs = match workload.kind {
                ObjectKind::Pod => {
                    Some(pod.name.as_str()) == Some(workload.name.as_str())
                        && workload.namespace() == Some(pod.namespace.as_str())
                }
                _ => pod.owner.as_ref() == Some(workload),
            };
            if belongs && !pods.iter().any(|p| p.namespace == pod.namespace && p.name == pod.name) {
                pods.push(pod);
            }
        }
        pods
    }

    fn node_ready(&self, name: &str) -> Option<bool> {
        self.nodes.iter().find(|n| n.name == name).and_then(|n| n.ready)
    }

    /// A workload whose pods are not all ready and running, or that has fewer available replicas than
    /// desired, or no pods at all.
    fn is_failing(&self, workload: &ObjectRef) -> bool {
        if let Some(d) = self.deployment(workload)
            && d.replicas_available < d.replicas_desired
        {
            return true;
        }
        let pods = self.pods_of(workload);
        pods.is_empty() || pods.iter().any(|p| !p.ready || p.containers.iter().any(|c| c.state.reason().is_some()))
    }

    /// The configuration and log references of the frontier.
    fn references_of(&self, frontier: &[ObjectRef]) -> Vec<Reference> {
        let mut references = Vec::new();
        for w in frontier {
            if let Some(d) = self.deployment(w) {
                references.extend(dependencies::from_config(d, &self.book));
            }
            let pods: BTreeSet<(&str, &str)> =
                self.pods_of(w).iter().map(|p| (p.namespace.as_str(), p.name.as_str())).collect();
            let lines = self
                .logs
                .iter()
                .filter(|l| pods.contains(&(l.namespace.as_str(), l.pod.as_str())))
                .flat_map(|l| l.lines.iter().map(String::as_str));
            references.extend(dependencies::from_logs(w, lines, &self.book));
        }
        references
    }

    /// The logs to read for a workload: its unhealthiest pods first, the current log of every container
    /// that has started, and the previous one of every container that restarted.
    fn log_reads(&mut self, workload: &ObjectRef) -> Vec<LogRead> {
        let mut pods = self.pods_of(workload);
        pods.sort_by_key(|p| (p.ready, std::cmp::Reverse(p.restarts()), std::cmp::Reverse(p.created_at)));
        let mut reads = Vec::new();
        let mut skipped = Vec::new();
        for pod in pods.into_iter().take(self.config.max_log_pods) {
            let Some(node) = &pod.node else { continue };
            if self.node_ready(node) != Some(true) && self.nodes.iter().any(|n| &n.name == node) {
                skipped.push(format!(
                    "logs of pod {}/{}: not read, its node {node} is not ready",
                    pod.namespace, pod.name
                ));
                continue;
            }
            for c in &pod.containers {
                let has_run = !matches!(c.state, medic_core::context::ContainerState::Waiting { .. })
                    || c.restart_count > 0
                    || c.last_state.is_some();
                let restarted = c.restart_count > 0
                    || matches!(c.last_state, Some(medic_core::context::ContainerState::Terminated { .. }));
                for previous in [false, true] {
                    if (previous && restarted) || (!previous && has_run) {
                        reads.push(LogRead {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            container: c.name.clone(),
                            previous,
                        });
                    }
                }
            }
        }
        self.gaps.extend(skipped);
        reads
    }

    async fn read_logs_and_rollouts(&mut self, frontier: &[ObjectRef], first_round: bool) {
        let reads: Vec<LogRead> = frontier.iter().flat_map(|w| self.log_reads(w)).collect();
        let deployments: Vec<&ObjectRef> =
            frontier.iter().filter(|w| w.kind == ObjectKind::Deployment && self.deployment(w).is_some()).collect();
        // Node events matter when a pod of the target sits on a node that is not ready.
        let troubled_nodes: BTreeSet<String> = frontier
            .iter()
            .flat_map(|w| self.pods_of(w))
            .filter_map(|p| p.node.clone())
            .filter(|n| self.node_ready(n) == Some(false) || self.node_ready(n).is_none())
            .filter(|n| self.nodes.iter().any(|node| &node.name == n))
            .collect();
        let want_node_events = first_round && !troubled_nodes.is_empty() && !self.views.contains_key("default");
        let (cluster, budget, tail) = (self.cluster, self.budget, self.config.log_tail_lines);
        let log_reads = join_all(reads.iter().map(|r| {
            let which = if r.previous { "previous log" } else { "log" };
            budget.read(
                format!("{which} of {}/{}/{}", r.namespace, r.pod, r.container),
                cluster.logs(&r.namespace, &r.pod, &r.container, r.previous, tail),
            )
        }));
        let rollout_reads = join_all(deployments.iter().map(|d| {
            let ns = d.namespace().unwrap_or_default();
            budget.read(format!("rollouts of {d}"), cluster.rollouts(ns, &d.name))
        }));
        let node_events = async {
            if want_node_events {
                Some(budget.read("events of default", cluster.events(Some("default"))).await)
            } else {
                None
            }
        };
        let (logs, rollouts, node_events) = futures::join!(log_reads, rollout_reads, node_events);
        for (read, lines) in reads.into_iter().zip(logs) {
            let lines = keep(lines, &mut self.gaps);
            if lines.is_empty() {
                continue;
            }
            self.logs.push(LogExcerpt {
                truncated: lines.len() >= tail as usize,
                namespace: read.namespace,
                pod: read.pod,
                container: read.container,
                previous: read.previous,
                lines,
            });
        }
        for rollouts in rollouts {
            self.rollouts.extend(keep(rollouts, &mut self.gaps));
        }
        if let Some(events) = node_events {
            let events = keep(events, &mut self.gaps);
            self.node_events.extend(
                events.into_iter().filter(|e| e.involved.kind == "Node" && troubled_nodes.contains(&e.involved.name)),
            );
        }
    }
}

#[cfg(test)]
mod tests;
