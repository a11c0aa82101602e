//! Chaos Mesh experiments applied to the shop as `kubectl apply -f` would, and the signals a real
//! cluster shows for each: pod and container states, reasons, exit codes, events, logs, metrics, and
//! the experiment's own status.
#[path = "faults_support/mod.rs"]
mod support;

use serde_json::Value;
use std::time::Duration;

use medic_lab::store::Kind;
use support::{TestLab, total};

fn experiment_status(lab: &TestLab, kind: Kind, name: &str) -> Value {
    lab.store.get(kind, Some("shop"), name).map(|o| o.value["status"].clone()).unwrap_or(Value::Null)
}

fn condition(status: &Value, kind: &str) -> String {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn pod_kill_deletes_one_pod_and_its_replica_set_replaces_it() {
    let mut lab = TestLab::shop(11);
    let before: Vec<String> = lab.pods("cart").iter().map(|p| p.name().to_string()).collect();
    assert_eq!(
        lab.apply(
            "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: kill-cart, namespace: shop}\n\
         spec: {action: pod-kill, mode: one, selector: {labelSelectors: {app: cart}}}\n"
        ),
        ["podchaos.chaos-mesh.org/kill-cart created"]
    );
    lab.run(Duration::from_secs(2));
    let status = experiment_status(&lab, Kind::PodChaos, "kill-cart");
    let records = status["experiment"]["containerRecords"].as_array().expect("records");
    assert_eq!(records.len(), 1);
    let killed = records[0]["id"].as_str().unwrap().trim_start_matches("shop/").to_string();
    assert!(before.contains(&killed), "{killed} is one of {before:?}");
    assert!(lab.pod(&killed).is_none(), "grace period 0: the pod is gone at once");
    let events = lab.events("kill-cart");
    assert!(events.iter().any(|e| e == &format!("Applied: Successfully apply chaos for shop/{killed}")), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("FinalizerInited")));

    // The ReplicaSet creates a replacement that becomes ready; the other pod was never touched.
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available()), "{}", lab.deployment_summary());
    let after: Vec<String> = lab.pods("cart").iter().map(|p| p.name().to_string()).collect();
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&killed));
    assert_eq!(after.iter().filter(|p| before.contains(p)).count(), 1);
    // A one-shot experiment is over once applied.
    lab.run(Duration::from_secs(2));
    let status = experiment_status(&lab, Kind::PodChaos, "kill-cart");
    assert_eq!(status["experiment"]["desiredPhase"], "Stop");
    assert_eq!(condition(&status, "AllRecovered"), "True");
}

#[test]
fn pod_failure_pauses_the_datastore_and_its_clients_are_refused_until_the_duration_ends() {
    let mut lab = TestLab::shop(12);
    let redis = lab.pods("cart-redis")[0].name().to_string();
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: redis-down, namespace: shop}\n\
         spec: {action: pod-failure, mode: all, duration: 90s, selector: {labelSelectors: {app: cart-redis}}}\n",
    );
    lab.run(Duration::from_secs(30));
    let pod = lab.pod(&redis).expect("the pod stays");
    assert_eq!(pod.value["spec"]["containers"][0]["image"], "gcr.io/google-containers/pause:latest");
    let ready = pod.value["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").cloned();
    assert_eq!(ready.unwrap()["status"], "False");
    let status = experiment_status(&lab, Kind::PodChaos, "redis-down");
    assert_eq!(condition(&status, "AllInjected"), "True");
    assert_eq!(status["experiment"]["containerRecords"][0]["phase"], "Injected");

    // Without endpoints the Service refuses connections: the cart (ioredis) logs ECONNREFUSED on the
    // ClusterIP, and the errors reach the frontend.
    let cart_logs = lab.service_logs("cart");
    let ip = lab.store.get(Kind::Service, Some("shop"), "cart-redis").unwrap().value["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cart_logs.contains(&format!("Error: connect ECONNREFUSED {ip}:6379")), "{cart_logs}");
    let (_, cart_errors, _) = lab.service_flow("cart");
    let (_, frontend_errors, _) = lab.service_flow("frontend");
    assert!(cart_errors > 0.99 && frontend_errors > 0.99, "cart {cart_errors} frontend {frontend_errors}");
    let metrics = lab.metrics();
    assert!(total(&metrics, "http_requests_total", &[("service", "frontend"), ("code", "500")]) > 100.0);

    // After the duration the image is restored and the pod serves again.
    assert!(
        lab.run_until(Duration::from_secs(120), |lab| lab.all_available() && lab.service_flow("frontend").1 < 0.01)
    );
    let pod = lab.pod(&redis).expect("same pod");
    assert_eq!(pod.value["spec"]["containers"][0]["image"], "docker.io/library/redis:7.2.5");
    let status = experiment_status(&lab, Kind::PodChaos, "redis-down");
    assert_eq!(condition(&status, "AllRecovered"), "True");
    assert_eq!(status["experiment"]["containerRecords"][0]["phase"], "Not Injected");
    let events = lab.events("redis-down");
    assert!(events.iter().any(|e| e.starts_with("TimeUp")), "{events:?}");
    assert!(
        events.iter().any(|e| e == &format!("Recovered: Successfully recover chaos for shop/{redis}")),
        "{events:?}"
    );
}

#[test]
fn container_kill_restarts_the_container_with_exit_code_137() {
    let mut lab = TestLab::shop(13);
    let checkout = lab.pods("checkout")[0].name().to_string();
    lab.apply(&format!(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {{name: kill-checkout, namespace: shop}}\n\
         spec: {{action: container-kill, mode: one, containerNames: [checkout], selector: {{pods: {{shop: [{checkout}]}}}}}}\n"
    ));
    lab.run(Duration::from_secs(3));
    let status = lab.container_status(&checkout);
    assert_eq!(status["restartCount"], 1, "{status}");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
    assert_eq!(status["lastState"]["terminated"]["reason"], "Error");
    // The previous instance was killed: its log ends without the graceful shutdown lines.
    let previous = lab.logs(&checkout, "checkout", true);
    assert!(previous.contains("Started CheckoutApplication"), "{previous}");
    assert!(!previous.contains("Graceful shutdown"));
    let metrics = lab.metrics();
    let restarts = support::sample(&metrics, "kube_pod_container_status_restarts_total", &[("pod", &checkout)]);
    assert_eq!(restarts, [1.0]);
    let exit = support::sample(&metrics, "kube_pod_container_status_last_terminated_exitcode", &[("pod", &checkout)]);
    assert_eq!(exit, [137.0]);
    let records = &experiment_status(&lab, Kind::PodChaos, "kill-checkout")["experiment"]["containerRecords"];
    assert_eq!(records[0]["id"], format!("shop/{checkout}/checkout"));
    // The JVM starts again and is ready after its start-up.
    assert!(lab.run_until(Duration::from_secs(60), |lab| lab.all_available()));
}

/// The outcome of the calls from one service to another in the last tick: (failure, cause, latency).
fn calls(lab: &TestLab, caller: &str, callee: &str) -> (f64, Option<String>, f64) {
    let state = lab.app.lock();
    let s = lab.topology.service_index(caller).unwrap();
    let c = lab.topology.service_index(callee).unwrap();
    let d = lab.topology.services[s].dependencies.iter().position(|d| d.service == c).unwrap();
    let i =
        state.instances.iter().position(|r| lab.pod(&r.pod.1).is_some_and(|p| p.label("app") == Some(caller))).unwrap();
    let outcome = &state.flow.instances[i].deps[d];
    (outcome.failure, outcome.cause.map(|c| format!("{c:?}")), outcome.latency_ms)
}

fn histogram_share_below(metrics: &str, service: &str, le: &str) -> f64 {
    let below = total(metrics, "http_request_duration_seconds_bucket", &[("service", service), ("le", le)]);
    let all = total(metrics, "http_request_duration_seconds_count", &[("service", service)]);
    below / all
}

#[test]
fn network_delay_slows_every_path_through_the_selected_pods() {
    let mut lab = TestLab::shop(14);
    let (_, _, frontend_before) = lab.service_flow("frontend");
    let metrics_before = lab.metrics();
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: cart-delay, namespace: shop}\n\
         spec: {action: delay, mode: all, selector: {labelSelectors: {app: cart}}, delay: {latency: 200ms, jitter: 20ms, correlation: '25'}, duration: 10m}\n",
    );
    lab.run(Duration::from_secs(120));
    // Both legs through a cart pod carry the delay: the cart's calls to Redis, and its answers.
    let (failure, _, to_redis) = calls(&lab, "cart", "cart-redis");
    assert!(failure < 0.01 && to_redis > 200.0, "cart→redis {to_redis} ms, failing {failure}");
    let (_, _, to_cart) = calls(&lab, "frontend", "cart");
    assert!(to_cart > 600.0, "frontend→cart {to_cart} ms: two Redis calls and the answer");
    let (_, errors, frontend_after) = lab.service_flow("frontend");
    assert!(errors < 0.01, "delay alone fails nothing: {errors}");
    assert!(frontend_after > frontend_before + 500.0, "{frontend_before} → {frontend_after}");
    // Requests served in under 250 ms were most of them; now they are none of the recent ones.
    let metrics = lab.metrics();
    assert!(histogram_share_below(&metrics_before, "frontend", "0.25") > 0.9);
    assert!(
        histogram_share_below(&metrics, "frontend", "0.25")
            < histogram_share_below(&metrics_before, "frontend", "0.25") - 0.3
    );
    let logs = lab.service_logs("frontend");
    assert!(logs.contains("\"msg\":\"slow call\",\"upstream\":\"cart\""), "{logs}");
    // Other paths are untouched.
    assert!(calls(&lab, "frontend", "catalog").2 < 50.0);
}

#[test]
fn network_loss_times_out_part_of_the_calls() {
    let mut lab = TestLab::shop(15);
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: redis-loss, namespace: shop}\n\
         spec: {action: loss, mode: all, selector: {labelSelectors: {app: cart-redis}}, loss: {loss: '75', correlation: '0'}}\n",
    );
    lab.run(Duration::from_secs(60));
    let (failure, cause, _) = calls(&lab, "cart", "cart-redis");
    assert_eq!(cause.as_deref(), Some("Timeout"));
    assert!(failure > 0.3 && failure < 0.8, "{failure}");
    let logs = lab.service_logs("cart");
    assert!(logs.contains("[ioredis] Unhandled error event: Error: connect ETIMEDOUT"), "{logs}");
    let metrics = lab.metrics();
    assert!(total(&metrics, "http_requests_total", &[("service", "cart"), ("code", "504")]) > 0.0);
}

#[test]
fn a_partition_towards_a_target_cuts_only_that_path() {
    let mut lab = TestLab::shop(16);
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: cart-redis-split, namespace: shop}\n\
         spec: {action: partition, mode: all, selector: {labelSelectors: {app: cart}}, direction: to,\
                target: {mode: all, selector: {labelSelectors: {app: cart-redis}}}, duration: 5m}\n",
    );
    lab.run(Duration::from_secs(30));
    let status = experiment_status(&lab, Kind::NetworkChaos, "cart-redis-split");
    assert_eq!(status["experiment"]["containerRecords"].as_array().map(Vec::len), Some(2), "both cart pods");
    let (failure, cause, _) = calls(&lab, "cart", "cart-redis");
    assert_eq!((failure, cause.as_deref()), (1.0, Some("Timeout")));
    // The frontend still reaches the cart, which answers with errors.
    let (failure, cause, _) = calls(&lab, "frontend", "cart");
    assert!(failure > 0.99);
    assert_eq!(cause.as_deref(), Some("UpstreamError"));
    let logs = lab.service_logs("cart");
    assert!(logs.contains("ETIMEDOUT"), "{logs}");
    // Redis itself is fine: the checkout path to the catalog is untouched.
    assert!(calls(&lab, "checkout", "catalog").0 < 0.01);

    // The other direction with the roles swapped: the target's packets to the cart are dropped, which
    // breaks the same TCP connections.
    let mut lab = TestLab::shop(16);
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: from-redis, namespace: shop}\n\
         spec: {action: partition, mode: all, selector: {labelSelectors: {app: cart}}, direction: from,\
                target: {mode: all, selector: {labelSelectors: {app: cart-redis}}}}\n",
    );
    lab.run(Duration::from_secs(10));
    assert_eq!(calls(&lab, "cart", "cart-redis").1.as_deref(), Some("Timeout"));
    assert!(calls(&lab, "frontend", "catalog").0 < 0.01);
}

#[test]
fn cpu_stress_throttles_the_container_and_slows_its_callers() {
    let mut lab = TestLab::shop(17);
    let before = lab.metrics();
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: StressChaos\nmetadata: {name: burn-catalog, namespace: shop}\n\
         spec: {mode: all, selector: {labelSelectors: {app: catalog}}, stressors: {cpu: {workers: 1, load: 50}}, duration: 3m}\n",
    );
    lab.run(Duration::from_secs(60));
    let after = lab.metrics();
    let pod = lab.pods("catalog")[0].name().to_string();
    let throttled = |m: &str| total(m, "container_cpu_cfs_throttled_periods_total", &[("pod", &pod)]);
    let periods = |m: &str| total(m, "container_cpu_cfs_periods_total", &[("pod", &pod)]);
    let share = (throttled(&after) - throttled(&before)) / (periods(&after) - periods(&before));
    assert!(share > 0.9, "throttled in {share} of the periods");
    let cpu = |m: &str| total(m, "container_cpu_usage_seconds_total", &[("pod", &pod)]);
    let cores = (cpu(&after) - cpu(&before)) / 60.0;
    assert!((cores - 0.4).abs() < 0.02, "pinned at its 400m limit: {cores}");
    let (_, errors, latency) = lab.service_flow("catalog");
    assert!(errors > 0.05 && latency > 100.0, "catalog errors {errors} latency {latency}");
    assert!(lab.service_logs("catalog").contains("context deadline exceeded"));
    // The stress ends with the duration.
    assert!(lab.run_until(Duration::from_secs(150), |lab| lab.service_flow("catalog").1 < 0.001));
}

#[test]
fn memory_stress_beyond_the_limit_is_oom_killed_again_and_again() {
    let mut lab = TestLab::shop(18);
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: StressChaos\nmetadata: {name: fill-cart, namespace: shop}\n\
         spec: {mode: one, selector: {labelSelectors: {app: cart}}, stressors: {memory: {workers: 1, size: 200MB}}, duration: 10m}\n",
    );
    lab.run(Duration::from_secs(5));
    let records = experiment_status(&lab, Kind::StressChaos, "fill-cart")["experiment"]["containerRecords"].clone();
    let id = records[0]["id"].as_str().unwrap().to_string();
    let pod = id.split('/').nth(1).unwrap().to_string();
    assert_eq!(id, format!("shop/{pod}/cart"));
    assert!(
        lab.run_until(Duration::from_secs(120), |lab| lab.container_status(&pod)["restartCount"].as_u64() >= Some(2))
    );
    let status = lab.container_status(&pod);
    assert_eq!(status["lastState"]["terminated"]["reason"], "OOMKilled", "{status}");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
    let metrics = lab.metrics();
    let oom = support::sample(
        &metrics,
        "kube_pod_container_status_last_terminated_reason",
        &[("pod", &pod), ("reason", "OOMKilled")],
    );
    assert_eq!(oom, [1.0]);
    assert!(lab.run_until(Duration::from_secs(120), |lab| {
        lab.container_status(&pod)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    }));
}

#[test]
fn a_slow_database_exhausts_the_client_pools_that_wait_on_it() {
    let mut lab = TestLab::shop(19);
    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: slow-orders-db, namespace: shop}\n\
         spec: {action: delay, mode: all, selector: {labelSelectors: {app: orders-db}}, delay: {latency: 1s}}\n",
    );
    lab.run(Duration::from_secs(30));
    // shipping: ten queries a second, a pool of five, a second each — half of them find no connection.
    let (failure, cause, _) = calls(&lab, "shipping", "orders-db");
    assert_eq!(cause.as_deref(), Some("PoolExhausted"));
    assert!(failure > 0.4, "{failure}");
    let metrics = lab.metrics();
    let pending =
        total(&metrics, "db_client_connections_pending_requests", &[("service", "shipping"), ("pool", "orders-db")]);
    let used = total(&metrics, "db_client_connections_usage", &[("service", "shipping"), ("state", "used")]);
    assert!(pending >= 1.0 && used == 5.0, "pending {pending}, used {used}");
    let logs = lab.service_logs("shipping");
    assert!(
        logs.contains("failed to acquire connection: context deadline exceeded")
            || logs.contains("timed out waiting for a database connection"),
        "{logs}"
    );
}
