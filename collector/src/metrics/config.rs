//! `[prometheus]` in medic's configuration: where Prometheus is and how much of the past to ask it about.
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use super::context::MetricContext;
use super::prometheus::PrometheusSource;
use super::queries::QuerySettings;
use crate::error::{Error, Result};

fn default_timeout_ms() -> u64 {
    2_000
}
fn default_rate_window_secs() -> u64 {
    60
}
fn default_range_secs() -> u64 {
    900
}
fn default_step_secs() -> u64 {
    15
}
fn default_max_series() -> usize {
    100
}

/// Prometheus' HTTP API, asked for the metric context of every incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `http://prometheus.monitoring:9090` (the API is under `/api/v1`).
    pub url: String,
    /// Each query must answer within this; a late one becomes a gap in the context.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The window of `rate()` for error rates, latency, restarts and CPU.
    #[serde(default = "default_rate_window_secs")]
    pub rate_window_secs: u64,
    /// How far back the trends (memory against its limit) reach.
    #[serde(default = "default_range_secs")]
    pub range_secs: u64,
    /// The resolution of the trends.
    #[serde(default = "default_step_secs")]
    pub step_secs: u64,
    /// The most series kept from one query.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
}

impl PrometheusConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout_ms: default_timeout_ms(),
            rate_window_secs: default_rate_window_secs(),
            range_secs: default_range_secs(),
            step_secs: default_step_secs(),
            max_series: default_max_series(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let scheme_ok = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !scheme_ok || reqwest::Url::parse(&self.url).is_err() {
            return bad(format!("prometheus.url {:?} must be an http(s) URL such as http://prometheus:9090", self.url));
        }
        for (field, value) in [
            ("timeout_ms", self.timeout_ms),
            ("rate_window_secs", self.rate_window_secs),
            ("range_secs", self.range_secs),
            ("step_secs", self.step_secs),
            ("max_series", self.max_series as u64),
        ] {
            if value == 0 {
                return bad(format!("prometheus.{field} must be at least 1"));
            }
        }
        if self.step_secs > self.range_secs {
            return bad("prometheus.step_secs must not exceed prometheus.range_secs".into());
        }
        // Prometheus refuses range queries of more than 11,000 points.
        if self.range_secs / self.step_secs > 11_000 {
            return bad("prometheus.range_secs / step_secs must be at most 11000 points".into());
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn settings(&self) -> QuerySettings {
        QuerySettings {
            rate_window: Duration::from_secs(self.rate_window_secs),
            range: Duration::from_secs(self.range_secs),
            step: Duration::from_secs(self.step_secs),
        }
    }

    /// The adapter and the queries: the metric context of medic's incidents.
    pub fn build(&self) -> Result<MetricContext> {
        self.validate()?;
        let source = PrometheusSource::new(&self.url, self.timeout())?;
        Ok(MetricContext::new(Arc::new(source), format!("prometheus at {}", self.url), self.settings())
            .with_timeout(self.timeout())
            .with_max_series(self.max_series))
    }
}

/// The metric context for a configuration that may have no `[prometheus]` section.
pub fn metric_context(config: Option<&PrometheusConfig>) -> Result<MetricContext> {
    config.map_or_else(|| Ok(MetricContext::unconfigured()), PrometheusConfig::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_mistakes_are_named() {
        let config: PrometheusConfig = serde_json::from_value(serde_json::json!({"url": "http://prom:9090"})).unwrap();
        assert_eq!(config, PrometheusConfig::new("http://prom:9090"));
        config.validate().unwrap();
        let cases = [
            (PrometheusConfig::new("prom:9090"), "prometheus.url"),
            (PrometheusConfig::new("ftp://prom"), "prometheus.url"),
            (PrometheusConfig { timeout_ms: 0, ..config.clone() }, "timeout_ms"),
            (PrometheusConfig { step_secs: 1000, ..config.clone() }, "step_secs"),
            (PrometheusConfig { range_secs: 86_400 * 7, step_secs: 1, ..config.clone() }, "11000"),
        ];
        for (config, field) in cases {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(field), "{error}");
        }
        assert!(
            serde_json::from_value::<PrometheusConfig>(serde_json::json!({"url": "http://p", "tiemout_ms": 5}))
                .is_err()
        );
    }
}
