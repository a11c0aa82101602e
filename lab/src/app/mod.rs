//! The application model: what the processes inside the lab's containers do.
//!
//! - `topology`: the topology file (services, resources, dependencies) and its validation.
//! - `technology`: per-technology facts (ports, protocols, start-up, exit codes).
//! - `flow`: request flow through the dependency graph (rates, CPU, connections, errors, latency).
//! - `phrases`: log phrasings per technology and condition (data in `phrases.yaml`).
//! - `quantity`: Kubernetes quantities and Go durations.
pub mod flow;
pub mod phrases;
pub mod quantity;
pub mod technology;
pub mod topology;

pub use technology::{Protocol, Technology};
pub use topology::{Topology, TopologyError};
