//! How long context collection takes against the lab's API server through kube-rs, on the alert → fix
//! path: per target, p50/p99 over repeated collections, and what each context holds. First with the shop
//! healthy, then with cart-redis failing (a Chaos Mesh pod-failure), so that logs and the dependency walk
//! have something to read.
//!
//! `cargo bench -p medic-collector --bench context` (MEDIC_BENCH_RUNS=50 to change the repetitions).
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use medic_collector::KubeClusterRead;
use medic_collector::gather::{CollectConfig, collect};
use medic_core::ports::ClusterRead;
use medic_core::{Alert, AlertSource, AlertStatus, IncidentContext, IncidentUid};
use medic_lab::{Lab, LabConfig};
use std::time::{Duration, Instant};

fn alert(labels: &[(&str, &str)]) -> Alert {
    let labels: std::collections::BTreeMap<String, String> =
        labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Alert {
        source: AlertSource::Alertmanager,
        status: AlertStatus::Firing,
        fingerprint: medic_collector::intake::label_fingerprint(&labels),
        name: "Bench".into(),
        labels,
        annotations: Default::default(),
        starts_at: jiff::Timestamp::now(),
        ends_at: None,
        group_key: None,
        generator_url: None,
    }
}

async fn measure(read: &KubeClusterRead, what: &str, labels: &[(&str, &str)], runs: usize) {
    let config = CollectConfig::default();
    let mut took: Vec<Duration> = Vec::with_capacity(runs);
    let mut last: Option<IncidentContext> = None;
    for run in 0..runs + 3 {
        let started = Instant::now();
        let context = collect(read, IncidentUid::new(), vec![alert(labels)], &config, jiff::Timestamp::now()).await;
        if run >= 3 {
            took.push(started.elapsed());
        }
        last = Some(context);
    }
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    let c = last.expect("at least one run");
    println!(
        "{what:<34} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms | {} workloads, {} pods, {} events, {} log lines, \
         {} rollouts, {} deps, {} gaps",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*took.last().expect("runs")),
        c.workloads.len(),
        c.pods.len(),
        c.events.len(),
        c.logs.iter().map(|l| l.lines.len()).sum::<usize>(),
        c.rollouts.len(),
        c.dependencies.len(),
        c.gaps.len(),
    );
    for gap in &c.gaps {
        println!("    gap: {gap}");
    }
}

async fn wait_ready(read: &KubeClusterRead) {
    for _ in 0..600 {
        let pods = read.pods("shop", &Default::default()).await.expect("pods");
        if !pods.is_empty() && pods.iter().all(|p| p.ready) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the shop's pods did not become ready");
}

fn main() {
    let runs: usize = std::env::var("MEDIC_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let lab = Lab::start(LabConfig { speed: 20.0, seed: 3, ..LabConfig::default() }).await.expect("lab starts");
        let kubeconfig = Kubeconfig::read_from(lab.kubeconfig_path()).expect("kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
        let read = KubeClusterRead::new(Client::try_from(config).expect("client"));
        wait_ready(&read).await;
        let checkout = read.pods("shop", &[("app".into(), "checkout".into())].into()).await.expect("pods");
        let checkout_pod = checkout[0].name.clone();

        println!("context collection against the lab (kube-rs over HTTP on loopback), {runs} runs each:");
        measure(&read, "healthy: deployment cart", &[("namespace", "shop"), ("deployment", "cart")], runs).await;
        measure(&read, "healthy: pod of checkout", &[("namespace", "shop"), ("pod", &checkout_pod)], runs).await;
        measure(&read, "healthy: node lab-worker-1", &[("node", "lab-worker-1")], runs).await;

        let chaos = "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: redis-down, namespace: shop}\n\
                     spec: {action: pod-failure, mode: all, duration: 30m, selector: {labelSelectors: {app: cart-redis}}}\n";
        lab.apply_yaml(chaos).expect("chaos applies");
        // Let the failure show: cart's calls to cart-redis fail and are logged.
        tokio::time::sleep(Duration::from_secs(3)).await;
        measure(&read, "cart-redis down: deployment cart", &[("namespace", "shop"), ("deployment", "cart")], runs).await;
        measure(&read, "cart-redis down: frontend", &[("namespace", "shop"), ("deployment", "frontend")], runs).await;
        lab.stop().await;
    });
}
