//! The harness of the fault, remedy and metrics tests: the built-in shop on a lab whose simulation the
//! test drives tick by tick (deterministic, no waiting on real time), with the API server and a
//! kube-rs client on the same store for what kubectl and medic do.
#![allow(dead_code)]

use anyhow::{Context, Result};
use jiff::Timestamp;
use kube::Client;
use medic_lab::api::{ApiServer, ApiState};
use medic_lab::app::{AppHandle, AppModel, Topology};
use medic_lab::clock::LabClock;
use medic_lab::faults::FaultEngine;
use medic_lab::logs::{LogQuery, LogStore};
use medic_lab::runtime::ContainerKey;
use medic_lab::sim::{Sim, SimConfig};
use medic_lab::store::{Kind, Object, Store};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const EPOCH: &str = "2026-03-01T09:00:00Z";

pub struct TestLab {
    pub sim: Sim,
    pub store: Arc<Store>,
    pub logs: Arc<LogStore>,
    pub app: AppHandle,
    pub topology: Arc<Topology>,
    pub server: Option<ApiServer>,
}

impl TestLab {
    /// The shop, deployed and settled (every Deployment available).
    pub fn shop(seed: u64) -> TestLab {
        Self::with_topology(Topology::shop(), seed)
    }

    pub fn with_topology(topology: Topology, seed: u64) -> TestLab {
        let clock = Arc::new(LabClock::new(EPOCH.parse().expect("epoch"), 1.0));
        let store = Arc::new(Store::with_seed(clock, seed));
        let logs = Arc::new(LogStore::default());
        let topology = Arc::new(topology);
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let object = serde_json::json!({"metadata": {"name": namespace}});
            store.create(Kind::Namespace, object).expect("system namespace");
        }
        medic_lab::app::deploy(&store, &topology).expect("deploy the topology");
        let model = AppModel::new(topology.clone(), store.clone(), logs.clone(), seed);
        let app = model.handle();
        let config = SimConfig { seed, nodes: topology.node_configs(), ..SimConfig::default() };
        let mut sim = Sim::new(config, store.clone(), logs.clone(), Box::new(model));
        sim.add_hook(Box::new(FaultEngine::new(app.clone(), seed)));
        let mut lab = TestLab { sim, store, logs, app, topology, server: None };
        let settled = lab.run_until(Duration::from_secs(180), |lab| lab.all_available());
        assert!(settled, "the topology did not settle: {}", lab.deployment_summary());
        lab
    }

    /// Serve the API (and `/metrics`) on 127.0.0.1 and return a kube-rs client for it.
    pub fn serve(&mut self) -> Result<Client> {
        let mut state = ApiState::new(self.store.clone(), self.logs.clone());
        let (store, app) = (self.store.clone(), self.app.clone());
        state.metrics = Some(Arc::new(move || medic_lab::metrics::render(&store, &app)));
        let server = ApiServer::start(state, 0)?;
        let config = kube::Config::new(server.url().parse().context("server url")?);
        self.server = Some(server);
        Ok(Client::try_from(config)?)
    }

    pub fn url(&self) -> &str {
        self.server.as_ref().map(|s| s.url()).unwrap_or_default()
    }

    pub fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    pub fn run(&mut self, virtual_time: Duration) {
        self.sim.run_for(virtual_time);
    }

    /// Tick until `done` or `limit`; whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&TestLab) -> bool) -> bool {
        let ticks = limit.as_secs().max(1);
        for _ in 0..ticks {
            self.sim.tick();
            if done(self) {
                return true;
            }
        }
        false
    }

    pub fn apply(&self, yaml: &str) -> Vec<String> {
        medic_lab::apply_yaml(&self.store, yaml).expect("apply")
    }

    pub fn deployments(&self) -> Vec<Object> {
        self.store.list(Kind::Deployment, Some(&self.topology.namespace)).0
    }

    pub fn all_available(&self) -> bool {
        self.deployments().iter().all(|d| {
            let want = d.value.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let available = d.value.pointer("/status/availableReplicas").and_then(Value::as_i64).unwrap_or(0);
            let updated = d.value.pointer("/status/updatedReplicas").and_then(Value::as_i64).unwrap_or(0);
            let total = d.value.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
            let observed = d.value.pointer("/status/observedGeneration").and_then(Value::as_i64);
            let generation = d.value.pointer("/metadata/generation").and_then(Value::as_i64);
            available == want && updated == want && total == want && observed == generation
        })
    }

    pub fn deployment_summary(&self) -> String {
        self.deployments()
            .iter()
            .map(|d| {
                format!(
                    "{} {}/{}",
                    d.name(),
                    d.value.pointer("/status/availableReplicas").and_then(Value::as_i64).unwrap_or(0),
                    d.value.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The pods of a service (label `app`), not terminating, by name.
    pub fn pods(&self, app: &str) -> Vec<Object> {
        let (pods, _) = self.store.list(Kind::Pod, Some(&self.topology.namespace));
        pods.into_iter().filter(|p| p.label("app") == Some(app) && !p.is_terminating()).collect()
    }

    pub fn pod(&self, name: &str) -> Option<Object> {
        self.store.get(Kind::Pod, Some(&self.topology.namespace), name)
    }

    pub fn logs(&self, pod: &str, container: &str, previous: bool) -> String {
        let key =
            ContainerKey { namespace: self.topology.namespace.clone(), pod: pod.into(), container: container.into() };
        self.logs.read(&key, &LogQuery { previous, ..Default::default() })
    }

    /// Every log line of a service's pods (current and previous containers).
    pub fn service_logs(&self, app: &str) -> String {
        let container = self.topology.service(app).map(|s| s.container.clone()).unwrap_or_else(|| app.to_string());
        self.pods(app)
            .iter()
            .map(|p| format!("{}{}", self.logs(p.name(), &container, true), self.logs(p.name(), &container, false)))
            .collect()
    }

    /// Events whose involved object has this name, as `reason: message`.
    pub fn events(&self, involved: &str) -> Vec<String> {
        let (events, _) = self.store.list(Kind::Event, None);
        events
            .iter()
            .filter(|e| e.value.pointer("/involvedObject/name").and_then(Value::as_str) == Some(involved))
            .map(|e| {
                format!(
                    "{}: {}",
                    e.value["reason"].as_str().unwrap_or_default(),
                    e.value["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    pub fn metrics(&self) -> String {
        medic_lab::metrics::render(&self.store, &self.app)
    }

    pub fn sample(&self, metrics: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        sample(metrics, name, labels)
    }

    /// A container status of a pod, as JSON.
    pub fn container_status(&self, pod: &str) -> Value {
        self.pod(pod).and_then(|p| p.value.pointer("/status/containerStatuses/0").cloned()).unwrap_or(Value::Null)
    }

    /// The service's request rate, error fraction and latency in the last flow.
    pub fn service_flow(&self, app: &str) -> (f64, f64, f64) {
        let state = self.app.lock();
        let s = self.topology.service_index(app).expect("service");
        let f = &state.flow.services[s];
        (f.rate, f.error_fraction, f.latency_ms)
    }
}

/// The values of the samples of `name` whose labels include `labels`.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// The sum of the samples of `name` whose labels include `labels`.
pub fn total(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(metrics, name, labels).iter().sum()
}

/// What kubectl sends for the commands an SRE (or medic's executor) uses, through kube-rs.
pub mod kubectl {
    use anyhow::{Context, Result};
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::{Node, Pod};
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use kube::Client;
    use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
    use serde_json::{Value, json};

    /// `kubectl rollout restart deployment/<name>`.
    pub async fn rollout_restart(client: &Client, name: &str, at: &str) -> Result<()> {
        let patch =
            json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
        Api::<Deployment>::namespaced(client.clone(), "shop")
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
        Ok(())
    }

    /// `kubectl scale deployment/<name> --replicas=N` (the scale subresource, merge patch).
    pub async fn scale(client: &Client, name: &str, replicas: i32) -> Result<()> {
        let patch = json!({"spec": {"replicas": replicas}});
        Api::<Deployment>::namespaced(client.clone(), "shop")
            .patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(())
    }

    /// `kubectl set image deployment/<name> <container>=<image>`.
    pub async fn set_image(client: &Client, name: &str, container: &str, image: &str) -> Result<()> {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}});
        Api::<Deployment>::namespaced(client.clone(), "shop")
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
        Ok(())
    }

    /// `kubectl set resources deployment/<name> -c <container> --limits=memory=<m> --requests=memory=<m>`.
    pub async fn set_memory(client: &Client, name: &str, container: &str, memory: &str) -> Result<()> {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": container,
            "resources": {"limits": {"memory": memory}, "requests": {"memory": memory}}}]}}}});
        Api::<Deployment>::namespaced(client.clone(), "shop")
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
        Ok(())
    }

    /// `kubectl rollout undo deployment/<name>`: the previous revision's template, as a JSON patch.
    pub async fn rollout_undo(client: &Client, base: &str, name: &str) -> Result<()> {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");
        let deployment = deployments.get(name).await?;
        let revision = |annotations: Option<&std::collections::BTreeMap<String, String>>| -> i64 {
            annotations
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        };
        let current = revision(deployment.metadata.annotations.as_ref());
        let sets = Api::<ReplicaSet>::namespaced(client.clone(), "shop")
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await?;
        let previous = sets
            .items
            .into_iter()
            .filter(|rs| revision(rs.metadata.annotations.as_ref()) < current)
            .max_by_key(|rs| revision(rs.metadata.annotations.as_ref()))
            .context("no previous revision")?;
        let mut template = serde_json::to_value(previous.spec.template)?;
        if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
            labels.remove("pod-template-hash");
        }
        let patch = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
        let url = format!("{base}/apis/apps/v1/namespaces/shop/deployments/{name}");
        let (status, body) = super::http(&url, "PATCH", "application/json-patch+json", &patch.to_string()).await?;
        anyhow::ensure!(status == 200, "rollout undo: {status} {body}");
        Ok(())
    }

    /// `kubectl cordon <node>`.
    pub async fn cordon(client: &Client, node: &str) -> Result<()> {
        let patch = json!({"spec": {"unschedulable": true}});
        Api::<Node>::all(client.clone()).patch(node, &PatchParams::default(), &Patch::Strategic(patch)).await?;
        Ok(())
    }

    /// `kubectl drain <node> --ignore-daemonsets`: evict every pod bound to the node.
    pub async fn drain(client: &Client, node: &str) -> Result<()> {
        cordon(client, node).await?;
        let pods: Api<Pod> = Api::all(client.clone());
        let on_node = pods.list(&ListParams::default().fields(&format!("spec.nodeName={node}"))).await?;
        for pod in on_node.items {
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            Api::<Pod>::namespaced(client.clone(), &namespace).evict(&name, &EvictParams::default()).await?;
        }
        Ok(())
    }

    /// `kubectl delete pod <name>`.
    pub async fn delete_pod(client: &Client, name: &str) -> Result<()> {
        Api::<Pod>::namespaced(client.clone(), "shop").delete(name, &DeleteParams::background()).await?;
        Ok(())
    }

    /// `kubectl apply -f` of a NetworkPolicy (create).
    pub async fn create_network_policy(client: &Client, policy: Value) -> Result<()> {
        let policy: NetworkPolicy = serde_json::from_value(policy)?;
        Api::<NetworkPolicy>::namespaced(client.clone(), "shop").create(&PostParams::default(), &policy).await?;
        Ok(())
    }
}

/// One HTTP/1.1 request with tokio (the tests carry no HTTP client of their own): status and body.
pub async fn http(url: &str, method: &str, content_type: &str, body: &str) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let (host, path) = address.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((address, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").context("an HTTP response")?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("a status code")?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
