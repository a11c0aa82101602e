//! The Deployment controller: one ReplicaSet per pod template (named by its pod-template-hash),
//! rolling updates under maxSurge/maxUnavailable or Recreate, revision annotations and history (so
//! `kubectl rollout undo` re-uses the old ReplicaSet and `rollout history` lists revisions), old
//! ReplicaSets cleaned up beyond `revisionHistoryLimit`, and the status and conditions `kubectl rollout
//! status` reads.
mod replica_sets;
pub mod status;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::Entry;
use super::hash::canonical;
use super::pods::{controller_of, controller_reference};
use super::rollout;
use super::{Ctx, selector};
use crate::error::Error;
use crate::store::{Kind, Object};
pub use replica_sets::{DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY, revision_of};
use replica_sets::{
    Rs, cleanup_old, create_new_rs, is_scaling_event, object_field, record_scaling, refresh_new_rs_annotations,
    rollout_recreate, rollout_rolling, scale_proportionally, strategy,
};
use status::Counts;

/// Canonical pod templates by the resourceVersion of the object holding them: comparing templates is
/// the controller's most frequent question, and objects change rarely.
#[derive(Debug, Default)]
struct Templates {
    previous: HashMap<u64, Arc<str>>,
    current: HashMap<u64, Arc<str>>,
}

impl Templates {
    fn of(&mut self, object: &Object) -> Arc<str> {
        let rv = object.resource_version;
        if let Some(found) = self.current.get(&rv) {
            return found.clone();
        }
        let text = self.previous.remove(&rv).unwrap_or_else(|| canonical(&object.value["spec"]["template"]).into());
        self.current.insert(rv, text.clone());
        text
    }

    fn equal(&mut self, a: &Object, b: &Object) -> bool {
        self.of(a) == self.of(b)
    }

    /// Forget the templates of objects not seen this tick.
    fn rotate(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

#[derive(Debug, Default)]
pub struct DeploymentController {
    templates: Templates,
    /// Deployments whose rollout was complete, by uid, with the versions of the objects they were
    /// synced from: until one of those changes a sync would write nothing, so it is skipped.
    settled: HashMap<String, u64>,
}

/// A digest of the versions of a Deployment and its ReplicaSets.
fn versions(deployment: &Entry<Deployment>, replica_sets: &[Entry<ReplicaSet>]) -> u64 {
    let mix = |acc: u64, v: u64| (acc ^ v).wrapping_mul(0x0100_0000_01b3).rotate_left(17);
    replica_sets.iter().fold(mix(0xcbf2_9ce4_8422_2325, deployment.object.resource_version), |acc, rs| {
        mix(acc, rs.object.resource_version)
    })
}

/// A finished rollout: nothing in its sync depends on the clock.
fn settled(deployment: &Deployment) -> bool {
    let Some(status) = deployment.status.as_ref() else { return false };
    let desired = deployment.spec.replicas.unwrap_or(1);
    let progressing = status::get(status, status::PROGRESSING).and_then(|c| c.reason.as_deref());
    status.observed_generation == deployment.metadata.generation
        && status.updated_replicas == Some(desired)
        && status.replicas == Some(desired)
        && (progressing == Some(status::NEW_REPLICA_SET_AVAILABLE)
            || deployment.spec.progress_deadline_seconds.is_none())
}

impl DeploymentController {
    pub fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let deployments = ctx.caches.deployments.list(ctx.store);
        if deployments.is_empty() {
            return;
        }
        let replica_sets = ctx.caches.replica_sets.list(ctx.store);
        let mut owned: HashMap<String, Vec<Entry<ReplicaSet>>> = HashMap::new();
        let mut orphans: Vec<Entry<ReplicaSet>> = Vec::new();
        for rs in replica_sets {
            match controller_of(&rs.typed.metadata) {
                Some(owner) if owner.kind == "Deployment" => owned.entry(owner.uid.clone()).or_default().push(rs),
                Some(_) => {}
                None if rs.typed.metadata.deletion_timestamp.is_none() => orphans.push(rs),
                None => {}
            }
        }
        let mut pods: Option<Vec<Entry<Pod>>> = None;
        for deployment in &deployments {
            let mut mine = owned.remove(deployment.uid()).unwrap_or_default();
            mine.extend(adopt(ctx, deployment, &mut orphans));
            let key = versions(deployment, &mine);
            if self.settled.get(deployment.uid()) == Some(&key) {
                continue;
            }
            if settled(&deployment.typed) {
                self.settled.insert(deployment.uid().to_string(), key);
            } else {
                self.settled.remove(deployment.uid());
            }
            let recreate = deployment.typed.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
            if recreate && pods.is_none() {
                pods = Some(ctx.caches.pods.list(ctx.store));
            }
            let pods = pods.as_deref().unwrap_or_default();
            if let Err(error) = sync_deployment(ctx, &mut self.templates, deployment, mine, pods) {
                tracing::debug!(deployment = deployment.name(), %error, "deployment sync failed; retrying next tick");
            }
        }
        self.templates.rotate();
        if self.settled.len() > deployments.len() {
            self.settled.retain(|uid, _| deployments.iter().any(|d| d.uid() == uid));
        }
    }
}

/// Orphaned ReplicaSets in the Deployment's namespace whose labels its selector matches become its own.
fn adopt(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    orphans: &mut Vec<Entry<ReplicaSet>>,
) -> Vec<Entry<ReplicaSet>> {
    let spec = &deployment.typed.spec;
    if selector::is_empty(&spec.selector) || deployment.typed.metadata.deletion_timestamp.is_some() {
        return Vec::new();
    }
    let mut adopted = Vec::new();
    let mut i = 0;
    while i < orphans.len() {
        let rs = &orphans[i];
        if rs.namespace() == deployment.namespace()
            && selector::matches(&spec.selector, rs.typed.metadata.labels.as_ref())
        {
            let rs = orphans.remove(i);
            let reference = controller_reference(Kind::Deployment, &deployment.object);
            let written = ctx.store.modify(Kind::ReplicaSet, Some(rs.namespace()), rs.name(), |object| {
                let metadata = object_field(object, "metadata");
                let refs = metadata.entry("ownerReferences").or_insert_with(|| json!([]));
                if let Some(refs) = refs.as_array_mut() {
                    refs.push(reference);
                }
                Ok(())
            });
            if let Ok(object) = written
                && let Some(typed) = ctx.caches.replica_sets.parse(&object)
            {
                adopted.push(Entry { object, typed });
            }
        } else {
            i += 1;
        }
    }
    adopted
}

fn sync_deployment(
    ctx: &mut Ctx<'_>,
    templates: &mut Templates,
    deployment: &Entry<Deployment>,
    mut owned: Vec<Entry<ReplicaSet>>,
    pods: &[Entry<Pod>],
) -> crate::Result<()> {
    let d = &deployment.typed;
    let spec = &d.spec;
    if d.metadata.deletion_timestamp.is_some() || selector::is_empty(&spec.selector) {
        return Ok(());
    }
    let desired = spec.replicas.unwrap_or(1);
    let strategy = strategy(d, desired).map_err(Error::BadRequest)?;
    let previous_status = d.status.clone().unwrap_or_default();
    let mut next_status_seed = previous_status.clone();

    owned.retain(|rs| rs.typed.metadata.deletion_timestamp.is_none());
    owned.sort_by(|a, b| {
        a.typed
            .metadata
            .creation_timestamp
            .cmp(&b.typed.metadata.creation_timestamp)
            .then_with(|| a.name().cmp(b.name()))
    });
    let mut new_rs: Option<Rs> = None;
    let mut old: Vec<Rs> = Vec::new();
    for rs in owned {
        let desired = rs.typed.spec.replicas.unwrap_or(1);
        let view = Rs { object: rs.object.clone(), typed: rs.typed.clone(), desired };
        if new_rs.is_none() && templates.equal(&deployment.object, &rs.object) {
            new_rs = Some(view);
        } else {
            old.push(view);
        }
    }
    let max_old_revision = old.iter().map(Rs::revision).max().unwrap_or(0);
    let new_revision = max_old_revision + 1;
    let paused = spec.paused == Some(true);

    match new_rs.as_mut() {
        Some(rs) => {
            refresh_new_rs_annotations(ctx, deployment, rs, new_revision, desired, strategy.max_surge)?;
            if status::get(&next_status_seed, status::PROGRESSING).is_none() && spec.progress_deadline_seconds.is_some()
            {
                let message = format!("Found new replica set \"{}\"", rs.name());
                status::set(
                    &mut next_status_seed,
                    status::condition(status::PROGRESSING, "True", status::FOUND_NEW_REPLICA_SET, message, ctx.now),
                );
            }
        }
        None if !paused => {
            let all_desired: i32 = old.iter().map(|r| r.desired).sum();
            let initial = if strategy.recreate {
                0
            } else {
                rollout::new_rs_replicas(desired, strategy.max_surge, all_desired, 0)
            };
            match create_new_rs(
                ctx,
                deployment,
                &mut next_status_seed,
                new_revision,
                initial,
                desired + strategy.max_surge,
            )? {
                Some(rs) => {
                    if initial > 0 {
                        record_scaling(ctx, deployment, rs.name(), 0, initial);
                    }
                    if spec.progress_deadline_seconds.is_some() {
                        let message = format!("Created new replica set \"{}\"", rs.name());
                        status::set(
                            &mut next_status_seed,
                            status::condition(
                                status::PROGRESSING,
                                "True",
                                status::NEW_REPLICA_SET_CREATED,
                                message,
                                ctx.now,
                            ),
                        );
                    }
                    new_rs = Some(rs);
                }
                None => {
                    // A hash collision: the collision count went up; the next tick hashes anew.
                    write_status(ctx, deployment, next_status_seed, None)?;
                    return Ok(());
                }
            }
        }
        None => {}
    }

    if paused {
        scale_proportionally(ctx, deployment, new_rs.as_mut(), &mut old, desired, &strategy)?;
        if spec.progress_deadline_seconds.is_some() {
            let condition = status::condition(
                status::PROGRESSING,
                "Unknown",
                status::DEPLOYMENT_PAUSED,
                "Deployment is paused".into(),
                ctx.now,
            );
            status::set(&mut next_status_seed, condition);
        }
    } else {
        let was_paused = status::get(&previous_status, status::PROGRESSING)
            .is_some_and(|c| c.reason.as_deref() == Some(status::DEPLOYMENT_PAUSED));
        if was_paused {
            let condition = status::condition(
                status::PROGRESSING,
                "Unknown",
                status::DEPLOYMENT_RESUMED,
                "Deployment is resumed".into(),
                ctx.now,
            );
            status::set(&mut next_status_seed, condition);
        }
        if is_scaling_event(new_rs.as_ref(), &old, desired) {
            scale_proportionally(ctx, deployment, new_rs.as_mut(), &mut old, desired, &strategy)?;
        } else if strategy.recreate {
            rollout_recreate(ctx, deployment, new_rs.as_mut(), &mut old, desired, pods)?;
        } else if let Some(new_rs) = new_rs.as_mut() {
            rollout_rolling(ctx, deployment, new_rs, &mut old, desired, &strategy)?;
        }
    }

    let all: Vec<&Rs> = new_rs.iter().chain(old.iter()).collect();
    let counts = Counts {
        desired,
        max_unavailable: strategy.max_unavailable,
        all_desired: all.iter().map(|r| r.desired).sum(),
        replicas: all.iter().map(|r| r.status_replicas()).sum(),
        updated: new_rs.as_ref().map_or(0, Rs::status_replicas),
        ready: all.iter().map(|r| r.ready()).sum(),
        available: all.iter().map(|r| r.available()).sum(),
        generation: d.metadata.generation.unwrap_or(1),
    };
    let mut next = status::calculate(&next_status_seed, &counts, ctx.now);
    if !paused {
        status::estimate_progress(
            &previous_status,
            &mut next,
            &counts,
            spec.progress_deadline_seconds,
            new_rs.as_ref().map(Rs::name),
            deployment.name(),
            ctx.now,
        );
        let failure = all.iter().find_map(|rs| {
            rs.typed
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_.as_deref() == Some(status::REPLICA_FAILURE))
                .cloned()
        });
        match failure {
            Some(failure) => status::set(
                &mut next,
                status::condition(
                    status::REPLICA_FAILURE,
                    failure.status.as_deref().unwrap_or("True"),
                    failure.reason.as_deref().unwrap_or("FailedCreate"),
                    failure.message.unwrap_or_default(),
                    ctx.now,
                ),
            ),
            None => status::remove(&mut next, status::REPLICA_FAILURE),
        }
    }
    let complete = next.updated_replicas == Some(desired)
        && next.replicas == Some(desired)
        && next.available_replicas == Some(desired);
    if complete && !paused {
        cleanup_old(ctx, spec.revision_history_limit.unwrap_or(10), &old);
    }
    let revision = new_rs.as_ref().map(Rs::revision).filter(|r| *r > 0);
    write_status(ctx, deployment, next, revision)
}

/// Writes the status and the Deployment's revision annotation if either changed.
fn write_status(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    next: DeploymentStatus,
    revision: Option<i64>,
) -> crate::Result<()> {
    let status_value = serde_json::to_value(&next).map_err(|e| Error::Internal(e.to_string()))?;
    let revision_text = revision.map(|r| r.to_string());
    let current_revision =
        deployment.object.value.pointer("/metadata/annotations").and_then(|a| a.get(REVISION)).and_then(Value::as_str);
    let status_changed = deployment.object.value.get("status") != Some(&status_value);
    let revision_changed = revision_text.is_some() && revision_text.as_deref() != current_revision;
    if !status_changed && !revision_changed {
        return Ok(());
    }
    ctx.store.modify(Kind::Deployment, Some(deployment.namespace()), deployment.name(), |object| {
        object["status"] = status_value;
        if let Some(revision) = revision_text {
            let metadata = object_field(object, "metadata");
            let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
            if !annotations.is_object() {
                *annotations = json!({});
            }
            annotations[REVISION] = json!(revision);
        }
        Ok(())
    })?;
    Ok(())
}
