//! The scheduler's filters and scores, free of any store: whether a pod fits a node (unschedulable,
//! node selector, taints and tolerations, requested resources against allocatable) and how good a fit
//! it is, plus the `FailedScheduling` message Kubernetes writes when no node fits.
use k8s_openapi::api::core::v1::{Taint, Toleration};
use std::collections::BTreeMap;

pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// What the scheduler knows about one node.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    pub allocatable_cpu_millis: u64,
    pub allocatable_memory_bytes: u64,
    pub allocatable_pods: u64,
    /// Sums over the pods already bound to the node (not terminated).
    pub requested_cpu_millis: u64,
    pub requested_memory_bytes: u64,
    pub pod_count: u64,
}

/// What the scheduler knows about the pod to place.
#[derive(Debug, Clone, Default)]
pub struct PodDemand {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub tolerations: Vec<Toleration>,
    pub node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution` node selector terms (any term must match; every
    /// expression of a term must match).
    pub required_node_terms: Vec<Vec<NodeRequirement>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeRequirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// Why a node was filtered out; `Display` gives the scheduler's wording.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unfit {
    Unschedulable,
    NodeSelectorMismatch,
    UntoleratedTaint { key: String, value: String },
    InsufficientCpu,
    InsufficientMemory,
    TooManyPods,
}

impl Unfit {
    fn reason(&self) -> String {
        match self {
            Unfit::Unschedulable => "node(s) were unschedulable".into(),
            Unfit::NodeSelectorMismatch => "node(s) didn't match Pod's node affinity/selector".into(),
            Unfit::UntoleratedTaint { key, value } => format!("node(s) had untolerated taint {{{key}: {value}}}"),
            Unfit::InsufficientCpu => "Insufficient cpu".into(),
            Unfit::InsufficientMemory => "Insufficient memory".into(),
            Unfit::TooManyPods => "Too many pods".into(),
        }
    }

    /// Whether evicting lower-priority pods could make room (only for resources).
    fn resolvable_by_preemption(&self) -> bool {
        matches!(self, Unfit::InsufficientCpu | Unfit::InsufficientMemory | Unfit::TooManyPods)
    }
}

/// Whether `toleration` tolerates `taint` (`v1helper.TolerationsTolerateTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        return operator == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    }
}

pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

fn requirement_matches(requirement: &NodeRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&requirement.key);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| requirement.values.contains(v)),
        "NotIn" => value.is_none_or(|v| !requirement.values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                requirement.values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if requirement.operator == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// Runs the filters in the scheduler's order; the first failing filter decides, except the resource
/// filter, which reports every resource that is short.
pub fn filter(pod: &PodDemand, node: &NodeView) -> Result<(), Vec<Unfit>> {
    if node.unschedulable {
        let taint = Taint { key: UNSCHEDULABLE_TAINT.into(), effect: "NoSchedule".into(), ..Default::default() };
        if !tolerated(&pod.tolerations, &taint) {
            return Err(vec![Unfit::Unschedulable]);
        }
    }
    if let Some(taint) = node
        .taints
        .iter()
        .find(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(&pod.tolerations, t))
    {
        return Err(vec![Unfit::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
        }]);
    }
    let selector_ok = pod.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v));
    let affinity_ok = pod.required_node_terms.is_empty()
        || pod.required_node_terms.iter().any(|term| term.iter().all(|r| requirement_matches(r, &node.labels)));
    if !selector_ok || !affinity_ok {
        return Err(vec![Unfit::NodeSelectorMismatch]);
    }
    let mut short = Vec::new();
    if node.pod_count + 1 > node.allocatable_pods {
        short.push(Unfit::TooManyPods);
    }
    if pod.cpu_millis > 0 && node.requested_cpu_millis + pod.cpu_millis > node.allocatable_cpu_millis {
        short.push(Unfit::InsufficientCpu);
    }
    if pod.memory_bytes > 0 && node.requested_memory_bytes + pod.memory_bytes > node.allocatable_memory_bytes {
        short.push(Unfit::InsufficientMemory);
    }
    if short.is_empty() { Ok(()) } else { Err(short) }
}

/// A node's score for the pod (higher is better): least-allocated and balanced resources, plus a
/// strong preference for nodes running fewer pods of the same owner (default topology spreading).
/// `siblings_on_node` and `max_siblings` count the pod's owner's pods.
pub fn score(pod: &PodDemand, node: &NodeView, siblings_on_node: u64, max_siblings: u64) -> i64 {
    let fraction = |used: u64, total: u64| if total == 0 { 1.0 } else { (used as f64 / total as f64).min(1.0) };
    let cpu = fraction(node.requested_cpu_millis + pod.cpu_millis, node.allocatable_cpu_millis);
    let memory = fraction(node.requested_memory_bytes + pod.memory_bytes, node.allocatable_memory_bytes);
    let least_allocated = ((1.0 - cpu) + (1.0 - memory)) / 2.0 * 100.0;
    let balanced = (1.0 - (cpu - memory).abs()) * 100.0;
    let spread = if max_siblings == 0 {
        100.0
    } else {
        (max_siblings - siblings_on_node.min(max_siblings)) as f64 / max_siblings as f64 * 100.0
    };
    (least_allocated + balanced + 2.0 * spread).round() as i64
}

/// The `FailedScheduling` message: `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were
/// unschedulable. preemption: 0/3 nodes are available: ...`.
pub fn failed_scheduling_message(total_nodes: usize, failures: &[Vec<Unfit>]) -> String {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut preemption_helps = 0;
    let mut preemption_useless = 0;
    for node in failures {
        for unfit in node {
            *reasons.entry(unfit.reason()).or_default() += 1;
        }
        if node.iter().all(Unfit::resolvable_by_preemption) {
            preemption_helps += 1;
        } else {
            preemption_useless += 1;
        }
    }
    let mut parts: Vec<String> = reasons.iter().map(|(reason, count)| format!("{count} {reason}")).collect();
    parts.sort();
    let mut message = if total_nodes == 0 {
        "no nodes available to schedule pods".to_string()
    } else {
        format!("0/{total_nodes} nodes are available: {}.", parts.join(", "))
    };
    if total_nodes > 0 {
        let mut preemption = Vec::new();
        if preemption_helps > 0 {
            preemption.push(format!("{preemption_helps} No preemption victims found for incoming pod"));
        }
        if preemption_useless > 0 {
            preemption.push(format!("{preemption_useless} Preemption is not helpful for scheduling"));
        }
        preemption.sort();
        message.push_str(&format!(" preemption: 0/{total_nodes} nodes are available: {}.", preemption.join(", ")));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeView {
        NodeView {
            name: name.into(),
            allocatable_cpu_millis: 2000,
            allocatable_memory_bytes: 4 << 30,
            allocatable_pods: 110,
            ..Default::default()
        }
    }

    fn toleration(key: &str, operator: &str, value: Option<&str>, effect: Option<&str>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(operator.into()),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), time_added: None }
    }

    #[test]
    fn tolerations_match_taints_like_kubernetes() {
        let dedicated = taint("dedicated", Some("db"), "NoSchedule");
        let cases = [
            (toleration("dedicated", "Equal", Some("db"), Some("NoSchedule")), true),
            (toleration("dedicated", "Equal", Some("web"), Some("NoSchedule")), false),
            (toleration("dedicated", "Exists", None, None), true),
            (toleration("dedicated", "Exists", None, Some("NoExecute")), false),
            (toleration("", "Exists", None, None), true),
            (toleration("other", "Exists", None, None), false),
        ];
        for (t, expected) in cases {
            assert_eq!(tolerates(&t, &dedicated), expected, "{t:?}");
        }
    }

    #[test]
    fn filters_explain_why_a_node_does_not_fit() {
        let pod = PodDemand { cpu_millis: 500, memory_bytes: 1 << 30, ..Default::default() };
        assert_eq!(filter(&pod, &node("a")), Ok(()));

        let cordoned = NodeView { unschedulable: true, ..node("b") };
        assert_eq!(filter(&pod, &cordoned), Err(vec![Unfit::Unschedulable]));

        let full = NodeView { requested_cpu_millis: 1800, requested_memory_bytes: 4 << 30, ..node("c") };
        assert_eq!(filter(&pod, &full), Err(vec![Unfit::InsufficientCpu, Unfit::InsufficientMemory]));

        let unreachable =
            NodeView { taints: vec![taint("node.kubernetes.io/unreachable", None, "NoExecute")], ..node("d") };
        assert_eq!(
            filter(&pod, &unreachable),
            Err(vec![Unfit::UntoleratedTaint { key: "node.kubernetes.io/unreachable".into(), value: String::new() }])
        );
        let tolerant = PodDemand {
            tolerations: vec![toleration("node.kubernetes.io/unreachable", "Exists", None, Some("NoExecute"))],
            ..pod.clone()
        };
        assert_eq!(filter(&tolerant, &unreachable), Ok(()));

        let picky = PodDemand { node_selector: [("disk".to_string(), "ssd".to_string())].into(), ..pod.clone() };
        assert_eq!(filter(&picky, &node("e")), Err(vec![Unfit::NodeSelectorMismatch]));
        let affinity = PodDemand {
            required_node_terms: vec![vec![NodeRequirement {
                key: "zone".into(),
                operator: "In".into(),
                values: vec!["a".into()],
            }]],
            ..pod.clone()
        };
        let zone_a = NodeView { labels: [("zone".to_string(), "a".to_string())].into(), ..node("f") };
        assert_eq!(filter(&affinity, &zone_a), Ok(()));
        assert_eq!(filter(&affinity, &node("g")), Err(vec![Unfit::NodeSelectorMismatch]));
    }

    #[test]
    fn the_failed_scheduling_message_reads_like_the_schedulers() {
        let failures = vec![
            vec![Unfit::Unschedulable],
            vec![Unfit::InsufficientCpu],
            vec![Unfit::InsufficientCpu, Unfit::InsufficientMemory],
        ];
        assert_eq!(
            failed_scheduling_message(3, &failures),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable, 2 Insufficient cpu. \
             preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
             2 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn scores_prefer_emptier_nodes_and_spreading() {
        let pod = PodDemand { cpu_millis: 100, memory_bytes: 128 << 20, ..Default::default() };
        let busy = NodeView { requested_cpu_millis: 1500, requested_memory_bytes: 3 << 30, ..node("busy") };
        assert!(score(&pod, &node("idle"), 0, 0) > score(&pod, &busy, 0, 0));
        assert!(score(&pod, &node("x"), 0, 2) > score(&pod, &node("y"), 2, 2));
    }
}
