//! Deletion as the API server and the garbage collector do it: grace periods for pods, finalizers,
//! and propagation (Background, Foreground, Orphan) through `metadata.ownerReferences`.
use jiff::SignedDuration;
use serde_json::{Value, json};

use super::{Kind, Object, Store};
use crate::error::{Error, Result};

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// The owner goes now; the garbage collector then deletes its dependents.
    #[default]
    Background,
    /// The owner stays (terminating, finalizer `foregroundDeletion`) until its dependents are gone.
    Foreground,
    /// The owner goes; its dependents stay, without the owner reference.
    Orphan,
}

impl Propagation {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(Error::BadRequest(format!(
                "unsupported propagationPolicy {other:?}: expected Background, Foreground or Orphan"
            ))),
        }
    }
}

/// The `DeleteOptions` of a DELETE request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation: Option<Propagation>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

/// What a delete did: the object is gone, or it is terminating (grace period, finalizers, foreground).
#[derive(Debug, Clone)]
pub struct Deletion {
    pub object: Object,
    pub gone: bool,
}

const FOREGROUND: &str = "foregroundDeletion";

impl Store {
    /// DELETE as the API server does it. Pods that are scheduled and not finished are only marked
    /// terminating (`deletionTimestamp` = now + grace); objects with finalizers, and foreground
    /// deletions, are marked and go once their finalizers (and dependents) are gone; everything else is
    /// removed now, then its dependents per `propagation`.
    pub fn delete_with(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deletion> {
        let current = self.get(kind, namespace, name).ok_or_else(|| Error::not_found(kind, name))?;
        if let Some(uid) = options.precondition_uid.as_deref().filter(|u| *u != current.uid()) {
            let message =
                format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", current.uid());
            return Err(Error::conflict(kind, name, message));
        }
        if let Some(rv) = options.precondition_resource_version.as_deref()
            && rv != current.resource_version.to_string()
        {
            let message = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.resource_version
            );
            return Err(Error::conflict(kind, name, message));
        }
        if options.dry_run {
            return Ok(Deletion { object: current, gone: true });
        }
        let propagation = options.propagation.unwrap_or_default();
        if kind == Kind::Pod
            && let Some(grace) = self.pod_grace(&current, options.grace_period_seconds)
        {
            let object = self.mark_terminating(kind, namespace, name, grace, None)?;
            return Ok(Deletion { object, gone: false });
        }
        let has_finalizers =
            current.value.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if propagation == Propagation::Foreground && !self.dependents(kind, &current).is_empty() {
            let object = self.mark_terminating(kind, namespace, name, 0, Some(FOREGROUND))?;
            for (dependent_kind, dependent) in self.dependents(kind, &object) {
                let _ = self.delete_with(
                    dependent_kind,
                    dependent.namespace(),
                    dependent.name(),
                    &DeleteOptions { propagation: Some(Propagation::Foreground), ..Default::default() },
                );
            }
            self.finish_foreground(kind, &object);
            let object = self.get(kind, namespace, name).unwrap_or(object);
            let gone = self.get(kind, namespace, name).is_none_or(|o| o.uid() != current.uid());
            return Ok(Deletion { object, gone });
        }
        if has_finalizers {
            let object = self.mark_terminating(kind, namespace, name, 0, None)?;
            return Ok(Deletion { object, gone: false });
        }
        if propagation == Propagation::Orphan {
            self.orphan_dependents(kind, &current);
        }
        let object = self.remove(kind, namespace, name, Some(current.uid()))?;
        self.after_removal(kind, &object);
        Ok(Deletion { object, gone: true })
    }

    /// The grace period to wait for a pod, or `None` to remove it now (grace 0, never scheduled, or
    /// already finished).
    fn pod_grace(&self, pod: &Object, requested: Option<i64>) -> Option<i64> {
        let grace = requested
            .or_else(|| pod.value.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
            .unwrap_or(30)
            .max(0);
        let scheduled = pod.value.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        let phase = pod.value.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
        let finished = matches!(phase, "Succeeded" | "Failed");
        (grace > 0 && scheduled && !finished).then_some(grace)
    }

    /// Set `deletionTimestamp` (now + grace), keeping an earlier one; add `finalizer` if given.
    fn mark_terminating(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        grace: i64,
        finalizer: Option<&str>,
    ) -> Result<Object> {
        let now = self.clock.now();
        let deadline = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now) + SignedDuration::from_secs(grace);
        self.modify(kind, namespace, name, |object| {
            let metadata = super::defaults::object_field(object, "metadata");
            let earlier = metadata
                .get("deletionTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t <= deadline);
            if !earlier {
                metadata.insert("deletionTimestamp".into(), json!(deadline.to_string()));
                metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            if let Some(finalizer) = finalizer {
                let finalizers = metadata.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(list) = finalizers.as_array_mut()
                    && !list.iter().any(|f| f == finalizer)
                {
                    list.push(json!(finalizer));
                }
            }
            Ok(())
        })
    }

    /// The objects (in `owner`'s namespace) whose ownerReferences name `owner`'s uid.
    pub fn dependents(&self, owner_kind: Kind, owner: &Object) -> Vec<(Kind, Object)> {
        let uid = owner.uid();
        let namespace = if owner_kind.namespaced() { owner.namespace() } else { None };
        let mut found = Vec::new();
        for kind in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
            let (objects, _) = self.list(kind, namespace);
            found.extend(objects.into_iter().filter(|o| owned_by(o, uid)).map(|o| (kind, o)));
        }
        found
    }

    fn orphan_dependents(&self, kind: Kind, owner: &Object) {
        let uid = owner.uid().to_string();
        for (dependent_kind, dependent) in self.dependents(kind, owner) {
            let _ = self.modify(dependent_kind, dependent.namespace(), dependent.name(), |object| {
                if let Some(refs) = object.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                }
                Ok(())
            });
        }
    }

    /// After `object` left the store: empty a deleted namespace, delete the dependents of a deleted
    /// owner (background propagation), and finish foreground deletions of its owners.
    pub(super) fn after_removal(&self, kind: Kind, object: &Object) {
        if kind == Kind::Namespace {
            for namespaced in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
                let (objects, _) = self.list(namespaced, Some(object.name()));
                for inner in objects {
                    if let Ok(gone) = self.remove(namespaced, inner.namespace(), inner.name(), Some(inner.uid())) {
                        self.after_removal(namespaced, &gone);
                    }
                }
            }
        }
        for (dependent_kind, dependent) in self.dependents(kind, object) {
            let _ =
                self.delete_with(dependent_kind, dependent.namespace(), dependent.name(), &DeleteOptions::default());
        }
        for (owner_kind, owner) in self.owners(object) {
            self.finish_foreground(owner_kind, &owner);
        }
    }

    /// The owners of `object` that still exist (same namespace, matching uid).
    fn owners(&self, object: &Object) -> Vec<(Kind, Object)> {
        let refs = object.value.pointer("/metadata/ownerReferences").and_then(Value::as_array);
        refs.into_iter()
            .flatten()
            .filter_map(|r| {
                let kind = Kind::from_kind_name(r.get("kind")?.as_str()?)?;
                let owner = self.get(kind, object.namespace(), r.get("name")?.as_str()?)?;
                (owner.uid() == r.get("uid")?.as_str()?).then_some((kind, owner))
            })
            .collect()
    }

    /// Remove a foreground-deleted owner once it has no dependents left.
    fn finish_foreground(&self, kind: Kind, owner: &Object) {
        let waiting = owner
            .value
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|f| f == FOREGROUND));
        if waiting && owner.is_terminating() && self.dependents(kind, owner).is_empty() {
            let _ = self.modify(kind, owner.namespace(), owner.name(), |object| {
                if let Some(list) = object.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
                    list.retain(|f| f != FOREGROUND);
                }
                Ok(())
            });
        }
    }

    /// One garbage-collector pass: delete objects all of whose owners are gone, and finish foreground
    /// deletions whose dependents are gone. Returns how many objects it deleted or finished.
    pub fn collect_garbage(&self) -> usize {
        let mut collected = 0;
        for kind in Kind::ALL {
            let (objects, _) = self.list(kind, None);
            for object in objects {
                let refs = object.value.pointer("/metadata/ownerReferences").and_then(Value::as_array);
                let Some(refs) = refs.filter(|r| !r.is_empty()) else {
                    if object.is_terminating() && kind != Kind::Pod {
                        let before = object.resource_version;
                        self.finish_foreground(kind, &object);
                        if self
                            .get(kind, object.namespace(), object.name())
                            .is_none_or(|o| o.resource_version != before)
                        {
                            collected += 1;
                        }
                    }
                    continue;
                };
                let any_owner_left = refs.iter().any(|r| {
                    let owner = r
                        .get("kind")
                        .and_then(Value::as_str)
                        .and_then(Kind::from_kind_name)
                        .zip(r.get("name").and_then(Value::as_str))
                        .and_then(|(k, name)| self.get(k, object.namespace(), name));
                    owner.is_some_and(|o| Some(o.uid()) == r.get("uid").and_then(Value::as_str))
                });
                if !any_owner_left && !object.is_terminating() {
                    let deleted = self.delete_with(kind, object.namespace(), object.name(), &DeleteOptions::default());
                    collected += usize::from(deleted.is_ok());
                }
            }
        }
        collected
    }
}

fn owned_by(object: &Object, uid: &str) -> bool {
    object
        .value
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r.get("uid").and_then(Value::as_str) == Some(uid)))
}
