//! Every action applied to the lab through kube-rs (never a fake client): each has the effect kubectl's
//! would — rollout undo really restores the previous image, drain really empties the node — and the
//! Executor verifies it through the collector's kube-rs reader in the lab's accelerated time.
mod support;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use medic_collector::KubeClusterRead;
use medic_core::ModesConfig;
use medic_core::execution::{ExecutionOutcome, ExecutionReport};
use medic_core::messages::Execute;
use medic_core::ports::{Clock, ClusterRead};
use medic_core::{
    ActionSpec, IncidentContext, IncidentUid, ObjectRef, Plan, PlanId, Risk, RootCauseClass, VerifyCheck, VerifySpec,
};
use medic_executor::{ExecutorConfig, Guard, KubeApi, KyvernoGate, PolicyGate, Runner};
use medic_lab::clock::LabClock;
use medic_lab::{Lab, LabConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::{MemoryAudit, TempStore};

const NS: &str = "shop";

/// The lab's virtual clock as medic's `Clock`.
#[derive(Debug)]
struct LabTime(Arc<LabClock>);

impl Clock for LabTime {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
    fn speed(&self) -> f64 {
        self.0.speed()
    }
}

struct Cluster {
    lab: Lab,
    client: Client,
    reader: Arc<KubeClusterRead>,
    audit: MemoryAudit,
    store: TempStore,
}

impl Cluster {
    async fn start(seed: u64) -> Result<Cluster> {
        let lab = Lab::start(LabConfig { speed: 50.0, seed, ..LabConfig::default() }).await?;
        let kubeconfig = Kubeconfig::read_from(lab.kubeconfig_path())?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        let client = Client::try_from(config)?;
        let reader = Arc::new(KubeClusterRead::new(client.clone()));
        let cluster = Cluster { lab, client, reader, audit: MemoryAudit::default(), store: TempStore::new() };
        cluster.settled().await?;
        Ok(cluster)
    }

    fn runner(&self, policy: Option<Arc<dyn PolicyGate>>) -> Runner {
        let config = ExecutorConfig { poll_interval_secs: 2.0, ..ExecutorConfig::default() };
        Runner {
            api: KubeApi::new(self.client.clone(), "medic"),
            reader: self.reader.clone(),
            audit: Arc::new(self.audit.clone()),
            clock: Arc::new(LabTime(self.lab.clock())),
            guard: Guard::from_config(&config, &ModesConfig::default()),
            policy,
            config,
            store: self.store.store.clone(),
        }
    }

    /// Run a plan behind medic's default guard policies (`policies/` at the repository root).
    async fn run(&self, plan: Plan) -> ExecutionReport {
        let execute =
            Execute { plan: Arc::new(plan), context: Arc::new(IncidentContext::default()), approved_by: None };
        let policies = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"));
        let gate: Arc<dyn PolicyGate> =
            Arc::new(KyvernoGate::load_dirs(&[policies]).expect("the default policies load"));
        self.runner(Some(gate)).run(&execute).await
    }

    /// Wait (real time) until every deployment of the shop has all its replicas available.
    async fn settled(&self) -> Result<()> {
        for _ in 0..600 {
            let deployments = self.reader.deployments(NS).await?;
            if !deployments.is_empty()
                && deployments.iter().all(|d| d.replicas_available >= d.replicas_desired && d.replicas_desired > 0)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the shop did not settle")
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), NS)
    }

    async fn pods_of(&self, app: &str) -> Result<Vec<Pod>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let list = pods.list(&ListParams::default().labels(&format!("app={app}"))).await?;
        Ok(list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect())
    }
}

fn plan(steps: Vec<ActionSpec>, checks: Vec<VerifyCheck>) -> Plan {
    Plan {
        id: PlanId::new(),
        incident: IncidentUid::new(),
        class: RootCauseClass::BadRollout,
        target: ObjectRef::deployment(NS, "cart"),
        playbook: "test".into(),
        playbook_version: "1.0.0".into(),
        steps,
        verify: VerifySpec { checks, timeout_secs: 300, stable_secs: 20 },
        rollback_on_failure: true,
        risk: Risk::Medium,
        requires_approval: false,
        rationale: String::new(),
    }
}

fn healthy(deployment: &str) -> VerifyCheck {
    VerifyCheck::WorkloadHealthy { namespace: NS.into(), deployment: deployment.into() }
}

/// An object as JSON (the typed fields of k8s-openapi vary with the Kubernetes version it targets).
fn json_of(object: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or_default()
}

fn text_at(object: &impl serde::Serialize, pointer: &str) -> String {
    json_of(object).pointer(pointer).and_then(serde_json::Value::as_str).unwrap_or_default().to_string()
}

fn image_of(d: &Deployment) -> String {
    text_at(d, "/spec/template/spec/containers/0/image")
}

fn container_of(d: &Deployment) -> String {
    text_at(d, "/spec/template/spec/containers/0/name")
}

fn memory_limit(object: &impl serde::Serialize, pod_spec: &str) -> String {
    text_at(object, &format!("{pod_spec}/containers/0/resources/limits/memory"))
}

fn annotation(meta: &kube::api::ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref().and_then(|a| a.get(key).cloned())
}

fn assert_verified(report: &ExecutionReport) {
    assert_eq!(report.outcome, ExecutionOutcome::Verified, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_restores_the_previous_image() -> Result<()> {
    let cluster = Cluster::start(11).await?;
    let deployments = cluster.deployments();
    let good = image_of(&deployments.get("cart").await?);
    // A bad rollout, as `kubectl set image` makes it: the tag does not exist.
    let bad = json!({"spec": {"template": {"spec": {"containers": [{"name": "cart", "image": "ghcr.io/medic-lab/shop-cart:9.9.9"}]}}}});
    let container = container_of(&deployments.get("cart").await?);
    let bad = serde_json::from_str::<serde_json::Value>(
        &bad.to_string().replace("\"cart\",\"image\"", &format!("\"{container}\",\"image\"")),
    )?;
    deployments.patch("cart", &PatchParams::default(), &Patch::Strategic(bad)).await?;
    let mut broken = false;
    for _ in 0..200 {
        let pods = cluster.reader.pods(NS, &BTreeMap::from([("app".into(), "cart".into())])).await?;
        if pods.iter().any(|p| p.containers.iter().any(|c| c.state.reason() == Some("ImagePullBackOff"))) {
            broken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(broken, "the bad rollout's pod cannot pull its image");

    let p = plan(
        vec![ActionSpec::RollbackDeployment { namespace: NS.into(), deployment: "cart".into(), to_revision: None }],
        vec![healthy("cart")],
    );
    let incident = p.incident;
    let report = cluster.run(p.clone()).await;
    assert_verified(&report);
    assert!(
        report.steps[0]
            .api_calls
            .iter()
            .any(|c| c.starts_with("PATCH /apis/apps/v1/namespaces/shop/deployments/cart (dry-run)"))
    );

    let d = deployments.get("cart").await?;
    assert_eq!(image_of(&d), good, "the previous image is back");
    assert_eq!(annotation(&d.metadata, "medic.io/incident-uid"), Some(incident.to_string()));
    for pod in cluster.pods_of("cart").await? {
        assert_eq!(text_at(&pod, "/spec/containers/0/image"), good);
    }
    // The restored ReplicaSet carries the newest revision, as after `kubectl rollout undo`.
    let rs: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), NS);
    let newest = rs
        .list(&ListParams::default().labels("app=cart"))
        .await?
        .items
        .into_iter()
        .max_by_key(|r| {
            annotation(&r.metadata, "deployment.kubernetes.io/revision").and_then(|v| v.parse::<i64>().ok())
        })
        .context("no replicasets")?;
    assert_eq!(text_at(&newest, "/spec/template/spec/containers/0/image"), good);

    // Applying the same plan again changes nothing (it does not roll forward to the bad image).
    let again = cluster.run(Plan { id: PlanId::new(), ..p }).await;
    assert_verified(&again);
    assert_eq!(image_of(&deployments.get("cart").await?), good);
    cluster.lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_drain_empty_the_node() -> Result<()> {
    let cluster = Cluster::start(12).await?;
    let node = "lab-worker-1";
    let before = cluster.reader.pods_on_node(node).await?;
    assert!(!before.is_empty(), "the node runs pods before the drain");
    let report = cluster
        .run(plan(
            vec![
                ActionSpec::Cordon { node: node.into(), unschedulable: true },
                ActionSpec::Drain { node: node.into() },
            ],
            vec![VerifyCheck::NodeDrained { node: node.into() }],
        ))
        .await;
    assert_verified(&report);
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    assert_eq!(json_of(&nodes.get(node).await?).pointer("/spec/unschedulable"), Some(&json!(true)));
    let left: Vec<String> = cluster
        .reader
        .pods_on_node(node)
        .await?
        .into_iter()
        .filter(|p| !p.deleting && p.owner.as_ref().is_none_or(|o| o.kind != medic_core::ObjectKind::DaemonSet))
        .map(|p| p.name)
        .collect();
    assert!(left.is_empty(), "still on {node}: {left:?}");
    assert!(report.steps[1].api_calls.iter().any(|c| c.ends_with("/eviction")), "{:?}", report.steps[1].api_calls);
    // The workloads run elsewhere.
    cluster.settled().await?;
    cluster.lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_scale_restart_and_delete_take_effect() -> Result<()> {
    let cluster = Cluster::start(13).await?;
    let deployments = cluster.deployments();
    let container = container_of(&deployments.get("cart").await?);

    let report = cluster
        .run(plan(
            vec![ActionSpec::PatchResources {
                namespace: NS.into(),
                deployment: "cart".into(),
                container: container.clone(),
                requests: BTreeMap::new(),
                limits: BTreeMap::from([("memory".into(), "512Mi".into())]),
            }],
            vec![healthy("cart")],
        ))
        .await;
    assert_verified(&report);
    for pod in cluster.pods_of("cart").await? {
        assert_eq!(memory_limit(&pod, "/spec"), "512Mi");
    }

    let report = cluster
        .run(plan(
            vec![ActionSpec::Scale { namespace: NS.into(), deployment: "cart".into(), replicas: 3 }],
            vec![healthy("cart")],
        ))
        .await;
    assert_verified(&report);
    assert_eq!(cluster.pods_of("cart").await?.len(), 3);

    let names = |pods: &[Pod]| pods.iter().filter_map(|p| p.metadata.name.clone()).collect::<Vec<_>>();
    let before = names(&cluster.pods_of("cart").await?);
    let report = cluster
        .run(plan(
            vec![ActionSpec::RolloutRestart { namespace: NS.into(), deployment: "cart".into() }],
            vec![healthy("cart")],
        ))
        .await;
    assert_verified(&report);
    let after = names(&cluster.pods_of("cart").await?);
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|n| !before.contains(n)), "every pod was replaced: {before:?} → {after:?}");
    let d = deployments.get("cart").await?;
    assert!(json_of(&d).pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt").is_some());

    let victim = after[0].clone();
    let report = cluster
        .run(plan(vec![ActionSpec::DeletePod { namespace: NS.into(), pod: victim.clone() }], vec![healthy("cart")]))
        .await;
    assert_verified(&report);
    let now = names(&cluster.pods_of("cart").await?);
    assert!(!now.contains(&victim) && now.len() == 3, "{victim} replaced: {now:?}");
    cluster.lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_isolates_the_pods_and_unquarantine_lifts_it() -> Result<()> {
    let cluster = Cluster::start(14).await?;
    let selector = BTreeMap::from([("app".to_string(), "cart".to_string())]);
    let report = cluster
        .run(plan(
            vec![ActionSpec::Quarantine {
                namespace: NS.into(),
                policy: "medic-quarantine-cart".into(),
                pod_selector: selector,
            }],
            vec![VerifyCheck::Quarantined { namespace: NS.into(), policy: "medic-quarantine-cart".into() }],
        ))
        .await;
    assert_verified(&report);
    let policies: Api<NetworkPolicy> = Api::namespaced(cluster.client.clone(), NS);
    let policy = policies.get("medic-quarantine-cart").await?;
    let spec = json_of(&policy)["spec"].clone();
    assert_eq!(spec["policyTypes"], json!(["Ingress", "Egress"]));
    assert!(spec.get("ingress").is_none() && spec.get("egress").is_none(), "{spec}");

    let mut lift =
        plan(vec![ActionSpec::Unquarantine { namespace: NS.into(), policy: "medic-quarantine-cart".into() }], vec![]);
    lift.verify.stable_secs = 0;
    assert_verified(&cluster.run(lift).await);
    assert!(policies.get_opt("medic-quarantine-cart").await?.is_none());
    cluster.lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_that_does_not_hold_is_rolled_back() -> Result<()> {
    let cluster = Cluster::start(15).await?;
    let deployments = cluster.deployments();
    let d = deployments.get("cart").await?;
    let container = container_of(&d);
    let limit = memory_limit(&d, "/spec/template/spec");
    // Far below what the process needs: the new pods are OOM-killed.
    let mut p = plan(
        vec![ActionSpec::PatchResources {
            namespace: NS.into(),
            deployment: "cart".into(),
            container,
            requests: BTreeMap::from([("memory".into(), "8Mi".into())]),
            limits: BTreeMap::from([("memory".into(), "8Mi".into())]),
        }],
        vec![healthy("cart")],
    );
    p.verify.timeout_secs = 120;
    let report = cluster.run(p).await;
    assert_eq!(report.outcome, ExecutionOutcome::VerificationFailed { rolled_back: true }, "{report:#?}");
    let detail = &report.verification.as_ref().context("a verification record")?.detail;
    assert!(detail.contains("not recovered within 120s"), "{detail}");
    assert_eq!(memory_limit(&deployments.get("cart").await?, "/spec/template/spec"), limit);
    assert!(cluster.audit.kinds().contains(&"rolled-back".to_string()));
    cluster.settled().await?;
    cluster.lab.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_dry_run_answer_is_what_the_policy_gate_judges() -> Result<()> {
    let cluster = Cluster::start(16).await?;
    let deployments = cluster.deployments();
    let container = container_of(&deployments.get("cart").await?);
    let policies = medic_policy::PolicySet::from_yaml(
        support::fixtures::MEMORY_CEILING,
        std::path::Path::new("memory-ceiling.yaml"),
    )?;
    let gate: Arc<dyn PolicyGate> = Arc::new(KyvernoGate::new(policies));
    let p = plan(
        vec![ActionSpec::PatchResources {
            namespace: NS.into(),
            deployment: "cart".into(),
            container,
            requests: BTreeMap::new(),
            limits: BTreeMap::from([("memory".into(), "2Gi".into())]),
        }],
        vec![healthy("cart")],
    );
    let execute = Execute { plan: Arc::new(p), context: Arc::new(IncidentContext::default()), approved_by: None };
    let report = cluster.runner(Some(gate)).run(&execute).await;
    match &report.outcome {
        ExecutionOutcome::Blocked { rule, reason } => {
            assert_eq!(rule, "policy:memory-ceiling/autogen-limit-at-most-1gi");
            assert!(reason.contains("memory limits above 1Gi"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_ne!(memory_limit(&deployments.get("cart").await?, "/spec/template/spec"), "2Gi", "nothing was written");
    cluster.lab.stop().await;
    Ok(())
}
