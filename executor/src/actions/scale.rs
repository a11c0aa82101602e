//! `kubectl scale deployment --replicas`: a merge patch of the `/scale` subresource, then the incident
//! annotation on the deployment (the scale subresource carries no annotations).
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::{Value, json};

use super::{Action, Applied, Restore, Undo, WriteContext, Written, annotation_patch, check_name};
use crate::api::{Calls, PatchType, paths};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    namespace: String,
    deployment: String,
    replicas: i32,
}

impl Scale {
    pub fn new(namespace: String, deployment: String, replicas: i32) -> Result<Self> {
        check_name("scale", "namespace", &namespace)?;
        check_name("scale", "deployment", &deployment)?;
        if replicas < 0 {
            return Err(Error::InvalidAction { action: "scale", reason: format!("replicas {replicas} is negative") });
        }
        Ok(Self { namespace, deployment, replicas })
    }
}

/// `spec.replicas` of a deployment (Kubernetes defaults it to 1).
pub(crate) fn replicas_of(deployment: &Value) -> i32 {
    deployment.pointer("/spec/replicas").and_then(Value::as_i64).map_or(1, |r| r as i32)
}

#[async_trait]
impl Action for Scale {
    fn spec(&self) -> ActionSpec {
        ActionSpec::Scale {
            namespace: self.namespace.clone(),
            deployment: self.deployment.clone(),
            replicas: self.replicas,
        }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let (ns, name) = (&self.namespace, &self.deployment);
        let path = paths::deployment(ns, name);
        let current =
            cx.api.get(calls, &path).await?.ok_or_else(|| Error::NotFound(format!("deployment {ns}/{name}")))?;
        let previous = replicas_of(&current);
        if previous == self.replicas {
            return Ok(Applied::unchanged(format!("deployment {ns}/{name} already has {previous} replicas")));
        }
        let scale = json!({"spec": {"replicas": self.replicas}});
        cx.api.patch(calls, &paths::deployment_scale(ns, name), PatchType::Merge, &scale, dry_run).await?;
        let mut object = cx.api.patch(calls, &path, PatchType::Merge, &annotation_patch(cx), dry_run).await?;
        // A dry run leaves the replicas as they were: show the policy gate the deployment as it will be.
        if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(self.replicas));
        }
        Ok(Applied {
            changed: true,
            written: vec![Written::update(current, object)],
            undo: Undo {
                restore: vec![Restore::Replicas {
                    namespace: ns.clone(),
                    deployment: name.clone(),
                    replicas: previous,
                }],
                irreversible: None,
            },
            notes: Vec::new(),
        })
    }
}
