//! The application model: what the processes inside the lab's containers do.
//!
//! - `model`: [`AppModel`], the `ProcessModel` the kubelet calls, and the [`AppHandle`] others share.
//! - `cluster`: what the model reads of the cluster (Service IPs and endpoints, pods, nodes, policies).
//! - `manifests`: the Kubernetes objects a topology deploys, and its nodes' kubelets.
//! - `netpol`: NetworkPolicy semantics.
//! - `process`: one process's memory, counters and runtime limits.
//! - `topology`: the topology file (services, resources, dependencies) and its validation.
//! - `technology`: per-technology facts (ports, protocols, start-up, exit codes).
//! - `flow`: request flow through the dependency graph (rates, CPU, connections, errors, latency).
//! - `phrases`: log phrasings per technology and condition (data in `phrases.yaml`).
//! - `quantity`: Kubernetes quantities and Go durations.
pub mod cluster;
pub mod flow;
pub mod manifests;
pub mod model;
pub mod netpol;
pub mod phrases;
pub mod process;
pub mod quantity;
pub mod technology;
pub mod topology;

pub use model::{AppHandle, AppModel, AppState};
pub use technology::{Protocol, Technology};
pub use topology::{Topology, TopologyError};

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::store::{Kind, Store};

/// Create the topology's objects (namespace, ConfigMaps, Services, Deployments) in `store`; objects
/// that already exist are left as they are.
pub fn deploy(store: &Store, topology: &Topology) -> Result<()> {
    for object in topology.manifests() {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind_name = object["kind"].as_str().unwrap_or_default();
        let kind = Kind::from_api_version(api_version, kind_name)
            .ok_or_else(|| Error::Internal(format!("deploying the topology: unknown kind {kind_name}")))?;
        match store.create(kind, object) {
            Ok(_) | Err(Error::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The shared topology, for the model and whoever else needs it.
pub fn shared(topology: Topology) -> Arc<Topology> {
    Arc::new(topology)
}
