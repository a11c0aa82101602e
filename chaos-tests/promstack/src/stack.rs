//! The running pair: configs written to a temporary directory, Alertmanager started first (Prometheus
//! needs somewhere to send), then Prometheus; both awaited on `/-/ready`; both killed when the [`Stack`] is
//! stopped or dropped.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::binaries::Binaries;
use crate::config::StackConfig;
use crate::daemon::{Daemon, Watchdog};
use crate::error::{Error, Result};

/// How long each program has to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Prometheus and Alertmanager, running.
pub struct Stack {
    prometheus: Daemon,
    alertmanager: Daemon,
    _watchdog: Watchdog,
    prometheus_url: String,
    alertmanager_url: String,
    config: StackConfig,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("prometheus", &self.prometheus_url)
            .field("alertmanager", &self.alertmanager_url)
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// A free port on 127.0.0.1 (the OS picks it; it is free again when this returns, for a program to bind).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("finding a free port"))?;
    Ok(listener.local_addr().map_err(Error::io("finding a free port"))?.port())
}

pub(crate) fn http_client() -> reqwest::Client {
    // reqwest is built without a crypto provider; plain HTTP needs none, but the builder wants one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("an HTTP client with default settings")
}

impl Stack {
    /// Writes the configs, starts Alertmanager and Prometheus, and waits until both are ready.
    pub async fn start(binaries: &Binaries, config: StackConfig) -> Result<Stack> {
        config.validate()?;
        let dir = tempfile::Builder::new()
            .prefix("medic-promstack-")
            .tempdir()
            .map_err(Error::io("creating the stack's temporary directory"))?;
        let path = |name: &str| dir.path().join(name);
        let rules_dir = path("rules");
        std::fs::create_dir_all(&rules_dir).map_err(Error::io("creating the rules directory"))?;
        for rule in config.effective_rules()? {
            let file = rules_dir.join(&rule.name);
            std::fs::write(&file, &rule.yaml).map_err(Error::io(format!("writing {}", file.display())))?;
        }
        let am_port = match config.alertmanager_port {
            Some(port) => port,
            None => free_port()?,
        };
        let prom_port = match config.prometheus_port {
            Some(port) => port,
            None => free_port()?,
        };
        let alertmanager_url = format!("http://127.0.0.1:{am_port}");
        let prometheus_url = format!("http://127.0.0.1:{prom_port}");
        write(&path("alertmanager.yml"), &config.alertmanager_yaml())?;
        write(
            &path("prometheus.yml"),
            &config.prometheus_yaml(&rules_dir.display().to_string(), &format!("127.0.0.1:{am_port}")),
        )?;

        let display = |p: &Path| p.display().to_string();
        let alertmanager = Daemon::spawn(
            "prometheus-alertmanager",
            &binaries.alertmanager,
            &[
                format!("--config.file={}", display(&path("alertmanager.yml"))),
                format!("--storage.path={}", display(&path("alertmanager-data"))),
                format!("--web.listen-address=127.0.0.1:{am_port}"),
                format!("--web.external-url={alertmanager_url}"),
                "--cluster.listen-address=".into(),
                "--log.level=info".into(),
            ],
            path("alertmanager.log"),
        )?;
        let prometheus = Daemon::spawn(
            "prometheus",
            &binaries.prometheus,
            &[
                format!("--config.file={}", display(&path("prometheus.yml"))),
                format!("--storage.tsdb.path={}", display(&path("prometheus-data"))),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
                format!("--web.external-url={prometheus_url}"),
                "--storage.tsdb.retention.time=1d".into(),
                "--log.level=info".into(),
            ],
            path("prometheus.log"),
        )?;
        let pids: Vec<u32> = [alertmanager.pid(), prometheus.pid()].into_iter().flatten().collect();
        let watchdog = Watchdog::watch(&pids)?;
        let mut stack = Stack {
            prometheus,
            alertmanager,
            _watchdog: watchdog,
            prometheus_url,
            alertmanager_url,
            config,
            client: http_client(),
            dir,
        };
        let (am, prom) = (stack.alertmanager_url.clone(), stack.prometheus_url.clone());
        wait_ready(&stack.client, &mut stack.alertmanager, &am).await?;
        wait_ready(&stack.client, &mut stack.prometheus, &prom).await?;
        tracing::info!(prometheus = %stack.prometheus_url, alertmanager = %stack.alertmanager_url, "prometheus and alertmanager ready");
        Ok(stack)
    }

    /// `http://127.0.0.1:PORT` of Prometheus.
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus_url
    }

    /// `http://127.0.0.1:PORT` of Alertmanager.
    pub fn alertmanager_url(&self) -> &str {
        &self.alertmanager_url
    }

    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// The temporary directory with the configs, the rule files as loaded, the data and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of both programs' logs, for a failing test's message.
    pub fn logs(&self, lines: usize) -> String {
        format!(
            "--- {} ({}):\n{}\n--- {} ({}):\n{}",
            self.prometheus.program,
            self.prometheus.log_path().display(),
            self.prometheus.log_tail(lines),
            self.alertmanager.program,
            self.alertmanager.log_path().display(),
            self.alertmanager.log_tail(lines)
        )
    }

    /// The process ids of Prometheus and Alertmanager while they run.
    pub fn pids(&self) -> Vec<u32> {
        [self.prometheus.pid(), self.alertmanager.pid()].into_iter().flatten().collect()
    }

    /// Kills Prometheus (Alertmanager keeps running): what medic sees when its metrics backend is down.
    pub fn stop_prometheus(&mut self) {
        self.prometheus.stop();
    }

    /// An instant PromQL query.
    pub async fn query(&self, promql: &str) -> Result<Vec<crate::api::Series>> {
        crate::api::instant(&self.client, &self.prometheus_url, promql).await
    }

    /// A PromQL range query between two unix times.
    pub async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step_secs: f64,
    ) -> Result<Vec<crate::api::Series>> {
        crate::api::range(&self.client, &self.prometheus_url, promql, start, end, step_secs).await
    }

    /// The alerts Alertmanager holds.
    pub async fn alertmanager_alerts(&self) -> Result<Vec<crate::api::ManagedAlert>> {
        crate::api::alertmanager_alerts(&self.client, &self.alertmanager_url).await
    }

    /// Waits until Prometheus has scraped the target successfully (`up == 1`) `scrapes` times over.
    pub async fn wait_scraped(&self, scrapes: u32, timeout: Duration) -> Result<()> {
        let query = format!("count_over_time(up{{job=\"{}\"}}[5m]) >= {scrapes} and up == 1", self.config.job);
        let deadline = Instant::now() + timeout;
        loop {
            if !crate::api::instant(&self.client, &self.prometheus_url, &query).await?.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    program: "prometheus",
                    url: format!("{}/targets", self.prometheus_url),
                    seconds: timeout.as_secs(),
                    log: format!(
                        "the target {} was not scraped {scrapes} times\n{}",
                        self.config.scrape_target,
                        self.prometheus.log_tail(10)
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops both programs and removes the temporary directory.
    pub fn stop(mut self) {
        self.prometheus.stop();
        self.alertmanager.stop();
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))
}

async fn wait_ready(client: &reqwest::Client, daemon: &mut Daemon, url: &str) -> Result<()> {
    let started = Instant::now();
    let ready = format!("{url}/-/ready");
    loop {
        daemon.check_running()?;
        if let Ok(response) = client.get(&ready).send().await
            && response.status().is_success()
        {
            tracing::debug!(program = daemon.program, ms = started.elapsed().as_millis() as u64, "ready");
            return Ok(());
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(Error::NotReady {
                program: daemon.program,
                url: ready,
                seconds: READY_TIMEOUT.as_secs(),
                log: daemon.log_tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
