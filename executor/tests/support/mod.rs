//! Test support: kube-rs's verifying mock service (`tower_test::mock::pair`) answering either from a
//! strict script (each request's method, path, query, content type and body asserted) or from a small
//! object map, plus clocks, an audit sink and a `ClusterRead` over plain snapshots.
#![allow(dead_code)]

pub mod fixtures;

use async_trait::async_trait;
use http::{Request, Response};
use jiff::Timestamp;
use kube::Client;
use kube::client::Body;
use medic_core::audit::AuditEntry;
use medic_core::context::{
    EventSnapshot, NetworkPolicySnapshot, NodeSnapshot, PodSnapshot, RolloutSnapshot, ServiceSnapshot, WorkloadSnapshot,
};
use medic_core::ports::{AuditSink, Clock, ClusterRead, Labels};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the mock API server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

impl Seen {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
    pub fn dry_run(&self) -> bool {
        self.query.split('&').any(|p| p == "dryRun=All")
    }
    /// How the executor records this call.
    pub fn as_call(&self) -> String {
        let suffix = if self.dry_run() { " (dry-run)" } else { "" };
        format!("{} {}{suffix}", self.method, self.path)
    }
}

pub type Responder = Box<dyn FnMut(&Seen) -> (u16, Value) + Send>;

/// A client whose requests are answered by `responder`; the requests are kept in the returned log.
pub fn mock_client(mut responder: Responder) -> (Client, Arc<Mutex<Vec<Seen>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen_log = log.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                content_type: parts.headers.get("content-type").map(|v| v.to_str().unwrap_or_default().to_string()),
                body: if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() },
            };
            let (status, answer) = responder(&seen);
            seen_log.lock().unwrap().push(seen);
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    (Client::new(service, "default"), log)
}

/// One expected request and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: &'static str,
    pub path: String,
    pub query: &'static str,
    pub content_type: Option<&'static str>,
    /// The exact JSON body expected (`None`: no body checked).
    pub body: Option<Value>,
    pub status: u16,
    pub answer: Value,
}

pub fn get(path: impl Into<String>, answer: Value) -> Exchange {
    Exchange { method: "GET", path: path.into(), query: "", content_type: None, body: None, status: 200, answer }
}

pub fn not_found(method: &'static str, path: impl Into<String>) -> Exchange {
    Exchange {
        method,
        path: path.into(),
        query: "",
        content_type: None,
        body: None,
        status: 404,
        answer: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    }
}

impl Exchange {
    pub fn write(
        method: &'static str,
        path: impl Into<String>,
        query: &'static str,
        content_type: &'static str,
        body: Value,
        answer: Value,
    ) -> Self {
        Exchange {
            method,
            path: path.into(),
            query,
            content_type: Some(content_type),
            body: Some(body),
            status: 200,
            answer,
        }
    }
    pub fn query(mut self, query: &'static str) -> Self {
        self.query = query;
        self
    }
    pub fn status(mut self, status: u16, answer: Value) -> Self {
        self.status = status;
        self.answer = answer;
        self
    }
}

/// A strict script: requests must come in this order and match exactly. Mismatches are collected.
pub struct Script {
    pub client: Client,
    pub log: Arc<Mutex<Vec<Seen>>>,
    remaining: Arc<Mutex<VecDeque<Exchange>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Script {
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        let remaining = Arc::new(Mutex::new(VecDeque::from(exchanges)));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (r, e) = (remaining.clone(), errors.clone());
        let (client, log) = mock_client(Box::new(move |seen: &Seen| {
            let Some(x) = r.lock().unwrap().pop_front() else {
                e.lock().unwrap().push(format!("unexpected request {} {}?{}", seen.method, seen.path, seen.query));
                return (500, json!({"kind": "Status", "code": 500, "message": "unexpected"}));
            };
            let mut problems = Vec::new();
            if seen.method != x.method || seen.path != x.path {
                problems.push(format!("expected {} {}, got {} {}", x.method, x.path, seen.method, seen.path));
            }
            if seen.query != x.query {
                problems.push(format!("{} {}: expected query {:?}, got {:?}", x.method, x.path, x.query, seen.query));
            }
            if let Some(ct) = x.content_type
                && seen.content_type.as_deref() != Some(ct)
            {
                problems
                    .push(format!("{} {}: expected content type {ct}, got {:?}", x.method, x.path, seen.content_type));
            }
            if let Some(body) = &x.body
                && seen.body.as_ref() != Some(body)
            {
                problems.push(format!("{} {}: expected body {body}, got {:?}", x.method, x.path, seen.body));
            }
            e.lock().unwrap().extend(problems);
            (x.status, x.answer)
        }));
        Script { client, log, remaining, errors }
    }

    /// Every expected request came, in order, as expected.
    pub fn assert_done(&self) {
        let errors = self.errors.lock().unwrap();
        assert!(errors.is_empty(), "requests did not match:\n{}", errors.join("\n"));
        let remaining = self.remaining.lock().unwrap();
        assert!(
            remaining.is_empty(),
            "expected requests not made: {:?}",
            remaining.iter().map(|x| format!("{} {}", x.method, x.path)).collect::<Vec<_>>()
        );
    }

    pub fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().map(Seen::as_call).collect()
    }
}

/// Answers from a map of path → object: GET returns it (404 when absent), a list returns the objects
/// below the collection path (filtered by `fieldSelector=spec.nodeName=`), writes return the object
/// written to (or the posted body) and change nothing.
pub fn objects_responder(objects: BTreeMap<String, Value>) -> Responder {
    Box::new(move |seen: &Seen| {
        let status_404 = || {
            (
                404,
                json!({"kind": "Status", "code": 404, "reason": "NotFound", "message": format!("{} not found", seen.path)}),
            )
        };
        match seen.method.as_str() {
            "GET" => {
                if let Some(o) = objects.get(&seen.path) {
                    return (200, o.clone());
                }
                let prefix = format!("{}/", seen.path);
                let node = seen
                    .query
                    .split('&')
                    .find_map(|p| p.strip_prefix("fieldSelector=spec.nodeName%3D"))
                    .map(str::to_string);
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|(path, _)| {
                        path.starts_with(&prefix) && !path[prefix.len()..].contains('/')
                            || (seen.path == "/api/v1/pods"
                                && path.contains("/pods/")
                                && path.matches('/').count() == 6)
                    })
                    .filter(|(_, o)| {
                        node.as_deref().is_none_or(|n| o.pointer("/spec/nodeName").and_then(Value::as_str) == Some(n))
                    })
                    .map(|(_, o)| o.clone())
                    .collect();
                if items.is_empty() && !seen.path.ends_with('s') {
                    return status_404();
                }
                (200, json!({"kind": "List", "items": items}))
            }
            "POST" => (201, seen.body.clone().unwrap_or(Value::Null)),
            _ => {
                let target = seen.path.trim_end_matches("/scale");
                match objects.get(target) {
                    Some(o) => (200, o.clone()),
                    None => status_404(),
                }
            }
        }
    })
}

/// A clock that moves `step` forward each time it is read, at a speed that makes real sleeps negligible.
#[derive(Debug)]
pub struct TickClock {
    now: Mutex<Timestamp>,
    step: Duration,
}

impl TickClock {
    pub fn starting_at(start: &str, step: Duration) -> Self {
        Self { now: Mutex::new(start.parse().unwrap()), step }
    }

    pub fn new(step: Duration) -> Self {
        Self { now: Mutex::new("2026-11-22T14:42:11Z".parse().unwrap()), step }
    }
}

impl Clock for TickClock {
    fn now(&self) -> Timestamp {
        let mut now = self.now.lock().unwrap();
        let t = *now;
        *now = t + self.step;
        t
    }
    fn speed(&self) -> f64 {
        10_000.0
    }
}

/// The audit trail, kept in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryAudit(pub Arc<Mutex<Vec<AuditEntry>>>);

#[async_trait]
impl AuditSink for MemoryAudit {
    async fn append(&self, entry: AuditEntry) -> medic_core::Result<()> {
        self.0.lock().unwrap().push(entry);
        Ok(())
    }
}

impl MemoryAudit {
    pub fn kinds(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|e| e.kind.to_string()).collect()
    }
}

pub type OnRead = Box<dyn FnMut(&Snapshots) + Send>;

/// A `ClusterRead` over snapshots the test sets (and may change between polls).
#[derive(Default)]
pub struct Snapshots {
    pub deployments: Mutex<Vec<WorkloadSnapshot>>,
    pub pods: Mutex<Vec<PodSnapshot>>,
    pub nodes: Mutex<Vec<NodeSnapshot>>,
    pub rollouts: Mutex<Vec<RolloutSnapshot>>,
    pub policies: Mutex<Vec<NetworkPolicySnapshot>>,
    /// Called before every read of deployments: lets a test move the cluster along as time passes.
    pub on_read: Mutex<Option<OnRead>>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").finish_non_exhaustive()
    }
}

impl Snapshots {
    fn tick(&self) {
        if let Some(f) = self.on_read.lock().unwrap().as_mut() {
            f(self);
        }
    }
}

fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[async_trait]
impl ClusterRead for Snapshots {
    async fn pod(&self, namespace: &str, name: &str) -> medic_core::Result<Option<PodSnapshot>> {
        Ok(self.pods.lock().unwrap().iter().find(|p| p.namespace == namespace && p.name == name).cloned())
    }
    async fn pods(&self, namespace: &str, selector: &Labels) -> medic_core::Result<Vec<PodSnapshot>> {
        Ok(self
            .pods
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.namespace == namespace && selects(selector, &p.labels))
            .cloned()
            .collect())
    }
    async fn pods_on_node(&self, node: &str) -> medic_core::Result<Vec<PodSnapshot>> {
        Ok(self.pods.lock().unwrap().iter().filter(|p| p.node.as_deref() == Some(node)).cloned().collect())
    }
    async fn deployment(&self, namespace: &str, name: &str) -> medic_core::Result<Option<WorkloadSnapshot>> {
        self.tick();
        Ok(self
            .deployments
            .lock()
            .unwrap()
            .iter()
            .find(|w| w.workload.namespace.as_deref() == Some(namespace) && w.workload.name == name)
            .cloned())
    }
    async fn deployments(&self, namespace: &str) -> medic_core::Result<Vec<WorkloadSnapshot>> {
        Ok(self
            .deployments
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.workload.namespace.as_deref() == Some(namespace))
            .cloned()
            .collect())
    }
    async fn rollouts(&self, namespace: &str, deployment: &str) -> medic_core::Result<Vec<RolloutSnapshot>> {
        let mut r: Vec<RolloutSnapshot> = self
            .rollouts
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.deployment.namespace.as_deref() == Some(namespace) && r.deployment.name == deployment)
            .cloned()
            .collect();
        r.sort_by_key(|r| std::cmp::Reverse(r.revision));
        Ok(r)
    }
    async fn events(&self, _namespace: Option<&str>) -> medic_core::Result<Vec<EventSnapshot>> {
        Ok(Vec::new())
    }
    async fn logs(&self, _: &str, _: &str, _: &str, _: bool, _: u32) -> medic_core::Result<Vec<String>> {
        Ok(Vec::new())
    }
    async fn nodes(&self) -> medic_core::Result<Vec<NodeSnapshot>> {
        Ok(self.nodes.lock().unwrap().clone())
    }
    async fn services(&self, _namespace: &str) -> medic_core::Result<Vec<ServiceSnapshot>> {
        Ok(Vec::new())
    }
    async fn network_policies(&self, namespace: &str) -> medic_core::Result<Vec<NetworkPolicySnapshot>> {
        Ok(self.policies.lock().unwrap().iter().filter(|p| p.namespace == namespace).cloned().collect())
    }
}

/// A real store (SQLite in a temp dir) for the journal and the guard's ledger.
pub struct TempStore {
    pub store: medic_store::Store,
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = medic_store::StoreConfig::new(dir.path().join("medic.db")).build().expect("the store opens");
        TempStore { store, dir }
    }
}
