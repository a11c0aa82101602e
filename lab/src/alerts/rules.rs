//! The alerting rules the lab evaluates: kube-prometheus' (monitoring-mixins) rules for pods,
//! deployments and nodes, the common OOM rule, and medic's service-level rules for errors and
//! latency. `lab/rules/medic-lab-rules.yml` holds the same rules for a real Prometheus; a test keeps
//! the two identical. `for:` durations are short, as suits a lab.
use std::fmt::Write as _;
use std::time::Duration;

use super::payload::Labels;

/// Which computation over the lab's state answers a rule's expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    CrashLooping,
    PodNotReady,
    ReplicasMismatch,
    RolloutStuck,
    ContainerWaiting,
    NodeNotReady,
    OomKilled,
    ErrorRate,
    Latency,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alert: &'static str,
    pub expr: &'static str,
    pub for_: Duration,
    pub severity: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub check: Check,
}

/// The error-rate threshold of `MedicServiceErrorRate` and the latency of `MedicServiceLatency`.
pub const ERROR_RATIO: f64 = 0.05;
pub const LATENCY_SECONDS: f64 = 1.0;

pub const RULES: [Rule; 9] = [
    Rule {
        alert: "KubePodCrashLooping",
        expr: r#"max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics"}[5m]) >= 1"#,
        for_: Duration::from_secs(30),
        severity: "warning",
        summary: "Pod is crash looping.",
        description: r#"Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: "CrashLoopBackOff")."#,
        check: Check::CrashLooping,
    },
    Rule {
        alert: "KubePodNotReady",
        expr: r#"sum by (namespace, pod) (max by (namespace, pod) (kube_pod_status_phase{job="kube-state-metrics", phase=~"Pending|Unknown|Failed"}) * on (namespace, pod) group_left (owner_kind) topk by (namespace, pod) (1, max by (namespace, pod, owner_kind) (kube_pod_owner{owner_kind!="Job"}))) > 0"#,
        for_: Duration::from_secs(60),
        severity: "warning",
        summary: "Pod has been in a non-ready state for more than a minute.",
        description: "Pod {{ $labels.namespace }}/{{ $labels.pod }} has been in a non-ready state for longer than a minute.",
        check: Check::PodNotReady,
    },
    Rule {
        alert: "KubeDeploymentReplicasMismatch",
        expr: r#"(kube_deployment_spec_replicas{job="kube-state-metrics"} > kube_deployment_status_replicas_available{job="kube-state-metrics"}) and (changes(kube_deployment_status_replicas_updated{job="kube-state-metrics"}[10m]) == 0)"#,
        for_: Duration::from_secs(60),
        severity: "warning",
        summary: "Deployment has not matched the expected number of replicas.",
        description: "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has not matched the expected number of replicas for longer than a minute.",
        check: Check::ReplicasMismatch,
    },
    Rule {
        alert: "KubeDeploymentRolloutStuck",
        expr: r#"kube_deployment_status_condition{condition="Progressing", status="false", job="kube-state-metrics"} != 0"#,
        for_: Duration::from_secs(30),
        severity: "warning",
        summary: "Deployment rollout is not progressing.",
        description: "Rollout of deployment {{ $labels.namespace }}/{{ $labels.deployment }} is not progressing for longer than 30 seconds.",
        check: Check::RolloutStuck,
    },
    Rule {
        alert: "KubeContainerWaiting",
        expr: r#"kube_pod_container_status_waiting_reason{reason!="CrashLoopBackOff", job="kube-state-metrics"} > 0"#,
        for_: Duration::from_secs(60),
        severity: "warning",
        summary: "Pod container waiting longer than a minute.",
        description: r#"pod/{{ $labels.pod }} in namespace {{ $labels.namespace }} on container {{ $labels.container }} has been in waiting state for longer than a minute. (reason: "{{ $labels.reason }}")"#,
        check: Check::ContainerWaiting,
    },
    Rule {
        alert: "KubeNodeNotReady",
        expr: r#"kube_node_status_condition{job="kube-state-metrics", condition="Ready", status="true"} == 0 and on (cluster, node) kube_node_spec_unschedulable{job="kube-state-metrics"} == 0"#,
        for_: Duration::from_secs(30),
        severity: "warning",
        summary: "Node is not ready.",
        description: "{{ $labels.node }} has been unready for more than 30 seconds.",
        check: Check::NodeNotReady,
    },
    Rule {
        alert: "KubePodOOMKilled",
        expr: r#"(kube_pod_container_status_last_terminated_reason{reason="OOMKilled", job="kube-state-metrics"} == 1) and on (namespace, pod, container) (increase(kube_pod_container_status_restarts_total{job="kube-state-metrics"}[10m]) > 0)"#,
        for_: Duration::ZERO,
        severity: "warning",
        summary: "Container killed for exceeding its memory limit.",
        description: "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} was OOMKilled and restarted in the last 10 minutes.",
        check: Check::OomKilled,
    },
    Rule {
        alert: "MedicServiceErrorRate",
        expr: r#"sum by (namespace, service, deployment) (rate(http_requests_total{code=~"5.."}[1m])) / sum by (namespace, service, deployment) (rate(http_requests_total[1m])) > 0.05"#,
        for_: Duration::from_secs(30),
        severity: "critical",
        summary: "Service error rate above 5%.",
        description: "Service {{ $labels.namespace }}/{{ $labels.service }} answers {{ $value | humanizePercentage }} of its requests with errors.",
        check: Check::ErrorRate,
    },
    Rule {
        alert: "MedicServiceLatency",
        expr: r#"histogram_quantile(0.99, sum by (namespace, service, deployment, le) (rate(http_request_duration_seconds_bucket[1m]))) > 1"#,
        for_: Duration::from_secs(30),
        severity: "warning",
        summary: "Service latency above 1s.",
        description: "The 99th percentile latency of {{ $labels.namespace }}/{{ $labels.service }} is {{ $value | humanizeDuration }}.",
        check: Check::Latency,
    },
];

/// Prometheus' `humanize`: four significant digits, no trailing zeros.
fn humanize(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let digits = 4 - 1 - value.abs().log10().floor() as i32;
    let text = format!("{:.*}", digits.max(0) as usize, value);
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Prometheus' `humanizeDuration` for the ranges the lab sees.
fn humanize_duration(seconds: f64) -> String {
    if seconds < 1.0 {
        return format!("{}ms", humanize(seconds * 1000.0));
    }
    if seconds < 60.0 {
        return format!("{}s", humanize(seconds));
    }
    let total = seconds.round() as u64;
    format!("{}m {}s", total / 60, total % 60)
}

/// Render an annotation template: `{{ $labels.x }}`, `{{ $value }}`, and the `humanize*` pipes.
pub fn render(template: &str, labels: &Labels, value: f64) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else { break };
        let inner = rest[start + 2..start + len].trim();
        let (head, pipe) = inner.split_once('|').map_or((inner, None), |(h, p)| (h.trim(), Some(p.trim())));
        if let Some(name) = head.strip_prefix("$labels.") {
            out.push_str(labels.get(name).map(String::as_str).unwrap_or_default());
        } else if head == "$value" {
            let _ = match pipe {
                Some("humanizePercentage") => write!(out, "{}%", humanize(value * 100.0)),
                Some("humanizeDuration") => write!(out, "{}", humanize_duration(value)),
                Some("humanize") => write!(out, "{}", humanize(value)),
                _ => write!(out, "{value}"),
            };
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value;

    #[test]
    fn annotations_render_like_prometheus_templates() {
        let labels = Labels::from([("namespace".into(), "shop".into()), ("service".into(), "cart".into())]);
        assert_eq!(
            render(RULES[7].description, &labels, 0.125),
            "Service shop/cart answers 12.5% of its requests with errors."
        );
        assert_eq!(
            render(RULES[8].description, &labels, 0.5234),
            "The 99th percentile latency of shop/cart is 523.4ms."
        );
        assert_eq!(humanize_duration(2.5), "2.5s");
        assert_eq!(humanize(0.6521 * 100.0), "65.21");
    }

    /// `lab/rules/medic-lab-rules.yml` is what a real Prometheus evaluates: it must say exactly what
    /// the lab evaluates.
    #[test]
    fn the_rule_file_holds_the_same_rules() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/medic-lab-rules.yml");
        let file: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("rule file")).expect("yaml");
        let rules: Vec<&Value> = file["groups"]
            .as_sequence()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_sequence().expect("rules").iter())
            .collect();
        assert_eq!(rules.len(), RULES.len());
        for (written, rule) in rules.iter().zip(RULES.iter()) {
            assert_eq!(written["alert"].as_str(), Some(rule.alert));
            // The file may break an expression over lines; the tokens must be the same.
            let tokens = |text: &str| text.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            assert_eq!(tokens(written["expr"].as_str().expect("expr")), tokens(rule.expr), "{}", rule.alert);
            let for_ = written.get("for").and_then(Value::as_str).unwrap_or("0s");
            assert_eq!(crate::app::quantity::parse_go_duration(for_), Some(rule.for_), "{}", rule.alert);
            assert_eq!(written["labels"]["severity"].as_str(), Some(rule.severity), "{}", rule.alert);
            assert_eq!(written["annotations"]["summary"].as_str(), Some(rule.summary), "{}", rule.alert);
            assert_eq!(written["annotations"]["description"].as_str(), Some(rule.description), "{}", rule.alert);
        }
    }
}
