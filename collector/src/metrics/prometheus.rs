//! The [`MetricsSource`] adapter for Prometheus' HTTP API: `POST /api/v1/query` and `/api/v1/query_range`
//! (form-encoded, so long queries fit), answers turned into [`MetricSample`]s that keep their query.
use async_trait::async_trait;
use jiff::Timestamp;
use medic_core::context::MetricSample;
use medic_core::ports::MetricsSource;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

const PORT: &str = "prometheus";

/// Prometheus, reached over HTTP.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    client: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
}

impl PrometheusSource {
    /// `url` is Prometheus' base URL (`http://prometheus:9090`); every request gives up after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        // reqwest is built without a crypto provider: rustls' ring provider serves an https URL.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client for prometheus: {e}")))?;
        Ok(Self { client, base: url.trim_end_matches('/').to_string() })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn ask(&self, path: &str, form: &[(&str, String)]) -> medic_core::Result<Vec<Series>> {
        let url = format!("{}{path}", self.base);
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| medic_core::Error::Backend { port: PORT, message: format!("encoding the query: {e}") })?;
        let response = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| medic_core::Error::Unavailable { port: PORT, message: format!("{url}: {}", chain(&e)) })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| medic_core::Error::Unavailable {
            port: PORT,
            message: format!("{url}: reading the answer: {}", chain(&e)),
        })?;
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| medic_core::Error::Backend {
            port: PORT,
            message: format!("{url} answered {status} with something other than the API's JSON: {e}"),
        })?;
        match answer {
            Answer { status, data: Some(data), .. } if status == "success" => Ok(data.result),
            Answer { error_type, error, .. } => Err(medic_core::Error::Backend {
                port: PORT,
                message: format!(
                    "{}: {}",
                    error_type.unwrap_or_else(|| status.to_string()),
                    error.unwrap_or_else(|| "no error text".into())
                ),
            }),
        }
    }
}

#[async_trait]
impl MetricsSource for PrometheusSource {
    async fn instant(&self, signal: &str, promql: &str) -> medic_core::Result<Vec<MetricSample>> {
        let series = self.ask("/api/v1/query", &[("query", promql.to_string())]).await?;
        Ok(series.into_iter().filter_map(|s| s.into_sample(signal, promql)).collect())
    }

    async fn range(
        &self,
        signal: &str,
        promql: &str,
        window: Duration,
        step: Duration,
    ) -> medic_core::Result<Vec<MetricSample>> {
        // Prometheus stamps its samples with the wall clock, whatever clock medic runs on.
        let end = Timestamp::now().as_millisecond() as f64 / 1000.0;
        let start = end - window.as_secs_f64();
        let form = [
            ("query", promql.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", format!("{}", step.as_secs_f64().max(0.001))),
        ];
        let series = self.ask("/api/v1/query_range", &form).await?;
        Ok(series.into_iter().filter_map(|s| s.into_sample(signal, promql)).collect())
    }
}

/// An error and its causes, `a: b: c` (reqwest's own text leaves out the cause that matters, such as
/// "Connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Prometheus' answer: `{"status":"success","data":{"resultType","result":[...]}}` or
/// `{"status":"error","errorType","error"}`.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Series>,
}

/// One series of a vector (`value`) or matrix (`values`) result; values are strings ("0.5", "NaN", "+Inf").
#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

impl Series {
    /// The sample, without its non-finite points; `None` when no finite value is left.
    fn into_sample(mut self, signal: &str, promql: &str) -> Option<MetricSample> {
        self.metric.remove("__name__");
        let finite = |(t, v): (f64, String)| v.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| (t as i64, v));
        let series: Vec<(i64, f64)> = self.values.into_iter().filter_map(finite).collect();
        let value = match self.value {
            Some(point) => finite(point)?.1,
            None => series.last()?.1,
        };
        Some(MetricSample { signal: signal.to_string(), query: promql.to_string(), labels: self.metric, value, series })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(json: &str) -> Vec<MetricSample> {
        let answer: Answer = serde_json::from_str(json).unwrap();
        answer.data.unwrap().result.into_iter().filter_map(|s| s.into_sample("error_rate", "q")).collect()
    }

    #[test]
    fn vectors_and_matrices_become_samples_without_their_non_finite_values() {
        let vector = samples(
            r#"{"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"namespace":"shop","service":"cart"},"value":[1767225600.123,"0.25"]},
              {"metric":{"namespace":"shop","service":"idle"},"value":[1767225600.123,"NaN"]}]}}"#,
        );
        assert_eq!(vector.len(), 1, "a NaN (no requests at all) is no value");
        assert_eq!(vector[0].value, 0.25);
        assert_eq!(vector[0].labels["service"], "cart");
        assert_eq!((vector[0].signal.as_str(), vector[0].query.as_str()), ("error_rate", "q"));
        assert!(vector[0].series.is_empty());

        let matrix = samples(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"__name__":"container_memory_working_set_bytes","pod":"cart-1"},
               "values":[[1767225600,"100"],[1767225615,"+Inf"],[1767225630,"300"]]}]}}"#,
        );
        assert_eq!(matrix[0].series, vec![(1767225600, 100.0), (1767225630, 300.0)]);
        assert_eq!(matrix[0].value, 300.0, "the latest point");
        assert!(!matrix[0].labels.contains_key("__name__"));
    }

    #[test]
    fn errors_are_read_from_the_answer() {
        let answer: Answer =
            serde_json::from_str(r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#)
                .unwrap();
        assert_eq!(answer.error_type.as_deref(), Some("bad_data"));
        assert!(answer.data.is_none());
    }
}
