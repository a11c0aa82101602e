//! How long the Executor takes from `Execute` to the first step applied, against the lab's API server
//! on loopback through kube-rs: guard facts and the ledger, the server-side dry run, the policy gate, the
//! journaled intent and the write.
//! Prints p50/p99 over alternating scale plans (each a real change). Run: `cargo bench -p medic-executor`.
use async_trait::async_trait;
use jiff::Timestamp;
use kube::config::{KubeConfigOptions, Kubeconfig};
use medic_collector::KubeClusterRead;
use medic_core::audit::{AuditEntry, AuditKind};
use medic_core::messages::Execute;
use medic_core::ports::{AuditSink, Clock};
use medic_core::{ActionSpec, IncidentContext, IncidentUid, ObjectRef, Plan, PlanId, Risk, RootCauseClass, VerifySpec};
use medic_executor::{ExecutorConfig, Guard, KubeApi, KyvernoGate, PolicyGate, Runner};
use medic_lab::clock::LabClock;
use medic_lab::{Lab, LabConfig};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Notes the real instant of the first `action-applied` record.
#[derive(Debug, Default, Clone)]
struct FirstApplied(Arc<Mutex<Option<Instant>>>);

#[async_trait]
impl AuditSink for FirstApplied {
    async fn append(&self, entry: AuditEntry) -> medic_core::Result<()> {
        if entry.kind == AuditKind::ActionApplied {
            self.0.lock().unwrap().get_or_insert_with(Instant::now);
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(lab: &Lab, client: kube::Client, policy: Option<Arc<dyn PolicyGate>>, runs: usize) -> Vec<Duration> {
    // Hundreds of plans in one namespace: lift the rate limit, which would otherwise (rightly) stop them.
    let config = ExecutorConfig { max_actions_per_namespace_per_hour: u32::MAX, ..ExecutorConfig::default() };
    let first = FirstApplied::default();
    // The journal and the guard's ledger on a real SQLite file, fsynced per commit as in production.
    let dir = tempfile::tempdir().unwrap();
    let store = medic_store::StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
    let runner = Runner {
        api: KubeApi::new(client.clone(), "medic"),
        reader: Arc::new(KubeClusterRead::new(client)),
        audit: Arc::new(first.clone()),
        clock: Arc::new(LabTime(lab.clock())),
        guard: Guard::from_config(&config, &medic_core::ModesConfig::default()),
        policy,
        config,
        store,
    };
    let mut latencies = Vec::with_capacity(runs);
    for i in 0..runs {
        let plan = Plan {
            id: PlanId::new(),
            incident: IncidentUid::new(),
            class: RootCauseClass::CpuSaturation,
            target: ObjectRef::deployment("shop", "frontend"),
            playbook: "cpu-saturation".into(),
            playbook_version: "1.0.0".into(),
            steps: vec![ActionSpec::Scale {
                namespace: "shop".into(),
                deployment: "frontend".into(),
                replicas: 3 + (i % 2) as i32,
            }],
            verify: VerifySpec { checks: Vec::new(), timeout_secs: 1, stable_secs: 0 },
            rollback_on_failure: false,
            risk: Risk::Low,
            requires_approval: false,
            rationale: String::new(),
        };
        let execute =
            Execute { plan: Arc::new(plan), context: Arc::new(IncidentContext::default()), approved_by: None };
        *first.0.lock().unwrap() = None;
        let start = Instant::now();
        let report = runner.run(&execute).await;
        assert_eq!(report.outcome.kind(), "verified", "{report:?}");
        let applied = first.0.lock().unwrap().expect("a step was applied");
        latencies.push(applied - start);
    }
    latencies.sort();
    latencies
}

fn print(label: &str, latencies: &[Duration]) {
    println!(
        "{label:<44} runs {:>4}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        latencies.len(),
        percentile(latencies, 0.5).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: do a short smoke run then.
    let runs = if std::env::args().any(|a| a == "--bench") { 300 } else { 5 };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let lab = Lab::start(LabConfig { speed: 1.0, seed: 3, ..LabConfig::default() }).await.unwrap();
        let kubeconfig = Kubeconfig::read_from(lab.kubeconfig_path()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
        let client = kube::Client::try_from(config).unwrap();
        measure(&lab, client.clone(), None, 10).await; // warm up connections
        let plain = measure(&lab, client.clone(), None, runs).await;
        print("execute → first action applied (scale)", &plain);
        let policies = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"));
        if policies.is_dir() {
            let gate: Arc<dyn PolicyGate> = Arc::new(KyvernoGate::load_dirs(&[policies]).unwrap());
            let gated = measure(&lab, client, Some(gate), runs).await;
            print("  with the default policies", &gated);
        }
        lab.stop().await;
    });
}
