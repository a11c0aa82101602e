//! `kubectl drain --ignore-daemonsets`: cordon the node, then evict every pod on it except DaemonSet
//! pods, mirror (static) pods and pods already terminating or finished, through the eviction API so
//! PodDisruptionBudgets are honoured: an eviction answered 429 is retried until the drain's time limit.
//! Like kubectl, it refuses pods that no controller would recreate. Pods of protected namespaces stay:
//! medic never writes there.
use async_trait::async_trait;
use medic_core::ActionSpec;
use serde_json::Value;

use super::cordon::set_unschedulable;
use super::{Action, Applied, Restore, WriteContext, check_name, controller_of, delete_options};
use crate::api::{Calls, Eviction, paths};
use crate::error::{Error, Result};

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

#[derive(Debug, Clone, PartialEq)]
pub struct Drain {
    node: String,
}

impl Drain {
    pub fn new(node: String) -> Result<Self> {
        check_name("drain", "node", &node)?;
        Ok(Self { node })
    }
}

/// Whether a drain must evict this pod (and, if not, why not).
pub(crate) fn must_evict(pod: &Value) -> std::result::Result<(), &'static str> {
    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        return Err("terminating");
    }
    if matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")) {
        return Err("finished");
    }
    if pod.pointer("/metadata/annotations").and_then(|a| a.get(MIRROR_ANNOTATION)).is_some() {
        return Err("mirror pod");
    }
    if controller_of(pod).is_some_and(|(kind, _)| kind == "DaemonSet") {
        return Err("DaemonSet pod");
    }
    Ok(())
}

fn name_of(pod: &Value) -> (String, String) {
    let get = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (get("/metadata/namespace"), get("/metadata/name"))
}

#[async_trait]
impl Action for Drain {
    fn spec(&self) -> ActionSpec {
        ActionSpec::Drain { node: self.node.clone() }
    }

    async fn apply(&self, cx: &WriteContext<'_>, calls: &mut Calls, dry_run: bool) -> Result<Applied> {
        let mut applied = Applied::default();
        if let Some((written, previous)) = set_unschedulable(cx, calls, &self.node, true, dry_run).await? {
            applied.changed = true;
            applied.written.push(written);
            applied.undo.restore.push(Restore::Schedulable { node: self.node.clone(), unschedulable: previous });
        }
        let selector = format!("spec.nodeName={}", self.node);
        let pods = cx.api.list(calls, &paths::all_pods(), &[("fieldSelector", &selector)]).await?;
        let mut to_evict: Vec<(String, String)> = Vec::new();
        let mut unmanaged = Vec::new();
        let mut protected = Vec::new();
        for pod in &pods {
            if must_evict(pod).is_err() {
                continue;
            }
            let (ns, name) = name_of(pod);
            if cx.config.protected_namespaces.contains(&ns) {
                protected.push(format!("{ns}/{name}"));
            } else if controller_of(pod).is_none() {
                unmanaged.push(format!("{ns}/{name}"));
            } else {
                to_evict.push((ns, name));
            }
        }
        if !unmanaged.is_empty() {
            return Err(Error::Precondition(format!(
                "cannot drain node {}: pods that declare no controller would not come back: {}",
                self.node,
                unmanaged.join(", ")
            )));
        }
        if !protected.is_empty() {
            applied.notes.push(format!("left pods of protected namespaces in place: {}", protected.join(", ")));
        }
        let options = delete_options(cx.config.pod_grace_period_secs);
        let deadline = std::time::Duration::from_secs_f64(cx.config.drain_timeout_secs);
        let retry = std::time::Duration::from_secs_f64(cx.config.eviction_retry_secs);
        let started = cx.clock.now();
        let mut evicted = Vec::new();
        let mut pending = to_evict;
        loop {
            let mut refused = Vec::new();
            for (ns, name) in pending {
                match cx.api.evict(calls, &ns, &name, &options, dry_run).await? {
                    Eviction::Evicted => evicted.push(format!("{ns}/{name}")),
                    Eviction::Gone => {}
                    Eviction::Refused(reason) => refused.push((ns, name, reason)),
                }
            }
            if refused.is_empty() {
                break;
            }
            // A dry run only asks whether the budgets would allow it now; it does not wait.
            let waited = cx.clock.now().duration_since(started).unsigned_abs();
            if dry_run || waited + retry > deadline {
                let detail: Vec<String> = refused.iter().map(|(ns, n, r)| format!("{ns}/{n}: {r}")).collect();
                if dry_run {
                    applied.notes.push(format!("evictions a disruption budget refuses now: {}", detail.join("; ")));
                    break;
                }
                return Err(Error::DrainIncomplete { node: self.node.clone(), detail: detail.join("; ") });
            }
            tokio::time::sleep(cx.clock.to_real(retry)).await;
            pending = refused.into_iter().map(|(ns, n, _)| (ns, n)).collect();
        }
        if !evicted.is_empty() {
            applied.changed = true;
            applied.undo.irreversible = Some(format!(
                "evicted pods cannot be put back on node {}; their controllers recreated them elsewhere: {}",
                self.node,
                evicted.join(", ")
            ));
            applied.notes.push(format!("evicted {}", evicted.join(", ")));
        }
        if !applied.changed {
            applied.notes.push(format!("node {} was already cordoned and empty", self.node));
        }
        Ok(applied)
    }
}
