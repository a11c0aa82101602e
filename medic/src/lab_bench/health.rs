//! Whether the application is healthy right now, as its users and its operators would judge it: every
//! Deployment serves all its replicas on its newest revision, no container is crash-looping, failing to
//! pull or restarting, every service answers (errors under 5%, latency under a second), and nothing sends
//! data out of the cluster. The bench reads the lab directly for this (it is the referee, not medic).
use jiff::Timestamp;
use medic_lab::Lab;
use medic_lab::store::Kind;
use serde_json::Value;
use std::collections::BTreeMap;

/// Waiting reasons that mean a container does not run.
const BROKEN_WAITING: [&str; 6] = [
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "RunContainerError",
    "InvalidImageName",
];
/// A service answering more errors than this is not healthy (the alert rules' threshold).
const MAX_ERROR_FRACTION: f64 = 0.05;
/// ... nor one answering slower than this (ms).
const MAX_LATENCY_MS: f64 = 1000.0;

/// One look at the application.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: Timestamp,
    /// What is wrong; empty when healthy.
    pub problems: Vec<String>,
}

impl Sample {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Samples the lab, remembering what it needs to see change (restarts, egress).
#[derive(Debug, Default)]
pub struct HealthProbe {
    restarts: BTreeMap<(String, String), i64>,
    egress: f64,
}

impl HealthProbe {
    pub fn sample(&mut self, lab: &Lab, namespace: &str) -> Sample {
        let at = lab.clock().now();
        let mut problems = Vec::new();
        let store = lab.store();
        for d in store.list(Kind::Deployment, Some(namespace)).0 {
            let v = &d.value;
            let want = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let status = |f: &str| v.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
            let (available, updated) = (status("availableReplicas"), status("updatedReplicas"));
            if want > 0 && (available < want || updated < want) {
                problems.push(format!("{}: {available}/{want} available, {updated} updated", d.name()));
            }
        }
        for pod in store.list(Kind::Pod, Some(namespace)).0 {
            if pod.is_terminating() {
                continue;
            }
            let statuses = pod.value.pointer("/status/containerStatuses").and_then(Value::as_array);
            for c in statuses.into_iter().flatten() {
                let container = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if let Some(reason) = c.pointer("/state/waiting/reason").and_then(Value::as_str)
                    && BROKEN_WAITING.contains(&reason)
                {
                    problems.push(format!("{}/{container}: {reason}", pod.name()));
                }
                let restarts = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
                let key = (pod.name().to_string(), container.to_string());
                if let Some(before) = self.restarts.insert(key, restarts)
                    && restarts > before
                {
                    problems.push(format!("{}/{container}: restarted", pod.name()));
                }
            }
        }
        let app = lab.app();
        let state = app.lock();
        for (service, flow) in state.topology.services.iter().zip(&state.flow.services) {
            if flow.rate <= 0.0 {
                continue;
            }
            if flow.error_fraction >= MAX_ERROR_FRACTION {
                problems.push(format!("{}: {:.0}% errors", service.name, flow.error_fraction * 100.0));
            }
            if flow.latency_ms >= MAX_LATENCY_MS {
                problems.push(format!("{}: {:.0} ms latency", service.name, flow.latency_ms));
            }
        }
        let egress: f64 = state
            .processes
            .values()
            .flat_map(|p| p.counters.egress_connections.iter())
            .filter(|((_, allowed), _)| *allowed)
            .map(|(_, n)| n)
            .sum();
        if egress > self.egress + 1e-9 {
            problems.push("connections leave the cluster".into());
        }
        self.egress = egress;
        Sample { at, problems }
    }
}

/// When the final healthy stretch began, if the samples end healthy and it lasted at least `min_secs`.
pub fn healthy_since(samples: &[Sample], min_secs: f64) -> Option<Timestamp> {
    let last = samples.last()?;
    if !last.healthy() {
        return None;
    }
    let start = samples.iter().rposition(|s| !s.healthy()).map_or(0, |i| i + 1);
    let since = samples[start].at;
    (last.at.duration_since(since).as_secs_f64() >= min_secs).then_some(since)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: i64, healthy: bool) -> Sample {
        let at = Timestamp::from_second(1_800_000_000 + secs).unwrap();
        Sample { at, problems: if healthy { vec![] } else { vec!["x: 0/1 available".into()] } }
    }

    #[test]
    fn the_final_healthy_stretch_counts_once_it_lasted() {
        let samples = [sample(0, true), sample(10, false), sample(20, false), sample(30, true), sample(100, true)];
        assert_eq!(healthy_since(&samples, 60.0), Some(samples[3].at));
        assert_eq!(healthy_since(&samples, 80.0), None, "70 s is not enough");
        assert_eq!(healthy_since(&samples[..3], 0.0), None, "ends unhealthy");
        assert_eq!(healthy_since(&[sample(0, true), sample(90, true)], 60.0), Some(sample(0, true).at));
        assert_eq!(healthy_since(&[], 0.0), None);
    }
}
