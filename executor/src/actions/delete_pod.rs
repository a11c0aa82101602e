//! `kubectl delete pod`: the pod's controller replaces it. A deleted pod cannot carry the incident
//! annotation, so it goes on the pod's controlling workload (the Deployment above its ReplicaSet, or the
//! ReplicaSet, StatefulSet, ... that owns it); a pod without a controller is named in the audit record only.
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::Value;

use super::{
    Action, Applied, Undo, WriteContext, Written, annotation_patch, check_name, controller_of, delete_options,
};
use crate::api::{Calls, PatchType, paths};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct DeletePod {
    namespace: String,
    pod: String,
    grace_period_secs: Option<u32>,
}

impl DeletePod {
    pub fn new(namespace: String, pod: String, grace_period_secs: Option<u32>) -> Result<Self> {
        check_name("delete-pod", "namespace", &namespace)?;
        check_name("delete-pod", "pod", &pod)?;
        Ok(Self { namespace, pod, grace_period_secs })
    }

    /// The path of the workload that controls the pod, walking ReplicaSet → Deployment.
    async fn owner_path(&self, cx: &WriteContext<'_>, calls: &mut Calls, pod: &Value) -> Result<Option<String>> {
        let ns = &self.namespace;
        let Some((kind, name)) = controller_of(pod) else { return Ok(None) };
        Ok(match kind.as_str() {
            "ReplicaSet" => {
                let rs = cx.api.get(calls, &paths::replica_set(ns, &name)).await?;
                match rs.as_ref().and_then(controller_of) {
                    Some((kind, deployment)) if kind == "Deployment" => Some(paths::deployment(ns, &deployment)),
                    _ if rs.is_some() => Some(paths::replica_set(ns, &name)),
                    _ => None,
                }
            }
            "StatefulSet" => Some(format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}")),
            "DaemonSet" => Some(format!("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}")),
            "Job" => Some(format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}")),
            _ => None,
        })
    }
}

#[async_trait]
impl Action for DeletePod {
    fn spec(&self) -> ActionSpec {
        ActionSpec::DeletePod { namespace: self.namespace.clone(), pod: self.pod.clone() }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let path = paths::pod(&self.namespace, &self.pod);
        let Some(pod) = cx.api.get(calls, &path).await? else {
            return Ok(Applied::unchanged(format!("pod {}/{} was already gone", self.namespace, self.pod)));
        };
        if pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
            return Ok(Applied::unchanged(format!("pod {}/{} was already terminating", self.namespace, self.pod)));
        }
        let deleted = cx.api.delete(calls, &path, &delete_options(self.grace_period_secs), dry_run).await?;
        let mut applied = Applied {
            changed: true,
            written: vec![Written::delete(deleted.unwrap_or(pod.clone()))],
            undo: Undo {
                restore: Vec::new(),
                irreversible: Some(format!(
                    "pod {}/{} was deleted; a deleted pod cannot be restored (its controller replaced it)",
                    self.namespace, self.pod
                )),
            },
            notes: Vec::new(),
        };
        match self.owner_path(cx, calls, &pod).await? {
            Some(owner) => {
                // Only an annotation changes: no old object is needed to judge it (admission compares
                // the object with itself and reports only what the annotation would change).
                let patched = cx.api.patch(calls, &owner, PatchType::Merge, &annotation_patch(cx), dry_run).await?;
                applied.written.push(Written { operation: "UPDATE", object: patched, old: None });
            }
            None => applied.notes.push(format!(
                "pod {}/{} has no controller to carry the incident annotation; the audit record names it",
                self.namespace, self.pod
            )),
        }
        Ok(applied)
    }
}
