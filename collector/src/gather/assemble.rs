//! Cutting what was read down to what concerns the incident's workloads, and putting the context together.
use medic_core::context::{EventSnapshot, PodSnapshot};
use medic_core::{IncidentContext, ObjectKind, ObjectRef};
use medic_store::grouping::pod_workload;
use std::collections::BTreeSet;

use super::Gathering;
use super::dependencies;

impl Gathering<'_> {
    pub(super) fn assemble(self, target: Option<ObjectRef>) -> IncidentContext {
        let included = &self.included;

        let workloads = included.iter().filter_map(|w| self.deployment(w).cloned()).collect();

        let mut pods: Vec<PodSnapshot> = Vec::new();
        for pod in included.iter().flat_map(|w| self.pods_of(w)).chain(&self.node_pods) {
            if !pods.iter().any(|p| p.namespace == pod.namespace && p.name == pod.name) {
                pods.push(pod.clone());
            }
        }

        let pod_nodes: BTreeSet<&str> = pods.iter().filter_map(|p| p.node.as_deref()).collect();
        let target_node = target.as_ref().filter(|t| t.kind == ObjectKind::Node).map(|t| t.name.as_str());
        // The nodes the pods run on, the target node, and any node that is not ready or cordoned (a pod
        // that cannot be scheduled is explained by those).
        let nodes = self
            .nodes
            .iter()
            .filter(|n| {
                pod_nodes.contains(n.name.as_str())
                    || Some(n.name.as_str()) == target_node
                    || n.ready != Some(true)
                    || n.unschedulable
            })
            .cloned()
            .collect();

        let edges: Vec<_> = dependencies::edges(&self.references, &self.book)
            .into_iter()
            .filter(|e| included.contains(&e.from))
            .collect();

        let named_services: BTreeSet<(&str, &str)> =
            edges.iter().filter_map(|e| Some((e.to.namespace()?, e.service.as_str()))).collect();
        let services = self
            .views
            .values()
            .flat_map(|v| &v.services)
            .filter(|s| {
                s.backend.as_ref().is_some_and(|b| included.contains(b))
                    || named_services.contains(&(s.namespace.as_str(), s.name.as_str()))
                    || edges.iter().any(|e| e.to.kind == ObjectKind::Service && e.to.name == s.name)
            })
            .cloned()
            .collect();

        let events = self.relevant_events(&pods);

        let network_policies = self
            .views
            .values()
            .flat_map(|v| &v.policies)
            .filter(|policy| {
                pods.iter().any(|p| {
                    p.namespace == policy.namespace
                        && policy.pod_selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
                })
            })
            .cloned()
            .collect();

        let mut rollouts = self.rollouts.clone();
        rollouts.dedup_by(|a, b| a.deployment == b.deployment && a.replica_set == b.replica_set);

        IncidentContext {
            incident: None,
            alerts: Vec::new(),
            target,
            collected_at: None,
            workloads,
            pods,
            nodes,
            services,
            events,
            logs: self.logs,
            rollouts,
            dependencies: edges,
            network_policies,
            metrics: Vec::new(),
            gaps: self.gaps,
        }
    }

    /// Events about the incident's objects: its workloads, their ReplicaSets and pods (also pods already
    /// replaced, by their name), its services, and the nodes its pods run on. The most recent ones, oldest first.
    fn relevant_events(&self, pods: &[PodSnapshot]) -> Vec<EventSnapshot> {
        let mut names: BTreeSet<(Option<&str>, &str)> = BTreeSet::new();
        let workload_names: BTreeSet<(Option<&str>, &str)> =
            self.included.iter().map(|w| (w.namespace(), w.name.as_str())).collect();
        names.extend(workload_names.iter().copied());
        for p in pods {
            names.insert((Some(&p.namespace), &p.name));
            if let Some(rs) = &p.replica_set {
                names.insert((Some(&p.namespace), rs));
            }
        }
        for r in &self.rollouts {
            names.insert((r.deployment.namespace(), &r.replica_set));
        }
        let nodes: BTreeSet<&str> = pods.iter().filter_map(|p| p.node.as_deref()).collect();
        let mut events: Vec<EventSnapshot> = self
            .views
            .values()
            .flat_map(|v| &v.events)
            .chain(&self.node_events)
            .filter(|e| {
                let ns = e.involved.namespace.as_deref().or(e.namespace.as_deref());
                let name = e.involved.name.as_str();
                match e.involved.kind.as_str() {
                    "Node" => nodes.contains(name) || self.node_events.contains(e),
                    // A pod that no longer exists still names its workload.
                    "Pod" => names.contains(&(ns, name)) || workload_names.contains(&(ns, pod_workload(name))),
                    _ => names.contains(&(ns, name)),
                }
            })
            .cloned()
            .collect();
        events.sort_by_key(|e| e.last_seen);
        events.dedup();
        let excess = events.len().saturating_sub(self.config.max_events);
        events.drain(..excess);
        events
    }
}
