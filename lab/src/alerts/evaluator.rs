//! The rules evaluated against the lab's state every `evaluation_interval` of virtual time, as
//! Prometheus evaluates them against the series the lab exports: an alert is pending while its
//! expression holds, firing once it has held for `for:`, and resolved when it stops holding. Firing
//! and resolved alerts go to the [`Notifier`] (Alertmanager).
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};

use super::config::AlertWebhookConfig;
use super::fingerprint::fingerprint_hex;
use super::notify::{AlertInstance, Notifier};
use super::payload::Labels;
use super::rules::{Check, ERROR_RATIO, LATENCY_SECONDS, RULES, Rule, render};
use crate::app::AppHandle;
use crate::app::process::BUCKETS;
use crate::runtime::ContainerKey;
use crate::sim::{TickContext, TickHook};
use crate::store::{Kind, Store};

const KSM: (&str, &str) = ("job", "kube-state-metrics");
const CRASH_WINDOW: SignedDuration = SignedDuration::from_secs(300);
const RESTART_WINDOW: SignedDuration = SignedDuration::from_secs(600);
const RATE_WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// Requests, errors and the latency histogram of a service, summed over its pods' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Totals {
    requests: f64,
    errors: f64,
    buckets: [f64; BUCKETS.len() + 1],
}

#[derive(Debug)]
struct Active {
    labels: Labels,
    annotations: Labels,
    active_since: Timestamp,
    fired_at: Option<Timestamp>,
    generator_url: String,
}

/// One series a rule's expression returned.
#[derive(Debug)]
struct Match {
    labels: Labels,
    value: f64,
}

pub struct AlertEvaluator {
    config: AlertWebhookConfig,
    app: AppHandle,
    notifier: Notifier,
    last_evaluation: Option<Timestamp>,
    crash_seen: HashMap<Labels, Timestamp>,
    restarts: HashMap<Labels, VecDeque<(Timestamp, f64)>>,
    /// Per deployment: `updatedReplicas` last seen, and when it last changed.
    updated: HashMap<(String, String), (f64, Option<Timestamp>)>,
    process_totals: HashMap<ContainerKey, Totals>,
    service_totals: HashMap<Labels, Totals>,
    windows: HashMap<Labels, VecDeque<(Timestamp, Totals)>>,
    alerts: BTreeMap<String, Active>,
}

impl std::fmt::Debug for AlertEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEvaluator").field("alerts", &self.alerts.len()).finish_non_exhaustive()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn s<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// `%`-encode a PromQL expression for a URL query, as Go's `url.QueryEscape` does.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Prometheus' `histogram_quantile` over cumulative bucket counts (`le` of `BUCKETS`, then +Inf).
fn histogram_quantile(q: f64, cumulative: &[f64]) -> Option<f64> {
    let total = *cumulative.last()?;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let index = cumulative.iter().position(|c| *c >= rank)?;
    if index >= BUCKETS.len() {
        return Some(BUCKETS[BUCKETS.len() - 1]);
    }
    let (start, previous) = if index == 0 { (0.0, 0.0) } else { (BUCKETS[index - 1], cumulative[index - 1]) };
    let count = cumulative[index] - previous;
    if count <= 0.0 {
        return Some(BUCKETS[index]);
    }
    Some(start + (BUCKETS[index] - start) * (rank - previous) / count)
}

impl AlertEvaluator {
    pub fn new(config: AlertWebhookConfig, app: AppHandle) -> Self {
        let notifier = Notifier::start(config.clone());
        AlertEvaluator {
            config,
            app,
            notifier,
            last_evaluation: None,
            crash_seen: HashMap::new(),
            restarts: HashMap::new(),
            updated: HashMap::new(),
            process_totals: HashMap::new(),
            service_totals: HashMap::new(),
            windows: HashMap::new(),
            alerts: BTreeMap::new(),
        }
    }

    /// Evaluate every rule now and hand the notifier what fires and what resolved.
    pub fn evaluate(&mut self, store: &Store, now: Timestamp) {
        let matches = self.matches(store, now);
        let mut seen = Vec::new();
        for (index, rule) in RULES.iter().enumerate() {
            for found in &matches[index] {
                let mut labels = found.labels.clone();
                labels.insert("alertname".into(), rule.alert.into());
                labels.insert("severity".into(), rule.severity.into());
                let fingerprint = fingerprint_hex(&labels);
                let annotations = labels_of_annotations(rule, &labels, found.value);
                let active = self.alerts.entry(fingerprint.clone()).or_insert_with(|| Active {
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                    active_since: now,
                    fired_at: None,
                    generator_url: format!(
                        "{}/graph?g0.expr={}&g0.tab=1",
                        self.config.prometheus_url,
                        query_escape(rule.expr)
                    ),
                });
                active.annotations = annotations;
                let held = now.duration_since(active.active_since).unsigned_abs();
                if active.fired_at.is_none() && held >= rule.for_ {
                    active.fired_at = Some(now);
                }
                seen.push(fingerprint);
            }
        }
        let mut outgoing = Vec::new();
        let gone: Vec<String> = self.alerts.keys().filter(|fp| !seen.contains(fp)).cloned().collect();
        for fingerprint in gone {
            let Some(active) = self.alerts.remove(&fingerprint) else { continue };
            if let Some(fired_at) = active.fired_at {
                outgoing.push(AlertInstance {
                    labels: active.labels,
                    annotations: active.annotations,
                    starts_at: fired_at,
                    ends_at: Some(now),
                    generator_url: active.generator_url,
                    fingerprint,
                });
            }
        }
        for (fingerprint, active) in &self.alerts {
            if let Some(fired_at) = active.fired_at {
                outgoing.push(AlertInstance {
                    labels: active.labels.clone(),
                    annotations: active.annotations.clone(),
                    starts_at: fired_at,
                    ends_at: None,
                    generator_url: active.generator_url.clone(),
                    fingerprint: fingerprint.clone(),
                });
            }
        }
        if !outgoing.is_empty() {
            self.notifier.send(outgoing);
        }
    }

    /// The firing alerts now, as `(alertname, labels)` (for tests and the demo's report).
    pub fn firing(&self) -> Vec<(String, Labels)> {
        self.alerts
            .values()
            .filter(|a| a.fired_at.is_some())
            .map(|a| (a.labels.get("alertname").cloned().unwrap_or_default(), a.labels.clone()))
            .collect()
    }

    fn matches(&mut self, store: &Store, now: Timestamp) -> Vec<Vec<Match>> {
        let mut out: Vec<Vec<Match>> = RULES.iter().map(|_| Vec::new()).collect();
        let index = |check: Check| RULES.iter().position(|r| r.check == check).unwrap_or(0);
        let (pods, _) = store.list(Kind::Pod, None);
        for pod in &pods {
            let v = &pod.value;
            let (namespace, name, uid) = (pod.namespace().unwrap_or_default(), pod.name(), pod.uid());
            let phase = v.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending");
            let owner = s(v, "/metadata/ownerReferences/0/kind");
            if matches!(phase, "Pending" | "Unknown" | "Failed") && owner != "Job" {
                out[index(Check::PodNotReady)]
                    .push(Match { labels: labels(&[("namespace", namespace), ("pod", name)]), value: 1.0 });
            }
            for status in v.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten() {
                let container = s(status, "/name");
                let base = [("namespace", namespace), ("pod", name), ("uid", uid), ("container", container), KSM];
                let waiting = s(status, "/state/waiting/reason");
                if waiting == "CrashLoopBackOff" {
                    let mut key = labels(&base);
                    key.insert("reason".into(), waiting.into());
                    self.crash_seen.insert(key, now);
                } else if !waiting.is_empty() {
                    let mut series = labels(&base);
                    series.insert("reason".into(), waiting.into());
                    out[index(Check::ContainerWaiting)].push(Match { labels: series, value: 1.0 });
                }
                let restarts = status.get("restartCount").and_then(Value::as_f64).unwrap_or(0.0);
                let history = self.restarts.entry(labels(&base)).or_default();
                history.push_back((now, restarts));
                while history.front().is_some_and(|(t, _)| now.duration_since(*t) > RESTART_WINDOW) {
                    history.pop_front();
                }
                let increased = history.front().is_some_and(|(_, first)| restarts > *first);
                if s(status, "/lastState/terminated/reason") == "OOMKilled" && increased {
                    let mut series = labels(&base);
                    series.insert("reason".into(), "OOMKilled".into());
                    out[index(Check::OomKilled)].push(Match { labels: series, value: 1.0 });
                }
            }
        }
        self.crash_seen.retain(|_, seen| now.duration_since(*seen) <= CRASH_WINDOW);
        for key in self.crash_seen.keys() {
            out[index(Check::CrashLooping)].push(Match { labels: key.clone(), value: 1.0 });
        }
        self.restarts.retain(|_, h| h.back().is_some_and(|(t, _)| *t == now));

        let (deployments, _) = store.list(Kind::Deployment, None);
        for deployment in &deployments {
            let v = &deployment.value;
            let (namespace, name) = (deployment.namespace().unwrap_or_default(), deployment.name());
            let number = |p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
            let spec = v.pointer("/spec/replicas").and_then(Value::as_f64).unwrap_or(1.0);
            let updated = number("/status/updatedReplicas");
            // `changes(kube_deployment_status_replicas_updated[10m]) == 0`.
            let entry = self.updated.entry((namespace.to_string(), name.to_string())).or_insert((updated, None));
            if entry.0 != updated {
                *entry = (updated, Some(now));
            }
            let unchanged = entry.1.is_none_or(|changed| now.duration_since(changed) > SignedDuration::from_secs(600));
            if spec > number("/status/availableReplicas") && unchanged {
                out[index(Check::ReplicasMismatch)].push(Match {
                    labels: labels(&[("namespace", namespace), ("deployment", name), KSM]),
                    value: spec,
                });
            }
            let stuck = v.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Progressing")
                    && c.get("status").and_then(Value::as_str) == Some("False")
            });
            if stuck {
                out[index(Check::RolloutStuck)].push(Match {
                    labels: labels(&[
                        ("namespace", namespace),
                        ("deployment", name),
                        ("condition", "Progressing"),
                        ("status", "false"),
                        KSM,
                    ]),
                    value: 1.0,
                });
            }
        }

        let (nodes, _) = store.list(Kind::Node, None);
        for node in &nodes {
            let v = &node.value;
            let ready = v
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"));
            let ready_true = ready.and_then(|c| c.get("status")).and_then(Value::as_str) == Some("True");
            let unschedulable = v.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false);
            if ready.is_some() && !ready_true && !unschedulable {
                out[index(Check::NodeNotReady)].push(Match {
                    labels: labels(&[("node", node.name()), ("condition", "Ready"), ("status", "true"), KSM]),
                    value: 0.0,
                });
            }
        }

        self.service_matches(store, now, &mut out, index(Check::ErrorRate), index(Check::Latency));
        out
    }

    /// Error rate and latency per service over the last minute, from the processes' counters (with
    /// counter resets on restart handled as `rate` does).
    fn service_matches(
        &mut self,
        store: &Store,
        now: Timestamp,
        out: &mut [Vec<Match>],
        errors_at: usize,
        latency_at: usize,
    ) {
        let deployments = crate::metrics::runtime::deployments_of_pods(store);
        let state = self.app.lock();
        let topology = state.topology.clone();
        let mut alive = Vec::new();
        for (key, process) in &state.processes {
            let Some(s) = process.service else { continue };
            let service = &topology.services[s];
            if service.technology.is_datastore() {
                continue;
            }
            let deployment = deployments
                .get(&(key.namespace.clone(), key.pod.clone()))
                .cloned()
                .unwrap_or_else(|| service.name.clone());
            let series =
                labels(&[("namespace", &key.namespace), ("service", &service.name), ("deployment", &deployment)]);
            let counters = &process.counters;
            let current = Totals {
                requests: counters.requests.values().sum(),
                errors: counters.requests.iter().filter(|(code, _)| **code >= 500).map(|(_, n)| n).sum(),
                buckets: counters.duration_buckets,
            };
            let last = self.process_totals.insert(key.clone(), current).unwrap_or_default();
            let reset = current.requests < last.requests;
            let base = if reset { Totals::default() } else { last };
            let total = self.service_totals.entry(series).or_default();
            total.requests += current.requests - base.requests;
            total.errors += current.errors - base.errors;
            for (t, (c, b)) in total.buckets.iter_mut().zip(current.buckets.iter().zip(base.buckets.iter())) {
                *t += c - b;
            }
            alive.push(key.clone());
        }
        drop(state);
        self.process_totals.retain(|k, _| alive.contains(k));
        for (series, totals) in &self.service_totals {
            let window = self.windows.entry(series.clone()).or_default();
            window.push_back((now, *totals));
            while window.front().is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW) {
                window.pop_front();
            }
            let (Some((first_at, first)), Some((last_at, last))) = (window.front(), window.back()) else { continue };
            if first_at == last_at {
                continue;
            }
            let requests = last.requests - first.requests;
            if requests <= 0.0 {
                continue;
            }
            let ratio = (last.errors - first.errors) / requests;
            if ratio > ERROR_RATIO {
                out[errors_at].push(Match { labels: series.clone(), value: ratio });
            }
            let mut cumulative = [0.0; BUCKETS.len() + 1];
            let mut running = 0.0;
            for (i, slot) in cumulative.iter_mut().enumerate() {
                running += last.buckets[i] - first.buckets[i];
                *slot = running;
            }
            if let Some(p99) = histogram_quantile(0.99, &cumulative)
                && p99 > LATENCY_SECONDS
            {
                out[latency_at].push(Match { labels: series.clone(), value: p99 });
            }
        }
    }
}

fn labels_of_annotations(rule: &Rule, labels: &Labels, value: f64) -> Labels {
    Labels::from([
        ("description".to_string(), render(rule.description, labels, value)),
        ("summary".to_string(), render(rule.summary, labels, value)),
    ])
}

impl TickHook for AlertEvaluator {
    fn name(&self) -> &str {
        "alerts"
    }

    fn on_tick(&mut self, tick: &mut TickContext<'_>) {
        let due = self
            .last_evaluation
            .is_none_or(|last| tick.now.duration_since(last).unsigned_abs() >= self.config.evaluation_interval);
        if due {
            self.evaluate(tick.store, tick.now);
            self.last_evaluation = Some(tick.now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantile_interpolates_like_prometheus() {
        // 100 requests: 90 under 50 ms, 9 under 250 ms, 1 above 10 s.
        let mut cumulative = [0.0; BUCKETS.len() + 1];
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative[i] = if *le < 0.05 {
                0.0
            } else if *le < 0.25 {
                90.0
            } else {
                99.0
            };
        }
        cumulative[BUCKETS.len()] = 100.0;
        let p50 = histogram_quantile(0.5, &cumulative).unwrap();
        assert!((p50 - (0.025 + 0.025 * 50.0 / 90.0)).abs() < 1e-9, "{p50}");
        assert!((histogram_quantile(0.99, &cumulative).unwrap() - 0.25).abs() < 1e-9);
        assert_eq!(histogram_quantile(0.999, &cumulative), Some(10.0));
        assert_eq!(histogram_quantile(0.5, &[0.0; BUCKETS.len() + 1]), None);
        assert_eq!(query_escape("a{b=\"c\"} > 1"), "a%7Bb%3D%22c%22%7D+%3E+1");
    }
}
