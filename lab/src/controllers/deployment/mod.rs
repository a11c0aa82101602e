//! The Deployment controller: one ReplicaSet per pod template (named by its pod-template-hash),
//! rolling updates under maxSurge/maxUnavailable or Recreate, revision annotations and history (so
//! `kubectl rollout undo` re-uses the old ReplicaSet and `rollout history` lists revisions), old
//! ReplicaSets cleaned up beyond `revisionHistoryLimit`, and the status and conditions `kubectl rollout
//! status` reads.
pub mod status;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

use super::cache::Entry;
use super::events::{EventType, Involved, Source};
use super::hash::{POD_TEMPLATE_HASH_LABEL, canonical, pod_template_hash, templates_equal};
use super::pods::{controlled_by, controller_of, controller_reference, is_active};
use super::rollout::{self, ReplicaCounts};
use super::{Ctx, selector};
use crate::error::Error;
use crate::store::{DeleteOptions, Kind, Object};
use status::Counts;

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Longest `revision-history` annotation Kubernetes keeps.
const REVISION_HISTORY_LIMIT_CHARS: usize = 2000;

const SOURCE: Source = Source::controller("deployment-controller");

/// Annotations of a Deployment that are not copied onto its ReplicaSets.
fn skip_annotation(key: &str) -> bool {
    matches!(key, LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS)
        || key == "deprecated.deployment.rollback.to"
}

pub fn revision_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> i64 {
    meta.annotations.as_ref().and_then(|a| a.get(REVISION)).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// One ReplicaSet as this sync sees and changes it.
#[derive(Debug, Clone)]
struct Rs {
    object: Object,
    typed: Arc<ReplicaSet>,
    /// `spec.replicas`, updated by this sync's scaling.
    desired: i32,
}

impl Rs {
    fn name(&self) -> &str {
        self.object.name()
    }
    fn status_replicas(&self) -> i32 {
        self.typed.status.as_ref().map_or(0, |s| s.replicas)
    }
    fn available(&self) -> i32 {
        self.typed.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
    }
    fn ready(&self) -> i32 {
        self.typed.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
    }
    fn counts(&self) -> ReplicaCounts {
        ReplicaCounts { desired: self.desired, available: self.available() }
    }
    fn revision(&self) -> i64 {
        revision_of(&self.typed.metadata)
    }
}

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

fn object_field<'a>(object: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !object.get(field).is_some_and(Value::is_object) {
        object[field] = json!({});
    }
    object[field].as_object_mut().expect("just made an object")
}

struct Strategy {
    recreate: bool,
    max_surge: i32,
    max_unavailable: i32,
}

fn strategy(deployment: &Deployment, desired: i32) -> Result<Strategy, String> {
    let strategy = deployment.spec.strategy.as_ref();
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
        return Ok(Strategy { recreate: true, max_surge: 0, max_unavailable: 0 });
    }
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let (surge, unavailable) = rollout::resolve_fenceposts(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        desired,
    )?;
    Ok(Strategy { recreate: false, max_surge: surge, max_unavailable: unavailable.min(desired) })
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

    if !paused {
        if strategy.recreate {
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

fn record_scaling(ctx: &mut Ctx<'_>, deployment: &Entry<Deployment>, rs: &str, from: i32, to: i32) {
    let direction = if to > from { "up" } else { "down" };
    let involved = Involved::of(Kind::Deployment, &deployment.object);
    let message = format!("Scaled {direction} replica set {rs} from {from} to {to}");
    ctx.events.record(ctx.store, ctx.now, &SOURCE, &involved, EventType::Normal, "ScalingReplicaSet", message);
}

/// Creates the ReplicaSet for the Deployment's current template. `None` after a hash collision.
fn create_new_rs(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    status: &mut DeploymentStatus,
    revision: i64,
    replicas: i32,
    max_replicas: i32,
) -> crate::Result<Option<Rs>> {
    let d = &deployment.typed;
    let spec_value = &deployment.object.value["spec"];
    let template = &spec_value["template"];
    let hash = pod_template_hash(template, status.collision_count);
    let name = format!("{}-{hash}", deployment.name());

    let mut template = template.clone();
    let metadata = object_field(&mut template, "metadata");
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[POD_TEMPLATE_HASH_LABEL] = json!(hash);
    let rs_labels = labels.clone();

    let mut selector = spec_value["selector"].clone();
    let match_labels = object_field(&mut selector, "matchLabels");
    match_labels.insert(POD_TEMPLATE_HASH_LABEL.into(), json!(hash));

    let mut annotations: Map<String, Value> = d
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !skip_annotation(k))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(DESIRED_REPLICAS.into(), json!(d.spec.replicas.unwrap_or(1).to_string()));
    annotations.insert(MAX_REPLICAS.into(), json!(max_replicas.to_string()));

    let mut rs_spec = json!({"replicas": replicas, "selector": selector, "template": template});
    if let Some(min_ready) = spec_value.get("minReadySeconds").filter(|v| !v.is_null()) {
        rs_spec["minReadySeconds"] = min_ready.clone();
    }
    let object = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": deployment.namespace(),
            "labels": rs_labels,
            "annotations": annotations,
            "ownerReferences": [controller_reference(Kind::Deployment, &deployment.object)],
        },
        "spec": rs_spec,
    });
    match ctx.store.create(Kind::ReplicaSet, object) {
        Ok(object) => {
            let typed = ctx
                .caches
                .replica_sets
                .parse(&object)
                .ok_or_else(|| Error::Internal(format!("reading back replica set {name}")))?;
            Ok(Some(Rs { object, typed, desired: replicas }))
        }
        Err(Error::AlreadyExists { .. }) => {
            // Ours already (created by an earlier sync whose result was not seen yet) or a collision.
            if let Some(existing) = ctx.store.get(Kind::ReplicaSet, Some(deployment.namespace()), &name)
                && let Some(typed) = ctx.caches.replica_sets.parse(&existing)
                && controlled_by(&typed.metadata, deployment.uid())
                && templates_equal(&deployment.object.value["spec"]["template"], &existing.value["spec"]["template"])
            {
                let desired = typed.spec.replicas.unwrap_or(1);
                return Ok(Some(Rs { object: existing, typed, desired }));
            }
            status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// A rollback (or a template that returns to an older one) re-uses that ReplicaSet: it gets the next
/// revision number, and its former numbers go to `revision-history`. Deployment annotations are copied.
fn refresh_new_rs_annotations(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    rs: &mut Rs,
    new_revision: i64,
    desired: i32,
    max_surge: i32,
) -> crate::Result<()> {
    let current: &Map<String, Value> = match rs.object.value.pointer("/metadata/annotations").and_then(Value::as_object)
    {
        Some(a) => a,
        None => &Map::new(),
    };
    let old_revision = rs.revision();
    let mut wanted = current.clone();
    for (key, value) in deployment.typed.metadata.annotations.iter().flatten() {
        if !skip_annotation(key) {
            wanted.insert(key.clone(), json!(value));
        }
    }
    if old_revision < new_revision {
        wanted.insert(REVISION.into(), json!(new_revision.to_string()));
        if current.contains_key(REVISION) {
            let history = current.get(REVISION_HISTORY).and_then(Value::as_str).unwrap_or_default();
            let mut revisions: Vec<&str> = history.split(',').filter(|r| !r.is_empty()).collect();
            let old_text = old_revision.to_string();
            let mut total = history.len() + old_text.len() + 1;
            while total > REVISION_HISTORY_LIMIT_CHARS && !revisions.is_empty() {
                total -= revisions.remove(0).len() + 1;
            }
            revisions.push(&old_text);
            wanted.insert(REVISION_HISTORY.into(), json!(revisions.join(",")));
        }
    }
    // desired/max annotations follow the Deployment only when the new RS is at full size.
    if rs.desired == desired {
        wanted.insert(DESIRED_REPLICAS.into(), json!(desired.to_string()));
        wanted.insert(MAX_REPLICAS.into(), json!((desired + max_surge).to_string()));
    }
    if &wanted == current {
        return Ok(());
    }
    let object =
        ctx.store.modify(Kind::ReplicaSet, Some(rs.object.namespace().unwrap_or_default()), rs.name(), |object| {
            object_field(object, "metadata").insert("annotations".into(), Value::Object(wanted));
            Ok(())
        })?;
    if let Some(typed) = ctx.caches.replica_sets.parse(&object) {
        rs.typed = typed;
    }
    rs.object = object;
    Ok(())
}

/// Sets a ReplicaSet's `spec.replicas` (and its desired/max annotations) and records the event.
fn scale(ctx: &mut Ctx<'_>, deployment: &Entry<Deployment>, rs: &mut Rs, to: i32, max_surge: i32) -> crate::Result<()> {
    if rs.desired == to {
        return Ok(());
    }
    let from = rs.desired;
    let desired = deployment.typed.spec.replicas.unwrap_or(1);
    ctx.store.modify(Kind::ReplicaSet, rs.object.namespace(), rs.name(), |object| {
        object["spec"]["replicas"] = json!(to);
        let metadata = object_field(object, "metadata");
        let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[DESIRED_REPLICAS] = json!(desired.to_string());
        annotations[MAX_REPLICAS] = json!((desired + max_surge).to_string());
        Ok(())
    })?;
    rs.desired = to;
    record_scaling(ctx, deployment, rs.name(), from, to);
    Ok(())
}

fn rollout_rolling(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    new_rs: &mut Rs,
    old: &mut [Rs],
    desired: i32,
    strategy: &Strategy,
) -> crate::Result<()> {
    // Scale the new ReplicaSet up (within the surge) or down to the desired count.
    let all_desired: i32 = new_rs.desired + old.iter().map(|r| r.desired).sum::<i32>();
    let target = rollout::new_rs_replicas(desired, strategy.max_surge, all_desired, new_rs.desired);
    scale(ctx, deployment, new_rs, target, strategy.max_surge)?;

    // Scale old ReplicaSets down while enough pods stay available (oldest first).
    if old.iter().all(|r| r.desired == 0) {
        return Ok(());
    }
    let all_desired: i32 = new_rs.desired + old.iter().map(|r| r.desired).sum::<i32>();
    let max_down = rollout::max_scaled_down(desired, strategy.max_unavailable, all_desired, new_rs.counts());
    if max_down <= 0 {
        return Ok(());
    }
    let counts: Vec<ReplicaCounts> = old.iter().map(Rs::counts).collect();
    let (after_cleanup, _) = rollout::cleanup_unhealthy(&counts, max_down);
    for (rs, to) in old.iter_mut().zip(after_cleanup) {
        scale(ctx, deployment, rs, to, strategy.max_surge)?;
    }
    let all_available: i32 = new_rs.available() + old.iter().map(Rs::available).sum::<i32>();
    let counts: Vec<ReplicaCounts> = old.iter().map(Rs::counts).collect();
    let after = rollout::scale_down_available(&counts, desired, strategy.max_unavailable, all_available);
    for (rs, to) in old.iter_mut().zip(after) {
        scale(ctx, deployment, rs, to, strategy.max_surge)?;
    }
    Ok(())
}

/// Recreate: all old pods go first; the new ReplicaSet scales up once none of them runs.
fn rollout_recreate(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    new_rs: Option<&mut Rs>,
    old: &mut [Rs],
    desired: i32,
    pods: &[Entry<Pod>],
) -> crate::Result<()> {
    for rs in old.iter_mut() {
        scale(ctx, deployment, rs, 0, 0)?;
    }
    let old_running = pods.iter().any(|pod| {
        old.iter().any(|rs| controlled_by(&pod.typed.metadata, rs.object.uid()))
            && (is_active(&pod.typed) || pod.typed.metadata.deletion_timestamp.is_some())
    });
    if old_running {
        return Ok(());
    }
    if let Some(new_rs) = new_rs {
        scale(ctx, deployment, new_rs, desired, 0)?;
    }
    Ok(())
}

/// Deletes the oldest fully scaled-down ReplicaSets beyond `revisionHistoryLimit`.
fn cleanup_old(ctx: &mut Ctx<'_>, limit: i32, old: &[Rs]) {
    let surplus = old.len() as i64 - i64::from(limit.max(0));
    if surplus <= 0 {
        return;
    }
    let mut cleanable: Vec<&Rs> = old.iter().collect();
    cleanable.sort_by(|a, b| a.revision().cmp(&b.revision()).then_with(|| a.name().cmp(b.name())));
    for rs in cleanable.into_iter().take(surplus as usize) {
        let observed = rs.typed.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
        if rs.status_replicas() != 0 || rs.desired != 0 || rs.typed.metadata.generation.unwrap_or(0) > observed {
            continue;
        }
        let _ = ctx.store.delete_with(Kind::ReplicaSet, rs.object.namespace(), rs.name(), &DeleteOptions::default());
    }
}
