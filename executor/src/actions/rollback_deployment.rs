//! `kubectl rollout undo deployment [--to-revision]`, done client-side as kubectl does it: find the
//! ReplicaSet of the wanted revision (the previous one by default) by its
//! `deployment.kubernetes.io/revision` annotation, and replace the deployment's pod template with that
//! ReplicaSet's, minus the `pod-template-hash` label, in one JSON patch that also carries the
//! ReplicaSet's annotations (kubectl's skip list excepted).
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::{Map, Value, json};

use super::{
    Action, Applied, INCIDENT_ANNOTATION, Restore, Undo, WriteContext, Written, annotation, check_name, labels,
};
use crate::api::{Calls, PatchType, paths};
use crate::error::{Error, Result};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Which incident last rolled the deployment back.
pub const ROLLED_BACK_FOR: &str = "medic.io/rolled-back-for";

/// Annotations kubectl keeps from the deployment rather than copying from the ReplicaSet.
const ANNOTATIONS_TO_SKIP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "apps.kubernetes.io/deprecated-rollback-to",
];

#[derive(Debug, Clone, PartialEq)]
pub struct RollbackDeployment {
    namespace: String,
    deployment: String,
    to_revision: Option<i64>,
}

impl RollbackDeployment {
    pub fn new(namespace: String, deployment: String, to_revision: Option<i64>) -> Result<Self> {
        check_name("rollback-deployment", "namespace", &namespace)?;
        check_name("rollback-deployment", "deployment", &deployment)?;
        if let Some(r) = to_revision
            && r <= 0
        {
            return Err(Error::InvalidAction {
                action: "rollback-deployment",
                reason: format!("to_revision {r} must be positive"),
            });
        }
        Ok(Self { namespace, deployment, to_revision })
    }

    /// The ReplicaSet to return to, with its revision: the one named, or the previous revision (the
    /// second highest among the deployment's ReplicaSets).
    fn pick<'a>(&self, replica_sets: &'a [(i64, Value)]) -> Result<&'a (i64, Value)> {
        let (ns, name) = (&self.namespace, &self.deployment);
        match self.to_revision {
            Some(wanted) => replica_sets.iter().find(|(r, _)| *r == wanted).ok_or_else(|| {
                Error::Precondition(format!("unable to find the specified revision {wanted} of deployment {ns}/{name}"))
            }),
            None => {
                let mut sorted: Vec<&(i64, Value)> = replica_sets.iter().collect();
                sorted.sort_by_key(|(r, _)| std::cmp::Reverse(*r));
                sorted
                    .get(1)
                    .copied()
                    .ok_or_else(|| Error::Precondition(format!("no rollout history found for deployment {ns}/{name}")))
            }
        }
    }
}

pub(crate) fn revision_of(object: &Value) -> Option<i64> {
    annotation(object, REVISION)?.parse().ok()
}

/// A pod template without the `pod-template-hash` label, for comparing and copying.
fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// The ReplicaSets the deployment controls, with their revisions.
async fn owned_replica_sets(cx: &WriteContext<'_>, calls: &mut Calls, deployment: &Value) -> Result<Vec<(i64, Value)>> {
    let ns = deployment.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let uid = deployment.pointer("/metadata/uid").and_then(Value::as_str);
    let name = deployment.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let selector = labels(deployment, "/spec/selector/matchLabels");
    let selector: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let selector = selector.join(",");
    let query: Vec<(&str, &str)> =
        if selector.is_empty() { Vec::new() } else { vec![("labelSelector", selector.as_str())] };
    let items = cx.api.list(calls, &paths::replica_sets(ns), &query).await?;
    Ok(items
        .into_iter()
        .filter(|rs| {
            rs.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|refs| {
                refs.iter().any(|r| {
                    r.get("controller").and_then(Value::as_bool) == Some(true)
                        && r.get("kind").and_then(Value::as_str) == Some("Deployment")
                        && match (uid, r.get("uid").and_then(Value::as_str)) {
                            (Some(a), Some(b)) => a == b,
                            _ => r.get("name").and_then(Value::as_str) == Some(name),
                        }
                })
            })
        })
        .filter_map(|rs| Some((revision_of(&rs)?, rs)))
        .collect())
}

#[async_trait]
impl Action for RollbackDeployment {
    fn spec(&self) -> ActionSpec {
        ActionSpec::RollbackDeployment {
            namespace: self.namespace.clone(),
            deployment: self.deployment.clone(),
            to_revision: self.to_revision,
        }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let (ns, name) = (&self.namespace, &self.deployment);
        let path = paths::deployment(ns, name);
        let current =
            cx.api.get(calls, &path).await?.ok_or_else(|| Error::NotFound(format!("deployment {ns}/{name}")))?;
        let incident = cx.incident_str();
        if annotation(&current, ROLLED_BACK_FOR) == Some(incident.as_str()) {
            return Ok(Applied::unchanged(format!("deployment {ns}/{name} was already rolled back for this incident")));
        }
        if current.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
            return Err(Error::Precondition(format!(
                "cannot roll back paused deployment {ns}/{name}; resume it first"
            )));
        }
        let replica_sets = owned_replica_sets(cx, calls, &current).await?;
        let (revision, rs) = self.pick(&replica_sets)?;
        let template = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        let template = without_hash(&template);
        let current_template = current.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        if without_hash(&current_template) == template {
            return Ok(Applied::unchanged(format!(
                "skipped rollback of deployment {ns}/{name}: the current template already matches revision {revision}"
            )));
        }
        let mut annotations = Map::new();
        for key in ANNOTATIONS_TO_SKIP {
            if let Some(v) = annotation(&current, key) {
                annotations.insert((*key).into(), Value::String(v.into()));
            }
        }
        if let Some(rs_annotations) = rs.pointer("/metadata/annotations").and_then(Value::as_object) {
            for (k, v) in rs_annotations {
                if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
                    annotations.insert(k.clone(), v.clone());
                }
            }
        }
        annotations.insert(INCIDENT_ANNOTATION.into(), Value::String(incident.clone()));
        annotations.insert(ROLLED_BACK_FOR.into(), Value::String(incident));
        let patch = json!([
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]);
        let object = cx.api.patch(calls, &path, PatchType::Json, &patch, dry_run).await?;
        Ok(Applied {
            changed: true,
            written: vec![Written::update(current.clone(), object)],
            undo: Undo {
                restore: vec![Restore::Template {
                    namespace: ns.clone(),
                    deployment: name.clone(),
                    template: without_hash(&current_template),
                    revision: revision_of(&current),
                }],
                irreversible: None,
            },
            notes: vec![format!("rolled back to revision {revision}")],
        })
    }
}
