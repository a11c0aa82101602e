//! The metric context from the real Prometheus (Debian's package) scraping the lab: the context of an
//! incident on a healthy `cart` has its pods' memory trend against the limit, CPU, restarts, the error rate
//! and latency of its service, and the connections of the Redis it calls. Skipped with a message where
//! Prometheus is not installed.
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use medic_collector::KubeClusterRead;
use medic_collector::gather::{CollectConfig, collect};
use medic_collector::metrics::PrometheusConfig;
use medic_core::context::{MetricSample, signals};
use medic_core::ports::ClusterRead;
use medic_core::{Alert, AlertSource, AlertStatus, IncidentContext, IncidentUid};
use medic_lab::{Lab, LabConfig};
use medic_promstack::{Binaries, Stack, StackConfig};

fn alert(labels: &[(&str, &str)]) -> Alert {
    let labels: std::collections::BTreeMap<String, String> =
        labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Alert {
        source: AlertSource::Alertmanager,
        status: AlertStatus::Firing,
        fingerprint: medic_collector::intake::label_fingerprint(&labels),
        name: "Probe".into(),
        labels,
        annotations: Default::default(),
        starts_at: jiff::Timestamp::now(),
        ends_at: None,
        group_key: None,
        generator_url: None,
    }
}

async fn settled(read: &KubeClusterRead, namespace: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = read.pods(namespace, &Default::default()).await?;
        if !pods.is_empty() && pods.iter().all(|p| p.ready) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("pods of {namespace} not ready after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn of<'a>(context: &'a IncidentContext, signal: &str, label: &str, value: &str) -> Vec<&'a MetricSample> {
    context
        .metrics
        .iter()
        .filter(|s| s.signal == signal && s.labels.get(label).map(String::as_str) == Some(value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_of_an_incident_holds_its_pods_and_services_metrics_from_prometheus() -> Result<()> {
    let binaries = match Binaries::locate() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipped: {e}");
            return Ok(());
        }
    };
    let lab = Lab::start(LabConfig { speed: 5.0, seed: 5, ..LabConfig::default() }).await?;
    let kubeconfig = Kubeconfig::read_from(lab.kubeconfig_path())?;
    let read = KubeClusterRead::new(Client::try_from(
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?,
    )?);
    settled(&read, "shop").await?;
    let stack = Stack::start(&binaries, StackConfig::for_lab(lab.url().trim_start_matches("http://"))).await?;
    stack.wait_scraped(6, Duration::from_secs(30)).await?;

    let mut context = collect(
        &read,
        IncidentUid::new(),
        vec![alert(&[("alertname", "Probe"), ("namespace", "shop"), ("deployment", "cart")])],
        &CollectConfig::default(),
        jiff::Timestamp::now(),
    )
    .await;
    let config = PrometheusConfig { range_secs: 60, step_secs: 1, ..PrometheusConfig::new(stack.prometheus_url()) };
    config.build()?.enrich(&mut context).await;
    let story = format!("{:#?}\n{:?}", medic_collector::metrics::summarise(&context), context.gaps);
    assert!(!context.gaps.iter().any(|g| g.starts_with("metrics:")), "{story}");

    let cart_pods: Vec<String> = context
        .pods
        .iter()
        .filter(|p| p.owner.as_ref().is_some_and(|o| o.name == "cart"))
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(cart_pods.len(), 2, "{story}");
    for pod in &cart_pods {
        let memory = of(&context, signals::MEMORY_WORKING_SET_BYTES, "pod", pod);
        assert_eq!(memory.len(), 1, "one container: {story}");
        assert_eq!(memory[0].labels["container"], "cart");
        assert!(memory[0].series.len() >= 3, "a trend over the window: {story}");
        assert!(memory[0].value > 80.0 * 1024.0 * 1024.0, "cart's working set is ~92 MiB: {story}");
        let ratio = of(&context, signals::MEMORY_WORKING_SET_RATIO, "pod", pod);
        assert!(ratio[0].value > 0.25 && ratio[0].value < 0.6, "~92 MiB of a 256 MiB limit: {story}");
        for signal in [signals::CPU_USAGE_RATIO, signals::CPU_THROTTLED_RATIO, signals::RESTART_RATE] {
            let found = of(&context, signal, "pod", pod);
            assert_eq!(found.len(), 1, "{signal} of {pod}: {story}");
            assert!((0.0..=1.0).contains(&found[0].value), "{signal} of {pod}: {story}");
        }
        assert_eq!(of(&context, signals::RESTART_RATE, "pod", pod)[0].value, 0.0);
    }
    assert_eq!(of(&context, signals::ERROR_RATE, "service", "cart")[0].value, 0.0, "healthy: {story}");
    let p99 = of(&context, signals::LATENCY_P99_SECONDS, "service", "cart")[0].value;
    assert!(p99 > 0.0 && p99 < 0.5, "{story}");
    let redis = of(&context, signals::DB_CONNECTIONS_RATIO, "service", "cart-redis");
    assert!(redis.len() == 1 && redis[0].value > 0.0 && redis[0].value < 0.01, "a few of 10000 clients: {story}");
    let client = of(&context, signals::DB_CONNECTIONS_BY_CLIENT, "client", "cart");
    assert!(client.iter().any(|s| s.labels["pool"] == "cart-redis" && s.value > 0.0), "{story}");
    assert!(context.metrics.iter().all(|s| !s.query.is_empty()), "every value keeps its query");
    stack.stop();
    lab.stop().await;
    Ok(())
}
