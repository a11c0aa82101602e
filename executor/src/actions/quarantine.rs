//! Quarantine: a NetworkPolicy that selects the pods, lists both policy types and allows nothing, so
//! they can neither send nor receive traffic (kept for forensics rather than deleted). Unquarantine
//! deletes it, and only a policy medic created.
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::{Action, Applied, MANAGED_BY_LABEL, Restore, Undo, WriteContext, Written, check_name, labels};
use crate::api::{Calls, paths};
use crate::error::{Error, Result};

fn created_by_medic(policy: &Value) -> bool {
    labels(policy, "/metadata/labels").get(MANAGED_BY_LABEL).map(String::as_str) == Some("medic")
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quarantine {
    namespace: String,
    policy: String,
    pod_selector: BTreeMap<String, String>,
}

impl Quarantine {
    pub fn new(namespace: String, policy: String, pod_selector: BTreeMap<String, String>) -> Result<Self> {
        check_name("quarantine", "namespace", &namespace)?;
        check_name("quarantine", "policy", &policy)?;
        if pod_selector.is_empty() {
            // An empty selector selects every pod of the namespace.
            return Err(Error::InvalidAction {
                action: "quarantine",
                reason: "an empty pod selector would isolate the whole namespace".into(),
            });
        }
        Ok(Self { namespace, policy, pod_selector })
    }

    fn object(&self, cx: &WriteContext<'_>) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": self.policy,
                "namespace": self.namespace,
                "labels": {MANAGED_BY_LABEL: "medic"},
                "annotations": cx.annotations(&[]),
            },
            "spec": {
                "podSelector": {"matchLabels": self.pod_selector},
                "policyTypes": ["Ingress", "Egress"],
            },
        })
    }
}

#[async_trait]
impl Action for Quarantine {
    fn spec(&self) -> ActionSpec {
        ActionSpec::Quarantine {
            namespace: self.namespace.clone(),
            policy: self.policy.clone(),
            pod_selector: self.pod_selector.clone(),
        }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let (ns, name) = (&self.namespace, &self.policy);
        if let Some(existing) = cx.api.get(calls, &paths::network_policy(ns, name)).await? {
            if !created_by_medic(&existing) {
                return Err(Error::Precondition(format!(
                    "networkpolicy {ns}/{name} exists and was not created by medic"
                )));
            }
            return Ok(Applied::unchanged(format!("networkpolicy {ns}/{name} already quarantines the pods")));
        }
        let object = cx.api.create(calls, &paths::network_policies(ns), &self.object(cx), dry_run).await?;
        Ok(Applied {
            changed: true,
            written: vec![Written::create(object)],
            undo: Undo {
                restore: vec![Restore::RemovePolicy { namespace: ns.clone(), policy: name.clone() }],
                irreversible: None,
            },
            notes: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unquarantine {
    namespace: String,
    policy: String,
}

impl Unquarantine {
    pub fn new(namespace: String, policy: String) -> Result<Self> {
        check_name("unquarantine", "namespace", &namespace)?;
        check_name("unquarantine", "policy", &policy)?;
        Ok(Self { namespace, policy })
    }
}

#[async_trait]
impl Action for Unquarantine {
    fn spec(&self) -> ActionSpec {
        ActionSpec::Unquarantine { namespace: self.namespace.clone(), policy: self.policy.clone() }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let (ns, name) = (&self.namespace, &self.policy);
        let path = paths::network_policy(ns, name);
        let Some(existing) = cx.api.get(calls, &path).await? else {
            return Ok(Applied::unchanged(format!("networkpolicy {ns}/{name} was already gone")));
        };
        if !created_by_medic(&existing) {
            return Err(Error::Precondition(format!("networkpolicy {ns}/{name} was not created by medic; leaving it")));
        }
        let deleted = cx.api.delete(calls, &path, &json!({"propagationPolicy": "Background"}), dry_run).await?;
        Ok(Applied {
            changed: true,
            written: vec![Written::delete(deleted.unwrap_or(existing))],
            undo: Undo {
                restore: Vec::new(),
                irreversible: Some(format!("networkpolicy {ns}/{name} was removed; quarantine again to restore it")),
            },
            notes: Vec::new(),
        })
    }
}
