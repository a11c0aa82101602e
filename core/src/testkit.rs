//! Builders for incident contexts, so tests of specialists and of the Director read like the situation
//! they describe. Enabled by the `testkit` feature.
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

use crate::alert::{Alert, AlertSource, AlertStatus};
use crate::context::*;
use crate::ids::IncidentUid;
use crate::workload::ObjectRef;

/// A fixed instant all builders measure from, so tests are reproducible.
pub fn t0() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().expect("valid timestamp")
}

/// `t0` plus `secs` seconds (negative for the past).
pub fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An Alertmanager alert with the given name and labels, firing since `t0`.
pub fn alert(name: &str, pairs: &[(&str, &str)]) -> Alert {
    let mut l = labels(pairs);
    l.insert("alertname".into(), name.into());
    Alert {
        source: AlertSource::Alertmanager,
        status: AlertStatus::Firing,
        fingerprint: format!("{:016x}", name.len() as u64 * 7919 + l.len() as u64),
        name: name.into(),
        labels: l,
        annotations: BTreeMap::new(),
        starts_at: t0(),
        ends_at: None,
        group_key: None,
        generator_url: None,
    }
}

/// A container running since `started` seconds relative to `t0`, ready, never restarted.
pub fn running(name: &str, image: &str, started: i64) -> ContainerStatusSnapshot {
    ContainerStatusSnapshot {
        name: name.into(),
        image: image.into(),
        ready: true,
        restart_count: 0,
        state: ContainerState::Running { started_at: Some(at(started)) },
        last_state: None,
        requests: BTreeMap::new(),
        limits: BTreeMap::new(),
    }
}

/// A terminated state as the kubelet reports it.
pub fn terminated(reason: &str, exit_code: i32, started: i64, finished: i64) -> ContainerState {
    ContainerState::Terminated {
        reason: Some(reason.into()),
        exit_code,
        signal: None,
        message: None,
        started_at: Some(at(started)),
        finished_at: Some(at(finished)),
    }
}

/// A pod whose container was OOM-killed (at `limit`, when given) six times and now waits in
/// CrashLoopBackOff: pass it to [`ContextBuilder::deployment`].
pub fn oom_killed(limit: Option<&str>) -> impl FnMut(usize, &mut PodSnapshot) + '_ {
    move |_, pod| {
        let c = &mut pod.containers[0];
        c.restart_count = 6;
        c.ready = false;
        if let Some(limit) = limit {
            c.limits.insert("memory".into(), limit.into());
        }
        c.last_state = Some(terminated("OOMKilled", 137, -40, -20));
        c.state = waiting("CrashLoopBackOff", "back-off 2m40s restarting failed container");
    }
}

/// A waiting state with a reason (`CrashLoopBackOff`, `ImagePullBackOff`, ...).
pub fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState::Waiting { reason: Some(reason.into()), message: Some(message.into()) }
}

impl ContainerStatusSnapshot {
    pub fn with_limits(mut self, pairs: &[(&str, &str)]) -> Self {
        self.limits = labels(pairs);
        self
    }
    pub fn with_requests(mut self, pairs: &[(&str, &str)]) -> Self {
        self.requests = labels(pairs);
        self
    }
    /// The container crashed `restarts` times, last with `last`, and is now in `state`.
    pub fn crashed(mut self, restarts: i32, last: ContainerState, state: ContainerState) -> Self {
        self.restart_count = restarts;
        self.last_state = Some(last);
        self.ready = matches!(state, ContainerState::Running { .. });
        self.state = state;
        self
    }
}

/// Builds an `IncidentContext` piece by piece.
#[derive(Debug, Default)]
pub struct ContextBuilder {
    context: IncidentContext,
}

impl ContextBuilder {
    pub fn new() -> Self {
        let context = IncidentContext {
            incident: Some(IncidentUid::new()),
            collected_at: Some(at(60)),
            ..IncidentContext::default()
        };
        Self { context }
    }

    pub fn alert(mut self, alert: Alert) -> Self {
        self.context.alerts.push(alert);
        self
    }

    pub fn target(mut self, target: ObjectRef) -> Self {
        self.context.target = Some(target);
        self
    }

    /// A deployment with `replicas` pods on `node`, each with one container `app` running `image`.
    /// `pod` customises each pod (index, pod) after it is built.
    pub fn deployment(
        mut self,
        namespace: &str,
        name: &str,
        image: &str,
        replicas: i32,
        node: &str,
        mut pod: impl FnMut(usize, &mut PodSnapshot),
    ) -> Self {
        let workload = ObjectRef::deployment(namespace, name);
        let rs = format!("{name}-7d9f8c6b5");
        let mut ready = 0;
        for i in 0..replicas.max(0) as usize {
            let mut p = PodSnapshot {
                namespace: namespace.into(),
                name: format!("{rs}-{}", ["abcde", "fghij", "klmno", "pqrst", "uvwxy"][i % 5]),
                labels: labels(&[("app", name)]),
                owner: Some(workload.clone()),
                replica_set: Some(rs.clone()),
                node: Some(node.into()),
                phase: "Running".into(),
                reason: None,
                message: None,
                ready: true,
                created_at: Some(at(-3600)),
                deleting: false,
                pod_ip: Some(format!("10.244.0.{}", 10 + i)),
                conditions: vec![],
                containers: vec![running("app", image, -3600)],
            };
            pod(i, &mut p);
            p.ready = p.containers.iter().all(|c| c.ready);
            if p.ready {
                ready += 1;
            }
            self.context.pods.push(p);
        }
        self.context.workloads.push(WorkloadSnapshot {
            workload: workload.clone(),
            labels: labels(&[("app", name)]),
            selector: labels(&[("app", name)]),
            replicas_desired: replicas,
            replicas_ready: ready,
            replicas_available: ready,
            replicas_updated: replicas,
            generation: 1,
            observed_generation: 1,
            revision: Some(1),
            conditions: vec![],
            containers: vec![ContainerSpecSnapshot {
                name: "app".into(),
                image: image.into(),
                requests: BTreeMap::new(),
                limits: BTreeMap::new(),
                env: BTreeMap::new(),
                config_maps: vec![],
            }],
            annotations: BTreeMap::new(),
        });
        self.context.rollouts.push(RolloutSnapshot {
            deployment: workload,
            revision: 1,
            replica_set: rs,
            created_at: Some(at(-86_400)),
            images: vec![image.into()],
            replicas,
            ready_replicas: ready,
            template_hash: Some("7d9f8c6b5".into()),
            change_cause: None,
            limits: BTreeMap::new(),
            env: BTreeMap::new(),
        });
        self
    }

    /// Change the last added workload.
    pub fn with_workload(mut self, f: impl FnOnce(&mut WorkloadSnapshot)) -> Self {
        if let Some(w) = self.context.workloads.last_mut() {
            f(w);
        }
        self
    }

    pub fn rollout(mut self, rollout: RolloutSnapshot) -> Self {
        self.context.rollouts.push(rollout);
        self
    }

    /// A node; `ready` as the Ready condition reports it.
    pub fn node(mut self, name: &str, ready: Option<bool>) -> Self {
        let status = match ready {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        };
        self.context.nodes.push(NodeSnapshot {
            name: name.into(),
            ready,
            unschedulable: false,
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: status.into(),
                reason: Some(if ready == Some(true) { "KubeletReady" } else { "NodeStatusUnknown" }.into()),
                message: None,
                last_transition: Some(at(-30)),
            }],
            taints: vec![],
            allocatable: labels(&[("cpu", "4"), ("memory", "16Gi"), ("pods", "110")]),
            labels: labels(&[("kubernetes.io/hostname", name)]),
            status_heartbeat: Some(at(-30)),
            // Renewed 5 s before the context is collected while the node is ready, a minute before when not.
            lease_renewed: Some(at(if ready == Some(true) { 55 } else { 0 })),
        });
        self
    }

    pub fn service(mut self, namespace: &str, name: &str, backend: &str, port: i32, ready: usize) -> Self {
        self.context.services.push(ServiceSnapshot {
            namespace: namespace.into(),
            name: name.into(),
            selector: labels(&[("app", backend)]),
            ports: vec![ServicePort { name: None, port, target_port: None, protocol: "TCP".into() }],
            cluster_ip: Some(format!("10.96.{}.{}", name.len(), port % 250)),
            backend: Some(ObjectRef::deployment(namespace, backend)),
            ready_endpoints: ready,
            not_ready_endpoints: 0,
        });
        self
    }

    /// Log lines of a pod's container (`previous` for the terminated instance).
    pub fn logs(mut self, namespace: &str, pod: &str, previous: bool, lines: &[&str]) -> Self {
        self.context.logs.push(LogExcerpt {
            namespace: namespace.into(),
            pod: pod.into(),
            container: "app".into(),
            previous,
            lines: lines.iter().map(|l| l.to_string()).collect(),
            truncated: false,
        });
        self
    }

    pub fn event(mut self, kind: &str, namespace: &str, name: &str, type_: &str, reason: &str, message: &str) -> Self {
        self.context.events.push(EventSnapshot {
            namespace: Some(namespace.into()),
            involved: InvolvedObject { kind: kind.into(), name: name.into(), namespace: Some(namespace.into()) },
            reason: reason.into(),
            message: message.into(),
            type_: type_.into(),
            count: 1,
            first_seen: Some(at(-60)),
            last_seen: Some(at(0)),
            source: None,
        });
        self
    }

    pub fn dependency(mut self, from: ObjectRef, to: ObjectRef, service: &str, via: DependencyVia) -> Self {
        self.context.dependencies.push(DependencyEdge {
            from,
            to,
            service: service.into(),
            via,
            detail: String::new(),
        });
        self
    }

    pub fn metric(mut self, signal: &str, pairs: &[(&str, &str)], value: f64) -> Self {
        self.context.metrics.push(MetricSample {
            signal: signal.into(),
            query: String::new(),
            labels: labels(pairs),
            value,
            series: vec![],
        });
        self
    }

    pub fn gap(mut self, gap: &str) -> Self {
        self.context.gaps.push(gap.into());
        self
    }

    /// First pod whose name starts with `prefix`.
    pub fn pod_name(&self, prefix: &str) -> String {
        self.context.pods.iter().find(|p| p.name.starts_with(prefix)).map(|p| p.name.clone()).unwrap_or_default()
    }

    pub fn build(self) -> IncidentContext {
        self.context
    }
}
