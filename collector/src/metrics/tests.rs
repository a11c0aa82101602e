//! The metric context without a cluster: gaps when Prometheus is unconfigured, refuses connections or does
//! not answer; partial failures; the summary the timeline prints. The real Prometheus is asked in
//! `collector/tests/prometheus_metrics.rs`.
use super::*;
use async_trait::async_trait;
use medic_core::ObjectRef;
use medic_core::context::{MetricSample, signals};
use medic_core::ports::MetricsSource;
use medic_core::testkit::ContextBuilder;
use std::sync::Arc;
use std::time::Duration;

fn cart() -> IncidentContext {
    ContextBuilder::new()
        .target(ObjectRef::deployment("shop", "cart"))
        .deployment("shop", "cart", "cart:1", 2, "node-1", |_, _| {})
        .build()
}

fn missing_gap(context: &IncidentContext) -> &str {
    context
        .gaps
        .iter()
        .find(|g| g.ends_with(MISSING))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no gap says the metric context is missing: {:?}", context.gaps))
}

#[tokio::test]
async fn without_prometheus_the_context_says_its_metrics_are_missing() {
    let mut context = cart();
    metric_context(None).unwrap().enrich(&mut context).await;
    assert!(context.metrics.is_empty());
    assert_eq!(
        missing_gap(&context),
        "metrics: no Prometheus is configured ([prometheus] url); the metric context is missing"
    );
}

#[tokio::test]
async fn a_prometheus_that_refuses_connections_is_one_gap() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = PrometheusConfig::new(format!("http://127.0.0.1:{port}"));
    let mut context = cart();
    config.build().unwrap().enrich(&mut context).await;
    assert!(context.metrics.is_empty());
    assert_eq!(context.gaps.len(), 1, "{:?}", context.gaps);
    let gap = missing_gap(&context);
    assert!(gap.starts_with(&format!("metrics: prometheus at http://127.0.0.1:{port} unavailable")), "{gap}");
    assert!(gap.to_lowercase().contains("connection refused"), "{gap}");
}

#[tokio::test]
async fn a_prometheus_that_does_not_answer_is_a_gap_after_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let config = PrometheusConfig { timeout_ms: 300, ..PrometheusConfig::new(format!("http://127.0.0.1:{port}")) };
    let mut context = cart();
    let started = std::time::Instant::now();
    config.build().unwrap().enrich(&mut context).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the queries run at once, each within the timeout");
    let gap = missing_gap(&context);
    assert!(gap.contains("300 ms") || gap.contains("timed out"), "{gap}");
    held.abort();
}

/// A metrics backend that answers every signal but one.
struct AllBut(&'static str);

#[async_trait]
impl MetricsSource for AllBut {
    async fn instant(&self, signal: &str, promql: &str) -> medic_core::Result<Vec<MetricSample>> {
        if signal == self.0 {
            return Err(medic_core::Error::Backend { port: "prometheus", message: "bad_data: parse error".into() });
        }
        let sample = |pod: &str, value: f64| MetricSample {
            signal: signal.into(),
            query: promql.into(),
            labels: [("namespace", "shop"), ("pod", pod), ("container", "app")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
            series: Vec::new(),
        };
        Ok((0..3).map(|i| sample(&format!("cart-{i}"), f64::from(i))).collect())
    }

    async fn range(
        &self,
        signal: &str,
        promql: &str,
        _: Duration,
        _: Duration,
    ) -> medic_core::Result<Vec<MetricSample>> {
        let mut samples = self.instant(signal, promql).await?;
        for s in &mut samples {
            s.series = vec![(0, 1.0), (15, 2.0), (30, s.value)];
        }
        Ok(samples)
    }
}

#[tokio::test]
async fn one_failing_query_is_named_and_the_others_are_kept() {
    let metrics =
        MetricContext::new(Arc::new(AllBut(signals::ERROR_RATE)), "prometheus at test", QuerySettings::default())
            .with_max_series(2);
    let mut context = cart();
    metrics.enrich(&mut context).await;
    assert!(
        context
            .gaps
            .iter()
            .any(|g| g
                == "metrics: error_rate from prometheus at test: failed (prometheus failed: bad_data: parse error)"),
        "{:?}",
        context.gaps
    );
    assert!(!context.gaps.iter().any(|g| g.ends_with(MISSING)), "{:?}", context.gaps);
    assert!(context.gaps.iter().any(|g| g == "metrics: memory_working_set_bytes: 3 series, the 2 first kept"));
    let memory: Vec<&MetricSample> =
        context.metrics.iter().filter(|s| s.signal == signals::MEMORY_WORKING_SET_BYTES).collect();
    assert_eq!(memory.len(), 2);
    assert_eq!(memory[0].series.len(), 3);
    assert!(context.metrics.iter().all(|s| s.signal != signals::ERROR_RATE));

    let summary = summarise(&context);
    let first = &summary[0];
    assert_eq!(first.signal, signals::MEMORY_WORKING_SET_BYTES);
    assert!(first.query.starts_with("max by (namespace, pod, container) (container_memory_working_set_bytes{"));
    assert_eq!(first.values, vec![("shop/cart-0/app".to_string(), 0.0, 3), ("shop/cart-1/app".to_string(), 1.0, 3)]);
}

#[tokio::test]
async fn a_context_without_pods_or_services_asks_nothing() {
    let mut context = IncidentContext::default();
    MetricContext::new(Arc::new(AllBut("")), "prometheus at test", QuerySettings::default()).enrich(&mut context).await;
    assert!(context.metrics.is_empty());
    assert_eq!(context.gaps, ["metrics: the context names no pod or service to ask prometheus at test about"]);
}

/// An audit sink that keeps what it is given.
#[derive(Default)]
struct Recorded(std::sync::Mutex<Vec<medic_core::AuditEntry>>);

#[async_trait]
impl medic_core::ports::AuditSink for Recorded {
    async fn append(&self, entry: medic_core::AuditEntry) -> medic_core::Result<()> {
        self.0.lock().unwrap().push(entry);
        Ok(())
    }
}

#[actix_rt::test]
async fn the_collector_adds_the_metric_context_and_its_queries_reach_the_audit_trail() {
    use crate::testing::{InMemoryCluster, alert, deployment, node, pod, probe, settle};
    use actix::Actor;
    use medic_core::messages::{Diagnose, OpenIncident};

    let cluster = || InMemoryCluster {
        deployments: vec![deployment("shop", "cart", &[])],
        pods: vec![pod("shop", "cart-5d4f8c7b9-x2x4z", "cart", "node-1")],
        nodes: vec![node("node-1", Some(true))],
        ..InMemoryCluster::default()
    };
    for (metrics, missing) in [
        (MetricContext::unconfigured(), true),
        (MetricContext::new(Arc::new(AllBut("")), "prometheus at test", QuerySettings::default()), false),
    ] {
        let audit = Arc::new(Recorded::default());
        let (diagnose, diagnosed) = probe::<Diagnose>();
        let collector =
            crate::ContextCollector::new(Arc::new(cluster()), audit.clone(), diagnose, crate::CollectConfig::default())
                .with_metrics(metrics)
                .start();
        let alerts = vec![alert("KubePodCrashLooping", &[("namespace", "shop"), ("pod", "cart-5d4f8c7b9-x2x4z")])];
        collector.send(OpenIncident { incident: medic_core::IncidentUid::new(), alerts }).await.unwrap();
        for _ in 0..50 {
            settle().await;
            if !diagnosed.lock().unwrap().is_empty() {
                break;
            }
        }
        let context = diagnosed.lock().unwrap()[0].context.clone();
        let detail = audit.0.lock().unwrap()[0].detail.clone();
        let gaps: Vec<&str> = detail["gaps"].as_array().unwrap().iter().filter_map(|g| g.as_str()).collect();
        if missing {
            assert!(context.metrics.is_empty());
            assert!(gaps.iter().any(|g| g.ends_with(MISSING)), "{gaps:?}");
            assert!(detail.get("metrics").is_none());
        } else {
            assert!(!context.metrics.is_empty());
            assert!(gaps.is_empty(), "{gaps:?}");
            let queries: Vec<QuerySummary> = serde_json::from_value(detail["metrics"].clone()).unwrap();
            assert_eq!(queries, summarise(&context), "the audit trail has every query and its values");
        }
    }
}
