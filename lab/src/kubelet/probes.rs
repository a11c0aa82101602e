//! Liveness, readiness and startup probes: when they run and how many results it takes to change the
//! verdict. What a probe would answer comes from the application model (`live`, `ready`).
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// One probe of one container and its running tally.
#[derive(Debug, Clone)]
pub struct ProbeState {
    kind: ProbeKind,
    initial_delay: SignedDuration,
    period: SignedDuration,
    success_threshold: u32,
    failure_threshold: u32,
    /// How a failure reads in the `Unhealthy` event (without the pod IP, which is filled in later).
    handler: Handler,
    successes: u32,
    failures: u32,
    last_run: Option<Timestamp>,
    /// The current verdict.
    pub passing: bool,
}

#[derive(Debug, Clone)]
enum Handler {
    Http { port: String, path: String, scheme: String },
    Tcp { port: String },
    Exec { command: String },
    Grpc { port: i32 },
}

/// What one probe run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The verdict did not change.
    Unchanged,
    /// The probe failed (an `Unhealthy` event is due) and the verdict is now `passing`.
    Failed { message: String, verdict_changed: bool },
    /// The probe succeeded and the verdict changed to passing.
    Recovered,
}

fn port_text(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

impl ProbeState {
    pub fn new(kind: ProbeKind, probe: &Probe) -> Self {
        let handler = if let Some(http) = &probe.http_get {
            Handler::Http {
                port: port_text(&http.port),
                path: http.path.clone().unwrap_or_else(|| "/".into()),
                scheme: http.scheme.clone().unwrap_or_else(|| "HTTP".into()).to_lowercase(),
            }
        } else if let Some(tcp) = &probe.tcp_socket {
            Handler::Tcp { port: port_text(&tcp.port) }
        } else if let Some(grpc) = &probe.grpc {
            Handler::Grpc { port: grpc.port }
        } else {
            let command = probe.exec.as_ref().and_then(|e| e.command.clone()).unwrap_or_default().join(" ");
            Handler::Exec { command }
        };
        let seconds = |v: Option<i32>, default: i64| SignedDuration::from_secs(v.map_or(default, i64::from).max(0));
        Self {
            kind,
            initial_delay: seconds(probe.initial_delay_seconds, 0),
            period: seconds(probe.period_seconds, 10).max(SignedDuration::from_secs(1)),
            success_threshold: probe.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1) as u32,
            handler,
            successes: 0,
            failures: 0,
            last_run: None,
            // Liveness passes until proven otherwise; readiness and startup start failing.
            passing: kind == ProbeKind::Liveness,
        }
    }

    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    /// Runs the probe if it is due (`started_at + initialDelaySeconds`, then every `periodSeconds`).
    pub fn run(&mut self, started_at: Timestamp, now: Timestamp, answer: bool, pod_ip: &str) -> Outcome {
        if now < started_at + self.initial_delay {
            return Outcome::Unchanged;
        }
        if self.last_run.is_some_and(|last| now.duration_since(last) < self.period) {
            return Outcome::Unchanged;
        }
        self.last_run = Some(now);
        if answer {
            self.failures = 0;
            self.successes += 1;
            if !self.passing && self.successes >= self.success_threshold {
                self.passing = true;
                return Outcome::Recovered;
            }
            Outcome::Unchanged
        } else {
            self.successes = 0;
            self.failures += 1;
            let mut verdict_changed = false;
            if self.passing && self.failures >= self.failure_threshold {
                self.passing = false;
                verdict_changed = true;
            }
            Outcome::Failed { message: self.failure_message(pod_ip), verdict_changed }
        }
    }

    /// After a restart the tally starts over.
    pub fn reset(&mut self) {
        self.successes = 0;
        self.failures = 0;
        self.last_run = None;
        self.passing = self.kind == ProbeKind::Liveness;
    }

    fn failure_message(&self, pod_ip: &str) -> String {
        let detail = match &self.handler {
            Handler::Http { .. } => "HTTP probe failed with statuscode: 503".to_string(),
            Handler::Tcp { port } => format!("dial tcp {pod_ip}:{port}: connect: connection refused"),
            Handler::Grpc { port } => format!("timeout: failed to connect service \"{pod_ip}:{port}\" within 1s"),
            Handler::Exec { command } => format!("command \"{command}\" exited with code 1"),
        };
        format!("{} probe failed: {detail}", self.kind.label())
    }

    /// The URL an HTTP probe calls, for messages that name it.
    pub fn target(&self, pod_ip: &str) -> Option<String> {
        match &self.handler {
            Handler::Http { port, path, scheme } => Some(format!("{scheme}://{pod_ip}:{port}{path}")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::HTTPGetAction;

    fn http_probe(delay: i32, period: i32, failures: i32) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(8080),
                ..Default::default()
            }),
            initial_delay_seconds: Some(delay),
            period_seconds: Some(period),
            failure_threshold: Some(failures),
            ..Default::default()
        }
    }

    #[test]
    fn liveness_fails_after_the_threshold_at_the_period() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| t0 + SignedDuration::from_secs(s);
        let mut probe = ProbeState::new(ProbeKind::Liveness, &http_probe(5, 10, 3));
        assert_eq!(probe.run(t0, at(1), false, "10.244.1.2"), Outcome::Unchanged, "inside the initial delay");
        let mut changed_at = None;
        for s in 5..60 {
            if let Outcome::Failed { verdict_changed: true, message } = probe.run(t0, at(s), false, "10.244.1.2") {
                assert_eq!(message, "Liveness probe failed: HTTP probe failed with statuscode: 503");
                changed_at = Some(s);
                break;
            }
        }
        // Runs at 5, 15, 25: the third failure kills.
        assert_eq!(changed_at, Some(25));
        assert_eq!(probe.target("10.244.1.2").as_deref(), Some("http://10.244.1.2:8080/healthz"));
    }

    #[test]
    fn readiness_starts_failing_and_recovers_on_success() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut probe = ProbeState::new(ProbeKind::Readiness, &http_probe(0, 5, 3));
        assert!(!probe.passing);
        assert_eq!(probe.run(t0, t0, true, "ip"), Outcome::Recovered);
        assert!(probe.passing);
    }
}
