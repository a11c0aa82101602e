//! kube-rs against the lab's API server: the typed `Api<Pod>` and `Api<Deployment>` verbs medic's
//! collector and executor use, and `kube::runtime::watcher`.
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use medic_lab::store::Kind;
use medic_lab::{Lab, LabConfig};
use serde_json::json;

async fn start() -> Result<(Lab, Client)> {
    let lab = Lab::start(LabConfig { speed: 50.0, seed: 7, ..LabConfig::default() }).await?;
    let kubeconfig = Kubeconfig::read_from(lab.kubeconfig_path())?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::from_value(json!({"metadata": {"name": "kube-rs"}}))?;
    namespaces.create(&PostParams::default(), &namespace).await?;
    Ok((lab, client))
}

fn pod(name: &str) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "probe", "test": "kube-rs"}},
        "spec": {"containers": [{"name": "app", "image": "ghcr.io/medic-lab/shop-cart:3.1.0",
                                  "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
    }))?)
}

/// Wait (real time) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    for _ in 0..200 {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("timed out waiting for {what}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_list_get_patch_delete() -> Result<()> {
    let (lab, client) = start().await?;
    let pods: Api<Pod> = Api::namespaced(client, "kube-rs");
    for name in ["probe-a", "probe-b"] {
        pods.create(&PostParams::default(), &pod(name)?).await?;
    }
    let listed = pods.list(&ListParams::default().labels("app=probe")).await?;
    let names: Vec<String> = listed.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
    assert_eq!(names, ["probe-a", "probe-b"]);
    assert!(listed.metadata.resource_version.is_some_and(|rv| !rv.is_empty()));
    let paged = pods.list(&ListParams::default().limit(1)).await?;
    assert_eq!(paged.items.len(), 1);
    let rest = pods
        .list(&ListParams::default().limit(1).continue_token(paged.metadata.continue_.as_deref().context("token")?))
        .await?;
    assert_eq!(rest.items[0].metadata.name.as_deref(), Some("probe-b"));
    assert!(pods.list(&ListParams::default().fields("metadata.name=probe-b")).await?.items.len() == 1);

    let fetched = pods.get("probe-a").await?;
    assert_eq!(fetched.spec.as_ref().map(|s| s.containers[0].name.as_str()), Some("app"));
    assert!(fetched.metadata.uid.is_some() && fetched.metadata.creation_timestamp.is_some());

    let merged = pods
        .patch(
            "probe-a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"medic.io/incident": "i-1"}}})),
        )
        .await?;
    assert_eq!(merged.labels().get("medic.io/incident").map(String::as_str), Some("i-1"));
    assert_eq!(merged.labels().get("app").map(String::as_str), Some("probe"), "a merge patch keeps other labels");
    let strategic = pods
        .patch(
            "probe-a",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"annotations": {"medic.io/note": "checked"}}})),
        )
        .await?;
    assert_eq!(strategic.annotations().get("medic.io/note").map(String::as_str), Some("checked"));
    let json_patched = pods
        .patch(
            "probe-a",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(json!([{"op": "remove", "path": "/metadata/labels/test"}]))?),
        )
        .await?;
    assert!(!json_patched.labels().contains_key("test"));

    let dry = pods.delete("probe-b", &DeleteParams { dry_run: true, ..DeleteParams::default() }).await?;
    assert!(dry.is_left() || dry.is_right());
    assert!(pods.get_opt("probe-b").await?.is_some(), "a dry-run delete deletes nothing");

    pods.delete("probe-b", &DeleteParams::default()).await?;
    eventually("probe-b to be gone", || async { Ok(pods.get_opt("probe-b").await?.is_none()) }).await?;
    match pods.get("probe-b").await {
        Err(kube::Error::Api(status)) => assert_eq!((status.code, status.reason.as_str()), (404, "NotFound")),
        other => bail!("expected 404, got {other:?}"),
    }
    lab.stop().await;
    Ok(())
}

fn deployment(name: &str) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "ghcr.io/medic-lab/shop-cart:3.1.0"}]}}}
    }))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_list_get_patch_scale_delete() -> Result<()> {
    let (lab, client) = start().await?;
    let deployments: Api<Deployment> = Api::namespaced(client, "kube-rs");
    let created = deployments.create(&PostParams::default(), &deployment("web")?).await?;
    assert_eq!(created.metadata.generation, Some(1));
    let strategy = created.spec.strategy.as_ref().context("defaulted strategy")?;
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));

    let listed = deployments.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 1);

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]}}}});
    let patched = deployments.patch("web", &PatchParams::default(), &Patch::Strategic(patch)).await?;
    let container = &patched.spec.template.spec.as_ref().context("pod spec")?.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("ghcr.io/medic-lab/shop-cart:3.1.0"),
        "strategic merge keeps the image"
    );
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref()).context("limits")?;
    assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("512Mi"));
    assert_eq!(patched.metadata.generation, Some(2));

    let scaled = deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await?;
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(deployments.get_scale("web").await?.spec.and_then(|s| s.replicas), Some(3));

    let dry_run = PatchParams { dry_run: true, ..PatchParams::default() };
    let would = deployments.patch("web", &dry_run, &Patch::Merge(json!({"spec": {"replicas": 9}}))).await?;
    assert_eq!(would.spec.replicas, Some(9));
    assert_eq!(deployments.get("web").await?.spec.replicas, Some(3), "dry run stores nothing");

    let mut stale = created.clone();
    stale.spec.replicas = Some(5);
    match deployments.replace("web", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(status)) => assert_eq!((status.code, status.reason.as_str()), (409, "Conflict")),
        other => bail!("a stale update must conflict, got {other:?}"),
    }

    deployments.delete("web", &DeleteParams::background()).await?;
    assert!(deployments.get_opt("web").await?.is_none());
    eventually("the deployment's pods to go", || {
        let store = lab.store();
        async move {
            let (pods, _) = store.list(Kind::Pod, Some("kube-rs"));
            let (sets, _) = store.list(Kind::ReplicaSet, Some("kube-rs"));
            Ok(pods.is_empty() && sets.is_empty())
        }
    })
    .await?;
    lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_added_modified_deleted_in_order() -> Result<()> {
    let (lab, client) = start().await?;
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-rs");
    let mut stream = watcher(maps.clone(), watcher::Config::default().labels("watched=yes")).boxed();
    // The initial list of an empty selection.
    loop {
        match stream.try_next().await?.context("stream ended")? {
            watcher::Event::InitDone => break,
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
            other => bail!("unexpected event before InitDone: {other:?}"),
        }
    }
    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings", "labels": {"watched": "yes"}},
                                                       "data": {"mode": "one"}}))?;
    maps.create(&PostParams::default(), &map).await?;
    maps.patch("settings", &PatchParams::default(), &Patch::Merge(json!({"data": {"mode": "two"}}))).await?;
    maps.delete("settings", &DeleteParams::default()).await?;

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await??.context("ended")?;
        match event {
            watcher::Event::Apply(m) => seen.push(format!("apply {}", m.data.unwrap_or_default()["mode"])),
            watcher::Event::Delete(m) => seen.push(format!("delete {}", m.data.unwrap_or_default()["mode"])),
            other => bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["apply one", "apply two", "delete two"]);

    // The raw watch API reports the event types themselves, in resourceVersion order.
    let pods: Api<Pod> = Api::namespaced(client, "kube-rs");
    let start_version = pods.list(&ListParams::default()).await?.metadata.resource_version.context("rv")?;
    pods.create(&PostParams::default(), &pod("watched")?).await?;
    pods.patch("watched", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"step": "2"}}})))
        .await?;
    pods.delete("watched", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await?;
    let mut events = pods.watch(&WatchParams::default().timeout(5), &start_version).await?.boxed();
    let mut types = Vec::new();
    let mut versions = Vec::new();
    while let Some(event) = events.try_next().await? {
        let (kind, pod) = match event {
            WatchEvent::Added(p) => ("ADDED", p),
            WatchEvent::Modified(p) => ("MODIFIED", p),
            WatchEvent::Deleted(p) => ("DELETED", p),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => bail!("watch error {e:?}"),
        };
        types.push(kind);
        versions.push(pod.metadata.resource_version.unwrap_or_default().parse::<u64>()?);
        if kind == "DELETED" {
            break;
        }
    }
    assert_eq!(types.first(), Some(&"ADDED"));
    assert!(types.contains(&"MODIFIED"));
    assert_eq!(types.last(), Some(&"DELETED"));
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "resourceVersions increase: {versions:?}");
    lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_a_compacted_version_gets_410_and_the_watcher_recovers() -> Result<()> {
    let (lab, client) = start().await?;
    let maps: Api<ConfigMap> = Api::namespaced(client, "kube-rs");
    let old = maps.list(&ListParams::default()).await?.metadata.resource_version.context("rv")?;
    let store = lab.store();
    store.create(Kind::ConfigMap, json!({"metadata": {"name": "busy", "namespace": "kube-rs"}}))?;
    for i in 0..medic_lab::store::HISTORY_PER_KIND + 10 {
        store.modify(Kind::ConfigMap, Some("kube-rs"), "busy", |m| {
            m["data"] = json!({"i": i.to_string()});
            Ok(())
        })?;
    }
    let mut events = maps.watch(&WatchParams::default().timeout(5), &old).await?.boxed();
    match events.try_next().await? {
        Some(WatchEvent::Error(status)) => assert_eq!((status.code, status.reason.as_str()), (410, "Expired")),
        other => bail!("expected a 410 ERROR event, got {other:?}"),
    }
    // kube's watcher lists again and carries on.
    let mut stream = watcher(maps, watcher::Config::default()).boxed();
    let mut found = false;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await?? {
        if let watcher::Event::InitApply(m) = &event {
            found |= m.metadata.name.as_deref() == Some("busy");
        }
        if matches!(event, watcher::Event::InitDone) {
            break;
        }
    }
    assert!(found);
    lab.stop().await;
    Ok(())
}
