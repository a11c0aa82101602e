//! Faults applied through the API as on a real cluster: Chaos Mesh's PodChaos, NetworkChaos and
//! StressChaos, and the lab's own `LabFault` for what Chaos Mesh cannot express.
//!
//! - `spec`: experiment specs, parsed and validated as Chaos Mesh's webhooks do.
//! - `selector`: pod selection (selectors, then mode).
//! - `engine`: [`FaultEngine`], the tick hook that injects, records and recovers experiments.
//! - `effects`: what active faults do to processes and the network (read by the application model).
pub mod effects;
pub mod engine;
pub mod selector;
pub mod spec;

pub use engine::FaultEngine;
pub use spec::{Denied, validate};
