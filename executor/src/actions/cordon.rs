//! `kubectl cordon` / `uncordon`: a strategic merge patch of the node's `spec.unschedulable` (kubectl
//! removes the field to uncordon, which is what `null` does).
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::{Value, json};

use super::{Action, Applied, Restore, Undo, WriteContext, Written, check_name};
use crate::api::{Calls, PatchType, paths};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Cordon {
    node: String,
    unschedulable: bool,
}

impl Cordon {
    pub fn new(node: String, unschedulable: bool) -> Result<Self> {
        check_name("cordon", "node", &node)?;
        Ok(Self { node, unschedulable })
    }
}

pub(crate) fn is_unschedulable(node: &Value) -> bool {
    node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false)
}

/// Set the node's schedulability if it differs; returns the write and the previous value.
pub(crate) async fn set_unschedulable(
    cx: &WriteContext<'_>,
    calls: &mut Calls,
    node: &str,
    unschedulable: bool,
    dry_run: bool,
) -> Result<Option<(Written, bool)>> {
    let path = paths::node(node);
    let current = cx.api.get(calls, &path).await?.ok_or_else(|| Error::NotFound(format!("node {node}")))?;
    let previous = is_unschedulable(&current);
    if previous == unschedulable {
        return Ok(None);
    }
    let value = if unschedulable { json!(true) } else { Value::Null };
    let patch = json!({"metadata": {"annotations": cx.annotations(&[])}, "spec": {"unschedulable": value}});
    let object = cx.api.patch(calls, &path, PatchType::Strategic, &patch, dry_run).await?;
    Ok(Some((Written::update(current, object), previous)))
}

#[async_trait]
impl Action for Cordon {
    fn spec(&self) -> ActionSpec {
        ActionSpec::Cordon { node: self.node.clone(), unschedulable: self.unschedulable }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        match set_unschedulable(cx, calls, &self.node, self.unschedulable, dry_run).await? {
            None => {
                let state = if self.unschedulable { "cordoned" } else { "schedulable" };
                Ok(Applied::unchanged(format!("node {} was already {state}", self.node)))
            }
            Some((written, previous)) => Ok(Applied {
                changed: true,
                written: vec![written],
                undo: Undo {
                    restore: vec![Restore::Schedulable { node: self.node.clone(), unschedulable: previous }],
                    irreversible: None,
                },
                notes: Vec::new(),
            }),
        }
    }
}
