//! The Network specialist: what happens between workloads — a dependency that is down, a degraded path
//! between two services, and traffic to places a workload should not talk to.
use medic_core::context::{IncidentContext, signals as metric};
use medic_core::{Evidence, EvidenceSource, Hypothesis, ObjectRef, RootCauseClass};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::patterns::{self, LogSignal};
use crate::playbook_ids as playbook;
use crate::signals::{self as sig, LogFinding};
use crate::specialist::{Findings, Specialist, params};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// External hosts or addresses workloads may talk to; connections elsewhere are suspicious when they
    /// also carry mining signatures or use mining-pool ports.
    pub egress_allowlist: Vec<String>,
    /// Ports mining pools listen on.
    pub mining_ports: Vec<u16>,
    /// Log lines needed before peer failures count as a pattern rather than noise.
    pub min_failure_lines: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            egress_allowlist: Vec::new(),
            mining_ports: vec![3333, 4444, 5555, 7777, 8888, 9999, 14433, 14444, 45560, 45700],
            min_failure_lines: 2,
        }
    }
}

impl NetworkConfig {
    pub fn validate(&self) -> Result<()> {
        if self.min_failure_lines == 0 {
            return Err(Error::InvalidConfig {
                specialist: "network",
                field: "min_failure_lines",
                problem: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct Network {
    config: NetworkConfig,
}

impl Network {
    pub fn new(config: NetworkConfig) -> Self {
        Self { config }
    }
}

impl Specialist for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn analyse(&self, ctx: &IncidentContext) -> Vec<Hypothesis> {
        let mut findings = Findings::new(self.name());
        for w in sig::workloads_in_order(ctx) {
            let logs = sig::log_findings(ctx, &w.workload);
            self.peers(ctx, &w.workload, &logs, &mut findings);
            self.egress(ctx, &w.workload, &logs, &mut findings);
        }
        self.declared_dependencies(ctx, &mut findings);
        findings.ranked()
    }
}

/// Whether the pod runs on a node that is not Ready or whose heartbeat is stale.
fn on_failed_node(ctx: &IncidentContext, pod: &str) -> bool {
    ctx.pods.iter().find(|p| p.name == pod).is_some_and(|p| sig::on_silent_node(ctx, p))
}

/// How a dependency looks from the context.
struct DependencyHealth {
    healthy: bool,
    evidence: Vec<Evidence>,
    no_endpoints: bool,
}

fn dependency_health(ctx: &IncidentContext, dependency: &ObjectRef) -> DependencyHealth {
    let mut evidence = Vec::new();
    let mut healthy = true;
    let mut no_endpoints = false;
    if let Some(w) = ctx.workload(dependency)
        && !sig::is_healthy(w)
    {
        healthy = false;
        evidence.push(Evidence::new(
            EvidenceSource::PodStatus,
            Some(dependency.clone()),
            format!("{} has {}/{} replicas available", dependency.name, w.replicas_available, w.replicas_desired),
        ));
    }
    for svc in ctx.services.iter().filter(|s| s.backend.as_ref() == Some(dependency)) {
        if svc.ready_endpoints == 0 {
            healthy = false;
            no_endpoints = true;
            evidence.push(Evidence::new(
                EvidenceSource::Topology,
                Some(dependency.clone()),
                format!("service {} has no ready endpoints ({} not ready)", svc.name, svc.not_ready_endpoints),
            ));
        }
    }
    let crashes = sig::crashes(ctx, dependency);
    if let Some(c) = crashes.first() {
        healthy = false;
        evidence.push(sig::crash_evidence(c));
    }
    for pod in ctx.pods_of(dependency) {
        for c in &pod.containers {
            if let Some(reason) = c.state.reason().filter(|r| *r != "CrashLoopBackOff")
                && !c.ready
            {
                healthy = false;
                evidence.push(Evidence::new(
                    EvidenceSource::PodStatus,
                    Some(ObjectRef::pod(&pod.namespace, &pod.name)),
                    format!("container {} is {reason}", c.name),
                ));
            }
        }
        if pod.phase != "Running" && pod.phase != "Succeeded" {
            healthy = false;
            evidence.push(Evidence::new(
                EvidenceSource::PodStatus,
                Some(ObjectRef::pod(&pod.namespace, &pod.name)),
                format!("pod is {}{}", pod.phase, pod.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()),
            ));
        }
    }
    evidence.truncate(4);
    DependencyHealth { healthy, evidence, no_endpoints }
}

impl Network {
    /// Peer failures in `caller`'s logs, grouped by the workload they point at.
    fn peers(&self, ctx: &IncidentContext, caller: &ObjectRef, logs: &[LogFinding<'_>], findings: &mut Findings) {
        let mut by_peer: BTreeMap<ObjectRef, Vec<&LogFinding<'_>>> = BTreeMap::new();
        // A pod on a node that stopped reporting fails its calls because of the node: the node's finding
        // explains it, and its lines say nothing about the path to the peer.
        let on_live_node = |f: &&LogFinding<'_>| !on_failed_node(ctx, &f.excerpt.pod);
        for f in logs.iter().filter(|f| f.signal.is_peer_failure()).filter(on_live_node) {
            let Some(peer) = patterns::peer(f.line) else { continue };
            let Some(target) = sig::resolve_peer(ctx, &peer) else { continue };
            if &target != caller {
                by_peer.entry(target).or_default().push(f);
            }
        }
        for (dependency, lines) in by_peer {
            let distinct: BTreeSet<&str> = lines.iter().map(|f| f.line).collect();
            let health = dependency_health(ctx, &dependency);
            let mut evidence: Vec<Evidence> = Vec::new();
            for f in &lines {
                let e = sig::log_evidence(f);
                if evidence.len() < 2 && !evidence.iter().any(|seen| seen.detail == e.detail) {
                    evidence.push(e);
                }
            }
            if health.healthy {
                if ctx.pods_of(&dependency).any(|p| on_failed_node(ctx, &p.name)) {
                    // Some of the peer's pods sit on a node that stopped reporting: the node explains the
                    // timeouts, not the path.
                    continue;
                }
                if ctx.pods_of(&dependency).next().is_none()
                    && ctx.nodes.iter().any(|n| sig::node_stopped_reporting(ctx, n))
                {
                    // Where the peer's pods run is unknown while a node stopped reporting: it may be theirs.
                    continue;
                }
                // The peer looks fine from the cluster's side: the path to it is what fails.
                let timeouts = lines.iter().filter(|f| f.signal == LogSignal::Timeout).count();
                if timeouts < self.config.min_failure_lines {
                    continue;
                }
                self.degraded_path(ctx, caller, &dependency, &lines, evidence, findings);
                continue;
            }
            evidence.extend(health.evidence);
            let refused = lines.iter().any(|f| f.signal == LogSignal::ConnectionRefused);
            let mut confidence: f64 = 0.6;
            if refused {
                confidence += 0.1;
            }
            if health.no_endpoints {
                confidence += 0.1;
            }
            if distinct.len() >= self.config.min_failure_lines {
                confidence += 0.1;
            }
            if !health.no_endpoints && ctx.workload(&dependency).is_some_and(|w| w.replicas_available > 0) {
                // Part of it still serves: "down" overstates it, and a fault of some pods is the likelier cause.
                confidence = confidence.min(0.5);
            }
            findings.add(
                RootCauseClass::DependencyDown,
                dependency.clone(),
                confidence.min(0.9),
                evidence,
                Some(playbook::DEPENDENCY_DOWN),
                params([("caller", caller.to_string())]),
            );
        }
    }

    /// Timeouts to a healthy peer. When only some of the caller's pods time out, those pods sit behind a
    /// pod-scoped fault and a fresh pod does not; when all do, the fault may be on either side.
    fn degraded_path(
        &self,
        ctx: &IncidentContext,
        caller: &ObjectRef,
        dependency: &ObjectRef,
        lines: &[&LogFinding<'_>],
        mut evidence: Vec<Evidence>,
        findings: &mut Findings,
    ) {
        let affected: BTreeSet<&str> = lines.iter().map(|f| f.excerpt.pod.as_str()).collect();
        let caller_pods: Vec<&str> = ctx.pods_of(caller).map(|p| p.name.as_str()).collect();
        evidence.push(Evidence::new(
            EvidenceSource::Topology,
            Some(dependency.clone()),
            format!("{} looks healthy: all replicas available with ready endpoints", dependency.name),
        ));
        if let Some(latency) = ctx.metrics.iter().find(|s| {
            s.signal == metric::LATENCY_P99_SECONDS && s.labels.get("service").is_some_and(|svc| svc == &caller.name)
        }) {
            evidence.push(Evidence::new(
                EvidenceSource::Metric,
                Some(caller.clone()),
                format!("p99 latency {:.2}s", latency.value),
            ));
        }
        let pod = *affected.iter().next().expect("lines are non-empty");
        let confidence = if affected.len() < caller_pods.len() { 0.75 } else { 0.5 };
        findings.add(
            RootCauseClass::NetworkDegraded,
            caller.clone(),
            confidence,
            evidence,
            Some(playbook::NETWORK_DEGRADED),
            params([("pod", pod.to_string()), ("peer", dependency.to_string())]),
        );
    }

    /// Mining signatures or connections to mining-pool ports on internet addresses.
    fn egress(&self, ctx: &IncidentContext, workload: &ObjectRef, logs: &[LogFinding<'_>], findings: &mut Findings) {
        let mut evidence = Vec::new();
        let mut confidence: f64 = 0.0;
        if let Some(f) = logs.iter().find(|f| f.signal == LogSignal::Mining) {
            evidence.push(sig::log_evidence(f));
            confidence = 0.8;
        }
        let external = ctx
            .logs
            .iter()
            .filter(|l| ctx.pods_of(workload).any(|p| p.name == l.pod))
            .flat_map(|l| l.lines.iter().map(move |line| (l, line)))
            .find_map(|(l, line)| {
                let peer = patterns::peers(line).find(|peer| {
                    patterns::is_external_ipv4(&peer.host)
                        && !self.config.egress_allowlist.iter().any(|a| a == &peer.host)
                        && peer.port.is_some_and(|p| self.config.mining_ports.contains(&p))
                })?;
                Some((l, line, peer))
            });
        if let Some((excerpt, line, peer)) = external {
            evidence.push(Evidence::new(
                EvidenceSource::Log,
                Some(ObjectRef::pod(&excerpt.namespace, &excerpt.pod)),
                format!(
                    "connection to external address {}:{} on a mining-pool port: {}",
                    peer.host,
                    peer.port.unwrap_or_default(),
                    sig::truncate(line, 200)
                ),
            ));
            confidence = if confidence > 0.0 { 0.95 } else { 0.7 };
        }
        let egress_bytes = ctx.metrics.iter().find(|s| {
            s.signal == metric::EXTERNAL_EGRESS_BYTES_RATE
                && s.value > 0.0
                && s.labels.get("pod").is_some_and(|p| ctx.pods_of(workload).any(|pod| &pod.name == p))
        });
        if let Some(sample) = egress_bytes {
            evidence.push(Evidence::new(
                EvidenceSource::Metric,
                Some(workload.clone()),
                format!(
                    "{:.0} B/s to {}",
                    sample.value,
                    sample.labels.get("destination").map(String::as_str).unwrap_or("outside the cluster")
                ),
            ));
            confidence = if confidence > 0.0 { (confidence + 0.1).min(0.95) } else { 0.5 };
        }
        if confidence == 0.0 {
            return;
        }
        let Some(w) = ctx.workload(workload) else { return };
        let selector = w.selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        findings.add(
            RootCauseClass::SuspiciousEgress,
            workload.clone(),
            confidence,
            evidence,
            Some(playbook::SUSPICIOUS_EGRESS),
            params([("pod_selector", selector)]),
        );
    }

    /// A declared dependency (configuration names it) that is down while its caller fails, even when the
    /// caller's logs do not name it.
    fn declared_dependencies(&self, ctx: &IncidentContext, findings: &mut Findings) {
        let Some(target) = &ctx.target else { return };
        let caller_failing = ctx.workload(target).is_some_and(|w| !sig::is_healthy(w))
            || ctx.metrics.iter().any(|s| {
                s.signal == metric::ERROR_RATE && s.value > 0.05 && s.labels.get("service") == Some(&target.name)
            })
            || !ctx.alerts.is_empty();
        if !caller_failing {
            return;
        }
        for edge in ctx.dependencies_of(target) {
            let health = dependency_health(ctx, &edge.to);
            if health.healthy {
                continue;
            }
            let mut evidence = vec![Evidence::new(
                EvidenceSource::Topology,
                Some(target.clone()),
                format!(
                    "{} depends on {} (service {}{})",
                    target.name,
                    edge.to.name,
                    edge.service,
                    detail(&edge.detail)
                ),
            )];
            evidence.extend(health.evidence);
            findings.add(
                RootCauseClass::DependencyDown,
                edge.to.clone(),
                if health.no_endpoints { 0.65 } else { 0.55 },
                evidence,
                Some(playbook::DEPENDENCY_DOWN),
                params([("caller", target.to_string())]),
            );
        }
    }
}

fn detail(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(": {}", sig::truncate(text, 120)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::context::DependencyVia;
    use medic_core::testkit::*;

    /// The checkout's log: its calls to the payment service (`payment_ready` endpoints) time out.
    fn checkout_times_out_calling_payment(builder: ContextBuilder, payment_ready: usize) -> ContextBuilder {
        builder.service("shop", "payment", "payment", 50051, payment_ready).logs(
            "shop",
            "checkout-7d9f8c6b5-abcde",
            false,
            &[
                "rpc error: code = DeadlineExceeded desc = dial tcp payment:50051: i/o timeout",
                "failed to charge card: dial tcp payment:50051: i/o timeout",
            ],
        )
    }

    fn network() -> Network {
        Network::new(NetworkConfig::default())
    }

    fn redis_down() -> ContextBuilder {
        ContextBuilder::new()
            .target(ObjectRef::deployment("shop", "cart"))
            .deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {})
            .deployment("shop", "redis", "redis:7", 1, "node-1", |_, pod| {
                pod.containers[0] = running("redis", "redis:7", 0).crashed(
                    6,
                    terminated("Error", 1, -20, -15),
                    waiting("CrashLoopBackOff", "back-off 5m0s"),
                );
            })
            .service("shop", "cart-redis", "redis", 6379, 0)
    }

    #[test]
    fn refused_connections_to_a_down_dependency_point_at_the_dependency() {
        let ctx = redis_down()
            .logs(
                "shop",
                "cart-7d9f8c6b5-abcde",
                false,
                &[
                    "Error 111 connecting to cart-redis:6379. Connection refused.",
                    "dial tcp cart-redis:6379: connect: connection refused",
                ],
            )
            .build();
        let h = network().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::DependencyDown);
        assert_eq!(h.target, ObjectRef::deployment("shop", "redis"), "the cause, not the symptom");
        assert!(h.confidence >= 0.85);
        assert!(h.evidence.iter().any(|e| e.detail.contains("no ready endpoints")));
    }

    #[test]
    fn a_declared_dependency_that_is_down_is_suspected_without_log_lines() {
        let ctx = redis_down()
            .dependency(
                ObjectRef::deployment("shop", "cart"),
                ObjectRef::deployment("shop", "redis"),
                "cart-redis",
                DependencyVia::Config,
            )
            .alert(alert("MedicServiceErrorRate", &[("namespace", "shop"), ("service", "cart")]))
            .build();
        let h = network().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::DependencyDown);
        assert!(h.confidence < 0.7, "weaker without the caller's own words");
    }

    #[test]
    fn timeouts_from_one_replica_to_a_healthy_peer_blame_that_replica() {
        let ctx = checkout_times_out_calling_payment(
            ContextBuilder::new()
                .target(ObjectRef::deployment("shop", "checkout"))
                .deployment("shop", "checkout", "checkout:1", 2, "node-1", |_, _| {})
                .deployment("shop", "payment", "payment:1", 2, "node-1", |_, _| {}),
            2,
        )
        .build();
        let h = network().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::NetworkDegraded);
        assert_eq!(h.target, ObjectRef::deployment("shop", "checkout"));
        assert_eq!(h.params["pod"], "checkout-7d9f8c6b5-abcde");
        assert_eq!(h.playbook.as_deref(), Some(playbook::NETWORK_DEGRADED));
    }

    #[test]
    fn timeouts_to_a_peer_on_a_node_that_stopped_reporting_are_the_node_s() {
        let ctx = checkout_times_out_calling_payment(
            ContextBuilder::new()
                .target(ObjectRef::deployment("shop", "checkout"))
                .node("node-1", Some(true))
                .node("node-2", None)
                .deployment("shop", "checkout", "checkout:1", 2, "node-1", |_, _| {})
                .deployment("shop", "payment", "payment:1", 1, "node-2", |_, _| {}),
            1,
        )
        .build();
        let found = network().analyse(&ctx);
        assert!(found.iter().all(|h| h.class != RootCauseClass::NetworkDegraded), "{found:?}");
    }

    /// How long before the context was collected each node's lease was last renewed, in seconds (the
    /// context is collected at `at(60)`), and whether the pod-level network theory still stands.
    #[test]
    fn no_pod_level_network_theory_on_a_node_that_stopped_heartbeating() {
        /// A case, the node's Ready, its lease's and its status's age, whether the network theory stands.
        type Row = (&'static str, Option<bool>, Option<i64>, Option<i64>, bool);
        let table: [Row; 6] = [
            ("fresh lease", Some(true), Some(5), Some(90), true),
            ("lease renewed a period and its jitter ago", Some(true), Some(11), Some(90), true),
            ("lease missed its renewal by more than a second", Some(true), Some(12), Some(90), false),
            ("no lease, status within its report period", Some(true), None, Some(200), true),
            ("no lease, status stale past its report period", Some(true), None, Some(400), false),
            ("node already Unknown", None, Some(5), Some(90), false),
        ];
        for (case, ready, lease_age, status_age, network_theory) in table {
            let mut ctx = checkout_times_out_calling_payment(
                ContextBuilder::new()
                    .target(ObjectRef::deployment("shop", "checkout"))
                    .node("node-1", Some(true))
                    .node("node-2", ready)
                    .deployment("shop", "checkout", "checkout:1", 2, "node-1", |i, pod| {
                        if i == 0 {
                            pod.node = Some("node-2".into());
                        }
                    })
                    .deployment("shop", "payment", "payment:1", 2, "node-1", |_, _| {}),
                2,
            )
            .build();
            let node = ctx.nodes.iter_mut().find(|n| n.name == "node-2").unwrap();
            node.lease_renewed = lease_age.map(|s| at(60 - s));
            node.status_heartbeat = status_age.map(|s| at(60 - s));
            let found = network().analyse(&ctx);
            let degraded = found.iter().any(|h| h.class == RootCauseClass::NetworkDegraded);
            assert_eq!(degraded, network_theory, "{case}: {found:?}");
        }
    }

    #[test]
    fn timeouts_to_a_peer_whose_pods_are_unknown_are_no_path_fault_while_a_node_is_silent() {
        let mut ctx = checkout_times_out_calling_payment(
            ContextBuilder::new()
                .target(ObjectRef::deployment("shop", "checkout"))
                .node("node-1", Some(true))
                .node("node-2", Some(true))
                .deployment("shop", "checkout", "checkout:1", 2, "node-1", |_, _| {})
                .deployment("shop", "payment", "payment:1", 1, "node-2", |_, _| {}),
            1,
        )
        .build();
        ctx.pods.retain(|p| !p.name.starts_with("payment"));
        let degraded =
            |ctx: &IncidentContext| network().analyse(ctx).iter().any(|h| h.class == RootCauseClass::NetworkDegraded);
        assert!(degraded(&ctx), "every node reporting: the path is suspect");
        ctx.nodes[1].lease_renewed = Some(at(30));
        assert!(!degraded(&ctx), "a silent node may host the peer");
    }

    #[test]
    fn miners_are_quarantined() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "currency", "currency:1", 1, "node-1", |_, _| {})
            .logs(
                "shop",
                "currency-7d9f8c6b5-abcde",
                false,
                &["[2026-03-01 12:00:00.123]  net      use pool stratum+tcp://45.9.148.21:4444  45.9.148.21"],
            )
            .build();
        let h = network().analyse(&ctx).into_iter().next().unwrap();
        assert_eq!(h.class, RootCauseClass::SuspiciousEgress);
        assert_eq!(h.params["pod_selector"], "app=currency");
        assert!(h.confidence >= 0.9);
    }

    #[test]
    fn a_single_timeout_is_noise() {
        let ctx = ContextBuilder::new()
            .deployment("shop", "checkout", "checkout:1", 1, "node-1", |_, _| {})
            .deployment("shop", "payment", "payment:1", 1, "node-1", |_, _| {})
            .service("shop", "payment", "payment", 50051, 1)
            .logs("shop", "checkout-7d9f8c6b5-abcde", false, &["dial tcp payment:50051: i/o timeout"])
            .build();
        assert!(network().analyse(&ctx).is_empty());
    }
}
