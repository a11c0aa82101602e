//! medic-agents: the specialists that turn an incident's context into ranked hypotheses.
//!
//! Each specialist is a pure function of the context (`Specialist::analyse`), built from a validated
//! config (`SpecialistConfig::build`) and run inside a `SpecialistActor`. The rules read real signals —
//! status reasons, exit codes, events, log lines of real software, metrics — and nothing specific to any
//! cluster, so they work unchanged on a real one.
//!
//! Adding a specialist: its file, a variant of `SpecialistConfig`, its playbooks in `playbooks/catalog/`,
//! its scenarios in `chaos-tests/scenarios/` (see CONTRIBUTING.md).
#![forbid(unsafe_code)]

pub mod actor;
pub mod compute;
pub mod database;
pub mod error;
pub mod llm;
pub mod network;
pub mod patterns;
pub mod playbook_ids;
pub mod signals;
pub mod specialist;

#[cfg(test)]
mod compliance;

pub use actor::SpecialistActor;
pub use error::{Error, Result};
pub use specialist::{Specialist, SpecialistConfig, default_specialists};
