//! Ordinary Kubernetes changes that break things by themselves, made through the API with kube-rs
//! exactly as `kubectl set image`, `kubectl edit configmap` + `rollout restart` and
//! `kubectl set resources` make them: a tag the registry does not have, a configuration value the
//! software refuses, a memory limit below what the process needs.
#[path = "faults_support/mod.rs"]
mod support;

use anyhow::Result;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use std::time::Duration;

use support::{TestLab, sample};

/// Pods of the service whose template differs from the settled one (the rollout's new pods).
fn new_pods(lab: &TestLab, app: &str, old: &[String]) -> Vec<String> {
    lab.pods(app).iter().map(|p| p.name().to_string()).filter(|n| !old.contains(n)).collect()
}

fn waiting_reason(lab: &TestLab, pod: &str) -> String {
    lab.container_status(pod)["state"]["waiting"]["reason"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_tag_the_registry_does_not_have_stalls_the_rollout() -> Result<()> {
    let mut lab = TestLab::shop(31);
    let client = lab.serve()?;
    let old: Vec<String> = lab.pods("frontend").iter().map(|p| p.name().to_string()).collect();
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    let image = "ghcr.io/medic-lab/shop-frontend:1.8.3";
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "frontend", "image": image}]}}}});
    deployments.patch("frontend", &PatchParams::default(), &Patch::Strategic(patch)).await?;
    lab.run(Duration::from_secs(90));

    let new = new_pods(&lab, "frontend", &old);
    assert_eq!(new.len(), 1, "maxSurge 25% of 2: one new pod at a time");
    assert_eq!(waiting_reason(&lab, &new[0]), "ImagePullBackOff");
    let events = lab.events(&new[0]);
    let expected = format!(
        "Failed: Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \
         \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
    );
    assert!(events.contains(&expected), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("Failed: Error: ErrImagePull")), "{events:?}");
    let metrics = lab.metrics();
    let waiting = sample(
        &metrics,
        "kube_pod_container_status_waiting_reason",
        &[("pod", &new[0]), ("reason", "ImagePullBackOff")],
    );
    assert_eq!(waiting, [1.0]);
    // The old pods keep serving: maxUnavailable 25% of 2 rounds down to none.
    assert!(old.iter().all(|p| lab.pod(p).is_some_and(|p| !p.is_terminating())));
    assert!(lab.service_flow("frontend").1 < 0.01);
    let deployment = deployments.get("frontend").await?;
    let status = deployment.status.unwrap_or_default();
    assert_eq!((status.available_replicas, status.updated_replicas), (Some(2), Some(1)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_value_the_software_refuses_crash_loops_the_new_pods() -> Result<()> {
    let mut lab = TestLab::shop(32);
    let client = lab.serve()?;
    let old: Vec<String> = lab.pods("frontend").iter().map(|p| p.name().to_string()).collect();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let patch = json!({"data": {"LOG_LEVEL": "verbose"}});
    config_maps.patch("frontend-config", &PatchParams::default(), &Patch::Merge(patch)).await?;
    // A ConfigMap change reaches the pods when they restart.
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-03-01T09:05:00Z"}}}}});
    deployments.patch("frontend", &PatchParams::default(), &Patch::Strategic(restart)).await?;
    let crash_looping = lab.run_until(Duration::from_secs(120), |lab| {
        new_pods(lab, "frontend", &old).iter().any(|p| waiting_reason(lab, p) == "CrashLoopBackOff")
    });
    assert!(crash_looping);
    lab.run(Duration::from_secs(15));
    let pod =
        new_pods(&lab, "frontend", &old).into_iter().find(|p| waiting_reason(&lab, p) == "CrashLoopBackOff").unwrap();
    let status = lab.container_status(&pod);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 1, "{status}");
    assert_eq!(status["lastState"]["terminated"]["reason"], "Error");
    let previous = lab.logs(&pod, "frontend", true);
    assert!(previous.contains("LOG_LEVEL") && previous.contains("verbose"), "{previous}");
    assert!(previous.contains("expected one of debug, info, warn, error"), "{previous}");
    let events = lab.events(&pod);
    assert!(
        events.iter().any(|e| e.starts_with("BackOff: Back-off restarting failed container frontend")),
        "{events:?}"
    );
    // The old pods still serve.
    assert!(lab.service_flow("frontend").1 < 0.01);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_with_a_regression_panics_at_start_and_crash_loops() -> Result<()> {
    let mut lab = TestLab::shop(34);
    let client = lab.serve()?;
    let old: Vec<String> = lab.pods("frontend").iter().map(|p| p.name().to_string()).collect();
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    // 1.9.0 is in the registry (it pulls) but the topology marks it as a regression.
    let image = "ghcr.io/medic-lab/shop-frontend:1.9.0";
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "frontend", "image": image}]}}}});
    deployments.patch("frontend", &PatchParams::default(), &Patch::Strategic(patch)).await?;
    let crash_looping = lab.run_until(Duration::from_secs(120), |lab| {
        new_pods(lab, "frontend", &old).iter().any(|p| waiting_reason(lab, p) == "CrashLoopBackOff")
    });
    assert!(crash_looping);
    let pod =
        new_pods(&lab, "frontend", &old).into_iter().find(|p| waiting_reason(&lab, p) == "CrashLoopBackOff").unwrap();
    let status = lab.container_status(&pod);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 2, "a Go panic exits 2: {status}");
    let previous = lab.logs(&pod, "frontend", true);
    assert!(previous.contains("panic: ") && previous.contains("goroutine 1 [running]"), "{previous}");
    assert!(lab.service_flow("frontend").1 < 0.01, "the old pods still serve");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_below_the_working_set_is_oom_killed_at_every_start() -> Result<()> {
    let mut lab = TestLab::shop(33);
    let client = lab.serve()?;
    let old: Vec<String> = lab.pods("orders").iter().map(|p| p.name().to_string()).collect();
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "orders", "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "256Mi"}}}]}}}});
    deployments.patch("orders", &PatchParams::default(), &Patch::Strategic(patch)).await?;
    let looping = lab.run_until(Duration::from_secs(180), |lab| {
        new_pods(lab, "orders", &old).iter().any(|p| lab.container_status(p)["restartCount"].as_u64() >= Some(2))
    });
    assert!(looping);
    let pod = new_pods(&lab, "orders", &old)
        .into_iter()
        .find(|p| lab.container_status(p)["restartCount"].as_u64() >= Some(2))
        .unwrap();
    let status = lab.container_status(&pod);
    assert_eq!(status["lastState"]["terminated"]["reason"], "OOMKilled", "{status}");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
    let spec: Value = lab.pod(&pod).unwrap().value["spec"]["containers"][0]["resources"]["limits"]["memory"].clone();
    assert_eq!(spec, "256Mi");
    let metrics = lab.metrics();
    let oom =
        sample(&metrics, "kube_pod_container_status_last_terminated_reason", &[("pod", &pod), ("reason", "OOMKilled")]);
    assert_eq!(oom, [1.0]);
    // Killed by the kernel: the JVM never logged a heap error, it just stopped.
    assert!(!lab.logs(&pod, "orders", true).contains("OutOfMemoryError"));
    Ok(())
}
