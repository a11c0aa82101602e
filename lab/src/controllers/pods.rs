//! What controllers ask of pods and owner references.
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};
use std::cmp::Ordering;

use crate::store::{Kind, Object};

/// The owner reference a controller puts on what it creates.
pub fn controller_reference(kind: Kind, owner: &Object) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.kind(),
        "name": owner.name(),
        "uid": owner.uid(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The owner reference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Whether the object's controller is the object with `uid`.
pub fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

/// Not terminating and not finished: counts toward a ReplicaSet's replicas.
pub fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase(pod), "Succeeded" | "Failed")
}

fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Ready for at least `min_ready_seconds` (a Deployment's and ReplicaSet's "available").
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(condition) = ready_condition(pod).filter(|c| c.status == "True") else { return false };
    if min_ready_seconds <= 0 {
        return true;
    }
    condition
        .last_transition_time
        .as_ref()
        .is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now)
}

pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

pub fn restart_count(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |c| c.iter().map(|c| c.restart_count).sum())
}

/// The order in which a ReplicaSet deletes surplus pods (`controller.ActivePods`): first unscheduled,
/// then pending, then not ready, then ready for less time, then more restarts, then the newest.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| node_name(p).is_some();
    let phase_rank = |p: &Pod| match phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let ready_since =
        |p: &Pod| ready_condition(p).filter(|c| c.status == "True").and_then(|c| c.last_transition_time.clone());
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        // Ready more recently (later transition) goes first.
        .then_with(|| ready_since(b).cmp(&ready_since(a)))
        .then_with(|| restart_count(b).cmp(&restart_count(a)))
        .then_with(|| b.metadata.creation_timestamp.cmp(&a.metadata.creation_timestamp))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"containers": [], "nodeName": node},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": created}
            ]},
        }))
        .unwrap()
    }

    #[test]
    fn surplus_pods_go_in_the_replica_set_controllers_order() {
        let mut pods = [
            pod("ready-old", Some("n1"), "Running", true, "2026-01-01T00:00:00Z"),
            pod("ready-new", Some("n1"), "Running", true, "2026-01-01T00:05:00Z"),
            pod("pending", Some("n1"), "Pending", false, "2026-01-01T00:00:00Z"),
            pod("unscheduled", None, "Pending", false, "2026-01-01T00:00:00Z"),
            pod("not-ready", Some("n2"), "Running", false, "2026-01-01T00:00:00Z"),
        ];
        pods.sort_by(deletion_order);
        let names: Vec<_> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["unscheduled", "pending", "not-ready", "ready-new", "ready-old"]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = pod("a", Some("n1"), "Running", true, "2026-01-01T00:00:00Z");
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(is_available(&p, 0, t0));
        assert!(!is_available(&p, 10, t0 + SignedDuration::from_secs(9)));
        assert!(is_available(&p, 10, t0 + SignedDuration::from_secs(10)));
        assert!(is_active(&p));
    }
}
