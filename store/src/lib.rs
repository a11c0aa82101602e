//! medic-store: medic's embedded SQLite store.
//!
//! One file holds the alerts and the incidents they group into, the hash-chained audit trail, the
//! Executor's action journal, plans waiting for approval, the notification outbox, the specialists' track
//! records and the rows of the incident memory.
//!
//! ```no_run
//! # async fn example(alerts: Vec<medic_core::Alert>) -> medic_store::Result<()> {
//! use medic_store::StoreConfig;
//!
//! let store = StoreConfig::new("/var/lib/medic/medic.db").build()?;
//! let outcome = store.ingest(alerts).await?; // durable once this returns
//! for uid in outcome.new_incidents() {
//!     println!("opened {}", uid.short());
//! }
//! store.verify_audit().await?;
//! # Ok(()) }
//! ```
//!
//! How it works: a single writer thread owns the read-write connection and commits whatever requests are
//! queued in one transaction (group commit), answering each only after the commit; reads use their own
//! connections on tokio's blocking pool (WAL lets them run beside the writer). See [`Store`]. The file is
//! in WAL mode with `synchronous` chosen by [`Durability`]. The schema is versioned with
//! `PRAGMA user_version` and migrated on open ([`schema`]).
//!
//! Where to look: [`ingest`] (dedup and grouping), [`grouping`] (what an alert is about), [`incidents`],
//! [`audit`] (the hash chain and its verification), [`journal`] (the Executor's crash-safety protocol),
//! [`plans`], [`Store::outbox_due`] (the notification outbox), [`Store::track_record`],
//! [`Store::insert_memory`].
#![forbid(unsafe_code)]

mod alerts;
pub mod audit;
pub mod canonical;
mod codec;
mod config;
mod error;
pub mod grouping;
pub mod guard_ledger;
pub mod incidents;
pub mod ingest;
pub mod journal;
mod memories;
mod outbox;
pub mod plans;
pub mod schema;
mod store;
mod threads;
mod track_record;
mod writer;

pub use alerts::AlertRecord;
pub use audit::{AuditBreak, AuditBreakKind, AuditRecord};
pub use config::{Durability, StoreConfig};
pub use error::{Error, Result};
pub use grouping::{AlertSubject, subject_of};
pub use guard_ledger::{FailureStreak, LedgerEntry, LedgerKind};
pub use incidents::{Diagnosis, Incident, IncidentFilter, IncidentStatus};
pub use ingest::{IngestOutcome, IngestedAlert};
pub use journal::{JournalEntry, StepIntent, StepState};
pub use memories::{MemoryRecord, NewMemory};
pub use outbox::OutboxMessage;
pub use plans::{PlanStatus, StoredPlan};
pub use store::Store;
pub use threads::NotifyThread;
pub use track_record::{Tally, TrackRecord};
