//! Plans: the concrete remediation the Director chose, made of actions the Executor knows how to apply.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{IncidentUid, PlanId};
use crate::taxonomy::RootCauseClass;
use crate::workload::ObjectRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// One kubectl-equivalent operation with every parameter resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum ActionSpec {
    /// `kubectl delete pod`: the controller replaces it.
    DeletePod { namespace: String, pod: String },
    /// `kubectl rollout restart deployment`.
    RolloutRestart { namespace: String, deployment: String },
    /// `kubectl scale deployment --replicas`.
    Scale { namespace: String, deployment: String, replicas: i32 },
    /// `kubectl set resources deployment -c container --limits/--requests`.
    PatchResources {
        namespace: String,
        deployment: String,
        container: String,
        #[serde(default)]
        requests: BTreeMap<String, String>,
        #[serde(default)]
        limits: BTreeMap<String, String>,
    },
    /// `kubectl rollout undo deployment [--to-revision]`.
    RollbackDeployment { namespace: String, deployment: String, to_revision: Option<i64> },
    /// `kubectl cordon` (or `uncordon` when `unschedulable` is false).
    Cordon { node: String, unschedulable: bool },
    /// `kubectl drain --ignore-daemonsets`: evict every pod of the node through the eviction API.
    Drain { node: String },
    /// Isolate pods with a NetworkPolicy that denies their egress (and ingress).
    Quarantine { namespace: String, policy: String, pod_selector: BTreeMap<String, String> },
    /// Remove a quarantine NetworkPolicy medic created.
    Unquarantine { namespace: String, policy: String },
}

impl ActionSpec {
    /// The action's kebab-case name as playbooks write it.
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::DeletePod { .. } => "delete-pod",
            ActionSpec::RolloutRestart { .. } => "rollout-restart",
            ActionSpec::Scale { .. } => "scale",
            ActionSpec::PatchResources { .. } => "patch-resources",
            ActionSpec::RollbackDeployment { .. } => "rollback-deployment",
            ActionSpec::Cordon { .. } => "cordon",
            ActionSpec::Drain { .. } => "drain",
            ActionSpec::Quarantine { .. } => "quarantine",
            ActionSpec::Unquarantine { .. } => "unquarantine",
        }
    }

    /// The object the action writes to.
    pub fn object(&self) -> ObjectRef {
        use crate::workload::ObjectKind;
        match self {
            ActionSpec::DeletePod { namespace, pod } => ObjectRef::pod(namespace, pod),
            ActionSpec::RolloutRestart { namespace, deployment }
            | ActionSpec::Scale { namespace, deployment, .. }
            | ActionSpec::PatchResources { namespace, deployment, .. }
            | ActionSpec::RollbackDeployment { namespace, deployment, .. } => {
                ObjectRef::deployment(namespace, deployment)
            }
            ActionSpec::Cordon { node, .. } | ActionSpec::Drain { node } => ObjectRef::node(node),
            ActionSpec::Quarantine { namespace, policy, .. } | ActionSpec::Unquarantine { namespace, policy } => {
                ObjectRef::new(ObjectKind::NetworkPolicy, namespace, policy)
            }
        }
    }

    /// The namespace the action affects (for a node action, none).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            ActionSpec::DeletePod { namespace, .. }
            | ActionSpec::RolloutRestart { namespace, .. }
            | ActionSpec::Scale { namespace, .. }
            | ActionSpec::PatchResources { namespace, .. }
            | ActionSpec::RollbackDeployment { namespace, .. }
            | ActionSpec::Quarantine { namespace, .. }
            | ActionSpec::Unquarantine { namespace, .. } => Some(namespace),
            ActionSpec::Cordon { .. } | ActionSpec::Drain { .. } => None,
        }
    }
}

impl fmt::Display for ActionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionSpec::DeletePod { namespace, pod } => write!(f, "delete pod {namespace}/{pod}"),
            ActionSpec::RolloutRestart { namespace, deployment } => {
                write!(f, "rollout restart deployment {namespace}/{deployment}")
            }
            ActionSpec::Scale { namespace, deployment, replicas } => {
                write!(f, "scale deployment {namespace}/{deployment} to {replicas}")
            }
            ActionSpec::PatchResources { namespace, deployment, container, requests, limits } => {
                write!(f, "set resources of {namespace}/{deployment} container {container}:")?;
                for (k, v) in limits {
                    write!(f, " limits.{k}={v}")?;
                }
                for (k, v) in requests {
                    write!(f, " requests.{k}={v}")?;
                }
                Ok(())
            }
            ActionSpec::RollbackDeployment { namespace, deployment, to_revision } => match to_revision {
                Some(r) => write!(f, "rollout undo deployment {namespace}/{deployment} to revision {r}"),
                None => write!(f, "rollout undo deployment {namespace}/{deployment}"),
            },
            ActionSpec::Cordon { node, unschedulable: true } => write!(f, "cordon node {node}"),
            ActionSpec::Cordon { node, unschedulable: false } => write!(f, "uncordon node {node}"),
            ActionSpec::Drain { node } => write!(f, "drain node {node}"),
            ActionSpec::Quarantine { namespace, policy, .. } => {
                write!(f, "quarantine with networkpolicy {namespace}/{policy}")
            }
            ActionSpec::Unquarantine { namespace, policy } => write!(f, "remove networkpolicy {namespace}/{policy}"),
        }
    }
}

/// What "recovered" means for a plan, checked by the Executor after applying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum VerifyCheck {
    /// The deployment has all desired replicas available on its newest revision, and none of its pods
    /// restarted, crash-looped or was OOM-killed during the stable period.
    WorkloadHealthy { namespace: String, deployment: String },
    /// No pod other than DaemonSet pods is running on the node, and it is unschedulable.
    NodeDrained { node: String },
    /// The NetworkPolicy exists and selects the pods.
    Quarantined { namespace: String, policy: String },
    /// The alert that opened the incident is resolved.
    AlertResolved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySpec {
    pub checks: Vec<VerifyCheck>,
    /// How long to wait for the checks to pass before declaring failure.
    pub timeout_secs: u64,
    /// How long the checks must keep passing to count as recovered.
    pub stable_secs: u64,
}

/// The plan the Director hands to the Executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    pub incident: IncidentUid,
    pub class: RootCauseClass,
    pub target: ObjectRef,
    pub playbook: String,
    pub playbook_version: String,
    pub steps: Vec<ActionSpec>,
    pub verify: VerifySpec,
    /// Roll back the applied steps automatically if verification fails.
    pub rollback_on_failure: bool,
    pub risk: Risk,
    /// The plan must wait for a human approval before the Executor applies it.
    pub requires_approval: bool,
    /// Why this plan: the decision summary a human reads.
    pub rationale: String,
}
