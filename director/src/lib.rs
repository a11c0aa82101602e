//! medic-director: consensus on the root cause and the fix.
//!
//! `decide` is a pure function of the incident, the specialists' findings, the recalled memory and the
//! playbooks (architecture invariant: no I/O, tested by table). The `Director` actor around it fans the
//! context out to the specialists, collects their reports with a deadline, asks memory, decides, hands the
//! plan to the Executor (or waits for a human's approval), and records every step.
#![forbid(unsafe_code)]

pub mod adjudicate;
pub mod decide;
pub mod director;
pub mod error;

#[cfg(test)]
mod decide_tests;

pub use adjudicate::{Adjudicator, ModelAdjudicator};
pub use decide::{DecisionInput, Thresholds, decide, track_record_weight};
pub use director::{Director, DirectorConfig, DirectorLinks, Resume, decision_summary};
pub use error::{Error, Result};
