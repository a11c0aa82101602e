//! Events as client-go's recorder writes them (`core/v1` Events).
//!
//! An event repeating the same source, object, type, reason and message is not written again: the
//! existing Event's `count` goes up and its `lastTimestamp` moves (the correlator's de-duplication, which
//! gives `kubectl describe`'s "(x4 over 2m)"). Events expire after an hour, as the API server's event TTL
//! makes them.
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::store::{Kind, Object, Store};

/// How long the API server keeps an Event after its last update.
pub const EVENT_TTL: SignedDuration = SignedDuration::from_secs(3600);
const SWEEP_EVERY: SignedDuration = SignedDuration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Who reports: `source.component` (and `source.host` for the kubelet).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub component: &'static str,
    pub host: Option<String>,
}

impl Source {
    pub const fn controller(component: &'static str) -> Self {
        Self { component, host: None }
    }

    pub fn kubelet(node: &str) -> Self {
        Self { component: "kubelet", host: Some(node.to_string()) }
    }
}

/// The `involvedObject` of an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Involved {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub resource_version: Option<String>,
    /// `spec.containers{app}` for events about one container.
    pub field_path: Option<String>,
}

impl Involved {
    /// The involved object for a stored object of `kind`.
    pub fn of(kind: Kind, object: &Object) -> Self {
        Self {
            kind: kind.kind(),
            api_version: kind.api_version(),
            namespace: object.namespace().map(str::to_string),
            name: object.name().to_string(),
            uid: object.uid().to_string(),
            resource_version: Some(object.resource_version.to_string()),
            field_path: None,
        }
    }

    /// A pod's container: the kubelet's container events.
    pub fn container(pod: &Object, container: &str) -> Self {
        Self { field_path: Some(format!("spec.containers{{{container}}}")), ..Self::of(Kind::Pod, pod) }
    }

    /// A node as the kubelet names it in its events (uid = node name, as kubelets do; the node
    /// controller uses the node's real uid, see [`Involved::of`]).
    pub fn node(name: &str) -> Self {
        Self {
            kind: "Node",
            api_version: "v1",
            namespace: None,
            name: name.to_string(),
            uid: name.to_string(),
            resource_version: None,
            field_path: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AggregateKey {
    source: Source,
    involved_kind: &'static str,
    namespace: Option<String>,
    name: String,
    uid: String,
    field_path: Option<String>,
    event_type: EventType,
    reason: String,
    message: String,
}

#[derive(Debug, Clone)]
struct Recorded {
    namespace: String,
    name: String,
    count: u64,
    last: Timestamp,
}

/// Writes events to the store. One per simulation, shared by every controller and the kubelet.
#[derive(Debug, Default)]
pub struct EventRecorder {
    recorded: HashMap<AggregateKey, Recorded>,
    sequence: u64,
    last_sweep: Option<Timestamp>,
}

impl EventRecorder {
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        store: &Store,
        now: Timestamp,
        source: &Source,
        involved: &Involved,
        event_type: EventType,
        reason: &str,
        message: impl Into<String>,
    ) {
        let message = message.into();
        let key = AggregateKey {
            source: source.clone(),
            involved_kind: involved.kind,
            namespace: involved.namespace.clone(),
            name: involved.name.clone(),
            uid: involved.uid.clone(),
            field_path: involved.field_path.clone(),
            event_type,
            reason: reason.to_string(),
            message: message.clone(),
        };
        let stamp = second(now).to_string();
        if let Some(recorded) = self.recorded.get_mut(&key) {
            let count = recorded.count + 1;
            let bumped = store.modify(Kind::Event, Some(&recorded.namespace), &recorded.name, |event| {
                event["count"] = json!(count);
                event["lastTimestamp"] = json!(stamp);
                Ok(())
            });
            if bumped.is_ok() {
                recorded.count = count;
                recorded.last = now;
                return;
            }
        }
        let namespace = involved.namespace.clone().unwrap_or_else(|| "default".to_string());
        self.sequence += 1;
        let unique = (now.as_nanosecond() as u128).wrapping_add(u128::from(self.sequence)) as u64;
        let name = format!("{}.{unique:x}", involved.name);
        let mut involved_object = json!({
            "kind": involved.kind,
            "name": involved.name,
            "uid": involved.uid,
            "apiVersion": involved.api_version,
        });
        if let Some(ns) = &involved.namespace {
            involved_object["namespace"] = json!(ns);
        }
        if let Some(rv) = &involved.resource_version {
            involved_object["resourceVersion"] = json!(rv);
        }
        if let Some(path) = &involved.field_path {
            involved_object["fieldPath"] = json!(path);
        }
        let mut source_value = json!({"component": source.component});
        if let Some(host) = &source.host {
            source_value["host"] = json!(host);
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved_object,
            "reason": reason,
            "message": message,
            "source": source_value,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": event_type.as_str(),
            "eventTime": Value::Null,
            "reportingComponent": source.component,
            "reportingInstance": source.host.clone().unwrap_or_default(),
        });
        match store.create(Kind::Event, event) {
            Ok(_) => {
                self.recorded.insert(key, Recorded { namespace, name, count: 1, last: now });
            }
            Err(error) => tracing::debug!(%error, reason, "event not recorded"),
        }
    }

    /// Once a minute: delete events older than the TTL and forget what no longer aggregates.
    pub fn sweep(&mut self, store: &Store, now: Timestamp) {
        if self.last_sweep.is_some_and(|last| now.duration_since(last) < SWEEP_EVERY) {
            return;
        }
        self.last_sweep = Some(now);
        self.recorded.retain(|_, r| now.duration_since(r.last) < EVENT_TTL);
        let (events, _) = store.list(Kind::Event, None);
        for event in events {
            let last =
                event.value.get("lastTimestamp").and_then(Value::as_str).and_then(|t| t.parse::<Timestamp>().ok());
            if last.is_some_and(|last| now.duration_since(last) >= EVENT_TTL) {
                let _ = store.delete(Kind::Event, event.namespace(), event.name());
            }
        }
    }
}

fn second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
