//! The lab's own faults (`lab.medic.io/v1alpha1 LabFault`), for what Chaos Mesh cannot express: a
//! memory leak, a connection leak, a node failure, suspicious egress. Each shows the signals a real
//! cluster would.
#[path = "faults_support/mod.rs"]
mod support;

use serde_json::Value;
use std::time::Duration;

use medic_lab::store::Kind;
use support::{TestLab, sample, total};

#[test]
fn a_memory_leak_in_a_jvm_ends_in_java_heap_space_and_a_restart() {
    let mut lab = TestLab::shop(21);
    let before = lab.metrics();
    lab.apply(
        "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: checkout-leak, namespace: shop}\n\
         spec: {action: memory-leak, mode: all, selector: {labelSelectors: {app: checkout}}, memoryLeak: {bytesPerSecond: 2Mi}}\n",
    );
    lab.run(Duration::from_secs(60));
    let pod = lab.pods("checkout")[0].name().to_string();
    let memory = |m: &str| total(m, "container_memory_working_set_bytes", &[("pod", &pod)]);
    let grown = memory(&lab.metrics()) - memory(&before);
    assert!(grown > 100.0 * (1 << 20) as f64, "the working set grows: {grown}");

    // -Xmx512m: the heap fills before the 768Mi limit; the JVM exits (ExitOnOutOfMemoryError).
    assert!(
        lab.run_until(Duration::from_secs(200), |lab| lab.container_status(&pod)["restartCount"].as_u64() >= Some(1))
    );
    let status = lab.container_status(&pod);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 3, "{status}");
    assert_eq!(status["lastState"]["terminated"]["reason"], "Error");
    let previous = lab.logs(&pod, "checkout", true);
    assert!(previous.contains("java.lang.OutOfMemoryError: Java heap space"), "{previous}");
    assert!(previous.contains("Terminating due to java.lang.OutOfMemoryError: Java heap space"));
    // The defect is in the software: the restarted process leaks again.
    lab.run(Duration::from_secs(60));
    assert!(memory(&lab.metrics()) > 400.0 * (1 << 20) as f64);
}

#[test]
fn a_connection_leak_fills_the_database_until_new_connections_are_refused() {
    let mut lab = TestLab::shop(22);
    lab.apply(
        "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: shipping-leak, namespace: shop}\n\
         spec: {action: connection-leak, mode: all, selector: {labelSelectors: {app: shipping}}, connectionLeak: {perMinute: 60, target: orders-db}}\n",
    );
    lab.run(Duration::from_secs(150));
    let metrics = lab.metrics();
    let backends = total(&metrics, "pg_stat_database_numbackends", &[("datname", "orders")]);
    assert!((96.0..=97.0).contains(&backends), "every non-superuser slot taken: {backends}");
    assert_eq!(total(&metrics, "pg_settings_max_connections", &[("service", "orders-db")]), 100.0);
    let db_logs = lab.service_logs("orders-db");
    assert!(
        db_logs.contains("FATAL:  sorry, too many clients already")
            || db_logs.contains("FATAL:  remaining connection slots are reserved"),
        "{db_logs}"
    );
    // The leaking service now fails every query: it needs a new connection for each.
    let shipping_logs = lab.service_logs("shipping");
    assert!(shipping_logs.contains("SQLSTATE 53300"), "{shipping_logs}");
    let (_, shipping_errors, _) = lab.service_flow("shipping");
    assert!(shipping_errors > 0.99, "shipping errors {shipping_errors}");
    assert!(lab.service_flow("checkout").1 > 0.9, "checkout needs a shipping quote");
    assert!(total(&metrics, "http_requests_total", &[("service", "shipping"), ("code", "500")]) > 0.0);
    // HikariCP keeps its pool: the orders service still gets its queries through.
    assert!(lab.service_flow("orders").1 < 0.01);
    let pools = support::sample(
        &metrics,
        "db_client_connections_usage",
        &[("service", "orders"), ("pool", "orders-db"), ("state", "idle")],
    );
    assert_eq!(pools.iter().sum::<f64>(), 20.0, "{pools:?}");
}

#[test]
fn a_failed_node_goes_not_ready_and_its_pods_are_evicted_after_the_timeout() {
    let mut lab = TestLab::shop(23);
    let on_node: Vec<String> = lab
        .store
        .list(Kind::Pod, Some("shop"))
        .0
        .iter()
        .filter(|p| p.value.pointer("/spec/nodeName").and_then(Value::as_str) == Some("lab-worker-2"))
        .map(|p| p.name().to_string())
        .collect();
    assert!(!on_node.is_empty());
    lab.apply(
        "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: worker-2-down, namespace: shop}\n\
         spec: {action: node-failure, nodeFailure: {nodes: [lab-worker-2]}}\n",
    );
    lab.run(Duration::from_secs(60));
    let metrics = lab.metrics();
    let ready_true = sample(
        &metrics,
        "kube_node_status_condition",
        &[("node", "lab-worker-2"), ("condition", "Ready"), ("status", "true")],
    );
    assert_eq!(ready_true, [0.0], "NotReady after the monitor grace period");
    let events = lab.events("lab-worker-2");
    assert!(events.iter().any(|e| e.starts_with("NodeNotReady")), "{events:?}");
    for pod in &on_node {
        let ready = lab.pod(pod).unwrap().value["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .map(|c| c["status"].clone());
        assert_eq!(ready, Some(Value::from("False")), "{pod} is marked not ready");
    }
    // Five minutes later the pods are evicted and replaced on the other nodes.
    assert!(lab.run_until(Duration::from_secs(400), |lab| lab.all_available()), "{}", lab.deployment_summary());
    let replacements_on_failed_node = lab
        .store
        .list(Kind::Pod, Some("shop"))
        .0
        .iter()
        .filter(|p| !p.is_terminating())
        .filter(|p| p.value.pointer("/spec/nodeName").and_then(Value::as_str) == Some("lab-worker-2"))
        .count();
    assert_eq!(replacements_on_failed_node, 0);
}

#[test]
fn suspicious_egress_shows_in_flows_bytes_and_logs() {
    let mut lab = TestLab::shop(24);
    lab.apply(
        "apiVersion: lab.medic.io/v1alpha1\nkind: LabFault\nmetadata: {name: payment-beacon, namespace: shop}\n\
         spec: {action: egress, mode: all, selector: {labelSelectors: {app: payment}}, egress: {address: '203.0.113.50:4444', bytesPerSecond: 256Ki}}\n",
    );
    let before = lab.metrics();
    lab.run(Duration::from_secs(60));
    let metrics = lab.metrics();
    let pod = lab.pods("payment")[0].name().to_string();
    let flows = sample(
        &metrics,
        "lab_egress_connections_total",
        &[("pod", &pod), ("destination", "203.0.113.50:4444"), ("verdict", "forwarded")],
    );
    assert!(flows.first().is_some_and(|n| *n >= 10.0), "{flows:?}");
    let sent = |m: &str| total(m, "container_network_transmit_bytes_total", &[("pod", &pod)]);
    assert!(sent(&metrics) - sent(&before) > 60.0 * 256.0 * 1024.0, "the bytes leave the pod");
    let logs = lab.service_logs("payment");
    assert!(logs.contains("\"target\":\"203.0.113.50:4444\""), "{logs}");
    // Nothing else in the shop talks to the outside.
    assert_eq!(sample(&metrics, "lab_egress_connections_total", &[("destination", "203.0.113.50:4444")]).len(), 1);
}
