//! Facts the specialists derive from a context: which pods crash and how, which rollouts are recent, what
//! the logs say about peers, and which workload a peer is.
use jiff::{SignedDuration, Timestamp};
use medic_core::context::{
    ContainerState, IncidentContext, LogExcerpt, NodeSnapshot, PodSnapshot, RolloutSnapshot, WorkloadSnapshot,
};
use medic_core::{Evidence, EvidenceSource, ObjectRef};

use crate::patterns::{self, LogSignal, Peer};

/// Waiting reasons that mean the image cannot be pulled.
pub const IMAGE_PULL_REASONS: [&str; 4] = ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"];

/// Exit code of a process killed by SIGKILL, which is how the kernel's OOM killer ends a container.
pub const SIGKILL_EXIT_CODE: i32 = 137;

/// How long before the alert a rollout counts as recent.
pub const RECENT_ROLLOUT: SignedDuration = SignedDuration::from_secs(45 * 60);

/// The kubelet renews its node's Lease every 10 s (a quarter of the lease's 40 s duration, with 4% jitter):
/// a lease that missed its renewal by a second means the node stopped reporting, well before the node
/// controller's grace (40 s) marks it NotReady. Alerts often fire inside that window. A slow renewal only
/// holds pod-level fixes on that node (the finding stays below the act threshold), so erring early is safe.
pub const LEASE_GRACE: SignedDuration = SignedDuration::from_secs(10 + 1);

/// Without a lease, the kubelet posts its node status at least every 5 minutes (`nodeStatusReportFrequency`)
/// plus two of its 10 s status periods.
pub const STATUS_GRACE: SignedDuration = SignedDuration::from_secs(5 * 60 + 2 * 10);

/// How long a node that still reads Ready has gone without a heartbeat beyond its grace, at the time the
/// context was collected: its kubelet stopped reporting and the node controller has not noticed yet.
pub fn silent_while_ready(ctx: &IncidentContext, node: &NodeSnapshot) -> Option<SignedDuration> {
    if node.ready != Some(true) {
        return None;
    }
    let now = reference_time(ctx)?;
    let (last, grace) = match (node.lease_renewed, node.status_heartbeat) {
        (Some(lease), _) => (lease, LEASE_GRACE),
        (None, Some(status)) => (status, STATUS_GRACE),
        (None, None) => return None,
    };
    let silent = now.duration_since(last);
    (silent > grace).then_some(silent)
}

/// Whether a node stopped reporting: its Ready condition is not true, or its heartbeat is stale.
pub fn node_stopped_reporting(ctx: &IncidentContext, node: &NodeSnapshot) -> bool {
    node.ready != Some(true) || silent_while_ready(ctx, node).is_some()
}

/// Whether the pod runs on a node that stopped reporting: what the cluster shows of it (status, logs) is
/// stale or explained by the node, so it supports no pod-level theory.
pub fn on_silent_node(ctx: &IncidentContext, pod: &PodSnapshot) -> bool {
    pod.node.as_deref().and_then(|n| ctx.node(n)).is_some_and(|n| node_stopped_reporting(ctx, n))
}

/// The moment the incident is judged at: when the context was collected, else the first alert's start.
pub fn reference_time(ctx: &IncidentContext) -> Option<Timestamp> {
    ctx.collected_at.or_else(|| ctx.alerts.first().map(|a| a.starts_at))
}

/// One container's crash, from its current or last state.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash<'a> {
    pub pod: &'a PodSnapshot,
    pub container: &'a str,
    pub reason: Option<&'a str>,
    pub exit_code: i32,
    /// How long the instance ran before it ended.
    pub uptime: Option<SignedDuration>,
    pub restarts: i32,
    /// The container is in CrashLoopBackOff now.
    pub backing_off: bool,
}

impl Crash<'_> {
    pub fn is_oom(&self) -> bool {
        self.reason == Some("OOMKilled")
    }
}

/// Crashes of the pods of `workload`: a container with a terminated current or last state and restarts,
/// or one backing off.
pub fn crashes<'a>(ctx: &'a IncidentContext, workload: &'a ObjectRef) -> Vec<Crash<'a>> {
    let mut out = Vec::new();
    for pod in ctx.pods_of(workload) {
        for c in &pod.containers {
            let backing_off = c.state.reason() == Some("CrashLoopBackOff");
            let terminated = match (&c.state, &c.last_state) {
                (ContainerState::Terminated { .. }, _) => Some(&c.state),
                (_, Some(last @ ContainerState::Terminated { .. })) => Some(last),
                _ => None,
            };
            let Some(ContainerState::Terminated { reason, exit_code, started_at, finished_at, .. }) = terminated else {
                continue;
            };
            if *exit_code == 0 && reason.as_deref() == Some("Completed") && !backing_off {
                continue;
            }
            if c.restart_count == 0 && !backing_off && !matches!(c.state, ContainerState::Terminated { .. }) {
                continue;
            }
            let uptime = match (started_at, finished_at) {
                (Some(s), Some(f)) => Some(f.duration_since(*s)),
                _ => None,
            };
            out.push(Crash {
                pod,
                container: &c.name,
                reason: reason.as_deref(),
                exit_code: *exit_code,
                uptime,
                restarts: c.restart_count,
                backing_off,
            });
        }
    }
    out
}

/// Pods of `workload` with a container waiting for one of `reasons`, with the reason and message.
pub fn waiting_with<'a>(
    ctx: &'a IncidentContext,
    workload: &'a ObjectRef,
    reasons: &'a [&'a str],
) -> impl Iterator<Item = (&'a PodSnapshot, &'a str, &'a str)> + 'a {
    ctx.pods_of(workload).flat_map(move |pod| {
        pod.containers.iter().filter_map(move |c| match &c.state {
            ContainerState::Waiting { reason: Some(r), message } if reasons.contains(&r.as_str()) => {
                Some((pod, r.as_str(), message.as_deref().unwrap_or("")))
            }
            _ => None,
        })
    })
}

/// The newest revision of a deployment and the one before it, when the newest was created recently.
pub fn recent_rollout<'a>(
    ctx: &'a IncidentContext,
    deployment: &ObjectRef,
) -> Option<(&'a RolloutSnapshot, Option<&'a RolloutSnapshot>)> {
    let mut revisions: Vec<&RolloutSnapshot> = ctx.rollouts.iter().filter(|r| &r.deployment == deployment).collect();
    revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let newest = *revisions.first()?;
    let previous = revisions.get(1).copied();
    previous?;
    let now = reference_time(ctx)?;
    let created = newest.created_at?;
    (now.duration_since(created) <= RECENT_ROLLOUT).then_some((newest, previous))
}

/// Whether a pod runs the given revision (its ReplicaSet is the revision's).
pub fn runs_revision(pod: &PodSnapshot, rollout: &RolloutSnapshot) -> bool {
    pod.replica_set.as_deref() == Some(rollout.replica_set.as_str())
}

/// Healthy = every desired replica is available.
pub fn is_healthy(w: &WorkloadSnapshot) -> bool {
    w.replicas_desired > 0 && w.replicas_available >= w.replicas_desired
}

/// A signal found in a log line of a pod.
#[derive(Debug, Clone)]
pub struct LogFinding<'a> {
    pub excerpt: &'a LogExcerpt,
    pub line: &'a str,
    pub signal: LogSignal,
}

/// Every signal stated by the logs of pods of `workload`.
pub fn log_findings<'a>(ctx: &'a IncidentContext, workload: &'a ObjectRef) -> Vec<LogFinding<'a>> {
    let pods: Vec<&str> = ctx.pods_of(workload).map(|p| p.name.as_str()).collect();
    let mut out = Vec::new();
    for excerpt in ctx.logs.iter().filter(|l| pods.contains(&l.pod.as_str())) {
        for line in &excerpt.lines {
            for signal in patterns::classify(line) {
                out.push(LogFinding { excerpt, line, signal });
            }
        }
    }
    out
}

/// The first line in `findings` stating `signal`.
pub fn first_with<'a>(findings: &[LogFinding<'a>], signal: LogSignal) -> Option<&'a str> {
    findings.iter().find(|f| f.signal == signal).map(|f| f.line)
}

/// The workload behind a peer named in a log line: a Service by name (short, namespaced or FQDN) or
/// ClusterIP, or a pod by IP.
pub fn resolve_peer(ctx: &IncidentContext, peer: &Peer) -> Option<ObjectRef> {
    let host = peer.host.as_str();
    let short = host.split('.').next().unwrap_or(host);
    for svc in &ctx.services {
        let port_matches = peer.port.is_none_or(|p| {
            svc.ports.is_empty()
                || svc
                    .ports
                    .iter()
                    .any(|sp| sp.port == i32::from(p) || sp.target_port.as_deref() == Some(p.to_string().as_str()))
        });
        let by_ip = svc.cluster_ip.as_deref() == Some(host);
        let by_name = svc.name == short
            && (host == short || host.split('.').nth(1).is_none_or(|ns| ns == svc.namespace || ns == "svc"));
        if (by_ip || by_name)
            && port_matches
            && let Some(backend) = &svc.backend
        {
            return Some(backend.clone());
        }
    }
    ctx.pods.iter().find(|p| p.pod_ip.as_deref() == Some(host)).and_then(|p| p.owner.clone())
}

/// Evidence quoting a log line of a pod.
pub fn log_evidence(finding: &LogFinding<'_>) -> Evidence {
    let e = finding.excerpt;
    let which = if e.previous { " (previous instance)" } else { "" };
    Evidence::new(
        EvidenceSource::Log,
        Some(ObjectRef::pod(&e.namespace, &e.pod)),
        format!("{}{}: {}", e.container, which, truncate(finding.line, 300)),
    )
}

/// Evidence quoting a container state.
pub fn crash_evidence(crash: &Crash<'_>) -> Evidence {
    let uptime = crash.uptime.map(|u| format!(" after {}s", u.as_secs())).unwrap_or_default();
    let now = if crash.backing_off { ", now CrashLoopBackOff" } else { "" };
    Evidence::new(
        EvidenceSource::PodStatus,
        Some(ObjectRef::pod(&crash.pod.namespace, &crash.pod.name)),
        format!(
            "container {} terminated: reason {}, exit code {}{}; {} restarts{}",
            crash.container,
            crash.reason.unwrap_or("unknown"),
            crash.exit_code,
            uptime,
            crash.restarts,
            now
        ),
    )
}

/// Warning events about any of the named objects, as evidence.
pub fn warning_events(ctx: &IncidentContext, names: &[&str], reasons: &[&str]) -> Vec<Evidence> {
    ctx.events
        .iter()
        .filter(|e| e.type_ == "Warning" && names.contains(&e.involved.name.as_str()))
        .filter(|e| reasons.is_empty() || reasons.contains(&e.reason.as_str()))
        .take(3)
        .map(|e| {
            Evidence::new(
                EvidenceSource::Event,
                None,
                format!(
                    "{} {}/{}: {} ({}x)",
                    e.reason,
                    e.involved.kind,
                    e.involved.name,
                    truncate(&e.message, 240),
                    e.count
                ),
            )
        })
        .collect()
}

/// The workloads to examine, target first: the alert's target, then the rest in context order.
pub fn workloads_in_order(ctx: &IncidentContext) -> Vec<&WorkloadSnapshot> {
    let mut out: Vec<&WorkloadSnapshot> = Vec::with_capacity(ctx.workloads.len());
    if let Some(target) = &ctx.target {
        out.extend(ctx.workloads.iter().filter(|w| &w.workload == target));
    }
    out.extend(ctx.workloads.iter().filter(|w| Some(&w.workload) != ctx.target.as_ref()));
    out
}

pub fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::testkit::*;

    #[test]
    fn crashes_report_reason_exit_code_and_uptime() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "cart", "cart:1.0", 2, "node-1", |i, pod| {
                if i == 0 {
                    pod.containers[0] = running("app", "cart:1.0", 0).crashed(
                        3,
                        terminated("OOMKilled", 137, -40, -10),
                        waiting("CrashLoopBackOff", "back-off 40s restarting failed container"),
                    );
                }
            })
            .build();
        let cart = ObjectRef::deployment("shop", "cart");
        let found = crashes(&ctx, &cart);
        assert_eq!(found.len(), 1);
        assert!(found[0].is_oom() && found[0].backing_off);
        assert_eq!(found[0].exit_code, 137);
        assert_eq!(found[0].uptime, Some(SignedDuration::from_secs(30)));
    }

    #[test]
    fn peers_resolve_to_the_workload_behind_the_service() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "redis", "redis:7", 1, "node-1", |_, _| {})
            .service("shop", "cart-redis", "redis", 6379, 0)
            .build();
        let ip = ctx.services[0].cluster_ip.clone().unwrap();
        let by_name = Peer { host: "cart-redis".into(), port: Some(6379) };
        let by_fqdn = Peer { host: "cart-redis.shop.svc.cluster.local".into(), port: Some(6379) };
        let by_ip = Peer { host: ip, port: Some(6379) };
        for peer in [by_name, by_fqdn, by_ip] {
            assert_eq!(resolve_peer(&ctx, &peer), Some(ObjectRef::deployment("shop", "redis")), "{peer:?}");
        }
        assert_eq!(resolve_peer(&ctx, &Peer { host: "cart-redis".into(), port: Some(80) }), None);
        assert_eq!(resolve_peer(&ctx, &Peer { host: "cart-redis.other.svc".into(), port: None }), None);
    }
}
