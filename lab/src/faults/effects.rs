//! What active faults do to the processes and the network, as the application model reads it.
//!
//! The fault engine rebuilds this every tick from the experiments' records (Chaos Mesh kinds: the pods
//! selected at injection) and from the lab's own faults (workload-scoped: every pod the selector
//! matches now). The model reads it in `step`.
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// `(namespace, pod name)`.
pub type PodRef = (String, String);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultEffects {
    pub pods: HashMap<PodRef, PodEffects>,
    pub network: Vec<NetworkRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PodEffects {
    /// StressChaos cpu: cores' worth of busy workers, in millicores.
    pub stress_cpu_millis: f64,
    /// StressChaos memory: bytes held by the memory stressors.
    pub stress_memory_bytes: u64,
    /// Containers the stressors run in (empty: every container).
    pub stress_containers: Vec<String>,
    /// LabFault memory-leak: working set growth.
    pub memory_leak_bytes_per_second: f64,
    /// LabFault connection-leak: connections opened and never closed, per minute.
    pub connection_leak_per_minute: f64,
    /// The dependency (service name) the leak goes to; `None`: the first pooled dependency.
    pub connection_leak_target: Option<String>,
    /// LabFault traffic-surge: multiplies the traffic the pod's service receives.
    pub traffic_factor: f64,
    /// LabFault egress: connections to an address outside the cluster.
    pub egress: Vec<Egress>,
}

impl Default for PodEffects {
    fn default() -> Self {
        PodEffects {
            stress_cpu_millis: 0.0,
            stress_memory_bytes: 0,
            stress_containers: Vec::new(),
            memory_leak_bytes_per_second: 0.0,
            connection_leak_per_minute: 0.0,
            connection_leak_target: None,
            traffic_factor: 1.0,
            egress: Vec::new(),
        }
    }
}

impl PodEffects {
    pub fn stresses(&self, container: &str) -> bool {
        self.stress_containers.is_empty() || self.stress_containers.iter().any(|c| c == container)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Egress {
    /// As written in the fault: `203.0.113.50:4444`.
    pub address: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub bytes_per_second: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Packets from the selected pods to the target.
    To,
    /// Packets from the target to the selected pods.
    From,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NetworkAction {
    Delay { latency_ms: f64, jitter_ms: f64 },
    Loss { probability: f64 },
    Partition,
}

/// One NetworkChaos experiment's effect, on the pods it was injected into.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRule {
    pub source: BTreeSet<PodRef>,
    /// `None`: every peer.
    pub target: Option<BTreeSet<PodRef>>,
    pub direction: Direction,
    pub action: NetworkAction,
}

impl NetworkRule {
    /// Whether a packet from `from` to `to` is affected.
    pub fn affects(&self, from: &PodRef, to: &PodRef) -> bool {
        let in_target = |pod: &PodRef| self.target.as_ref().is_none_or(|t| t.contains(pod));
        let forward =
            matches!(self.direction, Direction::To | Direction::Both) && self.source.contains(from) && in_target(to);
        let backward =
            matches!(self.direction, Direction::From | Direction::Both) && self.source.contains(to) && in_target(from);
        forward || backward
    }
}

/// The effect of the rules on a round trip: a request from `caller` to `callee` and its answer.
pub fn round_trip(rules: &[NetworkRule], caller: &PodRef, callee: &PodRef) -> (f64, f64, bool) {
    let mut delay = 0.0;
    let mut delivered = 1.0;
    let mut blocked = false;
    for rule in rules {
        for (from, to) in [(caller, callee), (callee, caller)] {
            if !rule.affects(from, to) {
                continue;
            }
            match rule.action {
                NetworkAction::Delay { latency_ms, .. } => delay += latency_ms,
                NetworkAction::Loss { probability } => delivered *= 1.0 - probability.clamp(0.0, 1.0),
                // TCP needs both directions: dropping either breaks the connection.
                NetworkAction::Partition => blocked = true,
            }
        }
    }
    (delay, 1.0 - delivered, blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> PodRef {
        ("shop".into(), name.into())
    }

    #[test]
    fn direction_and_target_decide_which_packets_are_hit() {
        let rule = |direction, target: Option<&[&str]>, action| NetworkRule {
            source: [pod("cart-1")].into(),
            target: target.map(|t| t.iter().map(|n| pod(n)).collect()),
            direction,
            action,
        };
        let delay = NetworkAction::Delay { latency_ms: 90.0, jitter_ms: 0.0 };
        // Delay on the cart's outgoing packets: its calls and the answers it gives are slower by one leg.
        let to_all = [rule(Direction::To, None, delay)];
        assert_eq!(round_trip(&to_all, &pod("cart-1"), &pod("redis-1")), (90.0, 0.0, false));
        assert_eq!(round_trip(&to_all, &pod("frontend-1"), &pod("cart-1")), (90.0, 0.0, false));
        assert_eq!(round_trip(&to_all, &pod("frontend-1"), &pod("catalog-1")), (0.0, 0.0, false));
        // Both directions towards a target: both legs are delayed, other peers are not.
        let both = [rule(Direction::Both, Some(&["redis-1"]), delay)];
        assert_eq!(round_trip(&both, &pod("cart-1"), &pod("redis-1")), (180.0, 0.0, false));
        assert_eq!(round_trip(&both, &pod("cart-1"), &pod("catalog-1")), (0.0, 0.0, false));
        // A one-way partition still breaks TCP in both directions.
        let from = [rule(Direction::From, Some(&["redis-1"]), NetworkAction::Partition)];
        assert!(round_trip(&from, &pod("cart-1"), &pod("redis-1")).2);
        assert!(round_trip(&from, &pod("redis-1"), &pod("cart-1")).2);
        assert!(!round_trip(&from, &pod("cart-1"), &pod("catalog-1")).2);
        let loss = [rule(Direction::To, None, NetworkAction::Loss { probability: 0.5 })];
        let (_, lost, _) = round_trip(&loss, &pod("cart-1"), &pod("redis-1"));
        assert!((lost - 0.5).abs() < 1e-9);
    }
}
