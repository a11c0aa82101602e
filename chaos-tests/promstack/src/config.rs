//! What the pair is told: Prometheus scrapes one target (the lab's API server, whose `/metrics` holds the
//! kube-state-metrics, cAdvisor and application series) under the `job` kube-state-metrics would have, and
//! evaluates the rule files; Alertmanager groups what fires and posts it to medic's webhook with a bearer
//! token, as `alertmanager.yml` would in a cluster.
use serde_json::{Value, json};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::rules::{RuleFile, format_duration};

/// Where Alertmanager posts its notifications (medic's Alertmanager receiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/v1/webhooks/alertmanager`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` (`http_config.authorization`).
    pub bearer_token: Option<String>,
}

/// How to start Prometheus and Alertmanager beside a lab.
#[derive(Debug, Clone, PartialEq)]
pub struct StackConfig {
    /// `host:port` of the scraped target.
    pub scrape_target: String,
    pub metrics_path: String,
    /// The `job` label of the scraped series (the rules select `job="kube-state-metrics"`).
    pub job: String,
    pub scrape_interval: Duration,
    pub evaluation_interval: Duration,
    pub rules: Vec<RuleFile>,
    /// Every `for:` longer than this is shortened to it, so that a lab alerts within seconds.
    pub max_for: Option<Duration>,
    /// Every range window of a rule longer than this is shortened to it, so that an alert resolves within
    /// a minute of its cause rather than when a `[5m]` or `[10m]` window has forgotten it.
    pub max_window: Option<Duration>,
    /// Where Alertmanager posts; without one, alerts stay in Alertmanager.
    pub receiver: Option<WebhookReceiver>,
    pub group_by: Vec<String>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    /// Ports on 127.0.0.1; `None` picks free ones.
    pub prometheus_port: Option<u16>,
    pub alertmanager_port: Option<u16>,
}

impl StackConfig {
    /// The lab's settings: a scrape and an evaluation every second, the lab's and medic's rules with `for:`
    /// of at most 5 s and range windows of at most 1 m, Alertmanager's `group_wait: 1s` and `group_interval: 5s`.
    pub fn for_lab(scrape_target: impl Into<String>) -> Self {
        Self {
            scrape_target: scrape_target.into(),
            metrics_path: "/metrics".into(),
            job: "kube-state-metrics".into(),
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            rules: vec![RuleFile::lab(), RuleFile::medic()],
            max_for: Some(Duration::from_secs(5)),
            max_window: Some(Duration::from_secs(60)),
            receiver: None,
            group_by: vec!["alertname".into(), "namespace".into()],
            group_wait: Duration::from_secs(1),
            group_interval: Duration::from_secs(5),
            repeat_interval: Duration::from_secs(3600),
            prometheus_port: None,
            alertmanager_port: None,
        }
    }

    pub fn with_receiver(mut self, url: impl Into<String>, bearer_token: Option<String>) -> Self {
        self.receiver = Some(WebhookReceiver { url: url.into(), bearer_token });
        self
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.scrape_target.is_empty() || !self.scrape_target.contains(':') {
            return bad(format!("scrape_target {:?} must be host:port", self.scrape_target));
        }
        if !self.metrics_path.starts_with('/') {
            return bad(format!("metrics_path {:?} must start with /", self.metrics_path));
        }
        for (name, d) in [
            ("scrape_interval", self.scrape_interval),
            ("evaluation_interval", self.evaluation_interval),
            ("group_interval", self.group_interval),
            ("repeat_interval", self.repeat_interval),
        ] {
            if d < Duration::from_millis(100) {
                return bad(format!("{name} must be at least 100ms"));
            }
        }
        if let Some(receiver) = &self.receiver
            && !(receiver.url.starts_with("http://") || receiver.url.starts_with("https://"))
        {
            return bad(format!("the receiver url {:?} must be http(s)", receiver.url));
        }
        let mut names: Vec<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad(format!("two rule files share a name: {names:?}"));
        }
        Ok(())
    }

    /// The rule files as Prometheus will load them (`for:` and range windows shortened).
    pub fn effective_rules(&self) -> Result<Vec<RuleFile>> {
        self.rules
            .iter()
            .map(|r| {
                let r = self.max_for.map_or_else(|| Ok(r.clone()), |max| r.with_max_for(max))?;
                self.max_window.map_or(Ok(r.clone()), |max| r.with_max_window(max))
            })
            .collect()
    }

    /// `prometheus.yml`, with the rule files under `rules_dir` and Alertmanager at `alertmanager`.
    pub fn prometheus_yaml(&self, rules_dir: &str, alertmanager: &str) -> String {
        let scrape = format_duration(self.scrape_interval);
        let doc = json!({
            "global": {
                "scrape_interval": scrape,
                "scrape_timeout": scrape,
                "evaluation_interval": format_duration(self.evaluation_interval),
            },
            "rule_files": [format!("{rules_dir}/*.yml")],
            "alerting": {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": [{
                "job_name": self.job,
                "metrics_path": self.metrics_path,
                "static_configs": [{"targets": [self.scrape_target]}],
            }],
        });
        to_yaml(&doc)
    }

    /// `alertmanager.yml`: one route to medic's webhook (resolved notifications included).
    pub fn alertmanager_yaml(&self) -> String {
        let mut receiver = json!({"name": "medic"});
        if let Some(webhook) = &self.receiver {
            let mut config = json!({"url": webhook.url, "send_resolved": true, "max_alerts": 0});
            if let Some(token) = &webhook.bearer_token {
                config["http_config"] = json!({"authorization": {"type": "Bearer", "credentials": token}});
            }
            receiver["webhook_configs"] = json!([config]);
        }
        let doc = json!({
            "route": {
                "receiver": "medic",
                "group_by": self.group_by,
                "group_wait": format_duration(self.group_wait),
                "group_interval": format_duration(self.group_interval),
                "repeat_interval": format_duration(self.repeat_interval),
            },
            "receivers": [receiver],
        });
        to_yaml(&doc)
    }
}

fn to_yaml(doc: &Value) -> String {
    serde_yaml_ng::to_string(doc).expect("a JSON value is always YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_scrapes_the_target_every_second_and_alerts_to_alertmanager() {
        let config = StackConfig::for_lab("127.0.0.1:6443");
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&config.prometheus_yaml("/tmp/x/rules", "127.0.0.1:9093")).unwrap();
        assert_eq!(yaml["global"]["scrape_interval"].as_str(), Some("1s"));
        assert_eq!(yaml["global"]["evaluation_interval"].as_str(), Some("1s"));
        assert_eq!(yaml["rule_files"][0].as_str(), Some("/tmp/x/rules/*.yml"));
        let scrape = &yaml["scrape_configs"][0];
        assert_eq!(scrape["job_name"].as_str(), Some("kube-state-metrics"));
        assert_eq!(scrape["static_configs"][0]["targets"][0].as_str(), Some("127.0.0.1:6443"));
        let am = &yaml["alerting"]["alertmanagers"][0];
        assert_eq!(am["static_configs"][0]["targets"][0].as_str(), Some("127.0.0.1:9093"));
    }

    #[test]
    fn alertmanager_posts_to_medic_with_a_bearer_token_and_resolved_notifications() {
        let config = StackConfig::for_lab("127.0.0.1:6443")
            .with_receiver("http://127.0.0.1:8080/v1/webhooks/alertmanager", Some("s3cret".into()));
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&config.alertmanager_yaml()).unwrap();
        assert_eq!(yaml["route"]["group_wait"].as_str(), Some("1s"));
        assert_eq!(yaml["route"]["group_interval"].as_str(), Some("5s"));
        let webhook = &yaml["receivers"][0]["webhook_configs"][0];
        assert_eq!(webhook["url"].as_str(), Some("http://127.0.0.1:8080/v1/webhooks/alertmanager"));
        assert_eq!(webhook["send_resolved"].as_bool(), Some(true));
        assert_eq!(webhook["http_config"]["authorization"]["type"].as_str(), Some("Bearer"));
        assert_eq!(webhook["http_config"]["authorization"]["credentials"].as_str(), Some("s3cret"));
        let silent: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&StackConfig::for_lab("127.0.0.1:1").alertmanager_yaml()).unwrap();
        assert!(silent["receivers"][0].get("webhook_configs").is_none(), "a receiver with nowhere to post");
    }

    #[test]
    fn mistakes_are_named() {
        let base = StackConfig::for_lab("127.0.0.1:6443");
        let cases = [
            (StackConfig { scrape_target: "lab".into(), ..base.clone() }, "scrape_target"),
            (StackConfig { scrape_interval: Duration::ZERO, ..base.clone() }, "scrape_interval"),
            (base.clone().with_receiver("127.0.0.1:8080/hook", None), "receiver url"),
            (StackConfig { rules: vec![RuleFile::lab(), RuleFile::lab()], ..base.clone() }, "share a name"),
        ];
        for (config, field) in cases {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{error}");
        }
        base.validate().unwrap();
    }
}
