//! The lab's alerts as medic's webhook endpoint receives them: Alertmanager 0.25's version "4"
//! bodies, its headers and bearer token, stable fingerprints, grouping, resolved notifications and
//! retries — checked by a local HTTP receiver standing where medic's endpoint stands.
#[path = "faults_support/mod.rs"]
mod support;

use jiff::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use medic_lab::alerts::fingerprint::fingerprint_hex;
use medic_lab::alerts::{AlertEvaluator, AlertInstance, AlertWebhookConfig, Notifier};
use support::TestLab;

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
}

/// A webhook endpoint on 127.0.0.1: records each request; answers 503 to the first `fail_first`.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/webhooks/alertmanager", listener.local_addr().expect("address"));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let log = log.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let (method, path) = (
                            parts.next().unwrap_or_default().to_string(),
                            parts.next().unwrap_or_default().to_string(),
                        );
                        let mut headers = BTreeMap::new();
                        loop {
                            let mut header = String::new();
                            stream.read_line(&mut header).await.unwrap_or(0);
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = header.split_once(':') {
                                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                            }
                        }
                        let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.expect("body");
                        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let count = {
                            let mut log = log.lock().unwrap();
                            log.push(Received { method, path, headers, body });
                            log.len()
                        };
                        let status = if count <= fail_first { "503 Service Unavailable" } else { "200 OK" };
                        let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if stream.get_mut().write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { url, received, task }
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Wait (real time) until `n` requests arrived.
    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        while self.all().len() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.all()
    }
}

fn config(url: &str) -> AlertWebhookConfig {
    AlertWebhookConfig {
        group_wait: Duration::from_millis(200),
        group_interval: Duration::from_millis(600),
        ..AlertWebhookConfig::new(url, Some("s3cret-token".into()))
    }
}

fn crash_alert(pod: &str, starts_at: &str, ends_at: Option<&str>) -> AlertInstance {
    let labels: BTreeMap<String, String> = [
        ("alertname", "KubePodCrashLooping"),
        ("container", "web"),
        ("job", "kube-state-metrics"),
        ("namespace", "default"),
        ("pod", pod),
        ("severity", "warning"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    AlertInstance {
        fingerprint: fingerprint_hex(&labels),
        annotations: BTreeMap::from([("summary".to_string(), "Pod is crash looping.".to_string())]),
        labels,
        starts_at: starts_at.parse().unwrap(),
        ends_at: ends_at.map(|t| t.parse::<Timestamp>().unwrap()),
        generator_url: "http://127.0.0.1:9090/graph?g0.expr=x&g0.tab=1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_look_like_alertmanagers_and_are_retried_on_5xx() {
    let receiver = Receiver::start(1).await;
    let notifier = Notifier::start(config(&receiver.url));
    let first = crash_alert("web-7d9f8-abcde", "2026-11-22T14:40:28Z", None);
    notifier.send(vec![first.clone()]);
    // The first delivery fails with 503 and is retried with the same body.
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].body, got[1].body);
    let request = &got[1];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/webhooks/alertmanager"));
    assert_eq!(request.headers["authorization"], "Bearer s3cret-token");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["user-agent"], "Alertmanager/0.25.0");
    let body = &request.body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "medic");
    assert_eq!(body["groupKey"], "{}:{alertname=\"KubePodCrashLooping\", namespace=\"default\"}");
    assert_eq!(body["groupLabels"], serde_json::json!({"alertname": "KubePodCrashLooping", "namespace": "default"}));
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(body["externalURL"], "http://127.0.0.1:9093");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["startsAt"], "2026-11-22T14:40:28Z");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    // The labels of the real Alertmanager body in the fixtures give the same fingerprint.
    assert_eq!(alert["fingerprint"], "75d4aa544bbbfc2f");
    assert_eq!(body["commonLabels"]["pod"], "web-7d9f8-abcde");
    for key in [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ] {
        assert!(body.get(key).is_some(), "{key}");
    }

    // The same alert again changes nothing: no new notification within the group interval.
    notifier.send(vec![first.clone()]);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(receiver.all().len(), 2);

    // A second pod joins the group: one notification with both, common labels narrowed.
    let second = crash_alert("web-7d9f8-fghij", "2026-11-22T14:41:00Z", None);
    notifier.send(vec![first.clone(), second.clone()]);
    let got = receiver.wait_for(3, Duration::from_secs(3)).await;
    let body = &got[2].body;
    assert_eq!(body["alerts"].as_array().unwrap().len(), 2);
    assert!(body["commonLabels"].get("pod").is_none());
    assert_eq!(body["commonLabels"]["alertname"], "KubePodCrashLooping");

    // Resolution: sent once, same fingerprint and startsAt, endsAt set; the other stays firing.
    let resolved = crash_alert("web-7d9f8-abcde", "2026-11-22T14:40:28Z", Some("2026-11-22T14:40:35Z"));
    notifier.send(vec![resolved, second.clone()]);
    let got = receiver.wait_for(4, Duration::from_secs(3)).await;
    let body = &got[3].body;
    assert_eq!(body["status"], "firing", "one alert of the group still fires");
    let alerts = body["alerts"].as_array().unwrap();
    let done = alerts.iter().find(|a| a["status"] == "resolved").expect("the resolved alert");
    assert_eq!(done["fingerprint"], "75d4aa544bbbfc2f");
    assert_eq!(done["startsAt"], "2026-11-22T14:40:28Z");
    assert_eq!(done["endsAt"], "2026-11-22T14:40:35Z");
    // The last one resolves: a resolved notification for the group.
    let mut last = second.clone();
    last.ends_at = Some("2026-11-22T14:42:00Z".parse().unwrap());
    notifier.send(vec![last]);
    let got = receiver.wait_for(5, Duration::from_secs(3)).await;
    assert_eq!(got[4].body["status"], "resolved");
    assert_eq!(got[4].body["alerts"].as_array().unwrap().len(), 1);
    drop(notifier);
}

fn alerts_named<'a>(got: &'a [Received], name: &str) -> Vec<&'a Value> {
    got.iter()
        .flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default().into_iter().map(move |a| (r, a)))
        .filter(|(_, a)| a["labels"]["alertname"] == name)
        .map(|(r, _)| &r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_dependency_fires_service_alerts_and_their_resolution() {
    let receiver = Receiver::start(0).await;
    let mut lab = TestLab::shop(51);
    let evaluator = AlertEvaluator::new(config(&receiver.url), lab.app.clone());
    lab.sim.add_hook(Box::new(evaluator));
    lab.run(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let quiet = receiver.all();
    assert!(alerts_named(&quiet, "MedicServiceErrorRate").is_empty(), "a settled shop fires no error-rate alert");

    lab.apply(
        "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: redis-down, namespace: shop}\n\
         spec: {action: pod-failure, mode: all, duration: 150s, selector: {labelSelectors: {app: cart-redis}}}\n",
    );
    lab.run(Duration::from_secs(90));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.all();
    let firing: Vec<Value> = got
        .iter()
        .flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == "MedicServiceErrorRate" && a["status"] == "firing")
        .collect();
    let services: Vec<&str> = firing.iter().filter_map(|a| a["labels"]["service"].as_str()).collect();
    assert!(services.contains(&"cart") && services.contains(&"frontend"), "{services:?}");
    let cart = firing.iter().find(|a| a["labels"]["service"] == "cart").unwrap();
    assert_eq!(cart["labels"]["namespace"], "shop");
    assert_eq!(cart["labels"]["deployment"], "cart");
    assert_eq!(cart["labels"]["severity"], "critical");
    assert!(
        cart["annotations"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Service shop/cart answers 100% of its requests"),
        "{cart}"
    );
    let groups: Vec<&str> = got.iter().filter_map(|r| r.body["groupKey"].as_str()).collect();
    assert!(groups.contains(&"{}:{alertname=\"MedicServiceErrorRate\", namespace=\"shop\"}"), "{groups:?}");
    // The Redis deployment lacks its replica: kube-prometheus' mismatch rule fires after its minute.
    let mismatch = alerts_named(&got, "KubeDeploymentReplicasMismatch");
    assert!(!mismatch.is_empty(), "{:?}", got.iter().map(|r| &r.body["groupKey"]).collect::<Vec<_>>());
    let started: Vec<&str> =
        firing.iter().filter(|a| a["labels"]["service"] == "cart").filter_map(|a| a["startsAt"].as_str()).collect();
    assert!(started.windows(2).all(|w| w[0] == w[1]), "startsAt stays fixed while firing: {started:?}");

    // The experiment ends, Redis serves again, the alerts resolve.
    lab.run(Duration::from_secs(150));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.all();
    let resolved = got.iter().flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default()).any(|a| {
        a["labels"]["alertname"] == "MedicServiceErrorRate"
            && a["labels"]["service"] == "cart"
            && a["status"] == "resolved"
    });
    assert!(resolved, "a resolved notification for the cart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_limit_too_low_fires_oom_and_crash_loop_alerts_for_the_pod() {
    let receiver = Receiver::start(0).await;
    let mut lab = TestLab::shop(52);
    let client = lab.serve().expect("serve");
    lab.sim.add_hook(Box::new(AlertEvaluator::new(config(&receiver.url), lab.app.clone())));
    support::kubectl::set_memory(&client, "orders", "orders", "256Mi").await.expect("set resources");
    lab.run(Duration::from_secs(240));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.all();
    let alerts: Vec<Value> =
        got.iter().flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default()).collect();
    let named = |name: &str| {
        alerts
            .iter()
            .filter(|a| a["labels"]["alertname"] == name && a["status"] == "firing")
            .cloned()
            .collect::<Vec<_>>()
    };
    let oom = named("KubePodOOMKilled");
    assert!(!oom.is_empty(), "{:?}", got.iter().map(|r| &r.body["groupKey"]).collect::<Vec<_>>());
    let pod = oom[0]["labels"]["pod"].as_str().unwrap().to_string();
    assert!(pod.starts_with("orders-"));
    assert_eq!(oom[0]["labels"]["reason"], "OOMKilled");
    assert_eq!(oom[0]["labels"]["container"], "orders");
    assert_eq!(oom[0]["labels"]["job"], "kube-state-metrics");
    let crash = named("KubePodCrashLooping");
    assert!(crash.iter().any(|a| a["labels"]["pod"] == pod.as_str()), "the same pod crash-loops");
    assert!(crash[0]["annotations"]["description"].as_str().unwrap().contains("(reason: \"CrashLoopBackOff\")"));
    assert!(
        crash[0]["generatorURL"].as_str().unwrap().starts_with(
            "http://127.0.0.1:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason"
        )
    );
    // One alert, one fingerprint, however often it is re-sent.
    let fingerprints: std::collections::BTreeSet<&str> =
        crash.iter().filter(|a| a["labels"]["pod"] == pod.as_str()).filter_map(|a| a["fingerprint"].as_str()).collect();
    assert_eq!(fingerprints.len(), 1);
}
