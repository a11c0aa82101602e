//! Adding the metric context to an incident's context: every query at once, each within the timeout;
//! what fails becomes a gap, and when nothing could be asked the gap says the metric context is missing,
//! so that the specialists (and the people reading the timeline) know they reason from the cluster alone.
use futures::future::join_all;
use medic_core::IncidentContext;
use medic_core::ports::MetricsSource;
use std::sync::Arc;
use std::time::Duration;

use super::queries::{MetricQuery, QueryKind, QuerySettings, plan};

/// The words every gap about a missing metric context ends with.
pub const MISSING: &str = "the metric context is missing";

/// Where an incident's metrics come from, and which to ask for.
#[derive(Clone)]
pub struct MetricContext {
    source: Option<Arc<dyn MetricsSource>>,
    /// `prometheus at http://...`, for gap texts.
    origin: String,
    settings: QuerySettings,
    timeout: Duration,
    max_series: usize,
}

impl std::fmt::Debug for MetricContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricContext")
            .field("origin", &self.origin)
            .field("configured", &self.source.is_some())
            .field("settings", &self.settings)
            .finish()
    }
}

impl MetricContext {
    pub fn new(source: Arc<dyn MetricsSource>, origin: impl Into<String>, settings: QuerySettings) -> Self {
        Self { source: Some(source), origin: origin.into(), settings, timeout: Duration::from_secs(2), max_series: 100 }
    }

    /// No metrics backend: every context records that its metric context is missing.
    pub fn unconfigured() -> Self {
        Self {
            source: None,
            origin: "no prometheus".into(),
            settings: QuerySettings::default(),
            timeout: Duration::from_secs(2),
            max_series: 100,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series.max(1);
        self
    }

    pub fn is_configured(&self) -> bool {
        self.source.is_some()
    }

    /// Asks for the metrics of the context's pods and services and adds them (and any gap) to it.
    pub async fn enrich(&self, context: &mut IncidentContext) {
        let Some(source) = &self.source else {
            context.gaps.push(format!("metrics: no Prometheus is configured ([prometheus] url); {MISSING}"));
            return;
        };
        let queries = plan(context, &self.settings);
        if queries.is_empty() {
            context.gaps.push(format!("metrics: the context names no pod or service to ask {} about", self.origin));
            return;
        }
        let answers = join_all(queries.iter().map(|q| self.ask(source.as_ref(), q))).await;
        let mut failures = Vec::new();
        for (query, answer) in queries.iter().zip(answers) {
            match answer {
                Ok(mut samples) => {
                    if samples.len() > self.max_series {
                        context.gaps.push(format!(
                            "metrics: {}: {} series, the {} first kept",
                            query.signal,
                            samples.len(),
                            self.max_series
                        ));
                        samples.truncate(self.max_series);
                    }
                    context.metrics.extend(samples);
                }
                Err(error) => failures.push((query.signal, error)),
            }
        }
        if failures.len() == queries.len() {
            // One sentence for a backend that is down, not one per query.
            let (_, first) = &failures[0];
            context.gaps.push(format!("metrics: {} {first}; {MISSING}", self.origin));
        } else {
            for (signal, error) in failures {
                context.gaps.push(format!("metrics: {signal} from {}: {error}", self.origin));
            }
        }
    }

    async fn ask(
        &self,
        source: &dyn MetricsSource,
        query: &MetricQuery,
    ) -> Result<Vec<medic_core::context::MetricSample>, String> {
        let answer = match query.kind {
            QueryKind::Instant => tokio::time::timeout(self.timeout, source.instant(query.signal, &query.promql)).await,
            QueryKind::Range { window, step } => {
                tokio::time::timeout(self.timeout, source.range(query.signal, &query.promql, window, step)).await
            }
        };
        match answer {
            Ok(Ok(samples)) => Ok(samples),
            Ok(Err(error)) => Err(match error {
                medic_core::Error::Unavailable { message, .. } => format!("unavailable ({message})"),
                other => format!("failed ({other})"),
            }),
            Err(_) => Err(format!("gave no answer within {} ms", self.timeout.as_millis())),
        }
    }
}
