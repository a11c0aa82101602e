//! Errors of the store. Every message says what the store was doing when it failed.
use std::path::PathBuf;

use medic_core::{IncidentUid, PlanId};
use thiserror::Error;

use crate::journal::StepState;
use crate::plans::PlanStatus;

#[derive(Debug, Error)]
pub enum Error {
    #[error("opening the store at {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },

    #[error("creating the store's directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },

    #[error("{doing}: {source}")]
    Sqlite { doing: &'static str, source: rusqlite::Error },

    #[error("migrating the store from schema version {from} to {to}: {source}")]
    Migrate { from: u32, to: u32, source: rusqlite::Error },

    #[error("the store at {path} has schema version {found}, newer than this medic knows ({known}): upgrade medic")]
    SchemaTooNew { path: PathBuf, found: u32, known: u32 },

    /// A row could not be turned back into a typed value: the file was edited or written by a different
    /// version.
    #[error("reading {field} of {table} row {row}: {message}")]
    Corrupt { table: &'static str, row: String, field: &'static str, message: String },

    #[error("encoding {what} as JSON: {source}")]
    Encode { what: &'static str, source: serde_json::Error },

    /// `verify_audit` found the chain broken.
    #[error("the audit trail is broken: {0}")]
    AuditBroken(crate::audit::AuditBreak),

    #[error("invalid store config: {0}")]
    Config(String),

    #[error("incident {0} not found")]
    IncidentNotFound(IncidentUid),

    #[error("plan {0} not found")]
    PlanNotFound(PlanId),

    #[error("plan {0} is already stored")]
    PlanExists(PlanId),

    #[error("plan {plan} was already {status} by {by}: a plan takes one verdict")]
    PlanAlreadyDecided { plan: PlanId, status: PlanStatus, by: String },

    #[error("step {step} of plan {plan} is already journaled (state {state}): it must not be applied twice")]
    StepAlreadyJournaled { plan: PlanId, step: u32, rollback: bool, state: StepState },

    #[error("journal entry {0} not found")]
    JournalEntryNotFound(i64),

    #[error("journal entry {id}: a step cannot move from {from} to {to}")]
    InvalidStepTransition { id: i64, from: StepState, to: StepState },

    #[error("outbox message {0} not found")]
    OutboxMessageNotFound(i64),

    #[error("memory {0} not found")]
    MemoryNotFound(i64),

    #[error("memory vector has {len} bytes: expected a multiple of 4 (little-endian f32)")]
    BadVector { len: usize },

    /// The batch holding this write could not be committed; nothing of it was stored.
    #[error("committing a write: {0}")]
    CommitFailed(String),

    /// The writer dropped the request without answering (the request panicked); nothing of it was stored.
    #[error("writing to the store: the request was aborted")]
    WriteAborted,

    /// The writer thread is gone: the store was closed or its thread panicked.
    #[error("writing to the store: the store is closed")]
    Closed,

    #[error("running a store read on the blocking pool: {0}")]
    Join(String),
}

impl Error {
    /// A short stable label for counting errors by kind in metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Open { .. } => "open",
            Error::CreateDir { .. } => "create_dir",
            Error::Sqlite { .. } => "sqlite",
            Error::Migrate { .. } => "migrate",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Corrupt { .. } => "corrupt",
            Error::Encode { .. } => "encode",
            Error::AuditBroken(_) => "audit_broken",
            Error::Config(_) => "config",
            Error::IncidentNotFound(_) => "incident_not_found",
            Error::PlanNotFound(_) => "plan_not_found",
            Error::PlanExists(_) => "plan_exists",
            Error::PlanAlreadyDecided { .. } => "plan_already_decided",
            Error::StepAlreadyJournaled { .. } => "step_already_journaled",
            Error::JournalEntryNotFound(_) => "journal_entry_not_found",
            Error::InvalidStepTransition { .. } => "invalid_step_transition",
            Error::OutboxMessageNotFound(_) => "outbox_message_not_found",
            Error::MemoryNotFound(_) => "memory_not_found",
            Error::BadVector { .. } => "bad_vector",
            Error::CommitFailed(_) => "commit_failed",
            Error::WriteAborted => "write_aborted",
            Error::Closed => "closed",
            Error::Join(_) => "join",
        }
    }

    /// The error as the core ports report it.
    pub fn into_port_error(self) -> medic_core::Error {
        match self {
            Error::IncidentNotFound(uid) => medic_core::Error::NotFound(format!("incident {uid}")),
            Error::PlanNotFound(id) => medic_core::Error::NotFound(format!("plan {id}")),
            Error::Closed | Error::Open { .. } | Error::CreateDir { .. } | Error::Join(_) => {
                medic_core::Error::Unavailable { port: "store", message: self.to_string() }
            }
            other => medic_core::Error::Backend { port: "store", message: other.to_string() },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches what the store was doing to a SQLite error.
pub(crate) trait Context<T> {
    fn doing(self, doing: &'static str) -> Result<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn doing(self, doing: &'static str) -> Result<T> {
        self.map_err(|source| Error::Sqlite { doing, source })
    }
}
