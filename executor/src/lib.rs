//! medic-executor: the only component that writes to a cluster.
//!
//! The [`Executor`] actor takes a `Plan` (message `Execute`) and answers with an `ExecutionReport`:
//! - the [`guard`] refuses plans that cross a red line (the namespace's mode, a missing approval, protected
//!   namespaces, deleting a Namespace, PVC, Node or CRD, scaling to zero or out of bounds, objects labelled
//!   `medic.io/ignore`) or a limit (blast radius, rate limit, circuit breaker);
//! - every write is journaled in the store (intent before the call, applied after, then verified, failed or
//!   rolled back), so a plan resumed after medic was killed never applies a step twice;
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
pub mod guard_facts;
pub mod guard_limits;
pub mod guard_rules;
pub mod policy_gate;
pub mod run;
mod run_journal;
pub mod verify;

pub use actions::{Action, Applied, INCIDENT_ANNOTATION, Undo, WriteContext, Written};
pub use api::{Calls, KubeApi};
pub use config::ExecutorConfig;
pub use error::{Error, Result};
pub use executor::Executor;
pub use guard::{Effect, Facts, Guard, GuardRule, History, Refusal, StepFacts, Touched};
pub use policy_gate::{KyvernoGate, PolicyGate, PolicyVerdict};
pub use run::Runner;
