//! The actions: one file each, each an implementation of [`Action`] built from its `ActionSpec`
//! (Vector's config → validate → build). Every action reads what it needs first so that applying it
//! twice changes the cluster once, writes with `fieldManager` and the `medic.io/incident-uid`
//! annotation, can be dry-run by the API server, and says how to undo it.
use async_trait::async_trait;
use medic_core::ports::Clock;
use medic_core::{ActionSpec, IncidentUid};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::api::{Calls, KubeApi};
use crate::config::ExecutorConfig;
use crate::error::{Error, Result};

mod cordon;
mod delete_pod;
mod drain;
mod patch_resources;
mod quarantine;
mod restore;
mod rollback_deployment;
mod rollout_restart;
mod scale;

pub use cordon::Cordon;
pub use delete_pod::DeletePod;
pub use drain::Drain;
pub use patch_resources::PatchResources;
pub use quarantine::{Quarantine, Unquarantine};
pub use restore::{Restore, restore};
pub use rollback_deployment::RollbackDeployment;
pub use rollout_restart::RolloutRestart;
pub use scale::Scale;

/// The annotation every object medic writes carries.
pub const INCIDENT_ANNOTATION: &str = "medic.io/incident-uid";
/// The label medic puts on the objects it creates.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// What an action needs to write.
#[derive(Clone, Copy)]
pub struct WriteContext<'a> {
    pub api: &'a KubeApi,
    pub incident: IncidentUid,
    pub config: &'a ExecutorConfig,
    pub clock: &'a dyn Clock,
}

impl WriteContext<'_> {
    /// `{"medic.io/incident-uid": "<uid>"}` plus `extra`.
    pub fn annotations(&self, extra: &[(&str, &str)]) -> Value {
        let mut map = serde_json::Map::new();
        map.insert(INCIDENT_ANNOTATION.into(), Value::String(self.incident.to_string()));
        for (k, v) in extra {
            map.insert((*k).into(), Value::String((*v).into()));
        }
        Value::Object(map)
    }

    pub fn incident_str(&self) -> String {
        self.incident.to_string()
    }
}

/// A write the policy gate validates: the object as the server says it will be after the change, and
/// as it was before (for an update; admission compares the two).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// `CREATE`, `UPDATE` or `DELETE`, as admission sees it.
    pub operation: &'static str,
    pub object: Value,
    pub old: Option<Value>,
}

impl Written {
    pub fn create(object: Value) -> Self {
        Self { operation: "CREATE", object, old: None }
    }
    pub fn update(old: Value, object: Value) -> Self {
        Self { operation: "UPDATE", object, old: Some(old) }
    }
    pub fn delete(object: Value) -> Self {
        Self { operation: "DELETE", object, old: None }
    }
}

/// How to undo an applied action. Serialisable: the audit record of the applied step keeps it, so a plan
/// resumed after a restart can still roll back what was applied before.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Undo {
    /// Writes that restore what the action changed, applied in order.
    pub restore: Vec<Restore>,
    /// What the action did that cannot be undone, and why.
    pub irreversible: Option<String>,
}

/// What applying (or dry-running) an action did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Something was (or, dry-run, would be) written. False when the cluster already was as the action
    /// wants it: applying twice changes it once.
    pub changed: bool,
    pub written: Vec<Written>,
    pub undo: Undo,
    /// Facts worth reporting (`pod shop/x was already gone`).
    pub notes: Vec<String>,
}

impl Applied {
    pub fn unchanged(note: impl Into<String>) -> Self {
        Self { changed: false, notes: vec![note.into()], ..Default::default() }
    }
}

#[async_trait]
pub trait Action: Send + Sync + std::fmt::Debug {
    /// The action as the plan states it.
    fn spec(&self) -> ActionSpec;

    /// Whether the API server can dry-run every write of this action.
    fn supports_dry_run(&self) -> bool {
        true
    }

    /// Apply the action; with `dry_run`, send every write with `dryRun=All` so nothing persists.
    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied>;
}

/// Validate a step's spec and build its action.
pub fn build(spec: &ActionSpec, config: &ExecutorConfig) -> Result<Box<dyn Action>> {
    Ok(match spec.clone() {
        ActionSpec::DeletePod { namespace, pod } => {
            Box::new(DeletePod::new(namespace, pod, config.pod_grace_period_secs)?)
        }
        ActionSpec::RolloutRestart { namespace, deployment } => Box::new(RolloutRestart::new(namespace, deployment)?),
        ActionSpec::Scale { namespace, deployment, replicas } => Box::new(Scale::new(namespace, deployment, replicas)?),
        ActionSpec::PatchResources { namespace, deployment, container, requests, limits } => {
            Box::new(PatchResources::new(namespace, deployment, container, requests, limits)?)
        }
        ActionSpec::RollbackDeployment { namespace, deployment, to_revision } => {
            Box::new(RollbackDeployment::new(namespace, deployment, to_revision)?)
        }
        ActionSpec::Cordon { node, unschedulable } => Box::new(Cordon::new(node, unschedulable)?),
        ActionSpec::Drain { node } => Box::new(Drain::new(node)?),
        ActionSpec::Quarantine { namespace, policy, pod_selector } => {
            Box::new(Quarantine::new(namespace, policy, pod_selector)?)
        }
        ActionSpec::Unquarantine { namespace, policy } => Box::new(Unquarantine::new(namespace, policy)?),
    })
}

/// A DNS-1123 name (subdomain rules: lowercase alphanumerics, `-` and `.`, at most 253 characters).
pub(crate) fn check_name(action: &'static str, what: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidAction { action, reason: format!("{what} {name:?} is not a valid Kubernetes name") })
    }
}

pub(crate) fn annotation<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}

pub(crate) fn labels(object: &Value, pointer: &str) -> BTreeMap<String, String> {
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// The owner reference marked `controller: true`, as (kind, name).
pub(crate) fn controller_of(object: &Value) -> Option<(String, String)> {
    object.pointer("/metadata/ownerReferences")?.as_array()?.iter().find_map(|r| {
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            Some((r.get("kind")?.as_str()?.to_string(), r.get("name")?.as_str()?.to_string()))
        } else {
            None
        }
    })
}

pub(crate) fn delete_options(grace: Option<u32>) -> Value {
    match grace {
        Some(g) => json!({"propagationPolicy": "Background", "gracePeriodSeconds": g}),
        None => json!({"propagationPolicy": "Background"}),
    }
}

/// A `metadata.annotations` merge patch carrying the incident.
pub(crate) fn annotation_patch(cx: &WriteContext<'_>) -> Value {
    json!({"metadata": {"annotations": cx.annotations(&[])}})
}
