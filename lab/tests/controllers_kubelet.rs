//! The kubelet model: container states, restarts and back-off, OOM kills, image pulls, config errors,
//! probes and graceful deletion, with the statuses, events and logs a real kubelet produces.
#[path = "controllers/support.rs"]
mod support;

use medic_lab::store::Kind;
use serde_json::json;
use std::time::Duration;
use support::*;

fn only_pod(cluster: &Cluster, prefix: &str) -> k8s_openapi::api::core::v1::Pod {
    let mut pods = cluster.live_pods("shop", prefix);
    assert_eq!(pods.len(), 1, "{}", cluster.describe());
    pods.remove(0)
}

fn pod_name(pod: &k8s_openapi::api::core::v1::Pod) -> String {
    pod.metadata.name.clone().unwrap()
}

#[test]
fn a_crashing_container_backs_off_10_20_40_80_160_300_300_seconds() {
    let mut cluster = Cluster::new(1);
    cluster.model.behave("shop/cart:1.0", Behaviour::CrashAfter { after: Duration::from_secs(5), code: 1 });
    cluster.create(Kind::Deployment, deployment("cart", 1, "shop/cart:1.0"));
    cluster.run_until(1200, "eight restarts", |c| c.model.state().starts.len() >= 9);

    let state = cluster.model.state();
    let starts: Vec<_> = state.starts.iter().map(|(_, at)| *at).collect();
    let exits: Vec<_> = state.ends.iter().map(|(_, at, _)| *at).collect();
    let waits: Vec<i64> =
        starts.iter().skip(1).zip(&exits).map(|(start, exit)| start.duration_since(*exit).as_secs()).collect();
    // The first restart is immediate (the next syncs); then the back-off doubles up to five minutes.
    assert_eq!(waits[1..], [10, 20, 40, 80, 160, 300, 300]);
    assert!(waits[0] <= 2, "{waits:?}");
    assert!(state.ends.iter().all(|(_, _, reason)| reason == "Error"));
    drop(state);

    // In the middle of a back-off the pod shows what `kubectl get pods` prints as CrashLoopBackOff.
    let deadline = cluster.now() + jiff::SignedDuration::from_secs(400);
    cluster.run_until(400, "a crash-loop back-off", |c| {
        waiting_reason(&only_pod(c, "cart")).as_deref() == Some("CrashLoopBackOff") || c.now() > deadline
    });
    let pod = only_pod(&cluster, "cart");
    let status = container_status(&pod);
    let waiting = status.state.clone().unwrap().waiting.unwrap();
    assert_eq!(
        waiting.message.unwrap(),
        format!(
            "back-off 5m0s restarting failed container=app pod={}_shop({})",
            pod_name(&pod),
            pod.metadata.uid.clone().unwrap()
        )
    );
    let last = status.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(status.restart_count >= 8);
    assert!(!status.ready);
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Running"));
    let back_off = cluster.events_for(&pod_name(&only_pod(&cluster, "cart")));
    let back_off: Vec<_> = back_off.iter().filter(|e| e["reason"] == "BackOff").collect();
    assert_eq!(back_off.len(), 1, "repeats aggregate into one event");
    assert_eq!(back_off[0]["type"], "Warning");
    assert!(back_off[0]["count"].as_u64().unwrap() > 10);
    assert!(
        back_off[0]["message"].as_str().unwrap().starts_with("Back-off restarting failed container app in pod cart-")
    );
}

#[test]
fn memory_over_the_limit_is_oom_killed_with_exit_137_and_a_previous_log() {
    let mut cluster = Cluster::new(2);
    // 256Mi limit; 100Mi growing 10Mi a second.
    cluster.model.behave("shop/cart:1.0", Behaviour::Grow { base: 100 * MI, per_second: 10 * MI });
    cluster.create(Kind::Deployment, deployment("cart", 1, "shop/cart:1.0"));
    cluster.run_until(120, "a restart", |c| {
        c.live_pods("shop", "cart").first().is_some_and(|p| container_status(p).restart_count == 1)
    });
    let pod = only_pod(&cluster, "cart");
    let status = container_status(&pod);
    let last = status.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(last.exit_code, 137);
    let lived = last.finished_at.unwrap().0.duration_since(last.started_at.unwrap().0).as_secs();
    assert!((15..=18).contains(&lived), "ran {lived} s before reaching 256Mi");
    assert!(status.state.unwrap().running.is_some());
    let name = pod_name(&pod);
    assert!(cluster.log("shop", &name, "app", true).contains("(restart 0)"));
    assert!(cluster.log("shop", &name, "app", false).contains("(restart 1)"));
    assert!(cluster.model.state().ends.iter().any(|(_, _, reason)| reason == "OOMKilled"));
}

#[test]
fn raising_the_memory_limit_above_the_usage_stops_the_oom_kills() {
    let mut cluster = Cluster::new(21);
    cluster.model.behave("shop/cart:1.0", Behaviour::Serve { memory: 300 * MI });
    cluster.create(Kind::Deployment, deployment("cart", 2, "shop/cart:1.0"));
    cluster.run_until(60, "OOM kills", |c| {
        c.live_pods("shop", "cart").iter().any(|p| container_status(p).restart_count >= 2)
    });
    cluster.modify(Kind::Deployment, Some("shop"), "cart", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("512Mi")
    });
    cluster.run_until(120, "a stable rollout", |c| {
        let pods = c.live_pods("shop", "cart");
        pods.len() == 2 && pods.iter().all(|p| is_ready(p) && container_status(p).restart_count == 0)
    });
    cluster.run(300);
    let pods = cluster.live_pods("shop", "cart");
    assert!(pods.iter().all(|p| container_status(p).restart_count == 0 && is_ready(p)), "{}", cluster.describe());
}

#[test]
fn a_missing_image_is_err_image_pull_then_image_pull_back_off() {
    let mut cluster = Cluster::new(3);
    cluster.model.remove_image("shop/web:nope");
    cluster.create(Kind::Deployment, deployment("web", 1, "shop/web:nope"));
    cluster.run_until(30, "ErrImagePull", |c| {
        c.live_pods("shop", "web").first().is_some_and(|p| {
            p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some()
                && waiting_reason(p).as_deref() == Some("ErrImagePull")
        })
    });
    let pod = only_pod(&cluster, "web");
    let waiting = container_status(&pod).state.unwrap().waiting.unwrap();
    assert!(waiting.message.unwrap().starts_with("rpc error: code = NotFound"), "the registry's answer");
    assert_eq!(pod.status.clone().unwrap().phase.as_deref(), Some("Pending"));
    cluster.run_until(5, "ImagePullBackOff", |c| {
        waiting_reason(&only_pod(c, "web")).as_deref() == Some("ImagePullBackOff")
    });
    let waiting = container_status(&only_pod(&cluster, "web")).state.unwrap().waiting.unwrap();
    assert_eq!(waiting.message.as_deref(), Some("Back-off pulling image \"shop/web:nope\""));

    cluster.run(200);
    let name = pod_name(&pod);
    let events = cluster.events_for(&name);
    let failed: Vec<&str> =
        events.iter().filter(|e| e["reason"] == "Failed").map(|e| e["message"].as_str().unwrap()).collect();
    assert!(failed.iter().any(|m| m.starts_with("Failed to pull image \"shop/web:nope\": rpc error: code = NotFound")));
    assert!(failed.contains(&"Error: ErrImagePull") && failed.contains(&"Error: ImagePullBackOff"), "{failed:?}");
    let back_off = events.iter().find(|e| e["reason"] == "BackOff").unwrap();
    assert_eq!(back_off["message"], "Back-off pulling image \"shop/web:nope\"");
    // Pulls back off too: 10, 20, 40, 80 s apart.
    let pulls = cluster.model.state().pulls.len();
    assert!((4..=6).contains(&pulls), "{pulls} pulls in ~230 s");
}

#[test]
fn a_missing_config_map_is_a_config_error_until_it_exists() {
    let mut cluster = Cluster::new(4);
    let mut manifest = deployment("cart", 1, "shop/cart:1.0");
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "POOL_SIZE", "valueFrom": {"configMapKeyRef": {"name": "cart-config", "key": "pool"}}}]);
    cluster.create(Kind::Deployment, manifest);
    cluster.run_until(30, "CreateContainerConfigError", |c| {
        c.live_pods("shop", "cart").first().and_then(waiting_reason).as_deref() == Some("CreateContainerConfigError")
    });
    let pod = only_pod(&cluster, "cart");
    assert_eq!(
        container_status(&pod).state.unwrap().waiting.unwrap().message.as_deref(),
        Some("configmap \"cart-config\" not found")
    );
    assert!(
        cluster
            .events_for(&pod_name(&pod))
            .iter()
            .any(|e| e["message"] == "Error: configmap \"cart-config\" not found")
    );

    cluster.create(
        Kind::ConfigMap,
        json!({"metadata": {"name": "cart-config", "namespace": "shop"}, "data": {"pool": "20"}}),
    );
    cluster.run_until(30, "running", |c| is_ready(&only_pod(c, "cart")));
    let state = cluster.model.state();
    let env = &state.running.values().next().unwrap().info.env;
    assert_eq!(env["POOL_SIZE"], "20");
}

#[test]
fn a_config_value_the_app_rejects_crash_loops_with_its_log() {
    let mut cluster = Cluster::new(5);
    cluster.model.behave("shop/cart:2.0", Behaviour::RejectConfig);
    cluster.create(Kind::Deployment, deployment("cart", 1, "shop/cart:2.0"));
    cluster.run_until(60, "CrashLoopBackOff", |c| {
        c.live_pods("shop", "cart").first().and_then(waiting_reason).as_deref() == Some("CrashLoopBackOff")
    });
    let pod = only_pod(&cluster, "cart");
    let last = container_status(&pod).last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(cluster.log("shop", &pod_name(&pod), "app", false).contains("FATAL: invalid value for POOL_SIZE"));
}

#[test]
fn a_failing_liveness_probe_restarts_the_container_and_readiness_gates_endpoints() {
    let mut cluster = Cluster::new(6);
    cluster.model.behave("shop/api:1.0", Behaviour::HangAfter { after: Duration::from_secs(30) });
    let mut manifest = deployment("api", 1, "shop/api:1.0");
    let probe = json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10, "failureThreshold": 3});
    manifest["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = probe.clone();
    manifest["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = probe;
    cluster.create(Kind::Deployment, manifest);
    cluster.create(
        Kind::Service,
        json!({"metadata": {"name": "api", "namespace": "shop"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
    );
    cluster.run_until(30, "ready", |c| c.live_pods("shop", "api").first().is_some_and(is_ready));
    cluster.run(1);
    let endpoints = cluster.store.get(Kind::Endpoints, Some("shop"), "api").unwrap().value.clone();
    assert_eq!(endpoints["subsets"][0]["addresses"].as_array().map(Vec::len), Some(1));

    cluster.run_until(60, "not ready", |c| !is_ready(&only_pod(c, "api")));
    cluster.run(1);
    let endpoints = cluster.store.get(Kind::Endpoints, Some("shop"), "api").unwrap().value.clone();
    assert!(endpoints["subsets"][0].get("addresses").is_none());
    assert_eq!(endpoints["subsets"][0]["notReadyAddresses"].as_array().map(Vec::len), Some(1));

    cluster.run_until(60, "a liveness restart", |c| container_status(&only_pod(c, "api")).restart_count == 1);
    let pod = only_pod(&cluster, "api");
    let events = cluster.events_for(&pod_name(&pod));
    let unhealthy = events
        .iter()
        .find(|e| e["reason"] == "Unhealthy" && e["message"].as_str().unwrap().starts_with("Liveness"))
        .unwrap();
    assert_eq!(unhealthy["message"], "Liveness probe failed: HTTP probe failed with statuscode: 503");
    assert_eq!(unhealthy["count"], 3);
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "Killing"
                && e["message"] == "Container app failed liveness probe, will be restarted")
    );
}

#[test]
fn deleting_a_pod_is_graceful_and_the_replica_set_replaces_it() {
    let mut cluster = Cluster::new(8);
    cluster.create(Kind::Deployment, deployment("web", 1, "shop/web:1.0"));
    cluster.run_until(30, "ready", |c| c.live_pods("shop", "web").first().is_some_and(is_ready));
    let old = pod_name(&only_pod(&cluster, "web"));
    assert!(!cluster.log("shop", &old, "app", false).is_empty());

    cluster.delete_pod("shop", &old);
    let terminating = cluster.get::<k8s_openapi::api::core::v1::Pod>(Kind::Pod, Some("shop"), &old).unwrap();
    let deadline = terminating.metadata.deletion_timestamp.clone().unwrap().0;
    assert_eq!(deadline.duration_since(cluster.now()).as_secs(), 30, "the default grace period");
    cluster.run(1);
    assert!(
        cluster.events_for(&old).iter().any(|e| e["reason"] == "Killing" && e["message"] == "Stopping container app")
    );
    cluster.run_until(5, "the old pod gone", |c| c.store.get(Kind::Pod, Some("shop"), &old).is_none());
    assert_eq!(cluster.log("shop", &old, "app", false), "", "a deleted pod's logs go with it");
    cluster.run_until(30, "a ready replacement", |c| c.live_pods("shop", "web").first().is_some_and(is_ready));
    assert_ne!(pod_name(&only_pod(&cluster, "web")), old);
}

#[test]
fn init_containers_run_to_completion_before_the_app_starts() {
    let mut cluster = Cluster::new(10);
    cluster.model.remove_image("busybox:missing");
    let mut manifest = deployment("orders", 1, "shop/orders:1.0");
    manifest["spec"]["template"]["spec"]["initContainers"] =
        json!([{"name": "migrate", "image": "shop/orders-migrate:1.0"}, {"name": "wait", "image": "busybox:1.36"}]);
    cluster.create(Kind::Deployment, manifest);
    cluster.run_until(30, "the first init container running", |c| {
        c.live_pods("shop", "orders").first().is_some_and(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.init_container_statuses.as_ref())
                .is_some_and(|s| s[0].state.as_ref().is_some_and(|st| st.running.is_some()))
        })
    });
    let pod = only_pod(&cluster, "orders");
    let status = pod.status.clone().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let initialized = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Initialized").unwrap();
    assert_eq!(initialized.status, "False");
    assert_eq!(initialized.reason.as_deref(), Some("ContainersNotInitialized"));
    assert_eq!(initialized.message.as_deref(), Some("containers with incomplete status: [migrate wait]"));
    assert_eq!(waiting_reason(&pod).as_deref(), Some("PodInitializing"));

    cluster.run_until(30, "the app running", |c| is_ready(&only_pod(c, "orders")));
    let pod = only_pod(&cluster, "orders");
    let init = pod.status.clone().unwrap().init_container_statuses.unwrap();
    assert_eq!(init.len(), 2);
    for status in &init {
        let terminated = status.state.clone().unwrap().terminated.unwrap();
        assert_eq!((terminated.exit_code, terminated.reason.as_deref()), (0, Some("Completed")));
        assert!(status.ready);
    }
    let migrate_done = init[0].state.clone().unwrap().terminated.unwrap().finished_at.unwrap();
    let wait_started = init[1].state.clone().unwrap().terminated.unwrap().started_at.unwrap();
    assert!(wait_started.0 >= migrate_done.0, "one after the other");
    let started: Vec<String> = cluster.model.state().starts.iter().map(|(k, _)| k.container.clone()).collect();
    assert_eq!(started, ["app"], "the model runs only the app container");
    let reasons: Vec<String> =
        cluster.events_for(&pod_name(&pod)).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "Started").count(), 3);

    // A missing init image holds the pod in Init:ErrImagePull / Init:ImagePullBackOff.
    let mut broken = deployment("billing", 1, "shop/billing:1.0");
    broken["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "wait", "image": "busybox:missing"}]);
    cluster.create(Kind::Deployment, broken);
    cluster.run(30);
    let pod = only_pod(&cluster, "billing");
    let init = pod.status.clone().unwrap().init_container_statuses.unwrap();
    assert_eq!(init[0].state.clone().unwrap().waiting.unwrap().reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(waiting_reason(&pod).as_deref(), Some("PodInitializing"));
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));
}
