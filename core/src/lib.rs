//! medic-core: the vocabulary every medic crate shares.
//!
//! Identifiers, the alert and incident model, the context a collector gathers, hypotheses and findings,
//! decisions and plans, execution reports, the messages actors exchange, and the port traits that adapters
//! implement. Architecture invariant: this crate performs no I/O; it has no network, file or database code.
#![forbid(unsafe_code)]

pub mod alert;
pub mod audit;
pub mod backoff;
pub mod context;
pub mod decision;
pub mod error;
pub mod execution;
pub mod hypothesis;
pub mod ids;
pub mod messages;
pub mod mode;
pub mod plan;
pub mod ports;
pub mod quantity;
pub mod taxonomy;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod workload;

pub use alert::{Alert, AlertSource, AlertStatus};
pub use audit::{AuditEntry, AuditKind};
pub use backoff::Backoff;
pub use context::IncidentContext;
pub use decision::{Decision, DecisionRecord, RankedHypothesis};
pub use error::{Error, Result};
pub use execution::{ExecutionOutcome, ExecutionReport, StepRecord};
pub use hypothesis::{Evidence, EvidenceSource, FindingReport, Hypothesis};
pub use ids::{IncidentUid, PlanId};
pub use mode::{Mode, ModesConfig};
pub use plan::{ActionSpec, Plan, Risk, VerifyCheck, VerifySpec};
pub use taxonomy::RootCauseClass;
pub use workload::{ObjectKind, ObjectRef};
