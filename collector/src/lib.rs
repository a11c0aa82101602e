//! Alert intake normalisation, dedup and grouping, and the ContextCollector actor.
//!
//! - [`intake`]: webhook bodies (Alertmanager v4, GoAlert, medic's generic shape) → authenticated, strictly
//!   parsed [`medic_core::Alert`]s → persisted in the store before the sender is answered → `OpenIncident`
//!   to the collector for every incident the alerts opened.
//! - [`ContextCollector`]: on `OpenIncident`, reads the cluster through the read-only [`ClusterRead`] port
//!   and sends the [`medic_core::IncidentContext`] on as `Diagnose`.
//! - [`KubeClusterRead`]: the kube-rs adapter of that port.
//!
//! [`ClusterRead`]: medic_core::ports::ClusterRead
#![forbid(unsafe_code)]

pub mod collector;
pub mod error;
pub mod gather;
pub mod intake;
pub mod kube_read;
pub mod metrics;
#[cfg(test)]
pub(crate) mod testing;

pub use collector::{ContextCollector, ContextSummary};
pub use error::{Error, IntakeError, Result};
pub use gather::CollectConfig;
pub use intake::{Intake, IntakeAck, IntakeConfig, IntakeOutputs};
pub use kube_read::KubeClusterRead;
