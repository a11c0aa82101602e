//! medic-executor: the only component that writes to a cluster.
//!
//! The [`Executor`] actor takes a `Plan` (message `Execute`) and answers with an `ExecutionReport`:
//! - the [`guard`] refuses plans that cross a red line (protected namespaces, scaling to zero or out of
//!   bounds, objects labelled `medic.io/ignore`, a missing approval);
//! - every step is built from its `ActionSpec` ([`actions`]), dry-run by the API server (`dryRun=All`),
//!   and what it would write is validated by the [`policy_gate`] before any step is applied;
//! - the steps are applied through kube-rs with `fieldManager=medic` and the `medic.io/incident-uid`
//!   annotation, each API call recorded;
//! - [`verify`] polls the cluster through the read-only `ClusterRead` port in the `Clock`'s time;
//! - when verification fails and the plan says so, what was changed is restored, and what cannot be
//!   undone is said in the report. Every step writes an audit record.
#![forbid(unsafe_code)]

pub mod actions;
pub mod api;
pub mod config;
pub mod error;
pub mod executor;
pub mod guard;
pub mod policy_gate;
pub mod run;
pub mod verify;

pub use actions::{Action, Applied, INCIDENT_ANNOTATION, Undo, WriteContext, Written};
pub use api::{Calls, KubeApi};
pub use config::ExecutorConfig;
pub use error::{Error, Result};
pub use executor::Executor;
pub use guard::{Facts, Guard, GuardRule, Refusal};
pub use policy_gate::{KyvernoGate, PolicyGate, PolicyVerdict};
pub use run::Runner;
