//! The Compute specialist: what happens inside containers and on nodes — OOM kills and memory leaks,
//! crashes, bad rollouts and rejected configuration, images that cannot be pulled, CPU saturation, nodes
//! that stopped reporting.
use jiff::SignedDuration;
use medic_core::context::{IncidentContext, WorkloadSnapshot, signals as metric};
use medic_core::quantity::{Quantity, format_memory};
use medic_core::{Evidence, EvidenceSource, Hypothesis, ObjectRef, RootCauseClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::patterns::{self, LogSignal};
use crate::playbook_ids as playbook;
use crate::signals::{self as sig, Crash, LogFinding};
use crate::specialist::{Findings, Specialist, params};

/// A node that still reads Ready but stopped heartbeating: below the Director's default act threshold
/// (0.6), so medic holds pod-level fixes and waits for the node controller's verdict or escalates.
const SILENT_NODE_CONFIDENCE: f64 = 0.45;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComputeConfig {
    /// The raised memory limit is at least the observed peak times this.
    pub memory_headroom: f64,
    /// Never propose more than this many times the current memory limit.
    pub max_memory_factor: f64,
    /// A container OOM-killed after running at least this long is leaking rather than undersized.
    pub leak_min_uptime_secs: i64,
    /// CPU throttling share that counts as saturation.
    pub cpu_throttled_threshold: f64,
    /// Scale out to at most this many times the current replicas.
    pub max_scale_factor: f64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            memory_headroom: 1.5,
            max_memory_factor: 4.0,
            leak_min_uptime_secs: 20 * 60,
            cpu_throttled_threshold: 0.25,
            max_scale_factor: 2.0,
        }
    }
}

impl ComputeConfig {
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |field, problem: &str| Err(Error::InvalidConfig { specialist: "compute", field, problem: problem.into() });
        if self.memory_headroom.is_nan() || self.memory_headroom < 1.0 {
            return invalid("memory_headroom", "must be at least 1.0");
        }
        if self.max_memory_factor.is_nan() || self.max_memory_factor < 1.0 {
            return invalid("max_memory_factor", "must be at least 1.0");
        }
        if self.leak_min_uptime_secs <= 0 {
            return invalid("leak_min_uptime_secs", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.cpu_throttled_threshold) {
            return invalid("cpu_throttled_threshold", "must be within 0..1");
        }
        if self.max_scale_factor.is_nan() || self.max_scale_factor <= 1.0 {
            return invalid("max_scale_factor", "must be above 1.0");
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Compute {
    config: ComputeConfig,
}

impl Compute {
    pub fn new(config: ComputeConfig) -> Self {
        Self { config }
    }
}

impl Specialist for Compute {
    fn name(&self) -> &'static str {
        "compute"
    }

    fn analyse(&self, ctx: &IncidentContext) -> Vec<Hypothesis> {
        let mut findings = Findings::new(self.name());
        for w in sig::workloads_in_order(ctx) {
            self.image_pull(ctx, w, &mut findings);
            let crashes = sig::crashes(ctx, &w.workload);
            let (ooms, mut others): (Vec<_>, Vec<_>) = crashes.into_iter().partition(Crash::is_oom);
            // The status of a pod on a node that stopped reporting is the last the kubelet posted: the
            // node's finding explains it, not a fault of the pod.
            others.retain(|c| !sig::on_silent_node(ctx, c.pod));
            if !ooms.is_empty() {
                self.out_of_memory(ctx, w, &ooms, &mut findings);
            }
            if !others.is_empty() {
                self.crashes(ctx, w, &others, &mut findings);
            } else if ooms.is_empty() {
                self.unready_replicas(ctx, w, &mut findings);
            }
            self.cpu(ctx, w, &mut findings);
        }
        self.nodes(ctx, &mut findings);
        findings.ranked()
    }
}

impl Compute {
    fn image_pull(&self, ctx: &IncidentContext, w: &WorkloadSnapshot, findings: &mut Findings) {
        let failing: Vec<_> = sig::waiting_with(ctx, &w.workload, &sig::IMAGE_PULL_REASONS).collect();
        let Some((first_pod, reason, message)) = failing.first() else { return };
        let mut evidence = vec![Evidence::new(
            EvidenceSource::PodStatus,
            Some(ObjectRef::pod(&first_pod.namespace, &first_pod.name)),
            format!("waiting: {reason}: {}", sig::truncate(message, 240)),
        )];
        let pods: Vec<&str> = failing.iter().map(|(p, ..)| p.name.as_str()).collect();
        evidence.extend(sig::warning_events(ctx, &pods, &["Failed", "BackOff", "ErrImagePull"]));
        let rollout = sig::recent_rollout(ctx, &w.workload);
        let (confidence, previous) = match rollout {
            Some((newest, Some(previous))) if failing.iter().all(|(p, ..)| sig::runs_revision(p, newest)) => {
                evidence.push(rollout_evidence(&w.workload, newest, previous));
                (0.9, Some(previous.revision))
            }
            _ => {
                // No recent rollout to blame: roll back only if an older revision exists.
                let older = ctx
                    .rollouts
                    .iter()
                    .filter(|r| r.deployment == w.workload && Some(r.revision) < w.revision)
                    .map(|r| r.revision)
                    .max();
                (if older.is_some() { 0.75 } else { 0.7 }, older)
            }
        };
        match previous {
            Some(revision) => findings.add(
                RootCauseClass::ImagePull,
                w.workload.clone(),
                confidence,
                evidence,
                Some(playbook::IMAGE_PULL),
                params([("to_revision", revision.to_string())]),
            ),
            None => findings.add(RootCauseClass::ImagePull, w.workload.clone(), confidence, evidence, None, params([])),
        }
    }

    fn out_of_memory(&self, ctx: &IncidentContext, w: &WorkloadSnapshot, ooms: &[Crash<'_>], findings: &mut Findings) {
        let crash = ooms.iter().max_by_key(|c| c.restarts).expect("non-empty");
        let container = crash.container;
        let limit = container_memory_limit(w, crash);
        let peak = observed_peak_memory(ctx, w, container);
        let mut evidence: Vec<Evidence> = ooms.iter().take(3).map(sig::crash_evidence).collect();
        let logs = sig::log_findings(ctx, &w.workload);
        if let Some(f) = logs.iter().find(|f| f.signal == LogSignal::OutOfMemory) {
            evidence.push(sig::log_evidence(f));
        }
        if let Some(limit) = limit {
            evidence.push(Evidence::new(
                EvidenceSource::PodStatus,
                Some(w.workload.clone()),
                format!("container {container} memory limit {}", format_memory(limit)),
            ));
        }
        let leak_uptime = SignedDuration::from_secs(self.config.leak_min_uptime_secs);
        let long_lived =
            ooms.iter().filter_map(|c| c.uptime).all(|u| u >= leak_uptime) && ooms.iter().any(|c| c.uptime.is_some());
        let trend = memory_trend(ctx, w, container);
        let leaking = long_lived || trend.is_some_and(|t| t.steadily_rising);
        if let Some(t) = &trend {
            evidence.push(Evidence::new(EvidenceSource::Metric, Some(w.workload.clone()), t.describe()));
        }
        let recommended = limit.map(|l| self.recommend_memory(l, peak));
        let raise = |mut p: std::collections::BTreeMap<String, String>| {
            p.insert("container".into(), container.to_string());
            if let Some(bytes) = recommended {
                p.insert("memory_limit".into(), format_memory(bytes));
            }
            p
        };
        if leaking {
            findings.add(
                RootCauseClass::MemoryLeak,
                w.workload.clone(),
                0.75,
                evidence.clone(),
                recommended.map(|_| playbook::MEMORY_LEAK),
                raise(params([])),
            );
        }
        let confidence = match (leaking, limit) {
            (true, _) => 0.45,
            (false, Some(_)) => 0.85,
            // OOM-killed without a limit is the node running out of memory, not an undersized limit.
            (false, None) => 0.4,
        };
        let lowered_by_rollout = sig::recent_rollout(ctx, &w.workload).and_then(|(newest, previous)| {
            let previous = previous?;
            let new = rollout_memory(newest, container)?;
            let old = rollout_memory(previous, container)?;
            (new < old).then_some((newest, previous, new, old))
        });
        if let Some((newest, previous, new, old)) = lowered_by_rollout {
            let mut rollback_evidence = evidence.clone();
            rollback_evidence.push(Evidence::new(
                EvidenceSource::Rollout,
                Some(w.workload.clone()),
                format!(
                    "revision {} lowered {container}'s memory limit to {} (revision {} had {})",
                    newest.revision,
                    format_memory(new),
                    previous.revision,
                    format_memory(old)
                ),
            ));
            findings.add(
                RootCauseClass::BadRollout,
                w.workload.clone(),
                0.7,
                rollback_evidence,
                Some(playbook::BAD_ROLLOUT),
                params([("to_revision", previous.revision.to_string())]),
            );
        }
        findings.add(
            RootCauseClass::OomMemoryLimit,
            w.workload.clone(),
            confidence,
            evidence,
            recommended.map(|_| playbook::OOM_MEMORY_LIMIT),
            raise(params([])),
        );
    }

    /// At least the current limit doubled, at least the observed peak with headroom, at most the
    /// configured factor of the current limit.
    fn recommend_memory(&self, limit: u64, peak: Option<u64>) -> u64 {
        let doubled = limit.saturating_mul(2);
        let from_peak = peak.map_or(0, |p| (p as f64 * self.config.memory_headroom) as u64);
        let cap = (limit as f64 * self.config.max_memory_factor) as u64;
        doubled.max(from_peak).min(cap.max(doubled))
    }

    fn crashes(&self, ctx: &IncidentContext, w: &WorkloadSnapshot, crashes: &[Crash<'_>], findings: &mut Findings) {
        let logs = sig::log_findings(ctx, &w.workload);
        let mut evidence: Vec<Evidence> = crashes.iter().take(3).map(sig::crash_evidence).collect();
        let config_line = logs.iter().find(|f| f.signal == LogSignal::ConfigInvalid);
        let crash_line = logs.iter().find(|f| matches!(f.signal, LogSignal::Crash | LogSignal::ConfigInvalid));
        if let Some(f) = crash_line {
            evidence.push(sig::log_evidence(f));
        }
        let crashing_pods: BTreeSet<&str> = crashes.iter().map(|c| c.pod.name.as_str()).collect();

        if let Some((newest, Some(previous))) = sig::recent_rollout(ctx, &w.workload) {
            let on_new = crashes.iter().all(|c| sig::runs_revision(c.pod, newest));
            let previous_was_healthy = previous.ready_replicas > 0
                || ctx.pods_of(&w.workload).any(|p| sig::runs_revision(p, previous) && p.ready);
            if on_new {
                evidence.push(rollout_evidence(&w.workload, newest, previous));
                let env_changed = newest.env != previous.env;
                let (class, confidence) = if config_line.is_some() || env_changed {
                    if env_changed {
                        evidence.push(env_change_evidence(&w.workload, newest, previous));
                    }
                    (RootCauseClass::ConfigError, if config_line.is_some() && env_changed { 0.9 } else { 0.8 })
                } else {
                    (RootCauseClass::BadRollout, if previous_was_healthy { 0.85 } else { 0.7 })
                };
                let remedy =
                    if class == RootCauseClass::ConfigError { playbook::CONFIG_ERROR } else { playbook::BAD_ROLLOUT };
                findings.add(
                    class,
                    w.workload.clone(),
                    confidence,
                    evidence,
                    Some(remedy),
                    params([("to_revision", previous.revision.to_string())]),
                );
                return;
            }
        }

        // Only the crashing pods' own complaints about peers: a healthy sibling's say nothing about them.
        let peer_trouble =
            logs.iter().any(|f| f.signal.is_peer_failure() && crashing_pods.contains(f.excerpt.pod.as_str()));
        if let Some(f) = config_line {
            // The app rejects its configuration, but no rollout to undo: someone must fix the config.
            let mut evidence = evidence.clone();
            evidence.push(sig::log_evidence(f));
            findings.add(RootCauseClass::ConfigError, w.workload.clone(), 0.6, evidence, None, params([]));
            return;
        }
        let total_pods = ctx.pods_of(&w.workload).count();
        if crashing_pods.len() < total_pods {
            // Some replicas are fine: the crash belongs to one pod's instance, a fresh pod should not have it.
            let worst = crashes.iter().max_by_key(|c| c.restarts).expect("non-empty");
            let confidence = if peer_trouble { 0.4 } else { 0.75 };
            findings.add(
                RootCauseClass::CrashTransient,
                w.workload.clone(),
                confidence,
                evidence,
                Some(playbook::CRASH_TRANSIENT),
                params([("pod", worst.pod.name.clone())]),
            );
        } else {
            // Every replica crashes with no rollout and no config complaint: replacing a pod may clear a
            // transient condition, but when the logs blame a peer the cause is probably there.
            let worst = crashes.iter().max_by_key(|c| c.restarts).expect("non-empty");
            let confidence = if peer_trouble { 0.25 } else { 0.5 };
            findings.add(
                RootCauseClass::CrashTransient,
                w.workload.clone(),
                confidence,
                evidence,
                Some(playbook::CRASH_TRANSIENT),
                params([("pod", worst.pod.name.clone())]),
            );
        }
    }

    /// A replica whose container runs but fails its probes while its siblings serve: a fault of that pod
    /// (before it has crashed enough to show as one), which a fresh pod does not have.
    fn unready_replicas(&self, ctx: &IncidentContext, w: &WorkloadSnapshot, findings: &mut Findings) {
        let Some(now) = sig::reference_time(ctx) else { return };
        let pods: Vec<_> = ctx.pods_of(&w.workload).filter(|p| !p.deleting).collect();
        if !pods.iter().any(|p| p.ready) {
            return;
        }
        let node_down = |p: &&medic_core::context::PodSnapshot| sig::on_silent_node(ctx, p);
        // A container younger than this may still be inside its readiness delay.
        let settled = |p: &&medic_core::context::PodSnapshot| {
            p.containers.iter().all(|c| match &c.state {
                medic_core::context::ContainerState::Running { started_at: Some(started) } => {
                    now.duration_since(*started) >= SignedDuration::from_secs(60)
                }
                _ => false,
            })
        };
        let failing_probes = |p: &&medic_core::context::PodSnapshot| {
            !sig::warning_events(ctx, &[p.name.as_str()], &["Unhealthy"]).is_empty()
        };
        let Some(pod) = pods.iter().find(|p| !p.ready && !node_down(p) && (settled(p) || failing_probes(p))) else {
            return;
        };
        let mut evidence = vec![Evidence::new(
            EvidenceSource::PodStatus,
            Some(ObjectRef::pod(&pod.namespace, &pod.name)),
            format!(
                "running but not ready while {} of its {} siblings serve",
                pods.iter().filter(|p| p.ready).count(),
                pods.len() - 1
            ),
        )];
        let probe_failures = sig::warning_events(ctx, &[pod.name.as_str()], &["Unhealthy"]);
        let confidence = if probe_failures.is_empty() { 0.65 } else { 0.7 };
        evidence.extend(probe_failures);
        findings.add(
            RootCauseClass::CrashTransient,
            w.workload.clone(),
            confidence,
            evidence,
            Some(playbook::CRASH_TRANSIENT),
            params([("pod", pod.name.clone())]),
        );
    }

    fn cpu(&self, ctx: &IncidentContext, w: &WorkloadSnapshot, findings: &mut Findings) {
        let pods: BTreeSet<&str> = ctx.pods_of(&w.workload).map(|p| p.name.as_str()).collect();
        let of_workload = |s: &&medic_core::context::MetricSample| {
            s.labels.get("pod").is_some_and(|p| pods.contains(p.as_str()))
                || (s.labels.get("deployment") == Some(&w.workload.name)
                    && s.labels.get("namespace").map(String::as_str) == w.workload.namespace())
        };
        let throttled = ctx
            .metrics
            .iter()
            .filter(|s| s.signal == metric::CPU_THROTTLED_RATIO)
            .filter(of_workload)
            .map(|s| s.value)
            .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.max(v))));
        let usage = ctx
            .metrics
            .iter()
            .filter(|s| s.signal == metric::CPU_USAGE_RATIO)
            .filter(of_workload)
            .map(|s| s.value)
            .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.max(v))));
        let saturated =
            throttled.is_some_and(|t| t >= self.config.cpu_throttled_threshold) || usage.is_some_and(|u| u >= 0.9);
        let mut evidence = Vec::new();
        if !saturated {
            // Without CPU metrics, the process says it itself: its own handlers time out on most replicas,
            // more often than it complains about any peer.
            let Some(f) = self.overloaded_by_logs(ctx, w) else { return };
            evidence.push(sig::log_evidence(&f));
        }
        if let Some(t) = throttled {
            evidence.push(Evidence::new(
                EvidenceSource::Metric,
                Some(w.workload.clone()),
                format!("{:.0}% of CPU periods throttled", t * 100.0),
            ));
        }
        if let Some(u) = usage {
            evidence.push(Evidence::new(
                EvidenceSource::Metric,
                Some(w.workload.clone()),
                format!("CPU usage at {:.0}% of the limit", u * 100.0),
            ));
        }
        let pod_names: Vec<&str> = pods.iter().copied().collect();
        evidence.extend(sig::warning_events(ctx, &pod_names, &["Unhealthy"]));
        let current = w.replicas_desired.max(1);
        let load = usage.unwrap_or(1.0).max(1.0);
        let wanted = ((current as f64) * load / 0.6).ceil() as i32;
        let cap = ((current as f64) * self.config.max_scale_factor).floor() as i32;
        let replicas = wanted.clamp(current + 1, cap.max(current + 1));
        let slow = ctx.metrics.iter().any(|s| {
            (s.signal == metric::LATENCY_P99_SECONDS || s.signal == metric::ERROR_RATE)
                && s.labels.get("namespace").map(String::as_str) == w.workload.namespace()
        });
        findings.add(
            RootCauseClass::CpuSaturation,
            w.workload.clone(),
            if slow || !evidence.is_empty() { 0.75 } else { 0.6 },
            evidence,
            Some(playbook::CPU_SATURATION),
            params([("replicas", replicas.to_string())]),
        );
    }

    /// A line showing the workload overloaded, when most of its pods log that they cannot keep up and those
    /// lines outnumber its complaints about peers (an overloaded peer makes its callers time out, not shed
    /// load themselves).
    fn overloaded_by_logs<'a>(&self, ctx: &'a IncidentContext, w: &'a WorkloadSnapshot) -> Option<LogFinding<'a>> {
        let logs = sig::log_findings(ctx, &w.workload);
        let overloaded: Vec<&LogFinding<'_>> = logs.iter().filter(|f| f.signal == LogSignal::Overloaded).collect();
        let pods: BTreeSet<&str> = overloaded.iter().map(|f| f.excerpt.pod.as_str()).collect();
        let total = ctx.pods_of(&w.workload).filter(|p| !p.deleting).count().max(1);
        let peer_failures =
            logs.iter().filter(|f| f.signal.is_peer_failure() && patterns::peer(f.line).is_some()).count();
        let lines: BTreeSet<&str> = overloaded.iter().map(|f| f.line).collect();
        let enough = pods.len() * 2 >= total && lines.len() >= 2 && overloaded.len() > peer_failures;
        enough.then(|| overloaded[0].clone())
    }

    fn nodes(&self, ctx: &IncidentContext, findings: &mut Findings) {
        for node in ctx.nodes.iter().filter(|n| sig::node_stopped_reporting(ctx, n)) {
            let silent = sig::silent_while_ready(ctx, node);
            let pods: Vec<&str> = ctx
                .pods
                .iter()
                .filter(|p| p.node.as_deref() == Some(node.name.as_str()))
                .map(|p| p.name.as_str())
                .collect();
            let state = match (node.ready, silent) {
                (Some(false), _) => "NotReady".to_string(),
                (Some(true), Some(silent)) => format!(
                    "still Ready, but its kubelet has not reported for {}s (not yet marked by the node controller)",
                    silent.as_secs()
                ),
                _ => "Unknown (the kubelet stopped posting status)".to_string(),
            };
            let mut evidence = vec![Evidence::new(
                EvidenceSource::Node,
                Some(ObjectRef::node(&node.name)),
                format!("node {} is {state}", node.name),
            )];
            if let Some(c) = node.conditions.iter().find(|c| c.type_ == "Ready") {
                evidence.push(Evidence::new(
                    EvidenceSource::Node,
                    Some(ObjectRef::node(&node.name)),
                    format!("Ready={} reason {}", c.status, c.reason.as_deref().unwrap_or("-")),
                ));
            }
            if !pods.is_empty() {
                evidence.push(Evidence::new(
                    EvidenceSource::PodStatus,
                    Some(ObjectRef::node(&node.name)),
                    format!(
                        "{} affected pod(s) on it: {}",
                        pods.len(),
                        pods.iter().take(5).copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            evidence.extend(sig::warning_events(ctx, &[node.name.as_str()], &[]));
            let confidence = match (silent, pods.is_empty()) {
                // A stale heartbeat alone may be a slow kubelet or a clock: a reason to hold pod-level
                // fixes, not yet to drain the node (the controller's verdict follows within its grace).
                (Some(_), _) => SILENT_NODE_CONFIDENCE,
                (None, true) => 0.6,
                (None, false) => 0.9,
            };
            findings.add(
                RootCauseClass::NodeNotReady,
                ObjectRef::node(&node.name),
                confidence,
                evidence,
                Some(playbook::NODE_NOT_READY),
                params([]),
            );
        }
    }
}

fn rollout_evidence(
    deployment: &ObjectRef,
    newest: &medic_core::context::RolloutSnapshot,
    previous: &medic_core::context::RolloutSnapshot,
) -> Evidence {
    let images = if newest.images != previous.images {
        format!(" (images {} → {})", previous.images.join(","), newest.images.join(","))
    } else {
        String::new()
    };
    Evidence::new(
        EvidenceSource::Rollout,
        Some(deployment.clone()),
        format!("revision {} rolled out recently, replacing revision {}{images}", newest.revision, previous.revision),
    )
}

fn env_change_evidence(
    deployment: &ObjectRef,
    newest: &medic_core::context::RolloutSnapshot,
    previous: &medic_core::context::RolloutSnapshot,
) -> Evidence {
    let mut changes = Vec::new();
    for (container, env) in &newest.env {
        let before = previous.env.get(container);
        for (k, v) in env {
            if before.and_then(|b| b.get(k)) != Some(v) {
                changes.push(format!("{container}.{k}={}", sig::truncate(v, 60)));
            }
        }
    }
    Evidence::new(
        EvidenceSource::Rollout,
        Some(deployment.clone()),
        format!("revision {} changed configuration: {}", newest.revision, changes.join(", ")),
    )
}

fn rollout_memory(rollout: &medic_core::context::RolloutSnapshot, container: &str) -> Option<u64> {
    rollout.limits.get(container)?.get("memory").and_then(|q| Quantity::parse(q).ok()).map(Quantity::bytes)
}

fn container_memory_limit(w: &WorkloadSnapshot, crash: &Crash<'_>) -> Option<u64> {
    let from_pod = crash.pod.containers.iter().find(|c| c.name == crash.container).and_then(|c| c.limits.get("memory"));
    let from_spec = w.containers.iter().find(|c| c.name == crash.container).and_then(|c| c.limits.get("memory"));
    from_pod.or(from_spec).and_then(|q| Quantity::parse(q).ok()).map(Quantity::bytes)
}

fn samples_of<'a>(
    ctx: &'a IncidentContext,
    w: &'a WorkloadSnapshot,
    container: &'a str,
) -> impl Iterator<Item = &'a medic_core::context::MetricSample> + 'a {
    let pods: BTreeSet<&str> = ctx.pods_of(&w.workload).map(|p| p.name.as_str()).collect();
    ctx.metrics.iter().filter(move |s| {
        s.signal == metric::MEMORY_WORKING_SET_BYTES
            && s.labels.get("pod").is_some_and(|p| pods.contains(p.as_str()))
            && s.labels.get("container").is_none_or(|c| c == container)
    })
}

fn observed_peak_memory(ctx: &IncidentContext, w: &WorkloadSnapshot, container: &str) -> Option<u64> {
    samples_of(ctx, w, container)
        .flat_map(|s| s.series.iter().map(|(_, v)| *v).chain(std::iter::once(s.value)))
        .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.max(v))))
        .map(|v| v as u64)
}

#[derive(Debug, Clone, Copy)]
struct MemoryTrend {
    bytes_per_minute: f64,
    steadily_rising: bool,
}

impl MemoryTrend {
    fn describe(&self) -> String {
        format!(
            "memory working set {} by {}/min",
            if self.steadily_rising { "rising steadily" } else { "changing" },
            format_memory(self.bytes_per_minute.abs() as u64)
        )
    }
}

/// A least-squares slope over the working-set series; "steady" when nearly every step goes up.
fn memory_trend(ctx: &IncidentContext, w: &WorkloadSnapshot, container: &str) -> Option<MemoryTrend> {
    let series = samples_of(ctx, w, container).map(|s| &s.series).max_by_key(|s| s.len())?;
    if series.len() < 5 {
        return None;
    }
    let n = series.len() as f64;
    let mean_t = series.iter().map(|(t, _)| *t as f64).sum::<f64>() / n;
    let mean_v = series.iter().map(|(_, v)| *v).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for (t, v) in series {
        cov += (*t as f64 - mean_t) * (v - mean_v);
        var += (*t as f64 - mean_t).powi(2);
    }
    if var == 0.0 {
        return None;
    }
    let slope_per_sec = cov / var;
    let rising_steps = series.windows(2).filter(|p| p[1].1 > p[0].1).count();
    let steadily_rising = slope_per_sec > 0.0 && rising_steps as f64 >= 0.8 * (series.len() - 1) as f64;
    Some(MemoryTrend { bytes_per_minute: slope_per_sec * 60.0, steadily_rising })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::context::RolloutSnapshot;
    use medic_core::testkit::*;

    fn compute() -> Compute {
        Compute::new(ComputeConfig::default())
    }

    fn top(ctx: &IncidentContext) -> Hypothesis {
        compute().analyse(ctx).into_iter().next().expect("a hypothesis")
    }

    fn oom_killed(uptime_secs: i64) -> ContainerStatusSnapshot {
        running("app", "cart:1.0", 0).with_limits(&[("memory", "128Mi")]).crashed(
            4,
            terminated("OOMKilled", 137, -uptime_secs - 5, -5),
            waiting("CrashLoopBackOff", "back-off 1m20s restarting failed container=app"),
        )
    }

    use medic_core::context::ContainerStatusSnapshot;

    #[test]
    fn a_container_killed_soon_after_start_needs_a_higher_memory_limit() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "cart", "cart:1.0", 2, "node-1", |_, pod| pod.containers[0] = oom_killed(40))
            .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::OomMemoryLimit);
        assert_eq!(h.target, ObjectRef::deployment("shop", "cart"));
        assert_eq!(h.playbook.as_deref(), Some(playbook::OOM_MEMORY_LIMIT));
        assert_eq!(h.params["container"], "app");
        assert_eq!(h.params["memory_limit"], "256Mi");
        assert!(h.evidence.iter().any(|e| e.detail.contains("OOMKilled, exit code 137")));
    }

    #[test]
    fn a_container_killed_after_hours_is_leaking() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "cart", "cart:1.0", 1, "node-1", |_, pod| pod.containers[0] = oom_killed(3 * 3600))
            .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::MemoryLeak);
        assert_eq!(h.playbook.as_deref(), Some(playbook::MEMORY_LEAK));
    }

    #[test]
    fn the_raised_limit_covers_the_observed_peak() {
        let c = compute();
        let mi = 1024 * 1024;
        assert_eq!(c.recommend_memory(128 * mi, None), 256 * mi);
        assert_eq!(c.recommend_memory(128 * mi, Some(300 * mi)), 450 * mi);
        assert_eq!(c.recommend_memory(128 * mi, Some(2000 * mi)), 512 * mi, "capped at 4x");
    }

    fn rolled_out(ctx: ContextBuilder, image: &str, env_change: bool) -> ContextBuilder {
        let mut ctx = ctx.with_workload(|w| w.revision = Some(2));
        ctx = ctx.rollout(RolloutSnapshot {
            deployment: ObjectRef::deployment("shop", "cart"),
            revision: 2,
            replica_set: "cart-5f6d7c8b9".into(),
            created_at: Some(at(-120)),
            images: vec![image.into()],
            replicas: 2,
            ready_replicas: 0,
            template_hash: Some("5f6d7c8b9".into()),
            change_cause: None,
            limits: Default::default(),
            env: if env_change {
                [("app".to_string(), [("CACHE_TTL".to_string(), "fast".to_string())].into())].into()
            } else {
                Default::default()
            },
        });
        ctx
    }

    #[test]
    fn crashes_right_after_a_rollout_blame_the_rollout() {
        let ctx = rolled_out(
            ContextBuilder::new().deployment("shop", "cart", "cart:1.0", 2, "node-1", |_, pod| {
                pod.replica_set = Some("cart-5f6d7c8b9".into());
                pod.containers[0] = running("app", "cart:1.1", 0).crashed(
                    3,
                    terminated("Error", 2, -12, -10),
                    waiting("CrashLoopBackOff", "back-off 40s"),
                );
            }),
            "cart:1.1",
            false,
        )
        .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::BadRollout);
        assert_eq!(h.playbook.as_deref(), Some(playbook::BAD_ROLLOUT));
        assert_eq!(h.params["to_revision"], "1");
    }

    #[test]
    fn crashes_after_a_config_change_are_config_errors() {
        let ctx = rolled_out(
            ContextBuilder::new().deployment("shop", "cart", "cart:1.0", 2, "node-1", |_, pod| {
                pod.replica_set = Some("cart-5f6d7c8b9".into());
                pod.containers[0] = running("app", "cart:1.0", 0).crashed(
                    3,
                    terminated("Error", 1, -2, -1),
                    waiting("CrashLoopBackOff", "back-off 40s"),
                );
            }),
            "cart:1.0",
            true,
        )
        .logs("shop", "cart-7d9f8c6b5-abcde", true, &["ValueError: invalid literal for int() with base 10: 'fast'"])
        .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::ConfigError);
        assert!(h.confidence >= 0.9);
        assert!(h.evidence.iter().any(|e| e.detail.contains("CACHE_TTL=fast")));
    }

    #[test]
    fn one_crashing_replica_among_healthy_ones_is_transient() {
        let mut ctx_builder = ContextBuilder::new().deployment("shop", "cart", "cart:1.0", 3, "node-1", |i, pod| {
            if i == 1 {
                pod.containers[0] = running("app", "cart:1.0", 0).crashed(
                    5,
                    terminated("Error", 2, -30, -20),
                    waiting("CrashLoopBackOff", "back-off 2m40s"),
                );
            }
        });
        let crashing = ctx_builder.pod_name("cart-7d9f8c6b5-fghij");
        ctx_builder = ctx_builder.logs("shop", &crashing, true, &["panic: assignment to entry in nil map"]);
        let h = top(&ctx_builder.build());
        assert_eq!(h.class, RootCauseClass::CrashTransient);
        assert_eq!(h.target, ObjectRef::deployment("shop", "cart"));
        assert_eq!(h.params["pod"], crashing);
        assert_eq!(h.playbook.as_deref(), Some(playbook::CRASH_TRANSIENT));
    }

    #[test]
    fn images_that_do_not_exist_after_a_rollout_are_rolled_back() {
        let ctx = rolled_out(
            ContextBuilder::new().deployment("shop", "cart", "cart:1.0", 1, "node-1", |_, pod| {
                pod.replica_set = Some("cart-5f6d7c8b9".into());
                pod.containers[0].state = waiting("ImagePullBackOff", "Back-off pulling image \"cart:9.9\"");
                pod.containers[0].ready = false;
            }),
            "cart:9.9",
            false,
        )
        .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::ImagePull);
        assert_eq!(h.params["to_revision"], "1");
        assert!(h.confidence >= 0.9);
    }

    #[test]
    fn a_node_that_stopped_reporting_is_drained() {
        let ctx = ContextBuilder::new()
            .node("node-2", None)
            .deployment("shop", "cart", "cart:1.0", 1, "node-2", |_, pod| pod.containers[0].ready = false)
            .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::NodeNotReady);
        assert_eq!(h.target, ObjectRef::node("node-2"));
        assert_eq!(h.playbook.as_deref(), Some(playbook::NODE_NOT_READY));
    }

    #[test]
    fn a_ready_node_whose_lease_went_stale_is_suspected_below_the_act_threshold() {
        let mut ctx = ContextBuilder::new()
            .node("node-2", Some(true))
            .deployment("shop", "cart", "cart:1.0", 2, "node-2", |i, pod| {
                if i == 0 {
                    pod.containers[0] = running("app", "cart:1.0", 0).crashed(
                        2,
                        terminated("Error", 1, -20, -15),
                        waiting("CrashLoopBackOff", "back-off 20s"),
                    );
                }
            })
            .build();
        assert!(
            Compute::new(ComputeConfig::default())
                .analyse(&ctx)
                .iter()
                .any(|h| h.class == RootCauseClass::CrashTransient)
        );
        // The context is collected at `at(60)`: the lease was last renewed 30 s before.
        ctx.nodes[0].lease_renewed = Some(at(30));
        let found = Compute::new(ComputeConfig::default()).analyse(&ctx);
        assert!(found.iter().all(|h| !h.params.contains_key("pod")), "no pod-level fix: {found:?}");
        let h = &found[0];
        assert_eq!(h.class, RootCauseClass::NodeNotReady);
        assert_eq!(h.target, ObjectRef::node("node-2"));
        assert!(h.confidence < 0.6, "below the act threshold: {h:?}");
        assert!(h.evidence[0].detail.contains("has not reported for 30s"), "{:?}", h.evidence);
    }

    #[test]
    fn throttled_cpu_scales_out_within_bounds() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "catalog", "catalog:1", 2, "node-1", |_, _| {})
            .metric(metric::CPU_THROTTLED_RATIO, &[("namespace", "shop"), ("pod", "catalog-7d9f8c6b5-abcde")], 0.6)
            .metric(metric::CPU_USAGE_RATIO, &[("namespace", "shop"), ("pod", "catalog-7d9f8c6b5-abcde")], 1.4)
            .build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::CpuSaturation);
        assert_eq!(h.params["replicas"], "4", "2 replicas at 140% → ceil(2*1.4/0.6)=5, capped at 2x");
    }

    #[test]
    fn without_metrics_a_workload_whose_own_handlers_time_out_is_saturated() {
        let overloaded = |pod: &str, lines: &[&str], b: ContextBuilder| b.logs("shop", pod, false, lines);
        let go = [
            r#"{"level":"error","msg":"request failed","path":"/api/products","status":503,"error":"context deadline exceeded"}"#,
            r#"time="2026-03-01T12:00:01Z" level=error msg="handler timed out" http.path=/api/cart error="context deadline exceeded""#,
        ];
        let base = ContextBuilder::new().deployment("shop", "catalog", "catalog:1", 2, "node-1", |_, _| {});
        let ctx = overloaded("catalog-7d9f8c6b5-fghij", &go, overloaded("catalog-7d9f8c6b5-abcde", &go, base)).build();
        let h = top(&ctx);
        assert_eq!(h.class, RootCauseClass::CpuSaturation);
        assert_eq!(h.params["replicas"], "4");

        // Callers timing out on a peer are not saturated themselves.
        let peer = [
            "rpc error: code = DeadlineExceeded desc = dial tcp payment:50051: i/o timeout",
            "failed to charge card: dial tcp payment:50051: i/o timeout",
            r#"{"level":"error","msg":"request failed","path":"/checkout","status":503,"error":"context deadline exceeded"}"#,
        ];
        let base = ContextBuilder::new().deployment("shop", "checkout", "checkout:1", 1, "node-1", |_, _| {});
        let ctx = overloaded("checkout-7d9f8c6b5-abcde", &peer, base).build();
        assert!(compute().analyse(&ctx).iter().all(|h| h.class != RootCauseClass::CpuSaturation));
    }

    #[test]
    fn a_healthy_workload_gives_no_hypothesis() {
        let ctx = ContextBuilder::new()
            .node("node-1", Some(true))
            .deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {})
            .build();
        assert!(compute().analyse(&ctx).is_empty());
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = ComputeConfig { memory_headroom: 0.5, ..ComputeConfig::default() };
        assert!(bad.validate().is_err());
        let bad = ComputeConfig { max_scale_factor: f64::NAN, ..ComputeConfig::default() };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn one_replica_failing_its_probes_among_serving_ones_is_a_pod_fault() {
        let mut builder = ContextBuilder::new().deployment("shop", "catalog", "catalog:1", 2, "node-1", |i, pod| {
            if i == 0 {
                pod.containers[0] = running("app", "pause", -300);
                pod.containers[0].ready = false;
            }
        });
        let sick = builder.pod_name("catalog-7d9f8c6b5-abcde");
        builder =
            builder.event("Pod", "shop", &sick, "Warning", "Unhealthy", "Readiness probe failed: connection refused");
        let h = top(&builder.build());
        assert_eq!(h.class, RootCauseClass::CrashTransient);
        assert_eq!(h.params["pod"], sick);
        assert!(h.evidence.iter().any(|e| e.detail.contains("Readiness probe failed")));
    }
}
