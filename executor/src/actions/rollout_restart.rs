//! `kubectl rollout restart deployment`: a strategic merge patch of the pod template's
//! `kubectl.kubernetes.io/restartedAt` annotation, exactly as kubectl writes it. The deployment records
//! the incident it restarted for, so a second application for the same incident restarts nothing.
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::json;

use super::{Action, Applied, Undo, WriteContext, Written, annotation, check_name};
use crate::api::{Calls, PatchType, paths};
use crate::error::{Error, Result};

pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// Which incident last restarted the deployment.
pub const RESTARTED_FOR: &str = "medic.io/restarted-for";

#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRestart {
    namespace: String,
    deployment: String,
}

impl RolloutRestart {
    pub fn new(namespace: String, deployment: String) -> Result<Self> {
        check_name("rollout-restart", "namespace", &namespace)?;
        check_name("rollout-restart", "deployment", &deployment)?;
        Ok(Self { namespace, deployment })
    }
}

#[async_trait]
impl Action for RolloutRestart {
    fn spec(&self) -> ActionSpec {
        ActionSpec::RolloutRestart { namespace: self.namespace.clone(), deployment: self.deployment.clone() }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let path = paths::deployment(&self.namespace, &self.deployment);
        let current = cx
            .api
            .get(calls, &path)
            .await?
            .ok_or_else(|| Error::NotFound(format!("deployment {}/{}", self.namespace, self.deployment)))?;
        let incident = cx.incident_str();
        if annotation(&current, RESTARTED_FOR) == Some(incident.as_str()) {
            return Ok(Applied::unchanged(format!(
                "deployment {}/{} was already restarted for this incident",
                self.namespace, self.deployment
            )));
        }
        // kubectl formats time.Now() with RFC 3339 to the second.
        let now = cx.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let patch = json!({
            "metadata": {"annotations": cx.annotations(&[(RESTARTED_FOR, &incident)])},
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}},
        });
        let object = cx.api.patch(calls, &path, PatchType::Strategic, &patch, dry_run).await?;
        Ok(Applied {
            changed: true,
            written: vec![Written::update(current, object)],
            undo: Undo {
                restore: Vec::new(),
                irreversible: Some(format!(
                    "deployment {}/{} was restarted; its pods were replaced and restoring the old template would only replace them again",
                    self.namespace, self.deployment
                )),
            },
            notes: Vec::new(),
        })
    }
}
