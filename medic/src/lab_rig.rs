//! A lab and a medic in one process, wired as they would be in a real deployment: medic reaches the lab only
//! through its Kubernetes API (kube-rs with the lab's kubeconfig), and the lab's alert evaluator reaches medic
//! only through medic's real webhook endpoint with a bearer token. `medic demo`, `medic lab bench` and the
//! end-to-end tests all run on it.
use crate::config::MedicConfig;
use crate::lab_time::LabTime;
use crate::{Medic, Overrides};
use anyhow::{Context, Result};
use medic_collector::intake::{AuthConfig, ReceiverConfig, Secret};
use medic_core::ports::Clock;
use medic_lab::{AlertWebhookConfig, Lab, LabConfig};
use medic_store::{Incident, IncidentStatus};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to start a rig.
#[derive(Debug, Clone)]
pub struct RigConfig {
    /// Virtual seconds per real second.
    pub speed: f64,
    pub seed: u64,
    /// The lab's topology; the built-in shop when `None`.
    pub topology: Option<PathBuf>,
    /// Whether the lab posts its alerts to medic (off when a test posts webhooks itself).
    pub lab_alerts: bool,
    /// Where the store, memory index and kubeconfig go; a temporary directory removed on drop when `None`.
    pub workdir: Option<PathBuf>,
    /// Run medic on the wall clock instead of the lab's virtual clock (to measure medic itself in real time).
    pub medic_on_wall_clock: bool,
}

impl Default for RigConfig {
    fn default() -> Self {
        Self { speed: 20.0, seed: 7, topology: None, lab_alerts: true, workdir: None, medic_on_wall_clock: false }
    }
}

/// A running lab and the medic that watches it.
pub struct Rig {
    pub lab: Lab,
    pub medic: Medic,
    /// The bearer token the Alertmanager receiver expects.
    pub token: String,
    pub clock: Arc<dyn Clock>,
    /// Where the store and kubeconfig are.
    pub workdir: PathBuf,
    _scratch: Option<tempfile::TempDir>,
}

impl Rig {
    /// Starts the lab, then medic on a socket bound first (so the lab can be told where to post).
    /// `customise` adjusts medic's configuration (thresholds, approval, ...).
    pub async fn start(config: RigConfig, customise: impl FnOnce(&mut MedicConfig)) -> Result<Rig> {
        let (workdir, scratch) = match &config.workdir {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                (dir.clone(), None)
            }
            None => {
                let scratch = tempfile::tempdir()?;
                (scratch.path().to_path_buf(), Some(scratch))
            }
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding medic's socket")?;
        let addr = listener.local_addr()?;
        let token = format!("lab-{:016x}", config.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(addr.port()));
        let alert_webhook = config.lab_alerts.then(|| AlertWebhookConfig {
            url: format!("http://{addr}/v1/webhooks/alertmanager"),
            bearer_token: Some(token.clone()),
        });
        let lab = Lab::start(LabConfig {
            port: 0,
            topology: config.topology.clone(),
            speed: config.speed,
            seed: config.seed,
            kubeconfig: Some(workdir.join("kubeconfig")),
            alert_webhook,
        })
        .await
        .context("starting the lab")?;

        let mut medic_config = MedicConfig::default();
        medic_config.store.path = workdir.join("medic.db");
        medic_config.server.listen = addr;
        medic_config.kubernetes.kubeconfig = Some(lab.kubeconfig_path().to_path_buf());
        medic_config.intake.alertmanager = Some(ReceiverConfig {
            auth: AuthConfig::Bearer { token: Some(Secret::new(token.clone())), token_env: None },
        });
        // The lab's clock runs fast: poll the cluster often in virtual time.
        medic_config.executor.poll_interval_secs = 2.0;
        customise(&mut medic_config);

        let clock: Arc<dyn Clock> = if config.medic_on_wall_clock {
            Arc::new(medic_core::ports::SystemClock)
        } else {
            Arc::new(LabTime(lab.clock()))
        };
        let client = crate::app::kube_client(&medic_config.kubernetes).await?;
        let medic = crate::start(
            medic_config,
            Overrides { clock: Some(clock.clone()), kube_client: Some(client), listener: Some(listener), env: None },
        )
        .await
        .context("starting medic")?;
        Ok(Rig { lab, medic, token, clock, workdir, _scratch: scratch })
    }

    /// A kube-rs client for the lab, as a user (or a test) changing the cluster would use.
    pub async fn client(&self) -> Result<kube::Client> {
        let config = crate::config::KubernetesConfig {
            kubeconfig: Some(self.lab.kubeconfig_path().to_path_buf()),
            context: None,
        };
        crate::app::kube_client(&config).await
    }

    /// Waits until every deployment of `namespace` has all its replicas available.
    pub async fn wait_healthy(&self, namespace: &str, virtual_timeout: Duration) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let deployments: kube::Api<Deployment> = kube::Api::namespaced(self.client().await?, namespace);
        let deadline = self.clock.now() + jiff::SignedDuration::try_from(virtual_timeout)?;
        loop {
            let list = deployments.list(&Default::default()).await?;
            let unhealthy: Vec<String> = list
                .items
                .iter()
                .filter(|d| {
                    let want = d.spec.replicas.unwrap_or(1);
                    let status = d.status.clone().unwrap_or_default();
                    status.available_replicas.unwrap_or(0) < want || status.updated_replicas.unwrap_or(0) < want
                })
                .filter_map(|d| d.metadata.name.clone())
                .collect();
            if !list.items.is_empty() && unhealthy.is_empty() {
                return Ok(());
            }
            if self.clock.now() > deadline {
                anyhow::bail!("{namespace} not healthy within {virtual_timeout:?} of lab time: {unhealthy:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Applies YAML documents to the lab as `kubectl apply -f` would.
    pub fn apply(&self, yaml: &str) -> Result<Vec<String>> {
        self.lab.apply_yaml(yaml).context("applying to the lab")
    }

    /// Waits, in the lab's virtual time, until an incident satisfies `done`, and returns it.
    pub async fn wait_for_incident(
        &self,
        virtual_timeout: Duration,
        done: impl Fn(&Incident) -> bool,
    ) -> Result<Incident> {
        let deadline = self.clock.now() + jiff::SignedDuration::try_from(virtual_timeout)?;
        loop {
            let incidents = self.medic.store.incidents(medic_store::IncidentFilter::default().limit(100)).await?;
            if let Some(found) = incidents.into_iter().find(|i| done(i)) {
                return Ok(found);
            }
            if self.clock.now() > deadline {
                let seen = self.medic.store.incidents(medic_store::IncidentFilter::default().limit(20)).await?;
                let summary: Vec<String> = seen
                    .iter()
                    .map(|i| format!("{} {} {} {:?}", i.uid.short(), i.status.as_str(), i.title, i.diagnosis))
                    .collect();
                anyhow::bail!(
                    "no incident as expected within {virtual_timeout:?} of lab time; incidents: {summary:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until an incident has reached a final status (resolved, escalated, failed, closed).
    pub async fn wait_until_settled(&self, virtual_timeout: Duration) -> Result<Incident> {
        self.wait_for_incident(virtual_timeout, |i| {
            matches!(
                i.status,
                IncidentStatus::Resolved | IncidentStatus::Escalated | IncidentStatus::Failed | IncidentStatus::Closed
            )
        })
        .await
    }

    /// The incident's timeline as `medic incidents show` prints it.
    pub async fn timeline(&self, incident: &Incident) -> Result<String> {
        let alerts = self.medic.store.incident_alerts(incident.uid).await?;
        let timeline = self.medic.store.timeline(incident.uid).await?;
        Ok(crate::timeline::show(incident, &alerts, &timeline))
    }

    pub async fn stop(self) {
        self.medic.stop().await;
        self.lab.stop().await;
    }
}
