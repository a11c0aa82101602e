//! `/metrics` as Prometheus scrapes it: kube-state-metrics' series, cAdvisor's, the applications'
//! and the datastores', accepted by the real `promtool check metrics`.
#[path = "faults_support/mod.rs"]
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::TestLab;

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is installed");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("promtool runs");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_scrape_of_a_running_shop() {
    let mut lab = TestLab::shop(1);
    lab.serve().expect("serve");
    lab.run(Duration::from_secs(60));
    let (status, body) =
        support::http(&format!("{}/metrics", lab.url()), "GET", "text/plain", "").await.expect("scrape");
    assert_eq!(status, 200);
    let (ok, report) = promtool_check(&body);
    assert!(ok, "promtool check metrics failed:\n{report}");
    assert!(report.trim().is_empty(), "promtool lints:\n{report}");
    for family in [
        "kube_pod_container_status_restarts_total",
        "kube_pod_status_phase",
        "kube_pod_status_ready",
        "kube_pod_owner",
        "kube_node_status_condition",
        "kube_node_spec_unschedulable",
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_available",
        "kube_deployment_status_replicas_updated",
        "kube_deployment_status_condition",
        "kube_deployment_status_observed_generation",
        "kube_deployment_metadata_generation",
        "container_memory_working_set_bytes",
        "container_cpu_usage_seconds_total",
        "container_cpu_cfs_throttled_periods_total",
        "http_requests_total",
        "http_request_duration_seconds",
        "db_client_connections_usage",
        "pg_stat_database_numbackends",
        "redis_connected_clients",
    ] {
        assert!(body.contains(&format!("# TYPE {family} ")), "no {family} in /metrics");
    }
    // Ready pods, served requests, latencies around the topology's figures.
    let ready = lab.sample(&body, "kube_pod_status_ready", &[("namespace", "shop"), ("condition", "true")]);
    assert_eq!(ready.iter().sum::<f64>(), 17.0, "17 ready pods");
    let ok_requests = lab.sample(&body, "http_requests_total", &[("service", "frontend"), ("code", "200")]);
    assert!(ok_requests.iter().sum::<f64>() > 40.0 * 50.0, "{ok_requests:?}");
    // Once settled, a healthy shop serves no errors (start-up, with dependencies not yet ready, may).
    let errors = |body: &str| -> f64 {
        ["500", "503", "504"].iter().map(|code| support::total(body, "http_requests_total", &[("code", code)])).sum()
    };
    let before = errors(&body);
    lab.run(Duration::from_secs(60));
    let after = errors(&lab.metrics());
    assert_eq!(after, before, "a settled shop serves no errors");
    let connections = lab.sample(&body, "pg_stat_database_numbackends", &[("datname", "orders")]);
    assert!(connections.iter().sum::<f64>() >= 20.0, "HikariCP pools hold their connections: {connections:?}");
}

/// The rule file the lab's evaluator mirrors is valid for Prometheus, and its unit tests (series as
/// the lab exports them) pass under the real promtool.
#[test]
fn promtool_accepts_the_rule_file_and_its_tests() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    for args in [["check", "rules", "medic-lab-rules.yml"], ["test", "rules", "medic-lab-rules.test.yml"]] {
        let output = Command::new("promtool").args(args).current_dir(rules).output().expect("promtool runs");
        let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "promtool {}:\n{report}", args.join(" "));
        assert!(report.contains("SUCCESS"), "{report}");
    }
}

/// Another application: MongoDB and memcached behind Go gRPC services, settled and scraped.
#[test]
fn the_hotel_topology_runs_and_exports_its_datastores() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/hotel.yaml");
    let hotel = medic_lab::app::Topology::load(&path).expect("hotel.yaml");
    let mut lab = TestLab::with_topology(hotel, 3);
    lab.run(Duration::from_secs(60));
    let body = lab.metrics();
    let (ok, report) = promtool_check(&body);
    assert!(ok && report.trim().is_empty(), "{report}");
    let connections =
        support::total(&body, "mongodb_connections", &[("service", "mongodb-rate"), ("state", "current")]);
    assert!(connections >= 2.0, "the Go driver keeps its idle connections: {connections}");
    assert!(support::total(&body, "memcached_current_connections", &[("service", "memcached-rate")]) >= 1.0);
    assert!(lab.service_flow("frontend").1 < 0.01);
    let logs = lab.service_logs("mongodb-geo");
    assert!(logs.contains("\"msg\":\"Waiting for connections\""), "{logs}");
}
