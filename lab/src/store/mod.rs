//! The object store: what etcd plus the API server's registry are to a real cluster.
//!
//! One table per [`Kind`], each behind its own lock. Every write takes the next resourceVersion from one
//! cluster-wide counter, stores the object with its JSON serialised once (so LIST and WATCH copy bytes
//! and never re-serialise), and publishes a [`WatchEvent`] to the kind's watchers and its bounded history
//! (which serves watches that resume from an older resourceVersion; older than the history is `410 Gone`).
//!
//! Who calls what:
//! - the API server: [`Store::create_with`], [`Store::update_with`], [`Store::update_status`],
//!   [`Store::patch`], [`Store::delete_with`] (graceful deletion and propagation), `get`, `list`, `watch`;
//! - controllers and the kubelet: [`Store::modify`] for atomic read-modify-write of any field (spec,
//!   status or metadata; a write that changes nothing is skipped and publishes no event),
//!   [`Store::create`], and [`Store::delete`] to remove an object at once (e.g. a pod whose grace period
//!   is over), which also removes the objects it owns;
//! - the simulation driver: [`Store::collect_garbage`] once per tick.
//!
//! Pods are deleted gracefully: `delete_with` on a scheduled, non-terminal pod only sets
//! `metadata.deletionTimestamp` (now + grace) and `deletionGracePeriodSeconds`; the kubelet stops the
//! containers and calls [`Store::delete`] when the grace period is over.
//!
//! Objects never hold a lock across kinds: each operation locks one table at a time.
mod defaults;
mod gc;
mod kind;
mod validate;
mod watch;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use jiff::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use gc::{DeleteOptions, Deletion, Propagation};
pub use kind::{Kind, VERBS};
pub use watch::{EventType, WatchEvent, WatchReceiver};

use crate::clock::LabClock;
use crate::error::{Error, Result};

/// Watch events kept per kind for watches that resume from a past resourceVersion (a real API server
/// keeps a watch cache of a similar size; older resumes get 410 and list again).
pub const HISTORY_PER_KIND: usize = 4_096;

/// An object as stored: its JSON value, the same value serialised, and its resourceVersion.
#[derive(Debug)]
pub struct StoredObject {
    pub value: Value,
    /// `value` serialised once at write time: LIST and WATCH bodies are built by copying these bytes.
    pub json: Bytes,
    pub resource_version: u64,
}

/// `value.pointer(path)` without allocating: `Value::pointer` unescapes every segment into a new
/// `String`, which dominates hot loops (Tables, selectors). `~` escapes fall back to `pointer`.
pub fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.contains('~') {
        return value.pointer(path);
    }
    let mut at = value;
    for segment in path.split('/').skip(1) {
        at = match at {
            Value::Object(map) => map.get(segment)?,
            Value::Array(list) => list.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// A stored object, shared: readers hold it without holding any lock.
pub type Object = Arc<StoredObject>;

impl StoredObject {
    pub fn name(&self) -> &str {
        field(&self.value, "/metadata/name").and_then(Value::as_str).unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        field(&self.value, "/metadata/namespace").and_then(Value::as_str)
    }
    pub fn uid(&self) -> &str {
        field(&self.value, "/metadata/uid").and_then(Value::as_str).unwrap_or_default()
    }
    /// `metadata.labels`, if any.
    pub fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        field(&self.value, "/metadata/labels").and_then(Value::as_object)
    }
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().and_then(|l| l.get(key)).and_then(Value::as_str)
    }
    /// Whether `metadata.deletionTimestamp` is set (the object is terminating).
    pub fn is_terminating(&self) -> bool {
        field(&self.value, "/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
    }
}

/// Options of an API write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and return the result without storing it or notifying watchers.
    pub dry_run: bool,
}

#[derive(Debug, Default)]
struct Table {
    /// Keyed `namespace/name` (or `name` for cluster-scoped kinds): etcd's key order, which LIST keeps.
    objects: BTreeMap<String, Object>,
    history: VecDeque<WatchEvent>,
    /// The resourceVersion of the newest event dropped from `history` (0: none dropped yet).
    compacted: u64,
    watchers: Vec<Watcher>,
}

#[derive(Debug)]
struct Watcher {
    namespace: Option<String>,
    tx: mpsc::UnboundedSender<WatchEvent>,
}

/// How a write treats the fields the caller may not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    /// PUT/PATCH of the main resource: status (when a subresource) and system metadata stay.
    Api,
    /// The status subresource: only `status` changes.
    Status,
    /// Controllers: anything but the system metadata (uid, creationTimestamp).
    Internal,
}

/// The cluster's objects. Shared as `Arc<Store>`; internally synchronised.
#[derive(Debug)]
pub struct Store {
    clock: Arc<LabClock>,
    revision: AtomicU64,
    tables: Vec<RwLock<Table>>,
    rng: Mutex<ChaCha8Rng>,
    next_cluster_ip: AtomicU64,
}

impl Store {
    pub fn new(clock: Arc<LabClock>) -> Self {
        Self::with_seed(clock, 0)
    }

    /// A store whose generated names and uids follow from `seed`.
    pub fn with_seed(clock: Arc<LabClock>, seed: u64) -> Self {
        Self {
            clock,
            revision: AtomicU64::new(1),
            tables: Kind::ALL.iter().map(|_| RwLock::new(Table::default())).collect(),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            next_cluster_ip: AtomicU64::new(1),
        }
    }

    pub fn clock(&self) -> &Arc<LabClock> {
        &self.clock
    }

    /// The newest resourceVersion issued in the cluster.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Now on the virtual clock, truncated to the second, in the API's timestamp format.
    pub fn now_rfc3339(&self) -> String {
        let now = self.clock.now();
        Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
    }

    fn read(&self, kind: Kind) -> RwLockReadGuard<'_, Table> {
        self.tables[kind.index()].read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, kind: Kind) -> RwLockWriteGuard<'_, Table> {
        self.tables[kind.index()].write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Option<Object> {
        self.read(kind).objects.get(&key(kind, namespace, name)).cloned()
    }

    /// All objects of `kind` (in `namespace`, or all namespaces for `None`), in key order, and the
    /// resourceVersion the list is consistent with (watch from it to see every later change).
    pub fn list(&self, kind: Kind, namespace: Option<&str>) -> (Vec<Object>, u64) {
        let table = self.read(kind);
        let revision = self.revision();
        let objects = match namespace.filter(|_| kind.namespaced()) {
            Some(namespace) => namespace_range(&table.objects, namespace).map(|(_, o)| o.clone()).collect(),
            None => table.objects.values().cloned().collect(),
        };
        (objects, revision)
    }

    /// Like [`Store::list`], starting after the key `after` (`namespace/name`), at most `limit` objects;
    /// also says whether more remain. For `limit`/`continue`.
    pub fn list_page(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        after: Option<&str>,
        limit: usize,
        mut keep: impl FnMut(&Object) -> bool,
    ) -> (Vec<Object>, u64, Option<String>) {
        let table = self.read(kind);
        let revision = self.revision();
        let (low, high) = match namespace.filter(|_| kind.namespaced()) {
            Some(namespace) => (format!("{namespace}/"), Bound::Excluded(format!("{namespace}0"))),
            None => (String::new(), Bound::Unbounded),
        };
        let low = match after {
            Some(after) if after >= low.as_str() => Bound::Excluded(after.to_string()),
            _ => Bound::Included(low),
        };
        let mut objects = Vec::new();
        let mut last_key = None;
        let mut more = None;
        for (key, object) in table.objects.range::<String, _>((low, high)) {
            if !keep(object) {
                continue;
            }
            if objects.len() == limit {
                more = last_key.take();
                break;
            }
            objects.push(object.clone());
            last_key = Some(key);
        }
        (objects, revision, more.cloned())
    }

    /// Store a new object (controllers, the topology loader). See [`Store::create_with`].
    pub fn create(&self, kind: Kind, object: Value) -> Result<Object> {
        self.create_with(kind, object, WriteOptions::default())
    }

    /// Store a new object: sets uid, creationTimestamp, resourceVersion, generation, defaults; resolves
    /// `generateName`; 409 if the name is taken, 404 if its namespace does not exist, 422 if invalid.
    pub fn create_with(&self, kind: Kind, mut object: Value, options: WriteOptions) -> Result<Object> {
        let namespace = prepare_identity(kind, &mut object)?;
        if let Some(namespace) = &namespace
            && self.get(Kind::Namespace, None, namespace).is_none()
        {
            return Err(Error::not_found(Kind::Namespace, namespace));
        }
        if object.pointer("/metadata/name").and_then(Value::as_str).is_none_or(str::is_empty) {
            let prefix = object.pointer("/metadata/generateName").and_then(Value::as_str).unwrap_or_default();
            if !prefix.is_empty() {
                let suffix = self.random_suffix();
                object["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
            }
        }
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        {
            let metadata = defaults::object_field(&mut object, "metadata");
            metadata.remove("resourceVersion");
            metadata.remove("deletionTimestamp");
            metadata.remove("deletionGracePeriodSeconds");
            metadata.insert("uid".into(), json!(self.random_uid()));
            metadata.insert("creationTimestamp".into(), json!(self.now_rfc3339()));
            if kind.tracks_generation() {
                metadata.insert("generation".into(), json!(1));
            } else {
                metadata.remove("generation");
            }
        }
        defaults::apply(kind, &mut object);
        if kind == Kind::Service {
            self.allocate_cluster_ip(&mut object);
        }
        validate::check(kind, &object)?;
        let key = key(kind, namespace.as_deref(), &name);
        let mut table = self.write(kind);
        if table.objects.contains_key(&key) {
            return Err(Error::already_exists(kind, &name));
        }
        if options.dry_run {
            return Ok(Arc::new(StoredObject { json: to_bytes(&object), value: object, resource_version: 0 }));
        }
        Ok(self.commit(&mut table, key, object, EventType::Added, None))
    }

    /// Replace an object (PUT). 409 when `metadata.resourceVersion` is set and stale; `status` is kept
    /// for kinds with a status subresource; `generation` goes up when `spec` changes.
    pub fn update(&self, kind: Kind, object: Value) -> Result<Object> {
        self.update_with(kind, object, WriteOptions::default())
    }

    pub fn update_with(&self, kind: Kind, object: Value, options: WriteOptions) -> Result<Object> {
        self.replace(kind, object, WriteMode::Api, options)
    }

    /// Replace only the status (PUT .../status). 409 on a stale resourceVersion.
    pub fn update_status(&self, kind: Kind, object: Value) -> Result<Object> {
        self.replace(kind, object, WriteMode::Status, WriteOptions::default())
    }

    fn replace(&self, kind: Kind, mut object: Value, mode: WriteMode, options: WriteOptions) -> Result<Object> {
        let namespace = prepare_identity(kind, &mut object)?;
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(Error::BadRequest("name is required for an update".into()));
        }
        let expected = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty())
            .map(|rv| rv.parse::<u64>().map_err(|_| Error::BadRequest(format!("invalid resourceVersion {rv:?}"))))
            .transpose()?;
        self.write_existing(kind, namespace.as_deref(), &name, mode, options, |current| {
            if expected.is_some_and(|expected| expected != current.resource_version) {
                return Err(Error::conflict(kind, &name, CONFLICT_MESSAGE));
            }
            Ok(object)
        })
    }

    /// Apply `patch` to the current object atomically with the API's update rules (the PATCH verb, and
    /// `mode` `status` for the status subresource). `patch` returns the new value from the current one.
    pub fn patch(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        status: bool,
        options: WriteOptions,
        patch: impl FnOnce(&Value) -> Result<Value>,
    ) -> Result<Object> {
        let mode = if status { WriteMode::Status } else { WriteMode::Api };
        self.write_existing(kind, namespace, name, mode, options, |current| {
            let patched = patch(&current.value)?;
            if let Some(rv) = patched.pointer("/metadata/resourceVersion").and_then(Value::as_str)
                && !rv.is_empty()
                && rv != current.resource_version.to_string()
            {
                return Err(Error::conflict(kind, name, CONFLICT_MESSAGE));
            }
            Ok(patched)
        })
    }

    /// Atomic read-modify-write for controllers and the kubelet: `f` may change any field but the
    /// system metadata. A write that changes nothing is skipped (no new resourceVersion, no event).
    pub fn modify(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value) -> Result<()>,
    ) -> Result<Object> {
        self.write_existing(kind, namespace, name, WriteMode::Internal, WriteOptions::default(), |current| {
            let mut value = current.value.clone();
            f(&mut value)?;
            Ok(value)
        })
    }

    fn write_existing(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        name: &str,
        mode: WriteMode,
        options: WriteOptions,
        f: impl FnOnce(&Object) -> Result<Value>,
    ) -> Result<Object> {
        let key = key(kind, namespace, name);
        let mut table = self.write(kind);
        let current = table.objects.get(&key).cloned().ok_or_else(|| Error::not_found(kind, name))?;
        let proposed = f(&current)?;
        let mut next = merge_for_mode(kind, &current.value, proposed, mode)?;
        if mode != WriteMode::Status {
            defaults::apply(kind, &mut next);
            validate::check(kind, &next)?;
        }
        if kind.tracks_generation() && current.value.get("spec") != next.get("spec") {
            let generation = current.value.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            next["metadata"]["generation"] = json!(generation + 1);
        }
        // Compare without the resourceVersion the caller may have echoed back.
        next["metadata"]["resourceVersion"] = json!(current.resource_version.to_string());
        if next == current.value {
            return Ok(current);
        }
        if options.dry_run {
            return Ok(Arc::new(StoredObject {
                json: to_bytes(&next),
                value: next,
                resource_version: current.resource_version,
            }));
        }
        let finished = is_finished(kind, &next);
        let event = if finished { EventType::Deleted } else { EventType::Modified };
        let object = self.commit(&mut table, key, next, event, Some(current));
        drop(table);
        if finished {
            self.after_removal(kind, &object);
        }
        Ok(object)
    }

    /// Remove an object now (no grace period, no finalizers) and, in the background, the objects it
    /// owns. The kubelet calls this when a terminating pod's grace period is over.
    pub fn delete(&self, kind: Kind, namespace: Option<&str>, name: &str) -> Result<Object> {
        let object = self.remove(kind, namespace, name, None)?;
        self.after_removal(kind, &object);
        Ok(object)
    }

    /// Remove `name` now, if its uid is still `uid` (when given). Returns the object as deleted.
    fn remove(&self, kind: Kind, namespace: Option<&str>, name: &str, uid: Option<&str>) -> Result<Object> {
        let key = key(kind, namespace, name);
        let mut table = self.write(kind);
        let current = table.objects.get(&key).cloned().ok_or_else(|| Error::not_found(kind, name))?;
        if uid.is_some_and(|uid| uid != current.uid()) {
            return Err(Error::not_found(kind, name));
        }
        let value = current.value.clone();
        Ok(self.commit(&mut table, key, value, EventType::Deleted, Some(current)))
    }

    /// Watch `kind` (in `namespace`, or everywhere): first every stored event after `since`, in order,
    /// then live events. `410 Gone` when `since` is older than the history kept.
    pub fn watch(&self, kind: Kind, namespace: Option<&str>, since: u64) -> Result<WatchReceiver> {
        let namespace = namespace.filter(|_| kind.namespaced()).map(str::to_string);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut table = self.write(kind);
        if since < table.compacted {
            return Err(Error::Gone { requested: since, oldest: table.compacted + 1 });
        }
        let start = table.history.partition_point(|e| e.resource_version() <= since);
        for event in table.history.range(start..) {
            if namespace.is_none() || event.object.namespace() == namespace.as_deref() {
                let _ = tx.send(event.clone());
            }
        }
        table.watchers.push(Watcher { namespace, tx });
        Ok(WatchReceiver { rx })
    }

    /// A resourceVersion that every event of `kind` published so far is at or below, and every later
    /// one above: what a watch reports in a BOOKMARK once its queue is drained.
    pub fn watch_revision(&self, kind: Kind) -> u64 {
        let _writers_excluded = self.read(kind);
        self.revision()
    }

    /// Store `value` under `key` with the next resourceVersion and publish the event.
    fn commit(
        &self,
        table: &mut Table,
        key: String,
        mut value: Value,
        event_type: EventType,
        previous: Option<Object>,
    ) -> Object {
        let revision = self.revision.fetch_add(1, Ordering::AcqRel) + 1;
        value["metadata"]["resourceVersion"] = json!(revision.to_string());
        let object = Arc::new(StoredObject { json: to_bytes(&value), value, resource_version: revision });
        if event_type == EventType::Deleted {
            table.objects.remove(&key);
        } else {
            table.objects.insert(key, object.clone());
        }
        let event = WatchEvent { event_type, object: object.clone(), previous };
        table.watchers.retain(|w| {
            if w.namespace.is_some() && w.namespace.as_deref() != event.object.namespace() {
                return !w.tx.is_closed();
            }
            w.tx.send(event.clone()).is_ok()
        });
        if table.history.len() == HISTORY_PER_KIND
            && let Some(dropped) = table.history.pop_front()
        {
            table.compacted = dropped.resource_version();
        }
        table.history.push_back(event);
        object
    }

    fn random_uid(&self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }

    /// Five characters from the alphabet Kubernetes uses for generated names (no vowels, no 0/1/3).
    pub fn random_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
    }

    fn allocate_cluster_ip(&self, service: &mut Value) {
        let spec = defaults::object_field(service, "spec");
        let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
        if spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) {
            let n = self.next_cluster_ip.fetch_add(1, Ordering::AcqRel);
            spec.insert("clusterIP".into(), json!(format!("10.96.{}.{}", n / 250, n % 250 + 1)));
        }
        if !headless && !spec.contains_key("clusterIPs") {
            let ip = spec["clusterIP"].clone();
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    }
}

const CONFLICT_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// The table key of an object.
fn key(kind: Kind, namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|_| kind.namespaced()) {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

fn namespace_range<'a>(
    objects: &'a BTreeMap<String, Object>,
    namespace: &str,
) -> impl Iterator<Item = (&'a String, &'a Object)> {
    // '0' follows '/' in ASCII: the range holds exactly the keys `namespace/...`.
    objects.range::<String, _>((Bound::Included(format!("{namespace}/")), Bound::Excluded(format!("{namespace}0"))))
}

fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// Sets apiVersion and kind, checks the namespace, and returns it (`None` for cluster-scoped kinds).
fn prepare_identity(kind: Kind, object: &mut Value) -> Result<Option<String>> {
    if !object.is_object() {
        return Err(Error::BadRequest(format!("the body of a {} must be a JSON object", kind.kind())));
    }
    if let Some(found) = object.get("kind").and_then(Value::as_str)
        && found != kind.kind()
    {
        return Err(Error::BadRequest(format!(
            "the kind of the object ({found}) does not match the resource ({})",
            kind.plural()
        )));
    }
    object["apiVersion"] = json!(kind.api_version());
    object["kind"] = json!(kind.kind());
    let metadata = defaults::object_field(object, "metadata");
    if !kind.namespaced() {
        metadata.remove("namespace");
        return Ok(None);
    }
    match metadata.get("namespace").and_then(Value::as_str).filter(|ns| !ns.is_empty()) {
        Some(namespace) => Ok(Some(namespace.to_string())),
        None => Err(Error::BadRequest(format!("a namespace is required for {}", kind.plural()))),
    }
}

/// The object to store when `proposed` replaces `current` under `mode`.
fn merge_for_mode(kind: Kind, current: &Value, mut proposed: Value, mode: WriteMode) -> Result<Value> {
    if !proposed.is_object() {
        return Err(Error::BadRequest("the patched object is not a JSON object".into()));
    }
    if mode == WriteMode::Status {
        let mut next = current.clone();
        next["status"] = proposed.get("status").cloned().unwrap_or(Value::Null);
        if next["status"].is_null() {
            next.as_object_mut().map(|o| o.remove("status"));
        }
        return Ok(next);
    }
    for field in ["name", "namespace"] {
        let now = current.pointer(&format!("/metadata/{field}"));
        let then = proposed.pointer(&format!("/metadata/{field}"));
        if then.is_some() && then != now {
            return Err(Error::BadRequest(format!("metadata.{field} cannot be changed")));
        }
    }
    proposed["apiVersion"] = current["apiVersion"].clone();
    proposed["kind"] = current["kind"].clone();
    let system: &[&str] = match mode {
        WriteMode::Api => &[
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ],
        _ => &["name", "namespace", "uid", "creationTimestamp", "generation"],
    };
    let metadata = defaults::object_field(&mut proposed, "metadata");
    for field in system {
        match current.pointer(&format!("/metadata/{field}")) {
            Some(value) => metadata.insert((*field).into(), value.clone()),
            None => metadata.remove(*field),
        };
    }
    if mode == WriteMode::Api && kind.has_status_subresource() {
        match current.get("status") {
            Some(status) => proposed["status"] = status.clone(),
            None => {
                proposed.as_object_mut().map(|o| o.remove("status"));
            }
        }
    }
    Ok(proposed)
}

/// A terminating object with no finalizers left, which is not a pod (pods wait for the kubelet).
fn is_finished(kind: Kind, object: &Value) -> bool {
    kind != Kind::Pod
        && object.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
        && object.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests;
