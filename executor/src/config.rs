//! The executor's configuration (a section of `medic.toml`): who medic says it is when it writes, the
//! red lines of the guard, and the timings of verification and drains.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// `fieldManager` of every write.
    pub field_manager: String,
    /// Namespaces medic never writes to.
    pub protected_namespaces: Vec<String>,
    /// Objects carrying this label (any value) are never touched.
    pub ignore_label: String,
    /// Scale never goes below this (and never to zero).
    pub min_replicas: i32,
    /// Scale never goes above this.
    pub max_replicas: i32,
    /// Grace period for pod deletions and evictions; the pod's own when unset.
    pub pod_grace_period_secs: Option<u32>,
    /// How often verification polls the cluster, in the clock's seconds.
    pub poll_interval_secs: f64,
    /// How long a drain waits before retrying an eviction a PodDisruptionBudget refused (429), in the
    /// clock's seconds.
    pub eviction_retry_secs: f64,
    /// How long a drain keeps retrying refused evictions, in the clock's seconds.
    pub drain_timeout_secs: f64,
    /// How many executed plans are remembered, so a redelivered `Execute` is not applied twice.
    pub remembered_plans: usize,
    /// Folders of Kyverno policies every write is validated against (empty: no policy gate).
    pub policy_dirs: Vec<PathBuf>,
    /// Kinds medic never deletes or evicts, whatever a plan says.
    pub never_delete_kinds: Vec<String>,
    /// The most pods one step may delete, evict, replace, create or isolate.
    pub max_pods_per_action: u32,
    /// The most pods all the plans of one incident may touch together.
    pub max_pods_per_incident: u32,
    /// The most steps medic starts in one namespace in any hour.
    pub max_actions_per_namespace_per_hour: u32,
    /// Failed verifications in a row that open a namespace's circuit breaker (medic stops acting there).
    pub breaker_failures: u32,
    /// How long an open breaker stays open after its last failure, in the clock's seconds; then it lets
    /// plans through again (half-open) until the next verification closes it or opens it again.
    pub breaker_cooldown_secs: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            field_manager: "medic".into(),
            protected_namespaces: vec!["kube-system".into(), "kube-public".into(), "kube-node-lease".into()],
            ignore_label: "medic.io/ignore".into(),
            min_replicas: 1,
            max_replicas: 20,
            pod_grace_period_secs: None,
            poll_interval_secs: 2.0,
            eviction_retry_secs: 5.0,
            drain_timeout_secs: 300.0,
            remembered_plans: 1024,
            policy_dirs: Vec::new(),
            never_delete_kinds: ["Namespace", "PersistentVolumeClaim", "Node", "CustomResourceDefinition"]
                .map(String::from)
                .to_vec(),
            max_pods_per_action: 25,
            max_pods_per_incident: 50,
            max_actions_per_namespace_per_hour: 10,
            breaker_failures: 3,
            breaker_cooldown_secs: 1800,
        }
    }
}

impl ExecutorConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.to_string()));
        if self.field_manager.is_empty() || self.field_manager.len() > 128 {
            return bad("field_manager must have 1 to 128 characters");
        }
        if self.min_replicas < 1 {
            return bad("min_replicas must be at least 1 (medic never scales to zero)");
        }
        if self.max_replicas < self.min_replicas {
            return bad("max_replicas must not be below min_replicas");
        }
        for (name, v) in [
            ("poll_interval_secs", self.poll_interval_secs),
            ("eviction_retry_secs", self.eviction_retry_secs),
            ("drain_timeout_secs", self.drain_timeout_secs),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::Config(format!("{name} must be a positive number of seconds")));
            }
        }
        if self.ignore_label.is_empty() {
            return bad("ignore_label must not be empty");
        }
        for (name, v) in [
            ("max_pods_per_action", self.max_pods_per_action),
            ("max_pods_per_incident", self.max_pods_per_incident),
            ("max_actions_per_namespace_per_hour", self.max_actions_per_namespace_per_hour),
            ("breaker_failures", self.breaker_failures),
        ] {
            if v == 0 {
                return Err(Error::Config(format!("{name} must be at least 1 (0 would forbid every action)")));
            }
        }
        if self.max_pods_per_incident < self.max_pods_per_action {
            return bad("max_pods_per_incident must not be below max_pods_per_action");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        ExecutorConfig::default().validate().unwrap();
        let cases = [
            (ExecutorConfig { min_replicas: 0, ..Default::default() }, "min_replicas"),
            (ExecutorConfig { max_replicas: 0, ..Default::default() }, "max_replicas"),
            (ExecutorConfig { poll_interval_secs: 0.0, ..Default::default() }, "poll_interval_secs"),
            (ExecutorConfig { field_manager: String::new(), ..Default::default() }, "field_manager"),
            (ExecutorConfig { max_actions_per_namespace_per_hour: 0, ..Default::default() }, "max_actions_per"),
            (ExecutorConfig { breaker_failures: 0, ..Default::default() }, "breaker_failures"),
            (ExecutorConfig { max_pods_per_incident: 5, ..Default::default() }, "max_pods_per_incident"),
        ];
        for (config, field) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn it_reads_from_toml_with_defaults() {
        let config: ExecutorConfig =
            serde_json::from_value(serde_json::json!({"max_replicas": 8, "policy_dirs": ["policies"]})).unwrap();
        assert_eq!(config.max_replicas, 8);
        assert_eq!(config.field_manager, "medic");
        assert!(serde_json::from_value::<ExecutorConfig>(serde_json::json!({"max_replica": 8})).is_err());
    }
}
