//! A Deployment's ReplicaSets: creating the one for the current template, revision numbers and
//! history, scaling them for a rolling update or Recreate, and cleaning up old ones.
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::super::Ctx;
use super::super::cache::Entry;
use super::super::events::{EventType, Involved, Source};
use super::super::hash::{POD_TEMPLATE_HASH_LABEL, pod_template_hash, templates_equal};
use super::super::pods::{controlled_by, controller_reference, is_active};
use super::super::rollout::{self, ReplicaCounts};
use crate::error::Error;
use crate::store::{DeleteOptions, Kind, Object};

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
pub(super) struct Rs {
    pub(super) object: Object,
    pub(super) typed: Arc<ReplicaSet>,
    /// `spec.replicas`, updated by this sync's scaling.
    pub(super) desired: i32,
}

impl Rs {
    pub(super) fn name(&self) -> &str {
        self.object.name()
    }
    pub(super) fn status_replicas(&self) -> i32 {
        self.typed.status.as_ref().map_or(0, |s| s.replicas)
    }
    pub(super) fn available(&self) -> i32 {
        self.typed.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
    }
    pub(super) fn ready(&self) -> i32 {
        self.typed.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
    }
    pub(super) fn counts(&self) -> ReplicaCounts {
        ReplicaCounts { desired: self.desired, available: self.available() }
    }
    pub(super) fn revision(&self) -> i64 {
        revision_of(&self.typed.metadata)
    }
    /// A numeric annotation (`desired-replicas`, `max-replicas`).
    pub(super) fn annotation(&self, key: &str) -> Option<i32> {
        self.typed.metadata.annotations.as_ref()?.get(key)?.parse().ok()
    }
    fn created(&self) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
        self.typed.metadata.creation_timestamp.as_ref()
    }
}

pub(super) fn object_field<'a>(object: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !object.get(field).is_some_and(Value::is_object) {
        object[field] = json!({});
    }
    object[field].as_object_mut().expect("just made an object")
}

pub(super) struct Strategy {
    pub(super) recreate: bool,
    pub(super) max_surge: i32,
    pub(super) max_unavailable: i32,
}

pub(super) fn strategy(deployment: &Deployment, desired: i32) -> Result<Strategy, String> {
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

pub(super) fn record_scaling(ctx: &mut Ctx<'_>, deployment: &Entry<Deployment>, rs: &str, from: i32, to: i32) {
    let direction = if to > from { "up" } else { "down" };
    let involved = Involved::of(Kind::Deployment, &deployment.object);
    let message = format!("Scaled {direction} replica set {rs} from {from} to {to}");
    ctx.events.record(ctx.store, ctx.now, &SOURCE, &involved, EventType::Normal, "ScalingReplicaSet", message);
}

/// Creates the ReplicaSet for the Deployment's current template. `None` after a hash collision.
pub(super) fn create_new_rs(
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
pub(super) fn refresh_new_rs_annotations(
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
pub(super) fn scale(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    rs: &mut Rs,
    to: i32,
    max_surge: i32,
) -> crate::Result<()> {
    let desired = deployment.typed.spec.replicas.unwrap_or(1);
    let annotations_current =
        rs.annotation(DESIRED_REPLICAS) == Some(desired) && rs.annotation(MAX_REPLICAS) == Some(desired + max_surge);
    if rs.desired == to && (annotations_current || to == 0) {
        return Ok(());
    }
    let from = rs.desired;
    let object = ctx.store.modify(Kind::ReplicaSet, rs.object.namespace(), rs.name(), |object| {
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
    if let Some(typed) = ctx.caches.replica_sets.parse(&object) {
        rs.typed = typed;
    }
    rs.object = object;
    rs.desired = to;
    if from != to {
        record_scaling(ctx, deployment, rs.name(), from, to);
    }
    Ok(())
}

pub(super) fn rollout_rolling(
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

/// Whether `replicas` changed since the active ReplicaSets were last sized (`isScalingEvent`): their
/// `desired-replicas` annotation tells.
pub(super) fn is_scaling_event(new_rs: Option<&Rs>, old: &[Rs], desired: i32) -> bool {
    new_rs
        .into_iter()
        .chain(old)
        .filter(|rs| rs.desired > 0)
        .any(|rs| rs.annotation(DESIRED_REPLICAS).is_some_and(|d| d != desired))
}

/// `scale`: a Deployment whose `replicas` changed (or that is paused) resizes its ReplicaSets without
/// starting a rollout. One active ReplicaSet (or the newest, if none is) takes the whole count; during
/// a rolling update the change is shared out in proportion to the ReplicaSets' sizes.
pub(super) fn scale_proportionally(
    ctx: &mut Ctx<'_>,
    deployment: &Entry<Deployment>,
    new_rs: Option<&mut Rs>,
    old: &mut [Rs],
    desired: i32,
    strategy: &Strategy,
) -> crate::Result<()> {
    let has_new = new_rs.is_some();
    let mut all: Vec<&mut Rs> = new_rs.into_iter().chain(old.iter_mut()).collect();
    let active: Vec<usize> = (0..all.len()).filter(|&i| all[i].desired > 0).collect();
    let target = match active.as_slice() {
        [] if has_new => Some(0),
        [] => (0..all.len()).max_by(|&a, &b| all[a].created().cmp(&all[b].created())),
        [only] => Some(*only),
        _ => None,
    };
    if let Some(index) = target {
        return scale(ctx, deployment, all[index], desired, strategy.max_surge);
    }
    // Several active ReplicaSets: a rollout is under way.
    if has_new {
        let new = &all[0];
        let saturated =
            new.desired == desired && new.annotation(DESIRED_REPLICAS) == Some(desired) && new.available() == desired;
        if saturated {
            for rs in all.iter_mut().skip(1) {
                scale(ctx, deployment, rs, 0, strategy.max_surge)?;
            }
            return Ok(());
        }
    }
    if strategy.recreate {
        return Ok(());
    }
    let mut active: Vec<&mut Rs> = all.into_iter().filter(|rs| rs.desired > 0).collect();
    let current: i32 = active.iter().map(|rs| rs.desired).sum();
    let allowed = if desired > 0 { desired + strategy.max_surge } else { 0 };
    let to_add = allowed - current;
    // Larger ReplicaSets first; ties go to the newer one when growing, the older one when shrinking.
    active.sort_by(|a, b| {
        b.desired
            .cmp(&a.desired)
            .then_with(|| if to_add > 0 { b.created().cmp(&a.created()) } else { a.created().cmp(&b.created()) })
    });
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
    for rs in &active {
        let proportion = if to_add == 0 || to_add == added {
            0
        } else {
            let fraction = if desired == 0 {
                -rs.desired
            } else {
                let before = rs.annotation(MAX_REPLICAS).filter(|m| *m > 0).unwrap_or(current.max(1));
                ((f64::from(rs.desired) * f64::from(allowed)) / f64::from(before)).round() as i32 - rs.desired
            };
            let remaining = to_add - added;
            if to_add > 0 { fraction.min(remaining) } else { fraction.max(remaining) }
        };
        added += proportion;
        sizes.push(rs.desired + proportion);
    }
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    for (rs, size) in active.into_iter().zip(sizes) {
        scale(ctx, deployment, rs, size, strategy.max_surge)?;
    }
    Ok(())
}

/// Recreate: all old pods go first; the new ReplicaSet scales up once none of them runs.
pub(super) fn rollout_recreate(
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
pub(super) fn cleanup_old(ctx: &mut Ctx<'_>, limit: i32, old: &[Rs]) {
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
