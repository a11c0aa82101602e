//! The metric context of an incident, from Prometheus: memory working set against the limit over time,
//! restart rate, CPU throttling and usage of the incident's pods; error rate and latency of its services and
//! their dependencies; connections of the datastores among them. Each value is a
//! [`MetricSample`](medic_core::context::MetricSample) that keeps the PromQL it came from, so the
//! specialists cite it as evidence and the timeline shows the queries and values.
//!
//! - `config`: `[prometheus]` in medic's configuration, validated and built into a [`MetricContext`].
//! - `prometheus`: [`PrometheusSource`], the `MetricsSource` adapter for Prometheus' HTTP API.
//! - `queries`: which queries an incident's context calls for (a pure function of the context).
//! - `context`: [`MetricContext::enrich`], the queries run at once within a timeout; what fails is a gap.
//!
//! Without Prometheus (unconfigured, down, or late) medic diagnoses from the cluster alone, and the context's
//! gaps say that the metric context is missing.
mod config;
mod context;
mod prometheus;
pub mod queries;

pub use config::{PrometheusConfig, metric_context};
pub use context::{MISSING, MetricContext};
pub use prometheus::PrometheusSource;
pub use queries::{MetricQuery, QueryKind, QuerySettings};

use medic_core::IncidentContext;
use serde::{Deserialize, Serialize};

/// One query of the metric context and what it answered, as the timeline prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySummary {
    pub signal: String,
    pub query: String,
    /// `(subject, latest value, points in the trend)`, the subject being the series' pod/container,
    /// service or client.
    pub values: Vec<(String, f64, usize)>,
}

/// The context's metric samples grouped by query, in the order they were asked.
pub fn summarise(context: &IncidentContext) -> Vec<QuerySummary> {
    let mut out: Vec<QuerySummary> = Vec::new();
    for sample in &context.metrics {
        let subject = ["namespace", "pod", "container", "service", "client", "pool"]
            .iter()
            .filter_map(|k| sample.labels.get(*k).map(String::as_str))
            .collect::<Vec<_>>()
            .join("/");
        let value = (subject, sample.value, sample.series.len());
        match out.iter_mut().find(|q| q.signal == sample.signal && q.query == sample.query) {
            Some(summary) => summary.values.push(value),
            None => out.push(QuerySummary {
                signal: sample.signal.clone(),
                query: sample.query.clone(),
                values: vec![value],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
