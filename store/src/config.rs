//! The store's configuration: where the file is, how durable a commit is, how alerts group.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use medic_core::ports::{Clock, SystemClock};

use crate::error::{Error, Result};
use crate::store::Store;

/// How far a commit is flushed before the writer answers.
///
/// SQLite runs in WAL mode either way. With `Normal`, a commit is written to the WAL (the OS page cache)
/// before the writer answers: it survives the medic process being killed (kill -9, OOM kill) but the last
/// commits can be lost if the machine loses power. With `Full`, the WAL is fsynced on every commit: the
/// commit also survives power loss. Group commit pays one fsync per batch, not per alert, so `Full` is the
/// default: in `benches/ingest.rs` it ingests batched alerts about as fast as `Normal` and single-alert
/// calls about a quarter slower. Choose `Normal` only on storage where fsync is very slow and losing the
/// last second of alerts to a machine crash is acceptable (Alertmanager re-sends unresolved alerts anyway).
/// Both are tested against kill -9 (`tests/it/crash.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Full,
    Normal,
}

impl Durability {
    /// The value of SQLite's `synchronous` pragma it sets.
    pub fn pragma_name(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

fn default_group_window_secs() -> u64 {
    600
}
fn default_queue_capacity() -> usize {
    4096
}
fn default_max_batch() -> usize {
    1024
}
fn default_max_idle_readers() -> usize {
    4
}

/// `[store]` in medic's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite file (created with its parent directory if missing).
    pub path: PathBuf,
    #[serde(default)]
    pub durability: Durability,
    /// A new firing alert joins an open incident of the same workload opened at most this long ago.
    #[serde(default = "default_group_window_secs")]
    pub group_window_secs: u64,
    /// Write requests that may wait for the writer; senders wait when it is full (back-pressure).
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// The most requests the writer commits in one transaction.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Read connections kept open between reads.
    #[serde(default = "default_max_idle_readers")]
    pub max_idle_readers: usize,
}

impl StoreConfig {
    /// The defaults for a file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            durability: Durability::default(),
            group_window_secs: default_group_window_secs(),
            queue_capacity: default_queue_capacity(),
            max_batch: default_max_batch(),
            max_idle_readers: default_max_idle_readers(),
        }
    }

    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    pub fn with_group_window(mut self, window: Duration) -> Self {
        self.group_window_secs = window.as_secs();
        self
    }

    pub fn group_window(&self) -> Duration {
        Duration::from_secs(self.group_window_secs)
    }

    pub fn validate(&self) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::Config("path is empty".into()));
        }
        if self.queue_capacity == 0 {
            return Err(Error::Config("queue_capacity must be at least 1".into()));
        }
        if self.max_batch == 0 {
            return Err(Error::Config("max_batch must be at least 1".into()));
        }
        Ok(())
    }

    /// Validates the config and opens the store on the wall clock. Blocks while it opens the file and
    /// migrates the schema: call it at start-up, or use [`StoreConfig::build_async`] inside a runtime.
    pub fn build(self) -> Result<Store> {
        self.build_with_clock(Arc::new(SystemClock))
    }

    /// As [`StoreConfig::build`], with the clock medic runs on (the lab's virtual clock in the lab).
    pub fn build_with_clock(self, clock: Arc<dyn Clock>) -> Result<Store> {
        self.validate()?;
        Store::open(self, clock)
    }

    /// As [`StoreConfig::build`], opening the file on tokio's blocking pool.
    pub async fn build_async(self, clock: Arc<dyn Clock>) -> Result<Store> {
        tokio::task::spawn_blocking(move || self.build_with_clock(clock))
            .await
            .map_err(|e| Error::Join(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_fields_are_refused() {
        let config: StoreConfig = serde_json::from_str(r#"{"path":"/var/lib/medic/medic.db"}"#).unwrap();
        assert_eq!(config, StoreConfig::new("/var/lib/medic/medic.db"));
        assert_eq!(config.durability, Durability::Full);
        assert_eq!(config.group_window(), Duration::from_secs(600));
        let normal: StoreConfig = serde_json::from_str(r#"{"path":"x.db","durability":"normal"}"#).unwrap();
        assert_eq!(normal.durability, Durability::Normal);
        let err = serde_json::from_str::<StoreConfig>(r#"{"path":"x.db","durabilty":"full"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `durabilty`"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        let mut config = StoreConfig::new("x.db");
        config.max_batch = 0;
        assert!(config.validate().unwrap_err().to_string().contains("max_batch"));
        assert!(StoreConfig::new("").validate().unwrap_err().to_string().contains("path is empty"));
    }
}
