//! The store handle: a queue to the single writer thread and a pool of read connections.
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use medic_core::ports::Clock;

use crate::audit::ChainHead;
use crate::config::StoreConfig;
use crate::error::{Context, Error, Result};
use crate::schema;
use crate::writer::{self, Request, WriteCtx, Writer};

/// How long a connection waits on a lock held by another connection (a checkpoint, another process)
/// before reporting it busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// medic's SQLite store. Cheap to clone; every clone talks to the same writer thread.
///
/// Every write goes to one writer thread, which commits the requests queued at the same moment in one
/// transaction (group commit) and answers each after the commit: when a write method returns `Ok`, the
/// change is durable (see [`crate::Durability`]). Reads run on tokio's blocking pool with their own
/// connections and see every write that was acknowledged before they started (WAL snapshot isolation).
/// Neither ever blocks an async executor thread, but both need a tokio runtime.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

struct Inner {
    path: PathBuf,
    queue: mpsc::Sender<Request>,
    readers: Mutex<Vec<Connection>>,
    max_idle_readers: usize,
    clock: Arc<dyn Clock>,
}

impl Store {
    /// Opens (creating if needed) the file, migrates its schema and starts the writer thread. Blocks.
    pub(crate) fn open(config: StoreConfig, clock: Arc<dyn Clock>) -> Result<Store> {
        let path = config.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
        }
        let mut conn = Connection::open(&path).map_err(|source| Error::Open { path: path.clone(), source })?;
        configure_writer(&conn, &config).map_err(|source| Error::Open { path: path.clone(), source })?;
        schema::migrate(&mut conn, &path)?;
        let chain = ChainHead::load(&conn)?;
        let group_window_us = i64::try_from(config.group_window().as_micros()).unwrap_or(i64::MAX);
        let (queue, requests) = mpsc::channel(config.queue_capacity);
        let writer = Writer { conn, chain, clock: clock.clone(), group_window_us, max_batch: config.max_batch };
        std::thread::Builder::new()
            .name("medic-store-writer".into())
            .spawn(move || writer.run(requests))
            .map_err(|e| Error::Config(format!("starting the writer thread: {e}")))?;
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                queue,
                readers: Mutex::new(Vec::new()),
                max_idle_readers: config.max_idle_readers,
                clock,
            }),
        })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The clock the store stamps its rows with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Waits for every queued write to commit, then closes the writer's connection. Other clones of this
    /// handle get [`Error::Closed`] from later writes; reads keep working.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.inner.queue.send(Request::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }

    /// Runs `work` on the writer thread inside the next batch's transaction, and returns its result once
    /// that batch is committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_, '_>) -> Result<T> + Send + 'static,
    {
        let (request, answer) = writer::request(work);
        self.inner.queue.send(request).await.map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::WriteAborted)?
    }

    /// Runs `work` with a read connection on tokio's blocking pool.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader()?;
            let result = work(&conn);
            inner.give_back(conn);
            result
        })
        .await
        .map_err(|e| Error::Join(e.to_string()))?
    }
}

impl Inner {
    fn take_reader(&self) -> Result<Connection> {
        if let Some(conn) = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        open_reader(&self.path)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle_readers {
            idle.push(conn);
        }
    }
}

fn configure_writer(conn: &Connection, config: &StoreConfig) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("the file refused WAL mode (journal mode is {mode})")),
        ));
    }
    conn.pragma_update(None, "synchronous", config.durability.pragma_name())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // After a checkpoint, shrink the WAL back to at most 64 MiB (a storm can grow it far beyond).
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 64 MiB of page cache, so the alert-key index (random inserts) stays in memory in an alert storm.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// A connection for reading: it cannot write even by mistake.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|source| Error::Open { path: path.to_path_buf(), source })?;
    conn.busy_timeout(BUSY_TIMEOUT).doing("configuring a read connection")?;
    conn.pragma_update(None, "query_only", true).doing("configuring a read connection")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}
