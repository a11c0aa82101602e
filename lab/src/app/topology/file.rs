//! The topology file as written (serde), before validation.
use serde::Deserialize;
use std::collections::BTreeMap;

use super::{ConfigEntry, LogMode, Protocol, Technology};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopologyFile {
    pub(super) name: String,
    #[serde(default = "default_namespace")]
    pub(super) namespace: String,
    pub(super) nodes: Vec<NodeFile>,
    #[serde(default)]
    pub(super) registry: Vec<RegistryFile>,
    pub(super) services: Vec<ServiceFile>,
}

pub(super) fn default_namespace() -> String {
    "default".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeFile {
    pub(super) name: String,
    pub(super) cpu: String,
    pub(super) memory: String,
    #[serde(default = "default_max_pods")]
    pub(super) pods: u32,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) taints: Vec<Taint>,
}

pub(super) fn default_max_pods() -> u32 {
    110
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegistryFile {
    pub(super) image: String,
    pub(super) tags: Vec<String>,
    /// Tags of releases with a regression: their process fails at start with the technology's crash.
    #[serde(default)]
    pub(super) regressions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceFile {
    pub(super) name: String,
    pub(super) technology: Technology,
    pub(super) image: String,
    #[serde(default)]
    pub(super) container: Option<String>,
    #[serde(default = "one")]
    pub(super) replicas: u32,
    #[serde(default)]
    pub(super) port: Option<u16>,
    #[serde(default)]
    pub(super) protocol: Option<Protocol>,
    #[serde(default)]
    pub(super) resources: ResourcesFile,
    #[serde(default)]
    pub(super) memory: MemoryFile,
    #[serde(default)]
    pub(super) cpu: CpuFile,
    #[serde(default)]
    pub(super) latency_ms: Option<f64>,
    #[serde(default)]
    pub(super) request_rate: f64,
    #[serde(default)]
    pub(super) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) config: BTreeMap<String, ConfigEntry>,
    #[serde(default)]
    pub(super) dependencies: Vec<DependencyFile>,
    #[serde(default)]
    pub(super) max_connections: Option<u32>,
    #[serde(default)]
    pub(super) database: Option<String>,
    #[serde(default)]
    pub(super) startup: Option<String>,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) logs: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub(super) log_mode: LogMode,
}

pub(super) fn one() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResourcesFile {
    #[serde(default)]
    pub(super) requests: ResourceListFile,
    #[serde(default)]
    pub(super) limits: ResourceListFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResourceListFile {
    #[serde(default)]
    pub(super) cpu: Option<String>,
    #[serde(default)]
    pub(super) memory: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemoryFile {
    #[serde(default)]
    pub(super) baseline: Option<String>,
    #[serde(default)]
    pub(super) growth_per_hour: Option<String>,
    #[serde(default)]
    pub(super) per_connection: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CpuFile {
    #[serde(default)]
    pub(super) idle: Option<String>,
    #[serde(default)]
    pub(super) per_request: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DependencyFile {
    pub(super) service: String,
    #[serde(default)]
    pub(super) protocol: Option<Protocol>,
    #[serde(default = "one_f64")]
    pub(super) calls_per_request: f64,
    #[serde(default)]
    pub(super) pool: Option<u32>,
    #[serde(default)]
    pub(super) env: Option<String>,
    #[serde(default)]
    pub(super) optional: bool,
    #[serde(default)]
    pub(super) timeout_ms: Option<f64>,
}

pub(super) fn one_f64() -> f64 {
    1.0
}
