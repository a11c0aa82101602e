//! The symptom digest: an incident's context reduced to the signals that recur when the same failure
//! recurs — status reasons, exit codes, event reasons and message templates, log templates, metric
//! signatures, the alert name — one `kind: value` line each, sorted and deduplicated.
//!
//! The digest is what every embedder embeds, so the model-free embedder and a language model see the same
//! text, and `medic memory search` can match a pasted log line against it.
use std::collections::BTreeSet;

use medic_core::IncidentContext;
use medic_core::context::{ContainerState, MetricSample};

use crate::template::template;

/// Bumped when the digest of the same context changes; memories digested by an older version are
/// digested again from their stored context when the index is rebuilt.
pub const DIGEST_VERSION: u32 = 1;

/// The most log templates one incident contributes: a crash loop repeats itself, and the newest lines
/// carry the failure.
const MAX_LOG_TEMPLATES: usize = 64;
/// The newest lines of each log excerpt that are read.
const LOG_LINES_READ: usize = 100;
/// The most lines a digest has.
const MAX_LINES: usize = 256;

/// The kinds of line a digest has; a pasted line without one of these prefixes is read as a log line.
pub const KINDS: &[&str] = &[
    "alert",
    "alert-reason",
    "target-kind",
    "workload",
    "pod-phase",
    "pod-reason",
    "pod",
    "container-waiting",
    "container-terminated",
    "container-message",
    "last-terminated",
    "exit-code",
    "signal",
    "restarts",
    "node",
    "node-condition",
    "node-taint",
    "workload-condition",
    "replicas",
    "service",
    "event",
    "event-message",
    "log",
    "metric",
    "rollout",
];

/// An incident's symptoms as sorted `kind: value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymptomDigest {
    lines: BTreeSet<String>,
}

impl SymptomDigest {
    /// The digest of a collected context.
    pub fn of(context: &IncidentContext) -> Self {
        let mut d = Self::default();
        for alert in &context.alerts {
            d.push("alert", &alert.name);
            if let Some(reason) = alert.label("reason") {
                d.push("alert-reason", reason);
            }
        }
        if let Some(target) = &context.target {
            d.push("target-kind", target.kind.as_str());
            match target.namespace() {
                Some(ns) => d.push("workload", &format!("{ns}/{}", target.name)),
                None => d.push("workload", &target.name),
            }
        }
        d.pods(context);
        d.nodes(context);
        d.workloads(context);
        for service in &context.services {
            if service.ready_endpoints == 0 {
                d.push("service", "no ready endpoints");
            }
        }
        d.rollouts(context);
        d.events(context);
        d.logs(context);
        for metric in &context.metrics {
            d.metric(metric);
        }
        d
    }

    /// The digest of text a person pasted: `kind: value` lines are taken as they are, anything else as a
    /// log line.
    pub fn from_text(text: &str) -> Self {
        let mut d = Self::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once(": ") {
                Some((kind, value)) if KINDS.contains(&kind) => d.push(kind, value),
                _ => d.push("log", &template(line)),
            }
        }
        d
    }

    /// The digest as stored and embedded: one line per symptom, sorted.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.lines.iter().map(|l| l.len() + 1).sum());
        for line in &self.lines {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
        out
    }

    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn push(&mut self, kind: &str, value: &str) {
        let value = value.trim();
        if value.is_empty() || self.lines.len() >= MAX_LINES {
            return;
        }
        // One line per symptom: newlines inside a value would split it into lines of no kind.
        let value = value.replace(['\n', '\r'], " ");
        self.lines.insert(format!("{kind}: {value}"));
    }

    fn pods(&mut self, context: &IncidentContext) {
        for pod in &context.pods {
            if !matches!(pod.phase.as_str(), "Running" | "Succeeded") {
                self.push("pod-phase", &pod.phase);
            }
            if let Some(reason) = &pod.reason {
                self.push("pod-reason", reason);
            }
            if pod.phase == "Running" && !pod.ready {
                self.push("pod", "not ready");
            }
            if pod.deleting {
                self.push("pod", "terminating");
            }
            for container in &pod.containers {
                self.container_state("container", &container.state);
                if let Some(last) = &container.last_state {
                    self.container_state("last", last);
                }
                if container.restart_count > 0 {
                    self.push("restarts", "container restarted");
                }
            }
        }
    }

    fn container_state(&mut self, which: &str, state: &ContainerState) {
        match state {
            ContainerState::Waiting { reason, message } if which == "container" => {
                if let Some(reason) = reason {
                    self.push("container-waiting", reason);
                }
                if let Some(message) = message {
                    self.push("container-message", &template(message));
                }
            }
            ContainerState::Terminated { reason, exit_code, signal, message, .. } => {
                let kind = if which == "container" { "container-terminated" } else { "last-terminated" };
                if let Some(reason) = reason {
                    self.push(kind, reason);
                }
                self.push("exit-code", &exit_code.to_string());
                if let Some(signal) = signal {
                    self.push("signal", &signal.to_string());
                }
                if let Some(message) = message {
                    self.push("container-message", &template(message));
                }
            }
            ContainerState::Waiting { .. } | ContainerState::Running { .. } => {}
        }
    }

    fn nodes(&mut self, context: &IncidentContext) {
        for node in &context.nodes {
            match node.ready {
                Some(true) => {}
                Some(false) => self.push("node", "not ready"),
                None => self.push("node", "status unknown"),
            }
            if node.unschedulable {
                self.push("node", "unschedulable");
            }
            for condition in &node.conditions {
                if condition.type_ != "Ready" && condition.status == "True" {
                    self.push("node-condition", &condition.type_);
                }
            }
            for taint in &node.taints {
                if taint.effect != "PreferNoSchedule" {
                    self.push("node-taint", &format!("{} {}", taint.key, taint.effect));
                }
            }
        }
    }

    fn workloads(&mut self, context: &IncidentContext) {
        for workload in &context.workloads {
            for condition in &workload.conditions {
                if condition.status != "True" {
                    let reason = condition.reason.as_deref().unwrap_or("");
                    self.push("workload-condition", &format!("{}={} {reason}", condition.type_, condition.status));
                }
            }
            if workload.replicas_available < workload.replicas_desired {
                self.push("replicas", "unavailable");
            }
            if workload.replicas_updated < workload.replicas_desired {
                self.push("replicas", "not updated");
            }
        }
    }

    fn rollouts(&mut self, context: &IncidentContext) {
        let mut revisions: Vec<_> = context.rollouts.iter().collect();
        revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
        let [newest, previous, ..] = revisions.as_slice() else { return };
        if newest.deployment != previous.deployment {
            return;
        }
        if newest.ready_replicas < newest.replicas {
            self.push("rollout", "newest revision not ready");
        }
        if newest.images != previous.images {
            self.push("rollout", "image changed");
        }
        if newest.limits != previous.limits {
            self.push("rollout", "resources changed");
        }
        if newest.env != previous.env {
            self.push("rollout", "environment changed");
        }
    }

    fn events(&mut self, context: &IncidentContext) {
        for event in &context.events {
            self.push("event", &event.reason);
            // Normal events (Pulled, Created, Started, Scheduled) say nothing their reason does not.
            if event.type_ == "Warning" {
                self.push("event-message", &template(&event.message));
            }
        }
    }

    fn logs(&mut self, context: &IncidentContext) {
        let mut taken = 0;
        for excerpt in &context.logs {
            let newest = excerpt.lines.len().saturating_sub(LOG_LINES_READ);
            for line in excerpt.lines[newest..].iter().rev() {
                if taken >= MAX_LOG_TEMPLATES {
                    return;
                }
                let t = template(line);
                // A line that is nothing but placeholders and punctuation says nothing.
                if word_letters(&t) < 3 {
                    continue;
                }
                let before = self.lines.len();
                self.push("log", &t);
                taken += usize::from(self.lines.len() > before);
            }
        }
    }

    fn metric(&mut self, metric: &MetricSample) {
        self.push("metric", &format!("{} {}", metric.signal, magnitude(metric.value)));
        if let Some(trend) = trend(&metric.series) {
            self.push("metric", &format!("{} {trend}", metric.signal));
        }
    }
}

/// Letters outside `<placeholders>`.
fn word_letters(template: &str) -> usize {
    let mut inside = false;
    let mut letters = 0;
    for c in template.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside && c.is_alphabetic() => letters += 1,
            _ => {}
        }
    }
    letters
}

/// A value's order of magnitude in half-powers of two: 0.5 and 0.95 differ, 0.95 and 0.97 do not.
fn magnitude(value: f64) -> String {
    if !value.is_finite() {
        return "non-finite".into();
    }
    if value == 0.0 {
        return "zero".into();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let exponent = (value.abs().log2() * 2.0).round().clamp(-40.0, 80.0) as i32;
    format!("{sign}2^{}", f64::from(exponent) / 2.0)
}

/// Rising or falling when the last third of a series is a quarter above or below its first third.
fn trend(series: &[(i64, f64)]) -> Option<&'static str> {
    if series.len() < 3 {
        return None;
    }
    let third = series.len() / 3;
    let mean = |s: &[(i64, f64)]| s.iter().map(|(_, v)| v).sum::<f64>() / s.len() as f64;
    let first = mean(&series[..third]);
    let last = mean(&series[series.len() - third..]);
    let scale = first.abs().max(last.abs()).max(f64::EPSILON);
    match (last - first) / scale {
        r if r > 0.25 => Some("rising"),
        r if r < -0.25 => Some("falling"),
        _ => Some("flat"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medic_core::ObjectRef;
    use medic_core::testkit::{ContextBuilder, running, terminated, waiting};
    use std::collections::BTreeMap;

    #[test]
    fn a_crash_loop_reads_as_its_signals() {
        let pod = "cart-7d9f8b6c4-x2x9z";
        let context = ContextBuilder::new()
            .target(ObjectRef::deployment("shop", "cart"))
            .deployment("shop", "cart", "shop/cart:1.2", 1, "node-1", |_, p| {
                p.name = pod.into();
                p.containers[0] = running("app", "shop/cart:1.2", -60).crashed(
                    4,
                    terminated("OOMKilled", 137, -120, -60),
                    waiting("CrashLoopBackOff", &format!("back-off 40s restarting failed container=app pod={pod}")),
                );
            })
            .event(
                "Pod",
                "shop",
                pod,
                "Warning",
                "BackOff",
                &format!("Back-off restarting failed container app in pod {pod}"),
            )
            .event(
                "Pod",
                "shop",
                pod,
                "Normal",
                "Pulled",
                "Container image \"shop/cart:1.2\" already present on machine",
            )
            .logs("shop", pod, true, &["2024-05-01T10:00:00Z allocating 512MiB for cache", "42"])
            .build();
        let text = SymptomDigest::of(&context).text();
        let want = [
            "container-message: back-off <num> restarting failed container=app pod=cart-<pod>",
            "container-waiting: CrashLoopBackOff",
            "event-message: back-off restarting failed container app in pod cart-<pod>",
            "event: BackOff",
            "event: Pulled",
            "exit-code: 137",
            "last-terminated: OOMKilled",
            "log: <ts> allocating <num> for cache",
            "pod: not ready",
            "replicas: unavailable",
            "restarts: container restarted",
            "target-kind: Deployment",
            "workload: shop/cart",
        ];
        assert_eq!(text, want.join("\n"));
    }

    #[test]
    fn pasted_text_keeps_known_kinds_and_templates_the_rest() {
        let d = SymptomDigest::from_text("exit-code: 137\n\n  dial tcp 10.1.2.3:5432: connection refused  \nfoo: bar");
        assert_eq!(d.text(), "exit-code: 137\nlog: dial tcp <ip>: connection refused\nlog: foo: bar");
    }

    #[test]
    fn metric_signatures_are_coarse() {
        let sample = |value, series: Vec<(i64, f64)>| MetricSample {
            signal: "memory_working_set_ratio".into(),
            query: String::new(),
            labels: BTreeMap::new(),
            value,
            series,
        };
        let mut a = SymptomDigest::default();
        a.metric(&sample(0.95, vec![(0, 0.2), (1, 0.3), (2, 0.5), (3, 0.7), (4, 0.8), (5, 0.95)]));
        let mut b = SymptomDigest::default();
        b.metric(&sample(0.97, vec![(0, 0.25), (1, 0.3), (2, 0.6), (3, 0.7), (4, 0.9), (5, 0.97)]));
        assert_eq!(a, b);
        assert_eq!(a.text(), "metric: memory_working_set_ratio 2^0\nmetric: memory_working_set_ratio rising");
        assert_eq!(magnitude(0.5), "2^-1");
        assert_eq!(magnitude(0.0), "zero");
        assert_eq!(trend(&[(0, 1.0), (1, 1.0), (2, 1.05)]), Some("flat"));
    }
}
