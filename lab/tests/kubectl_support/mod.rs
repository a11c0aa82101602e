//! A started lab and the machine's real `kubectl` pointed at it.
#![allow(dead_code)]
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use medic_lab::store::Kind;
use medic_lab::{Lab, LabConfig};
use serde_json::Value;

/// A lab at `speed`, the default shop topology, with every Deployment available.
pub struct Cluster {
    pub lab: Option<Lab>,
    runtime: tokio::runtime::Runtime,
    home: tempfile::TempDir,
}

impl Cluster {
    pub fn start(speed: f64) -> Result<Cluster> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let lab = runtime.block_on(Lab::start(LabConfig { speed, seed: 11, ..LabConfig::default() }))?;
        let cluster = Cluster { lab: Some(lab), runtime, home: tempfile::tempdir()? };
        cluster.wait_for("every shop Deployment to be available", Duration::from_secs(90), |c| c.shop_available())?;
        Ok(cluster)
    }

    pub fn lab(&self) -> &Lab {
        self.lab.as_ref().expect("the lab runs until the cluster is dropped")
    }

    pub fn namespace(&self) -> String {
        self.lab().topology().namespace.clone()
    }

    /// Run `kubectl args...` against the lab with a private HOME (its own discovery cache).
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        self.kubectl_with("kubectl", args)
    }

    /// Run a given kubectl binary (the versioned ones the dispatcher chooses from).
    pub fn kubectl_with(&self, binary: &str, args: &[&str]) -> Result<Output> {
        Command::new(binary)
            .args(args)
            .env("KUBECONFIG", self.lab().kubeconfig_path())
            .env("HOME", self.home.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .output()
            .with_context(|| format!("running {binary} {}", args.join(" ")))
    }

    /// `kubectl args...` that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let output = self.kubectl(args)?;
        if !output.status.success() {
            bail!(
                "kubectl {} failed ({}):\n{}{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `kubectl args...` that must fail; its standard error.
    pub fn fails(&self, args: &[&str]) -> Result<String> {
        let output = self.kubectl(args)?;
        if output.status.success() {
            bail!("kubectl {} succeeded but should have failed", args.join(" "));
        }
        Ok(String::from_utf8(output.stderr)?)
    }

    /// Poll `check` (real time) until it holds.
    pub fn wait_for(&self, what: &str, limit: Duration, mut check: impl FnMut(&Self) -> bool) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if check(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("timed out after {limit:?} waiting for {what}")
    }

    /// Every Deployment of the topology's namespace has all its replicas available and updated.
    pub fn shop_available(&self) -> bool {
        let store = self.lab().store();
        let (deployments, _) = store.list(Kind::Deployment, Some(&self.namespace()));
        !deployments.is_empty()
            && deployments.iter().all(|d| {
                let want = d.value.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
                let status = |f: &str| d.value.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
                status("availableReplicas") == want && status("updatedReplicas") == want && status("replicas") == want
            })
    }

    /// The shop's pods, from the store.
    pub fn pods(&self) -> Vec<Value> {
        let (pods, _) = self.lab().store().list(Kind::Pod, Some(&self.namespace()));
        pods.iter().map(|p| p.value.clone()).collect()
    }

    /// The name of a running pod whose `app` label is `app`.
    pub fn pod_of(&self, app: &str) -> Result<String> {
        self.pods()
            .iter()
            .find(|p| {
                p.pointer("/metadata/labels/app").and_then(Value::as_str) == Some(app)
                    && p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
                    && p.pointer("/metadata/deletionTimestamp").is_none()
            })
            .and_then(|p| p.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
            .with_context(|| format!("no running pod of {app}"))
    }

    pub fn write_file(&self, name: &str, text: &str) -> Result<String> {
        let path = self.home.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(lab) = self.lab.take() {
            self.runtime.block_on(lab.stop());
        }
    }
}

/// The rows of kubectl's table output: cells are separated by runs of two or more spaces.
pub fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut cells = Vec::new();
            let mut cell = String::new();
            let mut spaces = 0;
            for c in line.chars() {
                if c == ' ' {
                    spaces += 1;
                    continue;
                }
                if spaces >= 2 && !cell.is_empty() {
                    cells.push(std::mem::take(&mut cell));
                } else if spaces == 1 {
                    cell.push(' ');
                }
                spaces = 0;
                cell.push(c);
            }
            if !cell.is_empty() {
                cells.push(cell);
            }
            cells
        })
        .collect()
}

/// The sections of `kubectl get a,b,c` output: one table per kind, separated by blank lines.
pub fn sections(text: &str) -> Vec<Vec<Vec<String>>> {
    text.split("\n\n").filter(|s| !s.trim().is_empty()).map(table).collect()
}

#[test]
fn table_splits_on_double_spaces() {
    let rows = table("NAME      NOMINATED NODE   RESTARTS\ncart-1    <none>           2 (40s ago)\n");
    assert_eq!(rows, [vec!["NAME", "NOMINATED NODE", "RESTARTS"], vec!["cart-1", "<none>", "2 (40s ago)"]]);
}
