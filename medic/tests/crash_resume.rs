//! Crash safety with a real process: `medic serve` watches a lab, a dependency of the shop goes down, medic
//! restarts it — and is killed with SIGKILL while it verifies the restart. A second `medic serve` on the
//! same store picks the incident up from the action journal, verifies without writing again, and resolves
//! it. The cluster shows one restart (one new revision, the restart annotation as the first run wrote it)
//! and the journal and audit trail one applied step.
use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams};
use medic_lab::{AlertWebhookConfig, Lab, LabConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "shop";
const DEPENDENCY: &str = "cart-redis";
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const REVISION: &str = "deployment.kubernetes.io/revision";

/// A `medic serve` child process; killed (SIGKILL) when dropped, so a failing test leaves nothing running.
struct Served {
    child: Child,
}

impl Served {
    fn start(config: &Path, log: &Path) -> Result<Self> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_medic"))
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("MEDIC_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting medic serve")?;
        Ok(Self { child })
    }

    /// `kill -9`: no shutdown, no flush, nothing medic can react to.
    fn kill_9(mut self) -> Result<()> {
        self.child.kill().context("sending SIGKILL")?;
        let status = self.child.wait()?;
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "medic was killed by SIGKILL: {status:?}");
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The built-in dependency-down playbook with a short stability window, so that verification takes
/// seconds of real time (the only change).
fn playbooks(dir: &Path) -> Result<PathBuf> {
    let folder = dir.join("playbooks");
    std::fs::create_dir_all(&folder)?;
    let (_, text) = medic_playbooks::catalog::BUILTIN
        .iter()
        .find(|(name, _)| name.starts_with("dependency-down"))
        .context("the built-in dependency-down playbook")?;
    assert!(text.contains("stable: 1m"), "the playbook's window changed: {text}");
    std::fs::write(folder.join("dependency-down.yaml"), text.replace("stable: 1m", "stable: 10s"))?;
    Ok(folder)
}

fn config(dir: &Path, port: u16, kubeconfig: &Path, token: &str) -> Result<PathBuf> {
    let path = dir.join("medic.toml");
    let text = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
workers = 1

[store]
path = "{store}"

[kubernetes]
kubeconfig = "{kubeconfig}"

[intake.alertmanager]
auth = {{ scheme = "bearer", token = "{token}" }}

[executor]
poll_interval_secs = 1.0

[playbooks]
dir = "{playbooks}"
"#,
        store = dir.join("medic.db").display(),
        kubeconfig = kubeconfig.display(),
        playbooks = playbooks(dir)?.display(),
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_listening(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("medic did not listen on {port} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn wait_healthy(client: &kube::Client, timeout: Duration) -> Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let deadline = Instant::now() + timeout;
    loop {
        let list = deployments.list(&ListParams::default()).await?;
        let healthy = list.items.iter().all(|d| {
            let want = d.spec.replicas.unwrap_or(1);
            let status = d.status.clone().unwrap_or_default();
            status.available_replicas.unwrap_or(0) >= want && status.updated_replicas.unwrap_or(0) >= want
        });
        if !list.items.is_empty() && healthy {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{NAMESPACE} not healthy within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The store as anyone could read it while medic runs (WAL: readers beside the writer).
struct StoreFile(rusqlite::Connection);

/// A journaled step: incident, state, action (JSON).
type JournalRow = (String, String, String);

impl StoreFile {
    fn open(path: &Path) -> Option<Self> {
        let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        Some(Self(conn))
    }

    fn journal(&self) -> Result<Vec<JournalRow>> {
        let mut statement =
            self.0.prepare("SELECT incident_uid, state, action FROM journal WHERE rollback = 0 ORDER BY id")?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn status(&self, incident: &str) -> Result<String> {
        Ok(self.0.query_row("SELECT status FROM incidents WHERE uid = ?1", [incident], |r| r.get(0))?)
    }

    /// Summaries of the audit records of `kind`, over every incident.
    fn audit(&self, kind: &str) -> Result<Vec<(String, String)>> {
        let mut statement =
            self.0.prepare("SELECT COALESCE(incident_uid, ''), summary FROM audit WHERE kind = ?1 ORDER BY seq")?;
        let rows = statement.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn is_restart_of_dependency(action: &str) -> bool {
    action.contains("rollout-restart") && action.contains(&format!("\"{DEPENDENCY}\""))
}

/// What the cluster shows of the dependency's restarts.
#[derive(Debug, Clone, PartialEq)]
struct Restarts {
    /// The pod template's restart annotation.
    restarted_at: Option<String>,
    /// `metadata.generation`: the API server counts every change of the spec.
    generation: Option<i64>,
    /// The deployment controller's revision.
    revision: Option<String>,
    /// ReplicaSets the deployment owns.
    replica_sets: usize,
}

async fn restarts(client: &kube::Client) -> Result<Restarts> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), NAMESPACE).get(DEPENDENCY).await?;
    let restarted_at = deployment
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT).cloned());
    let revision = deployment.metadata.annotations.as_ref().and_then(|a| a.get(REVISION).cloned());
    let uid = deployment.metadata.uid.clone();
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), NAMESPACE).list(&ListParams::default()).await?;
    let owned = sets
        .items
        .iter()
        .filter(|rs| rs.metadata.owner_references.iter().flatten().any(|o| Some(&o.uid) == uid.as_ref()))
        .count();
    Ok(Restarts { restarted_at, generation: deployment.metadata.generation, revision, replica_sets: owned })
}

fn medic_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("medic.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_while_verifying_medic_resumes_and_applies_the_restart_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let token = format!("crash-{port}");
    // The lab runs in real time, as medic (on the wall clock) does.
    let lab = Lab::start(LabConfig {
        port: 0,
        topology: None,
        speed: 1.0,
        seed: 21,
        kubeconfig: Some(dir.path().join("kubeconfig")),
        alert_webhook: Some(AlertWebhookConfig {
            url: format!("http://127.0.0.1:{port}/v1/webhooks/alertmanager"),
            bearer_token: Some(token.clone()),
        }),
    })
    .await?;
    let config = config(dir.path(), port, lab.kubeconfig_path(), &token)?;
    let log = dir.path().join("medic.log");
    let client = medic::app::kube_client(&medic::config::KubernetesConfig {
        kubeconfig: Some(lab.kubeconfig_path().to_path_buf()),
        context: None,
    })
    .await?;
    let result = scenario(&lab, &client, dir.path(), &config, &log, port).await;
    lab.stop().await;
    result.map_err(|e| anyhow::anyhow!("{e:#}\n--- medic's log (last lines) ---\n{}", medic_log(dir.path())))
}

async fn scenario(lab: &Lab, client: &kube::Client, dir: &Path, config: &Path, log: &Path, port: u16) -> Result<()> {
    wait_healthy(client, Duration::from_secs(120)).await.context("the shop comes up")?;
    let before = restarts(client).await?;
    let first = Served::start(config, log)?;
    wait_listening(port, Duration::from_secs(60)).await?;

    // Chaos Mesh's pod-failure on the dependency: its pods stop serving.
    let experiment = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../chaos-tests/experiments/redis-pod-failure.yaml"),
    )?;
    lab.apply_yaml(&experiment)?;

    // Wait for the restart to be applied and verification to be under way; then kill -9.
    let store_path = dir.join("medic.db");
    let deadline = Instant::now() + Duration::from_secs(180);
    let incident = loop {
        if let Some(store) = StoreFile::open(&store_path) {
            let journal = store.journal().unwrap_or_default();
            if let Some((incident, _, _)) =
                journal.iter().find(|(_, state, action)| state == "applied" && is_restart_of_dependency(action))
            {
                break incident.clone();
            }
            let ended = |(_, state, action): &&JournalRow| {
                is_restart_of_dependency(action) && state != "intent" && state != "applied"
            };
            if let Some(row) = journal.iter().find(ended) {
                bail!("a step ended before medic could be killed while verifying: {row:?}");
            }
        }
        if Instant::now() > deadline {
            bail!("medic did not restart {DEPENDENCY} within 180 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    first.kill_9()?;
    let store = StoreFile::open(&store_path).context("the store after the kill")?;
    // Killed after the write and before the verdict: the step is journaled applied and nothing is verified.
    let status = store.status(&incident)?;
    assert!(["acting", "verifying"].contains(&status.as_str()), "killed while acting, not {status}");
    assert!(!store.audit("verified")?.iter().any(|(uid, _)| *uid == incident), "killed before the verdict");
    let killed = restarts(client).await?;
    assert_ne!(killed.restarted_at, before.restarted_at, "the first run restarted {DEPENDENCY}");
    assert_eq!(killed.generation.zip(before.generation).map(|(k, b)| k - b), Some(1), "{before:?} → {killed:?}");

    // A new medic on the same store.
    let second = Served::start(config, log)?;
    wait_listening(port, Duration::from_secs(60)).await?;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = store.status(&incident)?;
        match status.as_str() {
            "resolved" => break,
            "verifying" | "acting" | "diagnosed" | "investigating" | "open" => {}
            other => bail!("incident {incident} ended {other}, not resolved"),
        }
        if Instant::now() > deadline {
            bail!("incident {incident} not resolved within 180 s of the restart (still {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give any second write a chance to happen before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(second);

    // The cluster: one restart, as the first run wrote it.
    let after = restarts(client).await?;
    assert_eq!(after.restarted_at, killed.restarted_at, "the restart annotation is the one the killed run wrote");
    assert_eq!(after.generation, killed.generation, "the spec did not change after the kill");
    let revision = |r: &Restarts| r.revision.as_deref().unwrap_or("1").parse::<u64>();
    assert_eq!(revision(&after)?, revision(&before)? + 1, "exactly one new revision: {before:?} → {after:?}");
    assert_eq!(after.replica_sets, before.replica_sets + 1, "exactly one new ReplicaSet: {before:?} → {after:?}");

    // The journal: one restart step, verified; the audit trail: applied once, resumed, verified.
    let restarts_journaled: Vec<_> =
        store.journal()?.into_iter().filter(|(_, _, action)| is_restart_of_dependency(action)).collect();
    assert_eq!(restarts_journaled.len(), 1, "{restarts_journaled:?}");
    assert_eq!(restarts_journaled[0].1, "verified");
    let applied: Vec<_> = store
        .audit("action-applied")?
        .into_iter()
        .filter(|(_, summary)| summary.contains(&format!("rollout restart deployment {NAMESPACE}/{DEPENDENCY}")))
        .collect();
    assert_eq!(applied.len(), 1, "applied once: {applied:?}");
    let resumed: Vec<_> = store.audit("resumed")?.into_iter().filter(|(uid, _)| *uid == incident).collect();
    assert!(
        resumed.iter().any(|(_, s)| s.contains("was applied before medic restarted: not applied again")),
        "{resumed:?}"
    );
    assert!(store.audit("verified")?.iter().any(|(uid, _)| *uid == incident));

    // And the trail the two processes wrote is one unbroken chain.
    let output = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["audit", "verify", "--store"])
        .arg(&store_path)
        .env_remove("MEDIC_CONFIG")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("audit trail intact"), "{stdout}");
    Ok(())
}
