//! The top-level handle: start a lab (API server, topology, simulation), reach it, stop it.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{ApiServer, ApiState};
use crate::app::Topology;
use crate::app::model::{AppHandle, AppModel};
use crate::clock::LabClock;
use crate::error::{Error, Result};
use crate::faults::engine::FaultEngine;
use crate::logs::LogStore;
use crate::sim::{self, SimConfig, SimHandle, TickContext, TickHook};
use crate::store::{Kind, Store, WriteOptions};

/// Where the lab's built-in alert evaluator posts Alertmanager-v4 webhooks (with the lab's Alertmanager
/// timings; [`crate::alerts::AlertWebhookConfig`] has the full set for callers that drive the evaluator
/// themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertWebhookConfig {
    pub url: String,
    pub bearer_token: Option<String>,
}

/// How to start a lab.
#[derive(Debug, Clone, PartialEq)]
pub struct LabConfig {
    /// Port of the API server on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The topology file; `None` is the built-in shop.
    pub topology: Option<PathBuf>,
    /// Virtual seconds per real second.
    pub speed: f64,
    /// Seed of every random choice the lab makes.
    pub seed: u64,
    /// Where to write the kubeconfig; `None` writes one in a temporary directory removed on stop.
    pub kubeconfig: Option<PathBuf>,
    pub alert_webhook: Option<AlertWebhookConfig>,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self { port: 0, topology: None, speed: 1.0, seed: 0, kubeconfig: None, alert_webhook: None }
    }
}

/// A running lab. Everything it started stops on [`Lab::stop`] or when it is dropped.
#[derive(Debug)]
pub struct Lab {
    clock: Arc<LabClock>,
    store: Arc<Store>,
    logs: Arc<LogStore>,
    topology: Arc<Topology>,
    app: AppHandle,
    sim: Option<SimHandle>,
    server: Option<ApiServer>,
    url: String,
    kubeconfig: PathBuf,
    /// A temporary directory of ours to remove on stop.
    scratch: Option<PathBuf>,
}

/// The namespaces every cluster has.
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

impl Lab {
    /// Start the API server, deploy the topology (namespaces, ConfigMaps, Services, Deployments), start
    /// the simulation (controllers, kubelets, application model, fault engine), write the kubeconfig.
    pub async fn start(config: LabConfig) -> Result<Lab> {
        let topology = Arc::new(match &config.topology {
            Some(path) => Topology::load(path).map_err(|e| Error::BadRequest(e.to_string()))?,
            None => Topology::shop(),
        });
        let clock = Arc::new(LabClock::starting_now(config.speed));
        let store = Arc::new(Store::with_seed(clock.clone(), config.seed));
        let logs = Arc::new(LogStore::default());
        for namespace in SYSTEM_NAMESPACES.iter().copied().chain([topology.namespace.as_str()]) {
            match store.create(Kind::Namespace, json!({"metadata": {"name": namespace}})) {
                Ok(_) | Err(Error::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        for manifest in topology.manifests() {
            let kind = manifest.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
            let api_version = manifest.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
            let kind = Kind::from_api_version(&api_version, &kind).ok_or_else(|| {
                Error::BadRequest(format!("the topology renders an unknown kind {api_version}/{kind}"))
            })?;
            match store.create(kind, manifest) {
                Ok(_) | Err(Error::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let model = AppModel::new(topology.clone(), store.clone(), logs.clone(), config.seed);
        let app = model.handle();
        let model_app = app.clone();
        let mut hooks: Vec<Box<dyn TickHook>> =
            vec![Box::new(NodeLeases::default()), Box::new(FaultEngine::new(app.clone(), config.seed))];
        if let Some(webhook) = &config.alert_webhook {
            let alerts = crate::alerts::AlertWebhookConfig::new(webhook.url.clone(), webhook.bearer_token.clone());
            hooks.push(Box::new(crate::alerts::AlertEvaluator::new(alerts, app.clone())));
        }
        let sim_config = SimConfig { seed: config.seed, nodes: topology.node_configs(), ..SimConfig::default() };
        let sim = sim::start(sim_config, store.clone(), logs.clone(), Box::new(model), hooks);
        let mut state = ApiState::new(store.clone(), logs.clone());
        let kubelets = app.clone();
        state.kubelet_gone = Some(Arc::new(move |node: &str| kubelets.lock().node_is_down(node)));
        let metrics_store = store.clone();
        state.metrics = Some(Arc::new(move || crate::metrics::render(&metrics_store, &app)));
        let server = ApiServer::start(state, config.port)?;
        let app = model_app;
        let url = server.url().to_string();
        let (kubeconfig, scratch) = match &config.kubeconfig {
            Some(path) => (path.clone(), None),
            None => {
                let dir =
                    std::env::temp_dir().join(format!("medic-lab-{}-{}", std::process::id(), server.address().port()));
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        crate::kubeconfig::write(&kubeconfig, &url, None)?;
        tracing::info!(%url, kubeconfig = %kubeconfig.display(), "lab API server listening");
        Ok(Lab { clock, store, logs, topology, app, sim: Some(sim), server: Some(server), url, kubeconfig, scratch })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn clock(&self) -> Arc<LabClock> {
        self.clock.clone()
    }

    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub fn logs(&self) -> Arc<LogStore> {
        self.logs.clone()
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The application model's state (request flow, processes), as a harness measuring the app's health
    /// reads it.
    pub fn app(&self) -> AppHandle {
        self.app.clone()
    }

    /// Create or update each YAML document, as `kubectl apply` would; one line per object in
    /// kubectl's words (`deployment.apps/web created`, `... configured`, `... unchanged`).
    pub fn apply_yaml(&self, yaml: &str) -> Result<Vec<String>> {
        apply_yaml(&self.store, yaml)
    }

    /// Stop everything the lab started and remove its temporary files.
    pub async fn stop(mut self) {
        if let Some(sim) = self.sim.take() {
            let _ = tokio::task::spawn_blocking(move || sim.stop()).await;
        }
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.cleanup();
    }

    fn cleanup(&mut self) {
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.sim.take();
        self.server.take();
        self.cleanup();
    }
}

/// The kubelets' node leases in `kube-node-lease`, renewed every 10 s while a node's kubelet runs (what
/// `kubectl describe node` shows under `Lease:`).
#[derive(Debug, Default)]
struct NodeLeases {
    renewed: std::collections::BTreeMap<String, jiff::Timestamp>,
}

const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_RENEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

impl TickHook for NodeLeases {
    fn name(&self) -> &str {
        "node-leases"
    }

    fn on_tick(&mut self, tick: &mut TickContext<'_>) {
        let now = tick.now;
        let running: Vec<String> =
            tick.nodes.nodes().iter().filter(|(_, running)| **running).map(|(name, _)| name.clone()).collect();
        for node in running {
            if self.renewed.get(&node).is_some_and(|at| now.duration_since(*at) < LEASE_RENEW) {
                continue;
            }
            let Some(node_object) = tick.store.get(Kind::Node, None, &node) else { continue };
            let renew_time = now.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string();
            let written = tick.store.modify(Kind::Lease, Some(LEASE_NAMESPACE), &node, |lease| {
                lease["spec"]["renewTime"] = json!(renew_time);
                Ok(())
            });
            if matches!(written, Err(Error::NotFound { .. })) {
                let lease = json!({
                    "metadata": {"name": node, "namespace": LEASE_NAMESPACE, "ownerReferences": [{
                        "apiVersion": "v1", "kind": "Node", "name": node, "uid": node_object.uid()}]},
                    "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": renew_time},
                });
                let _ = tick.store.create(Kind::Lease, lease);
            }
            self.renewed.insert(node, now);
        }
    }
}

/// Create or update each document of `yaml` in `store` (see [`Lab::apply_yaml`]).
pub fn apply_yaml(store: &Store, yaml: &str) -> Result<Vec<String>> {
    let mut documents = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value: Value = serde::Deserialize::deserialize(document)
            .map_err(|e| Error::Yaml { document: index + 1, message: e.to_string() })?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            documents.extend(value.get("items").and_then(Value::as_array).cloned().unwrap_or_default());
        } else {
            documents.push(value);
        }
    }
    documents.into_iter().map(|document| apply_one(store, document)).collect()
}

fn apply_one(store: &Store, mut document: Value) -> Result<String> {
    let api_version = document.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let kind_name = document.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = Kind::from_api_version(&api_version, &kind_name).ok_or_else(|| {
        Error::BadRequest(format!("no matches for kind \"{kind_name}\" in version \"{api_version}\""))
    })?;
    let name = document.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let namespace = kind
        .namespaced()
        .then(|| document.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string());
    if let Some(namespace) = &namespace {
        document["metadata"]["namespace"] = json!(namespace);
    }
    let resource = if kind.group().is_empty() {
        format!("{}/{name}", kind.singular())
    } else {
        format!("{}.{}/{name}", kind.singular(), kind.group())
    };
    let Some(current) = store.get(kind, namespace.as_deref(), &name) else {
        store.create(kind, document)?;
        return Ok(format!("{resource} created"));
    };
    let updated = store.patch(kind, namespace.as_deref(), &name, false, WriteOptions::default(), |current| {
        let mut next = current.clone();
        for (key, value) in document.as_object().into_iter().flatten() {
            match key.as_str() {
                "apiVersion" | "kind" | "status" => {}
                "metadata" => {
                    for field in ["labels", "annotations"] {
                        if let Some(value) = value.get(field) {
                            next["metadata"][field] = value.clone();
                        }
                    }
                }
                _ => next[key] = value.clone(),
            }
        }
        Ok(next)
    })?;
    let verb = if updated.resource_version == current.resource_version { "unchanged" } else { "configured" };
    Ok(format!("{resource} {verb}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lab_serves_its_namespaces_and_cleans_up() {
        let lab = Lab::start(LabConfig::default()).await.unwrap();
        let kubeconfig = lab.kubeconfig_path().to_path_buf();
        assert!(std::fs::read_to_string(&kubeconfig).unwrap().contains(lab.url()));
        let (namespaces, _) = lab.store().list(Kind::Namespace, None);
        let names: Vec<&str> = namespaces.iter().map(|n| n.name()).collect();
        assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system", "shop"]);
        let (deployments, _) = lab.store().list(Kind::Deployment, Some("shop"));
        assert_eq!(deployments.len(), lab.topology().services.len());
        lab.stop().await;
        assert!(!kubeconfig.exists());
    }

    #[actix_rt::test]
    async fn a_lab_runs_under_actix_rt_too() {
        let lab = Lab::start(LabConfig { speed: 50.0, ..LabConfig::default() }).await.unwrap();
        let url = lab.url().to_string();
        let store = lab.store();
        let started = std::time::Instant::now();
        while store.list(Kind::Node, None).0.len() < lab.topology().nodes.len() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "the kubelets register their nodes");
            actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        while store.list(Kind::Lease, Some(LEASE_NAMESPACE)).0.len() < lab.topology().nodes.len() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "the kubelets hold node leases");
            actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (leases, _) = store.list(Kind::Lease, Some(LEASE_NAMESPACE));
        assert_eq!(leases[0].value["spec"]["holderIdentity"], leases[0].name());
        lab.stop().await;
        let address = url.trim_start_matches("http://").to_string();
        assert!(std::net::TcpStream::connect(address).is_err(), "nothing listens after stop");
    }

    /// A stand-in webhook receiver: each request's Authorization header and body, answered 200.
    fn receiver() -> (String, std::sync::mpsc::Receiver<(String, String)>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/webhooks/alertmanager", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut authorization, mut length, mut line) = (String::new(), 0, String::new());
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        authorization = line["authorization:".len()..].trim().to_string();
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut stream = stream;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                if tx.send((authorization, String::from_utf8_lossy(&body).into_owned())).is_err() {
                    return;
                }
            }
        });
        (url, rx)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alerts_reach_the_configured_webhook() {
        let (url, received) = receiver();
        let webhook = AlertWebhookConfig { url, bearer_token: Some("t0ken".into()) };
        let config = LabConfig { speed: 60.0, alert_webhook: Some(webhook), ..LabConfig::default() };
        let lab = Lab::start(config).await.unwrap();
        let store = lab.store();
        let started = std::time::Instant::now();
        while store.list(Kind::Pod, Some("shop")).0.is_empty() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        store
            .modify(Kind::Deployment, Some("shop"), "email", |d| {
                d["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("ghcr.io/medic-lab/shop-email:0.0.0-missing");
                Ok(())
            })
            .unwrap();
        let (authorization, body) = tokio::task::spawn_blocking(move || {
            loop {
                let (authorization, body) = received.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
                // Alerts of the replaced pods may resolve meanwhile: wait for a firing notification.
                let firing = body.contains("\"status\":\"firing\"");
                if firing && (body.contains("KubeContainerWaiting") || body.contains("KubeDeploymentRolloutStuck")) {
                    return (authorization, body);
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(authorization, "Bearer t0ken");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((body["version"].as_str(), body["status"].as_str()), (Some("4"), Some("firing")));
        assert_eq!(body["commonLabels"]["namespace"], "shop");
        lab.stop().await;
    }

    #[test]
    fn apply_creates_then_configures_then_leaves_unchanged() {
        let store = Store::new(Arc::new(LabClock::starting_now(1.0)));
        store.create(Kind::Namespace, json!({"metadata": {"name": "shop"}})).unwrap();
        let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {a: '1'}\n\
                        ---\napiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: kill, namespace: shop}\n\
                        spec: {action: pod-kill, mode: one, selector: {labelSelectors: {app: cart}}}\n";
        assert_eq!(
            apply_yaml(&store, manifest).unwrap(),
            ["configmap/settings created", "podchaos.chaos-mesh.org/kill created"]
        );
        assert_eq!(
            apply_yaml(&store, manifest).unwrap(),
            ["configmap/settings unchanged", "podchaos.chaos-mesh.org/kill unchanged"]
        );
        let changed = manifest.replace("a: '1'", "a: '2'");
        assert_eq!(apply_yaml(&store, &changed).unwrap()[0], "configmap/settings configured");
        let error = apply_yaml(&store, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n").unwrap_err();
        assert_eq!(error.to_string(), "no matches for kind \"Job\" in version \"batch/v1\"");
        assert!(matches!(apply_yaml(&store, "a: [").unwrap_err(), Error::Yaml { document: 1, .. }));
    }
}
