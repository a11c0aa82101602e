//! The policy gate: before each write, the object as it will be after the change (the API server's
//! dry-run answer) is validated against the configured policies; any `fail` or `error` blocks the plan,
//! whatever the policy's `validationFailureAction` (medic does not write what a policy forbids, even one
//! the cluster only audits).
use medic_policy::{AdmissionRequest, Operation, PolicySet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::actions::Written;
use crate::config::ExecutorConfig;
use crate::error::{Error, Result};

/// One policy rule's verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyVerdict {
    pub policy: String,
    pub rule: String,
    /// `pass`, `fail`, `warn`, `error` or `skip`.
    pub status: String,
    pub message: String,
}

impl PolicyVerdict {
    pub fn blocks(&self) -> bool {
        matches!(self.status.as_str(), "fail" | "error")
    }
}

/// Validates objects medic is about to write.
pub trait PolicyGate: Send + Sync + std::fmt::Debug {
    /// The verdicts of every policy rule that applies to `written`.
    fn evaluate(&self, written: &Written) -> Vec<PolicyVerdict>;
}

/// Kyverno ClusterPolicies and Policies, evaluated by medic-policy.
#[derive(Debug, Clone)]
pub struct KyvernoGate {
    policies: PolicySet,
}

impl KyvernoGate {
    pub fn new(policies: PolicySet) -> Self {
        Self { policies }
    }

    /// Every policy in the YAML files under `dirs`.
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<Self> {
        PolicySet::load_dirs(dirs).map(Self::new).map_err(|e| Error::Policy(e.to_string()))
    }

    /// The gate the configuration asks for: `None` when it names no policy folder.
    pub fn from_config(config: &ExecutorConfig) -> Result<Option<Arc<dyn PolicyGate>>> {
        if config.policy_dirs.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Self::load_dirs(&config.policy_dirs)?)))
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

impl PolicyGate for KyvernoGate {
    fn evaluate(&self, written: &Written) -> Vec<PolicyVerdict> {
        let request = AdmissionRequest {
            operation: Operation::parse(written.operation).unwrap_or(Operation::Update),
            old_object: written.old.clone(),
            ..Default::default()
        };
        self.policies
            .validate(&written.object, &request)
            .into_iter()
            .map(|r| PolicyVerdict {
                policy: r.policy,
                rule: r.rule,
                status: r.status.as_str().into(),
                message: r.message,
            })
            .collect()
    }
}
