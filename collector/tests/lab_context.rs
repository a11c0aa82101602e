//! The collector against the lab's API server through kube-rs: with nothing broken, the context of a
//! healthy deployment has its pods, rollouts, services and the dependency edges its configuration reveals.
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use medic_collector::KubeClusterRead;
use medic_collector::gather::{CollectConfig, collect};
use medic_core::context::DependencyVia;
use medic_core::ports::ClusterRead;
use medic_core::{Alert, AlertSource, AlertStatus, IncidentContext, IncidentUid, ObjectRef};
use medic_lab::{Lab, LabConfig};

async fn start() -> Result<(Lab, KubeClusterRead)> {
    let lab = Lab::start(LabConfig { speed: 50.0, seed: 11, ..LabConfig::default() }).await?;
    let kubeconfig = Kubeconfig::read_from(lab.kubeconfig_path())?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok((lab, KubeClusterRead::new(Client::try_from(config)?)))
}

fn alert(labels: &[(&str, &str)]) -> Alert {
    let labels: std::collections::BTreeMap<String, String> =
        labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Alert {
        source: AlertSource::Generic,
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

/// Waits (real time) until every pod of the namespace is ready: the lab schedules and starts them.
async fn settled(read: &KubeClusterRead, namespace: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = read.pods(namespace, &Default::default()).await?;
        if !pods.is_empty() && pods.iter().all(|p| p.ready) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let waiting: Vec<String> =
                pods.iter().filter(|p| !p.ready).map(|p| format!("{} {}", p.name, p.phase)).collect();
            bail!("pods of {namespace} not ready after 60 s: {waiting:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn context_of(read: &KubeClusterRead, labels: &[(&str, &str)]) -> IncidentContext {
    collect(read, IncidentUid::new(), vec![alert(labels)], &CollectConfig::default(), jiff::Timestamp::now()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_of_a_healthy_deployment_on_the_lab() -> Result<()> {
    let (lab, read) = start().await?;
    settled(&read, "shop").await?;
    let context = context_of(&read, &[("namespace", "shop"), ("deployment", "cart")]).await;
    let cart = ObjectRef::deployment("shop", "cart");

    assert!(context.gaps.is_empty(), "gaps: {:?}", context.gaps);
    assert_eq!(context.target.as_ref(), Some(&cart));
    assert_eq!(context.workloads[0].workload, cart);
    let snapshot = &context.workloads[0];
    assert_eq!((snapshot.replicas_desired, snapshot.replicas_available), (2, 2));
    assert_eq!(snapshot.containers[0].env.get("REDIS_ADDR").map(String::as_str), Some("cart-redis:6379"));

    let cart_pods: Vec<_> = context.pods_of(&cart).collect();
    assert_eq!(cart_pods.len(), 2, "the deployment's two replicas, owned through their ReplicaSet");
    for pod in &cart_pods {
        assert!(pod.ready && pod.node.is_some() && pod.replica_set.is_some(), "{pod:?}");
        assert_eq!(pod.containers[0].limits.get("memory").map(String::as_str), Some("256Mi"));
    }

    let rollout = context.rollouts.iter().find(|r| r.deployment == cart).context("a rollout of cart")?;
    assert_eq!(rollout.revision, 1);
    assert_eq!(rollout.images, ["ghcr.io/medic-lab/shop-cart:3.2.0"]);
    assert_eq!(Some(&rollout.replica_set), cart_pods[0].replica_set.as_ref());

    // cart calls cart-redis (REDIS_ADDR); frontend and checkout call cart.
    let redis = ObjectRef::deployment("shop", "cart-redis");
    let edge =
        context.dependencies.iter().find(|d| d.from == cart && d.to == redis).context("an edge cart → cart-redis")?;
    assert_eq!((edge.via.clone(), edge.service.as_str()), (DependencyVia::Config, "cart-redis"));
    for caller in ["frontend", "checkout"] {
        let from = ObjectRef::deployment("shop", caller);
        assert!(
            context.dependencies.iter().any(|d| d.from == from && d.to == cart),
            "{caller} → cart in {:?}",
            context.dependencies
        );
        assert!(context.workload(&from).is_some(), "the dependent {caller} is included");
    }
    assert!(context.workload(&redis).is_some(), "the dependency is included");
    assert!(context.pods_of(&redis).count() >= 1);

    let service = context.services.iter().find(|s| s.name == "cart-redis").context("the cart-redis service")?;
    assert_eq!(service.backend.as_ref(), Some(&redis));
    assert!(service.ready_endpoints >= 1 && service.cluster_ip.is_some(), "{service:?}");
    assert!(context.nodes.iter().all(|n| n.ready == Some(true)));

    lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_alert_resolves_to_its_deployment_on_the_lab() -> Result<()> {
    let (lab, read) = start().await?;
    settled(&read, "shop").await?;
    let pods = read.pods("shop", &[("app".to_string(), "checkout".to_string())].into()).await?;
    let pod = pods.first().context("a checkout pod")?;
    let context = context_of(&read, &[("namespace", "shop"), ("pod", &pod.name), ("job", "kube-state-metrics")]).await;
    let checkout = ObjectRef::deployment("shop", "checkout");
    assert_eq!(context.target.as_ref(), Some(&checkout), "gaps: {:?}", context.gaps);
    // checkout's configuration names its dependencies; orders talks to its database through a JDBC URL.
    let callees: Vec<&str> =
        context.dependencies.iter().filter(|d| d.from == checkout).map(|d| d.to.name.as_str()).collect();
    for callee in ["cart", "payment", "orders"] {
        assert!(callees.contains(&callee), "checkout → {callee} in {callees:?}");
    }
    lab.stop().await;
    Ok(())
}
