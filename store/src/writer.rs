//! The single writer: one thread owns the only read-write connection and commits requests in groups.
//!
//! Requests arrive on a bounded channel. The writer blocks for the first, then takes everything else already
//! queued (up to `max_batch`), runs each inside its own SAVEPOINT of one transaction, commits once, and only
//! then answers every request through its oneshot. A request that fails rolls back to its savepoint and
//! does not disturb the others in the batch; if the commit itself fails, every request of the batch gets
//! the error. One fsync (or one WAL append) is thus shared by everything that arrived while the previous
//! batch was being committed: under load the batches grow and the per-request cost falls.
use rusqlite::{Connection, Statement};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use medic_core::ports::Clock;

use crate::audit::ChainHead;
use crate::error::{Context, Error, Result};

/// What a write request can touch.
pub(crate) struct WriteCtx<'a, 'c> {
    /// The write connection, inside the batch's transaction and the request's savepoint.
    pub conn: &'c Connection,
    statements: &'a Statements<'c>,
    /// The audit chain's last row, advanced by every append.
    pub chain: &'a mut ChainHead,
    pub clock: &'a dyn Clock,
    /// The grouping window in microseconds.
    pub group_window_us: i64,
}

impl<'c> WriteCtx<'_, 'c> {
    /// Runs `work` with the writer's prepared statement for `sql` (prepared on first use, kept for the life
    /// of the connection), naming what it does in errors.
    pub fn with<T>(
        &self,
        sql: &'static str,
        doing: &'static str,
        work: impl FnOnce(&mut Statement<'c>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.statements.with(sql, work).doing(doing)
    }
}

/// The writer's prepared statements.
///
/// Not rusqlite's statement cache: it clears a statement's bindings when the statement goes back to the
/// cache, and SQLite re-prepares a statement whose plan looked at a bound value whenever its bindings are
/// cleared, which for queries such as "the newest open incident of this workload" meant parsing and
/// planning them again for every alert. Here a statement keeps its bindings until the next execution
/// replaces them all.
type SharedStatement<'c> = Rc<RefCell<Statement<'c>>>;

pub(crate) struct Statements<'c> {
    conn: &'c Connection,
    // Keyed by the SQL text's address and length: the SQL is always a literal.
    prepared: RefCell<HashMap<(usize, usize), SharedStatement<'c>>>,
}

impl<'c> Statements<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Self { conn, prepared: RefCell::new(HashMap::new()) }
    }

    pub fn with<T>(
        &self,
        sql: &'static str,
        work: impl FnOnce(&mut Statement<'c>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let key = (sql.as_ptr() as usize, sql.len());
        let cached = self.prepared.borrow().get(&key).cloned();
        let statement = match cached {
            Some(statement) => statement,
            None => {
                let statement = Rc::new(RefCell::new(self.conn.prepare(sql)?));
                self.prepared.borrow_mut().insert(key, statement.clone());
                statement
            }
        };
        // A statement already in use further up the stack (a query inside its own row loop) gets a
        // one-off copy instead.
        match statement.try_borrow_mut() {
            Ok(mut statement) => work(&mut statement),
            Err(_) => work(&mut self.conn.prepare(sql)?),
        }
    }

    fn execute(&self, sql: &'static str) -> rusqlite::Result<()> {
        self.with(sql, |statement| statement.execute([]).map(|_| ()))
    }
}

/// Answers a request once its batch is committed (`None`) or failed (`Some(reason)`).
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// A queued write.
pub(crate) trait WriteJob: Send {
    /// Runs inside the batch transaction; says whether it succeeded and leaves its answer for after the commit.
    fn run(self: Box<Self>, ctx: &mut WriteCtx<'_, '_>) -> (bool, Reply);
    /// Answers without running: the batch could not start.
    fn fail(self: Box<Self>, reason: &str);
}

pub(crate) enum Request {
    Write(Box<dyn WriteJob>),
    /// Finish the queue, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

struct TypedJob<T, F> {
    work: F,
    answer: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteJob for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_, '_>) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, ctx: &mut WriteCtx<'_, '_>) -> (bool, Reply) {
        let TypedJob { work, answer } = *self;
        let result = work(ctx);
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |commit_error| {
            let result = match (result, commit_error) {
                (Ok(value), None) => Ok(value),
                (Ok(_), Some(reason)) => Err(Error::CommitFailed(reason.to_string())),
                (Err(e), _) => Err(e),
            };
            // The caller may have stopped waiting; the outcome stands either way.
            let _ = answer.send(result);
        });
        (ok, reply)
    }

    fn fail(self: Box<Self>, reason: &str) {
        let _ = self.answer.send(Err(Error::CommitFailed(reason.to_string())));
    }
}

/// Wraps a typed write in a request whose answer goes to the returned receiver.
pub(crate) fn request<T, F>(work: F) -> (Request, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: FnOnce(&mut WriteCtx<'_, '_>) -> Result<T> + Send + 'static,
{
    let (answer, rx) = oneshot::channel();
    (Request::Write(Box::new(TypedJob { work, answer })), rx)
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub chain: ChainHead,
    pub clock: Arc<dyn Clock>,
    pub group_window_us: i64,
    pub max_batch: usize,
}

impl Writer {
    /// The thread's body: runs until every sender is gone or a `Close` arrives.
    pub fn run(self, mut queue: mpsc::Receiver<Request>) {
        let Writer { conn, chain, clock, group_window_us, max_batch } = self;
        let statements = Statements::new(&conn);
        let mut session = Session { conn: &conn, statements: &statements, chain, clock, group_window_us };
        let mut batch = Vec::with_capacity(max_batch);
        let mut closing = None;
        while closing.is_none() {
            let Some(first) = queue.blocking_recv() else { break };
            batch.push(first);
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            closing = session.commit_batch(&mut batch);
        }
        drop(session);
        drop(statements);
        // Fold the WAL back into the database file so the next open starts small.
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::debug!(error = %e, "checkpointing the store's WAL on close");
        }
        if let Err((_, e)) = conn.close() {
            tracing::warn!(error = %e, "closing the store's write connection");
        }
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }
}

/// The writer's state while its connection is open.
struct Session<'s, 'c> {
    conn: &'c Connection,
    statements: &'s Statements<'c>,
    chain: ChainHead,
    clock: Arc<dyn Clock>,
    group_window_us: i64,
}

impl Session<'_, '_> {
    /// Runs one batch in one transaction and answers it. Returns the close request if the batch had one.
    fn commit_batch(&mut self, batch: &mut Vec<Request>) -> Option<oneshot::Sender<()>> {
        let mut closing = None;
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let chain_before = self.chain.clone();
        if let Err(e) = self.statements.execute("BEGIN IMMEDIATE") {
            let reason = format!("starting a write transaction: {e}");
            for request in batch.drain(..) {
                match request {
                    Request::Write(job) => job.fail(&reason),
                    Request::Close(done) => closing = Some(done),
                }
            }
            return closing;
        }
        for request in batch.drain(..) {
            match request {
                Request::Write(job) => {
                    if let Some(reply) = self.run_job(job) {
                        replies.push(reply);
                    }
                }
                Request::Close(done) => closing = Some(done),
            }
        }
        let committed = self
            .store_chain_head(&chain_before)
            .and_then(|()| self.statements.execute("COMMIT").doing("committing a batch of writes"));
        tracing::trace!(requests = replies.len(), ok = committed.is_ok(), "committed a write batch");
        match committed {
            Ok(()) => replies.into_iter().for_each(|reply| reply(None)),
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(error = %reason, requests = replies.len(), "a write batch failed to commit");
                let _ = self.conn.execute_batch("ROLLBACK");
                self.chain = chain_before;
                replies.into_iter().for_each(|reply| reply(Some(&reason)));
            }
        }
        closing
    }

    /// Runs one request inside a savepoint. `None` when the request panicked: its answer channel is gone
    /// with it, and its caller sees [`Error::WriteAborted`].
    fn run_job(&mut self, job: Box<dyn WriteJob>) -> Option<Reply> {
        let chain_before = self.chain.clone();
        if let Err(e) = self.statements.execute("SAVEPOINT request") {
            job.fail(&format!("opening a savepoint for a write request: {e}"));
            return None;
        }
        let mut ctx = WriteCtx {
            conn: self.conn,
            statements: self.statements,
            chain: &mut self.chain,
            clock: self.clock.as_ref(),
            group_window_us: self.group_window_us,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| job.run(&mut ctx)));
        let (ok, reply) = match outcome {
            Ok((ok, reply)) => (ok, Some(reply)),
            Err(_) => {
                tracing::error!("a write request panicked; its changes are rolled back");
                (false, None)
            }
        };
        if !ok {
            self.chain = chain_before;
            if let Err(e) = self.statements.execute("ROLLBACK TO request") {
                tracing::error!(error = %e, "rolling back a failed write request");
            }
        }
        if let Err(e) = self.statements.execute("RELEASE request") {
            tracing::error!(error = %e, "closing a write request's savepoint");
        }
        reply
    }

    fn store_chain_head(&self, before: &ChainHead) -> Result<()> {
        if self.chain == *before {
            return Ok(());
        }
        self.statements
            .with(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                |stmt| stmt.execute(rusqlite::params![self.chain.seq, self.chain.hash]),
            )
            .map(|_| ())
            .doing("recording the audit chain's head")
    }
}

#[cfg(test)]
mod tests {
    use medic_core::{AuditEntry, AuditKind, IncidentUid};

    use crate::audit;
    use crate::config::StoreConfig;
    use crate::error::Error;

    fn entry(summary: &str) -> AuditEntry {
        AuditEntry::new(IncidentUid::new(), AuditKind::Notified, "test", summary)
    }

    #[tokio::test]
    async fn a_failed_request_leaves_nothing_behind_and_its_batch_neighbours_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::new(dir.path().join("w.db")).build().unwrap();
        // Many requests at once, so that failing ones share batches with good ones.
        let requests: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |ctx| {
                            let seq = audit::append(ctx, &entry(&format!("request {i}")))?;
                            if i % 3 == 0 {
                                // Fails after it already appended: the append must vanish with it.
                                return Err(Error::Config(format!("request {i} fails")));
                            }
                            Ok(seq)
                        })
                        .await
                })
            })
            .collect();
        let mut committed = 0;
        for (i, request) in requests.into_iter().enumerate() {
            match request.await.unwrap() {
                Ok(_) => committed += 1,
                Err(Error::Config(message)) => assert_eq!(message, format!("request {i} fails")),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(committed, 133);
        assert_eq!(store.verify_audit().await.unwrap(), 133, "no gap where a failed request appended");
        let summaries: Vec<String> =
            store.audit_after(0, 1000).await.unwrap().into_iter().map(|r| r.entry.summary).collect();
        assert!(summaries.iter().all(|s| s.trim_start_matches("request ").parse::<u32>().unwrap() % 3 != 0));
    }

    #[tokio::test]
    async fn a_panicking_request_is_aborted_and_the_writer_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::new(dir.path().join("w.db")).build().unwrap();
        let panicked = store
            .write(|ctx| {
                audit::append(ctx, &entry("half done"))?;
                if ctx.chain.seq > 0 {
                    panic!("bug in a request");
                }
                Ok(())
            })
            .await;
        assert!(matches!(panicked, Err(Error::WriteAborted)), "{panicked:?}");
        assert_eq!(store.append_audit(entry("after")).await.unwrap(), 1);
        assert_eq!(store.verify_audit().await.unwrap(), 1);
    }
}
