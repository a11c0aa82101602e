//! Alertmanager's notification pipeline for one webhook receiver: alerts grouped by
//! `(alertname, namespace)`, the first notification of a group after `group_wait`, changes after
//! `group_interval`, unchanged groups again after `repeat_interval`, resolved alerts sent once
//! (`send_resolved: true`), and failed deliveries (5xx, no answer) retried with back-off.
//!
//! It runs on its own thread with its own runtime, in real time, as Alertmanager runs beside the
//! cluster; dropping the [`Notifier`] stops it.
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::config::AlertWebhookConfig;
use super::payload::{Labels, WebhookAlert, WebhookBody, ZERO_TIME, common, go_time, group_key};

pub const USER_AGENT: &str = "Alertmanager/0.25.0";
const GROUP_BY: [&str; 2] = ["alertname", "namespace"];

/// One alert as Prometheus hands it to Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstance {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: Timestamp,
    /// When it resolved; `None` while firing.
    pub ends_at: Option<Timestamp>,
    pub generator_url: String,
    pub fingerprint: String,
}

#[derive(Debug)]
struct Group {
    labels: Labels,
    alerts: BTreeMap<String, AlertInstance>,
    created: Instant,
    last_flush: Option<Instant>,
    /// What the last notification said: fingerprint → resolved.
    last_sent: BTreeMap<String, bool>,
}

impl Group {
    fn state(&self) -> BTreeMap<String, bool> {
        self.alerts.iter().map(|(fp, a)| (fp.clone(), a.ends_at.is_some())).collect()
    }

    fn due(&self, now: Instant, config: &AlertWebhookConfig) -> bool {
        match self.last_flush {
            None => now >= self.created + config.group_wait,
            Some(last) => {
                (now >= last + config.group_interval && self.state() != self.last_sent)
                    || now >= last + config.repeat_interval
            }
        }
    }

    fn body(&self, config: &AlertWebhookConfig) -> WebhookBody {
        let alerts: Vec<&AlertInstance> = self.alerts.values().collect();
        let firing = alerts.iter().any(|a| a.ends_at.is_none());
        let label_sets: Vec<&Labels> = alerts.iter().map(|a| &a.labels).collect();
        let annotation_sets: Vec<&Labels> = alerts.iter().map(|a| &a.annotations).collect();
        WebhookBody {
            receiver: config.receiver.clone(),
            status: if firing { "firing" } else { "resolved" },
            alerts: alerts
                .iter()
                .map(|a| WebhookAlert {
                    status: if a.ends_at.is_none() { "firing" } else { "resolved" },
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: go_time(a.starts_at),
                    ends_at: a.ends_at.map_or_else(|| ZERO_TIME.to_string(), go_time),
                    generator_url: a.generator_url.clone(),
                    fingerprint: a.fingerprint.clone(),
                })
                .collect(),
            group_labels: self.labels.clone(),
            common_labels: common(&label_sets),
            common_annotations: common(&annotation_sets),
            external_url: config.external_url.clone(),
            version: "4",
            group_key: group_key(&self.labels),
            truncated_alerts: 0,
        }
    }
}

/// The running notifier. Send it the alerts of every evaluation.
#[derive(Debug)]
pub struct Notifier {
    tx: Option<mpsc::UnboundedSender<Vec<AlertInstance>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Notifier {
    pub fn start(config: AlertWebhookConfig) -> Notifier {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lab-alertmanager".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "starting the lab's alert notifier");
                        return;
                    }
                };
                runtime.block_on(run(config, rx, thread_stop));
            })
            .ok();
        Notifier { tx: Some(tx), stop, thread }
    }

    /// The firing alerts of an evaluation, and those that resolved in it (with `ends_at`).
    pub fn send(&self, alerts: Vec<AlertInstance>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(alerts);
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn run(config: AlertWebhookConfig, mut rx: mpsc::UnboundedReceiver<Vec<AlertInstance>>, stop: Arc<AtomicBool>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "building the lab's alert notifier HTTP client");
            return;
        }
    };
    let mut groups: BTreeMap<Labels, Group> = BTreeMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut deliveries = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            received = rx.recv() => {
                let Some(alerts) = received else { break };
                for alert in alerts {
                    let labels: Labels = GROUP_BY
                        .iter()
                        .filter_map(|name| alert.labels.get(*name).map(|v| (name.to_string(), v.clone())))
                        .collect();
                    let group = groups.entry(labels.clone()).or_insert_with(|| Group {
                        labels,
                        alerts: BTreeMap::new(),
                        created: Instant::now(),
                        last_flush: None,
                        last_sent: BTreeMap::new(),
                    });
                    group.alerts.insert(alert.fingerprint.clone(), alert);
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                for group in groups.values_mut().filter(|g| g.due(now, &config)) {
                    let body = group.body(&config);
                    group.last_flush = Some(now);
                    group.last_sent = group.state();
                    // Resolved alerts are notified once.
                    group.alerts.retain(|_, a| a.ends_at.is_none());
                    deliveries.spawn(deliver(client.clone(), config.clone(), body, stop.clone()));
                }
                groups.retain(|_, g| !g.alerts.is_empty());
            }
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
        }
        if stop.load(Ordering::Acquire) {
            break;
        }
    }
    deliveries.abort_all();
}

/// POST one notification; retry a 5xx or a failed connection with back-off, as Alertmanager does.
async fn deliver(client: reqwest::Client, config: AlertWebhookConfig, body: WebhookBody, stop: Arc<AtomicBool>) {
    let json = match serde_json::to_vec(&body) {
        Ok(json) => json,
        Err(error) => {
            tracing::error!(%error, "encoding an alert notification");
            return;
        }
    };
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=config.max_attempts.max(1) {
        let mut request = client
            .post(&config.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", USER_AGENT)
            .body(json.clone());
        if let Some(token) = &config.bearer_token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) if response.status().is_client_error() => {
                tracing::warn!(status = %response.status(), group = %body.group_key, "alert notification refused; not retried");
                return;
            }
            Ok(response) => {
                tracing::warn!(status = %response.status(), attempt, group = %body.group_key, "alert notification failed")
            }
            Err(error) => tracing::warn!(%error, attempt, group = %body.group_key, "alert notification failed"),
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
}
