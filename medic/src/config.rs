//! medic's configuration: a TOML file (`--config medic.toml`), overridden by `MEDIC_` environment variables
//! (`MEDIC_SERVER__LISTEN=0.0.0.0:8080`, `MEDIC_DIRECTOR__MIN_CONFIDENCE=0.7`: sections separated by `__`),
//! on top of defaults that run as-is. Each section is the serde config of the component it builds.
use anyhow::{Context, Result};
use medic_agents::SpecialistConfig;
use medic_collector::gather::CollectConfig;
use medic_collector::intake::IntakeConfig;
use medic_collector::metrics::PrometheusConfig;
use medic_director::DirectorConfig;
use medic_executor::ExecutorConfig;
use medic_memory::MemoryConfig;
use medic_store::StoreConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::http::ApiConfig;
use crate::notify::NotifyConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedicConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default = "default_store")]
    pub store: StoreConfig,
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    #[serde(default)]
    pub intake: IntakeConfig,
    #[serde(default)]
    pub collector: CollectConfig,
    /// Prometheus, asked for the metric context of each incident; without it medic diagnoses from the
    /// cluster alone and each context records that its metric context is missing.
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
    /// The specialists to run; the Network, Database and Compute specialists with their defaults when empty.
    #[serde(default)]
    pub specialists: Vec<SpecialistConfig>,
    /// How far medic may go per namespace: observe, propose or act (`[modes] default`, `namespaces`).
    #[serde(default)]
    pub modes: medic_core::ModesConfig,
    #[serde(default)]
    pub director: DirectorConfig,
    #[serde(default)]
    pub executor: ExecutorConfig,
    #[serde(default)]
    pub playbooks: PlaybooksConfig,
    /// The incident memory; its index sits beside the store unless `index_path` says otherwise.
    #[serde(default)]
    pub memory: Option<MemoryConfig>,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The API's bearer tokens and their roles.
    #[serde(default)]
    pub api: ApiConfig,
    /// Where incident messages go (Slack), and Slack's Approve/Reject buttons.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// A model (Ollama) assisting the specialists and the Director; without it medic runs on its rules.
    #[serde(default)]
    pub llm: Option<medic_agents::llm::LlmConfig>,
}

fn default_store() -> StoreConfig {
    StoreConfig::new("medic.db")
}

impl Default for MedicConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            store: default_store(),
            kubernetes: KubernetesConfig::default(),
            intake: IntakeConfig::default(),
            collector: CollectConfig::default(),
            prometheus: None,
            specialists: Vec::new(),
            modes: medic_core::ModesConfig::default(),
            director: DirectorConfig::default(),
            executor: ExecutorConfig::default(),
            playbooks: PlaybooksConfig::default(),
            memory: None,
            telemetry: TelemetryConfig::default(),
            api: ApiConfig::default(),
            notify: NotifyConfig::default(),
            llm: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the webhook receivers and the API listen.
    pub listen: SocketAddr,
    /// HTTP worker threads.
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".parse().expect("valid address"), workers: 2 }
    }
}

/// How medic reaches the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// A kubeconfig file; when unset, `KUBECONFIG`, `~/.kube/config` or the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; its current context when unset.
    pub context: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybooksConfig {
    /// A folder of playbooks that replace built-in ones of the same id and add new ones.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// A tracing filter (`info`, `medic_director=debug,info`); `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, filter: "info".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl MedicConfig {
    /// Loads the file (if any) and the `MEDIC_` environment over the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`MedicConfig::load`], with the environment given (for tests).
    pub fn load_with_env(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(path) = path {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml).required(true));
        }
        let env: config::Map<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with("MEDIC_") && k.contains("__")).collect();
        builder = builder.add_source(
            config::Environment::with_prefix("MEDIC")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let origin = path.map(|p| p.display().to_string()).unwrap_or_else(|| "the defaults".into());
        let config: MedicConfig = builder
            .build()
            .with_context(|| format!("reading the configuration from {origin}"))?
            .try_deserialize()
            .with_context(|| format!("invalid configuration in {origin}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every section the way its component will when it is built.
    pub fn validate(&self) -> Result<()> {
        self.store.validate().context("[store]")?;
        self.intake.validate().context("[intake]")?;
        self.collector.validate().context("[collector]")?;
        if let Some(prometheus) = &self.prometheus {
            prometheus.validate().context("[prometheus]")?;
        }
        self.director.validate().context("[director]")?;
        self.executor.validate().context("[executor]")?;
        self.memory().validate().context("[memory]")?;
        self.api.validate().context("[api]")?;
        self.notify.validate().context("[notify]")?;
        if let Some(llm) = &self.llm {
            llm.validate().context("[llm]")?;
        }
        for (i, s) in self.specialists.iter().enumerate() {
            s.validate().with_context(|| format!("[[specialists]] #{}", i + 1))?;
        }
        if self.server.workers == 0 {
            anyhow::bail!("[server] workers must be at least 1");
        }
        Ok(())
    }

    /// The memory's configuration: the one given, or the defaults with the index beside the store file.
    pub fn memory(&self) -> MemoryConfig {
        self.memory.clone().unwrap_or_else(|| MemoryConfig::new(self.store.path.with_extension("faiss")))
    }

    /// The specialists to run.
    pub fn specialists(&self) -> Vec<SpecialistConfig> {
        if self.specialists.is_empty() { medic_agents::default_specialists() } else { self.specialists.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_defaults_are_valid() {
        let config = MedicConfig::load_with_env(None, env(&[])).unwrap();
        assert_eq!(config, MedicConfig::default());
        assert_eq!(config.specialists().len(), 3);
    }

    #[test]
    fn a_file_and_the_environment_override_the_defaults() {
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(
            file,
            "[server]\nlisten = \"127.0.0.1:9999\"\nworkers = 1\n\n[director]\nmin_confidence = 0.7\n\n[[specialists]]\ntype = \"compute\"\nmemory_headroom = 2.0\n"
        )
        .unwrap();
        let config = MedicConfig::load_with_env(
            Some(file.path()),
            env(&[("MEDIC_DIRECTOR__MIN_MARGIN", "0.25"), ("MEDIC_SERVER__WORKERS", "3"), ("HOME", "/root")]),
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 9999);
        assert_eq!(config.server.workers, 3, "the environment wins over the file");
        assert_eq!(config.director.min_confidence, 0.7);
        assert_eq!(config.director.min_margin, 0.25);
        assert_eq!(config.specialists.len(), 1);
    }

    #[test]
    fn the_model_assist_is_configured_by_its_own_section_and_absent_by_default() {
        assert_eq!(MedicConfig::default().llm, None);
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(
            file,
            "[llm]\nurl = \"http://127.0.0.1:11434\"\nmodels = [\"qwen2.5:7b-instruct\", {{ name = \"llama3.1:8b\", cost_per_1k_tokens = 0.2 }}]\nspecialists = [\"compute\"]\ndirector = false\n\n[llm.watchtower]\nslow_after_secs = 2.0\n"
        )
        .unwrap();
        let config = MedicConfig::load_with_env(Some(file.path()), env(&[])).unwrap();
        let llm = config.llm.clone().expect("[llm] is read");
        assert_eq!(llm.models.len(), 2);
        assert_eq!(llm.models[1].cost_per_1k_tokens, 0.2);
        assert!(llm.assists("compute") && !llm.assists("network") && !llm.director);
        assert_eq!(llm.watchtower.slow_after_secs, 2.0);
        config.validate().unwrap();

        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[llm]\nmodels = []\n").unwrap();
        let error = format!("{:#}", MedicConfig::load_with_env(Some(file.path()), env(&[])).unwrap_err());
        assert!(error.contains("[llm]") && error.contains("models"), "{error}");
    }

    #[test]
    fn mistakes_are_named() {
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[director]\nmin_confidense = 0.7\n").unwrap();
        let error = format!("{:#}", MedicConfig::load_with_env(Some(file.path()), env(&[])).unwrap_err());
        assert!(error.contains("min_confidense"), "{error}");
        assert!(error.contains(&file.path().display().to_string()), "{error}");

        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[director]\nmin_confidence = 7\n").unwrap();
        let error = format!("{:#}", MedicConfig::load_with_env(Some(file.path()), env(&[])).unwrap_err());
        assert!(error.contains("[director]") && error.contains("min_confidence"), "{error}");

        let missing = MedicConfig::load_with_env(Some(Path::new("/nonexistent/medic.toml")), env(&[]));
        assert!(format!("{:#}", missing.unwrap_err()).contains("does not exist"));
    }

    #[test]
    fn prometheus_is_a_section_of_its_own() {
        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[prometheus]\nurl = \"http://prometheus.monitoring:9090\"\ntimeout_ms = 1500\n").unwrap();
        let config = MedicConfig::load_with_env(Some(file.path()), env(&[])).unwrap();
        let prometheus = config.prometheus.expect("the section");
        assert_eq!(prometheus.url, "http://prometheus.monitoring:9090");
        assert_eq!(prometheus.timeout_ms, 1500);
        assert_eq!(prometheus.rate_window_secs, 60, "defaults for what the file leaves out");
        assert!(MedicConfig::default().prometheus.is_none(), "no Prometheus unless one is configured");

        let mut file = tempfile::NamedTempFile::with_suffix(".toml").unwrap();
        writeln!(file, "[prometheus]\nurl = \"prometheus:9090\"\n").unwrap();
        let error = format!("{:#}", MedicConfig::load_with_env(Some(file.path()), env(&[])).unwrap_err());
        assert!(error.contains("[prometheus]") && error.contains("prometheus.url"), "{error}");
    }
}
