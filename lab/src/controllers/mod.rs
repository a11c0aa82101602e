//! The control plane's controllers, as kube-controller-manager and kube-scheduler run them.
//!
//! Each controller is level-triggered: every tick it reads the current objects (through the shared
//! [`cache::Caches`]), compares desired with actual state and writes the difference through the store,
//! emitting the events the real controller emits. They run in a fixed order within a tick
//! (node lifecycle, deployments, replica sets, scheduler; the kubelet; endpoints), so a Deployment
//! created between two ticks has its ReplicaSet, pods and bindings one tick later.
pub mod cache;
pub mod deployment;
pub mod endpoints;
pub mod events;
pub mod hash;
pub mod node_lifecycle;
pub mod pods;
pub mod quantity;
pub mod replicaset;
pub mod rollout;
pub mod scheduler;
pub mod selector;

use jiff::Timestamp;

use crate::store::Store;
use cache::Caches;
use events::EventRecorder;

/// What every controller gets for one tick.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub now: Timestamp,
    pub caches: &'a mut Caches,
    pub events: &'a mut EventRecorder,
}

/// A timestamp as the API writes it: whole seconds, RFC 3339, UTC.
pub fn api_time(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second()).unwrap_or(t).to_string()
}

/// Parses an API timestamp.
pub fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    text.and_then(|t| t.parse().ok())
}
