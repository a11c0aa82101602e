//! medic-memory: "never solve the same problem twice from scratch".
//!
//! Every closed incident is remembered as (symptoms and context → diagnosis → fix → outcome): its context
//! is reduced to a symptom digest ([`digest`]: status reasons, exit codes, events, log templates, metric
//! signatures), embedded ([`embed`]: the model-free hashing embedder, or Ollama), stored as a row of the
//! SQLite store and indexed in FAISS ([`index`]). The next similar incident recalls it ([`MemoryActor`]
//! answers the Director's `Recall`), so `decide` can prefer a fix that worked and avoid one that failed.
//!
//! The store is the truth and the index a cache of it: see [`bank`] for how they are kept in step across
//! crashes.
#![forbid(unsafe_code)]

pub mod actor;
pub mod bank;
pub mod bench;
pub mod config;
pub mod digest;
pub mod embed;
mod error;
pub mod index;
pub mod template;
pub mod transfer;

pub use actor::MemoryActor;
pub use bank::{MemoryBank, MemoryDocument, MemoryStats, MemorySummary, OpenReport, Remembered, SearchHit};
pub use config::{EmbedderConfig, IndexConfig, MemoryConfig};
pub use digest::SymptomDigest;
pub use embed::{HashingEmbedder, OllamaEmbedder};
pub use error::{Error, Result};
pub use index::{IndexKind, MemoryIndex};

/// Incident fixtures shared by the unit tests and the integration tests.
#[cfg(test)]
#[path = "../tests/common/fixtures.rs"]
pub(crate) mod testing;
