//! Where and how the lab posts its alerts: Alertmanager's receiver and route settings, as the lab's
//! `alertmanager.yml` would set them.
use std::time::Duration;

/// Where the lab's alert evaluator posts Alertmanager-v4 webhooks, and Alertmanager's timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertWebhookConfig {
    /// medic's webhook endpoint, e.g. `http://127.0.0.1:8080/webhooks/alertmanager`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` (Alertmanager's `http_config.authorization`).
    pub bearer_token: Option<String>,
    /// The `receiver` name in the body.
    pub receiver: String,
    /// Alertmanager's `--web.external-url`, the body's `externalURL`.
    pub external_url: String,
    /// Prometheus' URL for `generatorURL` links.
    pub prometheus_url: String,
    /// Route timings (real time, as Alertmanager runs beside the lab).
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// How often the rules are evaluated (virtual time, like Prometheus' evaluation_interval).
    pub evaluation_interval: Duration,
    /// Delivery attempts for a notification that fails with a 5xx or no answer.
    pub max_attempts: u32,
}

impl AlertWebhookConfig {
    /// The lab's defaults: group_wait 1s, group_interval 5s, repeat_interval 1h, rules every 5s.
    pub fn new(url: impl Into<String>, bearer_token: Option<String>) -> Self {
        Self {
            url: url.into(),
            bearer_token,
            receiver: "medic".into(),
            external_url: "http://127.0.0.1:9093".into(),
            prometheus_url: "http://127.0.0.1:9090".into(),
            group_wait: Duration::from_secs(1),
            group_interval: Duration::from_secs(5),
            repeat_interval: Duration::from_secs(3600),
            evaluation_interval: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}
