//! The real observability chain around the lab: lab → Prometheus → Alertmanager → medic → the fix.
//!
//! A [`Chain`] is a [`Rig`] (the lab at real speed and medic, the lab's own alert evaluator off) with
//! Debian's Prometheus and Alertmanager started beside it ([`medic_promstack`]): Prometheus scrapes the
//! lab's `/metrics` every second and evaluates the lab's kube-prometheus rules and medic's own rules with
//! `for:` of a few seconds; Alertmanager posts to medic's webhook with the bearer token medic expects;
//! medic asks the same Prometheus for each incident's metric context. Verification windows are shortened
//! through medic's playbook overrides (`playbooks`), and [`report`] decomposes each repair's time.
pub mod playbooks;
pub mod report;

use anyhow::{Context, Result};
use jiff::Timestamp;
use medic_collector::metrics::PrometheusConfig;
use medic_promstack::{Binaries, Stack, StackConfig};
use medic_store::{AlertRecord, Incident};
use std::path::PathBuf;
use std::time::Duration;

use crate::{Rig, RigConfig};
pub use report::{RepairReport, Stage};

/// How to start a chain.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    pub seed: u64,
    /// The lab's topology; the built-in shop when `None`.
    pub topology: Option<PathBuf>,
    /// Every rule's `for:` is at most this.
    pub max_for: Duration,
    /// Every playbook's verification must hold for at most this.
    pub verify_stable: Duration,
    /// Whether medic is told where Prometheus is (off: medic diagnoses from the cluster alone).
    pub medic_asks_prometheus: bool,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            topology: None,
            max_for: Duration::from_secs(5),
            verify_stable: Duration::from_secs(10),
            medic_asks_prometheus: true,
        }
    }
}

/// The lab, medic, Prometheus and Alertmanager, running. Dropping it stops Prometheus and Alertmanager
/// (and the lab); [`Chain::stop`] also stops medic cleanly.
pub struct Chain {
    pub rig: Rig,
    pub stack: Stack,
    pub namespace: String,
    _playbooks: tempfile::TempDir,
}

/// Debian's binaries, or `None` with the reason printed: the chain's tests skip where they are missing.
pub fn binaries_or_skip() -> Option<Binaries> {
    match Binaries::locate() {
        Ok(binaries) => Some(binaries),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

impl Chain {
    /// Starts the lab and medic, waits until the lab's application is healthy, then starts Prometheus and
    /// Alertmanager and waits for Prometheus' first scrapes (so that no alert fires about the lab's start).
    pub async fn start(binaries: &Binaries, config: ChainConfig) -> Result<Chain> {
        let playbooks = playbooks::with_short_verification(config.verify_stable)?;
        let prometheus_port = medic_promstack::free_port()?;
        let prometheus_url = format!("http://127.0.0.1:{prometheus_port}");
        let rig_config = RigConfig {
            speed: 1.0,
            seed: config.seed,
            topology: config.topology.clone(),
            lab_alerts: false,
            ..RigConfig::default()
        };
        let playbooks_dir = playbooks.path().to_path_buf();
        let asks = config.medic_asks_prometheus;
        let url = prometheus_url.clone();
        let rig = Rig::start(rig_config, move |medic| {
            medic.playbooks.dir = Some(playbooks_dir);
            if asks {
                // The lab's Prometheus is minutes old: short windows, fine steps.
                medic.prometheus = Some(PrometheusConfig {
                    rate_window_secs: 30,
                    range_secs: 300,
                    step_secs: 2,
                    ..PrometheusConfig::new(url)
                });
            }
            medic.executor.poll_interval_secs = 1.0;
            // Several faults are repaired at once in one namespace: the hourly budget of actions and the
            // breaker are sized for one cluster's day, not for a suite of scenarios run back to back.
            medic.executor.max_actions_per_namespace_per_hour = 100;
            medic.executor.breaker_failures = 10;
        })
        .await?;
        let namespace = rig.lab.topology().namespace.clone();
        rig.wait_healthy(&namespace, Duration::from_secs(180)).await.context("the lab's application comes up")?;

        let mut stack_config = StackConfig::for_lab(rig.lab.url().trim_start_matches("http://"))
            .with_receiver(format!("{}/v1/webhooks/alertmanager", rig.medic.url()), Some(rig.token.clone()));
        stack_config.max_for = Some(config.max_for);
        stack_config.prometheus_port = Some(prometheus_port);
        let stack = Stack::start(binaries, stack_config).await.context("starting Prometheus and Alertmanager")?;
        stack.wait_scraped(3, Duration::from_secs(30)).await?;
        Ok(Chain { rig, stack, namespace, _playbooks: playbooks })
    }

    /// Now, on the clock medic and the lab run on (the wall clock at real speed).
    pub fn now(&self) -> Timestamp {
        self.rig.clock.now()
    }

    /// Applies a chaos experiment (or any manifest) and returns when it was applied.
    pub fn inject(&self, yaml: &str) -> Result<Timestamp> {
        let at = self.now();
        self.rig.apply(yaml)?;
        Ok(at)
    }

    /// Waits until the alert that opened `incident` has been resolved by Alertmanager's notification, and
    /// returns that alert's record.
    pub async fn wait_opening_alert_resolved(&self, incident: &Incident, timeout: Duration) -> Result<AlertRecord> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let alerts = self.rig.medic.store.incident_alerts(incident.uid).await?;
            if let Some(first) = alerts.first()
                && first.alert.status == medic_core::AlertStatus::Resolved
            {
                return Ok(first.clone());
            }
            if std::time::Instant::now() > deadline {
                let states: Vec<String> =
                    alerts.iter().map(|a| format!("{} {}", a.alert.name, a.alert.status.as_str())).collect();
                anyhow::bail!(
                    "the alert that opened {} was not resolved within {timeout:?}: {states:?}\n{}",
                    incident.uid.short(),
                    self.stack.logs(10)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The time-to-repair report of an incident whose fault was injected at `fault`.
    pub async fn report(&self, scenario: &str, fault: Timestamp, incident: &Incident) -> Result<RepairReport> {
        report::build(self, scenario, fault, incident).await
    }

    pub async fn stop(self) {
        let Chain { rig, stack, .. } = self;
        stack.stop();
        rig.stop().await;
    }
}
