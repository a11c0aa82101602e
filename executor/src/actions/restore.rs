//! Undoing an applied action: each `Restore` puts back one thing an action changed, with the same write
//! discipline (dry-run first, `fieldManager`, the incident annotation).
use medic_core::ActionSpec;
use serde_json::{Value, json};

use super::WriteContext;
use super::patch_resources::{ResourceValues, resources_patch};
use crate::api::{Calls, PatchType, paths};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "restore", rename_all = "kebab-case")]
pub enum Restore {
    /// Put back a container's previous resource values (`None`: remove the value).
    Resources {
        namespace: String,
        deployment: String,
        container: String,
        values: ResourceValues,
    },
    Replicas {
        namespace: String,
        deployment: String,
        replicas: i32,
    },
    /// Put back the pod template the deployment had (its revision, when known).
    Template {
        namespace: String,
        deployment: String,
        template: Value,
        revision: Option<i64>,
    },
    Schedulable {
        node: String,
        unschedulable: bool,
    },
    RemovePolicy {
        namespace: String,
        policy: String,
    },
}

impl Restore {
    /// The restoring write as an action, for the report.
    pub fn as_action(&self) -> ActionSpec {
        match self {
            Restore::Resources { namespace, deployment, container, values } => {
                let section = |s: &str| {
                    values
                        .get(s)
                        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.clone()?))).collect())
                        .unwrap_or_default()
                };
                ActionSpec::PatchResources {
                    namespace: namespace.clone(),
                    deployment: deployment.clone(),
                    container: container.clone(),
                    requests: section("requests"),
                    limits: section("limits"),
                }
            }
            Restore::Replicas { namespace, deployment, replicas } => {
                ActionSpec::Scale { namespace: namespace.clone(), deployment: deployment.clone(), replicas: *replicas }
            }
            Restore::Template { namespace, deployment, revision, .. } => ActionSpec::RollbackDeployment {
                namespace: namespace.clone(),
                deployment: deployment.clone(),
                to_revision: *revision,
            },
            Restore::Schedulable { node, unschedulable } => {
                ActionSpec::Cordon { node: node.clone(), unschedulable: *unschedulable }
            }
            Restore::RemovePolicy { namespace, policy } => {
                ActionSpec::Unquarantine { namespace: namespace.clone(), policy: policy.clone() }
            }
        }
    }
}

/// Apply one restore (dry-run when asked).
pub async fn restore(cx: &WriteContext<'_>, calls: &mut Calls, what: &Restore, dry_run: bool) -> Result<()> {
    match what {
        Restore::Resources { namespace, deployment, container, values } => {
            let patch = resources_patch(container, values, cx.annotations(&[]));
            let path = paths::deployment(namespace, deployment);
            cx.api.patch(calls, &path, PatchType::Strategic, &patch, dry_run).await?;
        }
        Restore::Replicas { namespace, deployment, replicas } => {
            let path = paths::deployment_scale(namespace, deployment);
            cx.api.patch(calls, &path, PatchType::Merge, &json!({"spec": {"replicas": replicas}}), dry_run).await?;
        }
        Restore::Template { namespace, deployment, template, .. } => {
            let patch = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
            cx.api.patch(calls, &paths::deployment(namespace, deployment), PatchType::Json, &patch, dry_run).await?;
        }
        Restore::Schedulable { node, unschedulable } => {
            let value = if *unschedulable { json!(true) } else { Value::Null };
            let patch = json!({"metadata": {"annotations": cx.annotations(&[])}, "spec": {"unschedulable": value}});
            cx.api.patch(calls, &paths::node(node), PatchType::Strategic, &patch, dry_run).await?;
        }
        Restore::RemovePolicy { namespace, policy } => {
            let path = paths::network_policy(namespace, policy);
            cx.api.delete(calls, &path, &json!({"propagationPolicy": "Background"}), dry_run).await?;
        }
    }
    Ok(())
}
