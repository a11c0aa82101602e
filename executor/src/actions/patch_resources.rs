//! `kubectl set resources deployment -c <container>`: a strategic merge patch of the container (merged
//! by name) with the new requests and limits. Undo restores the previous values, removing those that
//! were not set before.
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::{Action, Applied, Restore, Undo, WriteContext, Written, check_name};
use crate::api::{Calls, PatchType, paths};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct PatchResources {
    namespace: String,
    deployment: String,
    container: String,
    requests: BTreeMap<String, String>,
    limits: BTreeMap<String, String>,
}

impl PatchResources {
    pub fn new(
        namespace: String,
        deployment: String,
        container: String,
        requests: BTreeMap<String, String>,
        limits: BTreeMap<String, String>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidAction { action: "patch-resources", reason };
        check_name("patch-resources", "namespace", &namespace)?;
        check_name("patch-resources", "deployment", &deployment)?;
        if container.is_empty() {
            return Err(invalid("the container is empty".into()));
        }
        if requests.is_empty() && limits.is_empty() {
            return Err(invalid("neither requests nor limits are given".into()));
        }
        for (resource, quantity) in requests.iter().chain(&limits) {
            if resource.is_empty() || !medic_playbooks::values::is_quantity(quantity) {
                return Err(invalid(format!("{resource}={quantity:?} is not a resource quantity")));
            }
        }
        Ok(Self { namespace, deployment, container, requests, limits })
    }
}

/// Per section (`limits`, `requests`): resource → previous value (`None`: was not set).
pub type ResourceValues = BTreeMap<String, BTreeMap<String, Option<String>>>;

/// The container's current `resources.<section>.<resource>` values.
pub(crate) fn container<'v>(deployment: &'v Value, name: &str) -> Option<&'v Value> {
    deployment
        .pointer("/spec/template/spec/containers")?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

/// The strategic merge patch that sets (or, for `None`, removes) resource values of one container.
pub(crate) fn resources_patch(container: &str, values: &ResourceValues, annotations: Value) -> Value {
    let mut resources = Map::new();
    for (section, entries) in values {
        let entries: Map<String, Value> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, |q| Value::String(q.clone()))))
            .collect();
        resources.insert(section.clone(), Value::Object(entries));
    }
    json!({
        "metadata": {"annotations": annotations},
        "spec": {"template": {"spec": {"containers": [{"name": container, "resources": resources}]}}},
    })
}

#[async_trait]
impl Action for PatchResources {
    fn spec(&self) -> ActionSpec {
        ActionSpec::PatchResources {
            namespace: self.namespace.clone(),
            deployment: self.deployment.clone(),
            container: self.container.clone(),
            requests: self.requests.clone(),
            limits: self.limits.clone(),
        }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let (ns, name) = (&self.namespace, &self.deployment);
        let path = paths::deployment(ns, name);
        let current =
            cx.api.get(calls, &path).await?.ok_or_else(|| Error::NotFound(format!("deployment {ns}/{name}")))?;
        let spec = container(&current, &self.container).ok_or_else(|| {
            Error::Precondition(format!("deployment {ns}/{name} has no container {:?}", self.container))
        })?;
        let mut wanted = ResourceValues::new();
        let mut previous = ResourceValues::new();
        for (section, values) in [("limits", &self.limits), ("requests", &self.requests)] {
            for (resource, quantity) in values {
                let now = spec.pointer(&format!("/resources/{section}/{resource}")).and_then(Value::as_str);
                if now != Some(quantity.as_str()) {
                    wanted.entry(section.into()).or_default().insert(resource.clone(), Some(quantity.clone()));
                    previous.entry(section.into()).or_default().insert(resource.clone(), now.map(str::to_string));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Applied::unchanged(format!(
                "container {} of deployment {ns}/{name} already has these resources",
                self.container
            )));
        }
        let patch = resources_patch(&self.container, &wanted, cx.annotations(&[]));
        let object = cx.api.patch(calls, &path, PatchType::Strategic, &patch, dry_run).await?;
        Ok(Applied {
            changed: true,
            written: vec![Written::update(current.clone(), object)],
            undo: Undo {
                restore: vec![Restore::Resources {
                    namespace: ns.clone(),
                    deployment: name.clone(),
                    container: self.container.clone(),
                    values: previous,
                }],
                irreversible: None,
            },
            notes: Vec::new(),
        })
    }
}
