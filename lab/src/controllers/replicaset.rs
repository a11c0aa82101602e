//! The ReplicaSet controller: keeps `spec.replicas` active pods from the template, deletes surplus ones
//! in the order Kubernetes does (unscheduled, pending, not ready, newest first), and reports replicas,
//! ready and available counts in the status.
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::collections::HashMap;

use super::cache::Entry;
use super::events::{EventType, Involved, Source};
use super::pods::{controller_of, controller_reference, deletion_order, is_active, is_available, is_ready};
use super::{Ctx, api_time};
use crate::store::{DeleteOptions, Kind};

const SOURCE: Source = Source::controller("replicaset-controller");
/// Most pods created or deleted by one sync (`burstReplicas`).
const BURST: usize = 500;
/// How long pods may stay on an unreachable or not-ready node (the `DefaultTolerationSeconds` admission
/// plugin gives every pod these tolerations).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

#[derive(Debug, Default)]
pub struct ReplicaSetController;

impl ReplicaSetController {
    pub fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let replica_sets = ctx.caches.replica_sets.list(ctx.store);
        if replica_sets.is_empty() {
            return;
        }
        let pods = ctx.caches.pods.list(ctx.store);
        let mut owned: HashMap<&str, Vec<&Entry<Pod>>> = HashMap::new();
        for pod in &pods {
            if let Some(owner) = controller_of(&pod.typed.metadata).filter(|o| o.kind == "ReplicaSet") {
                owned.entry(owner.uid.as_str()).or_default().push(pod);
            }
        }
        for rs in &replica_sets {
            let mine = owned.remove(rs.uid()).unwrap_or_default();
            sync_replica_set(ctx, rs, mine);
        }
    }
}

fn sync_replica_set(ctx: &mut Ctx<'_>, rs: &Entry<ReplicaSet>, pods: Vec<&Entry<Pod>>) {
    if rs.typed.metadata.deletion_timestamp.is_some() {
        return;
    }
    let spec = &rs.typed.spec;
    let desired = spec.replicas.unwrap_or(1).max(0) as usize;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let mut active: Vec<&Entry<Pod>> = pods.into_iter().filter(|p| is_active(&p.typed)).collect();
    let mut failure: Option<String> = None;
    let mut created = 0;

    if active.len() < desired {
        for _ in 0..(desired - active.len()).min(BURST) {
            match create_pod(ctx, rs) {
                Ok(name) => {
                    created += 1;
                    let involved = Involved::of(Kind::ReplicaSet, &rs.object);
                    let message = format!("Created pod: {name}");
                    ctx.events.record(
                        ctx.store,
                        ctx.now,
                        &SOURCE,
                        &involved,
                        EventType::Normal,
                        "SuccessfulCreate",
                        message,
                    );
                }
                Err(error) => {
                    let involved = Involved::of(Kind::ReplicaSet, &rs.object);
                    let message = format!("Error creating: {error}");
                    ctx.events.record(
                        ctx.store,
                        ctx.now,
                        &SOURCE,
                        &involved,
                        EventType::Warning,
                        "FailedCreate",
                        message.clone(),
                    );
                    failure = Some(message);
                    break;
                }
            }
        }
    } else if active.len() > desired {
        active.sort_by(|a, b| deletion_order(&a.typed, &b.typed));
        let surplus = (active.len() - desired).min(BURST);
        for pod in active.drain(..surplus) {
            let deleted =
                ctx.store.delete_with(Kind::Pod, Some(pod.namespace()), pod.name(), &DeleteOptions::default());
            if deleted.is_ok() {
                let involved = Involved::of(Kind::ReplicaSet, &rs.object);
                let message = format!("Deleted pod: {}", pod.name());
                ctx.events.record(
                    ctx.store,
                    ctx.now,
                    &SOURCE,
                    &involved,
                    EventType::Normal,
                    "SuccessfulDelete",
                    message,
                );
            }
        }
    }

    // Pods created this sync are not in `active`: they count as replicas, not as ready ones.
    let template_labels = spec.template.as_ref().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels.is_none_or(|wanted| {
                let labels = p.typed.metadata.labels.as_ref();
                wanted.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
        })
        .count();
    let ready = active.iter().filter(|p| is_ready(&p.typed)).count();
    let available = active.iter().filter(|p| is_available(&p.typed, min_ready, ctx.now)).count();
    let mut status = json!({
        "replicas": active.len() + created,
        "fullyLabeledReplicas": fully_labeled + created,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs.typed.metadata.generation.unwrap_or(1),
    });
    let previous_failure = rs
        .object
        .value
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("ReplicaFailure")).cloned());
    if let Some(message) = failure {
        let since = previous_failure
            .as_ref()
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(api_time(ctx.now)));
        status["conditions"] = json!([{
            "type": "ReplicaFailure",
            "status": "True",
            "lastTransitionTime": since,
            "reason": "FailedCreate",
            "message": message,
        }]);
    }
    if rs.object.value.get("status") != Some(&status) {
        let _ = ctx.store.modify(Kind::ReplicaSet, Some(rs.namespace()), rs.name(), |object| {
            object["status"] = status;
            Ok(())
        });
    }
}

/// Creates one pod from the ReplicaSet's template; returns its generated name.
fn create_pod(ctx: &mut Ctx<'_>, rs: &Entry<ReplicaSet>) -> crate::Result<String> {
    let template = &rs.object.value["spec"]["template"];
    let mut metadata = serde_json::Map::new();
    metadata.insert("generateName".into(), json!(format!("{}-", rs.name())));
    metadata.insert("namespace".into(), json!(rs.namespace()));
    for field in ["labels", "annotations"] {
        if let Some(value) = template.pointer(&format!("/metadata/{field}")).filter(|v| v.is_object()) {
            metadata.insert(field.into(), value.clone());
        }
    }
    metadata.insert("ownerReferences".into(), json!([controller_reference(Kind::ReplicaSet, &rs.object)]));
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    add_default_tolerations(&mut spec);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec});
    let created = ctx.store.create(Kind::Pod, pod)?;
    Ok(created.name().to_string())
}

/// The `DefaultTolerationSeconds` admission plugin: tolerate not-ready and unreachable nodes for 300 s.
pub fn add_default_tolerations(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    if !spec.get("tolerations").is_some_and(Value::is_array) {
        spec["tolerations"] = json!([]);
    }
    let Some(tolerations) = spec["tolerations"].as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        let present = tolerations.iter().any(|t| {
            let t_key = t.get("key").and_then(Value::as_str);
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
            let operator = t.get("operator").and_then(Value::as_str).unwrap_or_default();
            (t_key == Some(key) || (t_key.is_none_or(str::is_empty) && operator == "Exists"))
                && (effect.is_empty() || effect == "NoExecute")
        });
        if !present {
            tolerations.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tolerations_are_added_once() {
        let mut spec = json!({"containers": []});
        add_default_tolerations(&mut spec);
        add_default_tolerations(&mut spec);
        let tolerations = spec["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), 2);
        assert_eq!(tolerations[1]["key"], "node.kubernetes.io/unreachable");
        assert_eq!(tolerations[1]["tolerationSeconds"], 300);

        let mut tolerant = json!({"tolerations": [{"operator": "Exists"}]});
        add_default_tolerations(&mut tolerant);
        assert_eq!(tolerant["tolerations"].as_array().unwrap().len(), 1);
    }
}
