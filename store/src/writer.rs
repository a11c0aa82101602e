//! The single writer: one thread owns the only read-write connection and commits requests in groups.
//!
//! Requests arrive on a bounded channel. The writer blocks for the first, then takes everything else already
//! queued (up to `max_batch`), runs each inside its own SAVEPOINT of one transaction, commits once, and only
//! then answers every request through its oneshot. A request that fails rolls back to its savepoint and
//! does not disturb the others in the batch; if the commit itself fails, every request of the batch gets
//! the error. One fsync (or one WAL append) is thus shared by everything that arrived while the previous
//! batch was being committed: under load the batches grow and the per-request cost falls.
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use medic_core::ports::Clock;

use crate::audit::ChainHead;
use crate::error::{Context, Error, Result};

/// What a write request can touch.
pub(crate) struct WriteCtx<'a> {
    pub conn: &'a Connection,
    /// The audit chain's last row, advanced by every append.
    pub chain: &'a mut ChainHead,
    pub clock: &'a dyn Clock,
    /// The grouping window in microseconds.
    pub group_window_us: i64,
}

/// Answers a request once its batch is committed (`None`) or failed (`Some(reason)`).
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// A queued write.
pub(crate) trait WriteJob: Send {
    /// Runs inside the batch transaction; says whether it succeeded and leaves its answer for after the commit.
    fn run(self: Box<Self>, ctx: &mut WriteCtx<'_>) -> (bool, Reply);
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
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
{
    fn run(self: Box<Self>, ctx: &mut WriteCtx<'_>) -> (bool, Reply) {
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
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
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
    pub fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut closing = None;
        while closing.is_none() {
            let Some(first) = queue.blocking_recv() else { break };
            batch.push(first);
            while batch.len() < self.max_batch {
                match queue.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            closing = self.commit_batch(&mut batch);
        }
        let Writer { conn, .. } = self;
        if let Err((_, e)) = conn.close() {
            tracing::warn!(error = %e, "closing the store's write connection");
        }
        if let Some(done) = closing {
            let _ = done.send(());
        }
    }

    /// Runs one batch in one transaction and answers it. Returns the close request if the batch had one.
    fn commit_batch(&mut self, batch: &mut Vec<Request>) -> Option<oneshot::Sender<()>> {
        let mut closing = None;
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        let chain_before = self.chain.clone();
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
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
            .and_then(|()| self.conn.execute_batch("COMMIT").doing("committing a batch of writes"));
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
        if let Err(e) = self.conn.execute_batch("SAVEPOINT request") {
            job.fail(&format!("opening a savepoint for a write request: {e}"));
            return None;
        }
        let mut ctx = WriteCtx {
            conn: &self.conn,
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
        let end = if ok { "RELEASE request" } else { "ROLLBACK TO request; RELEASE request" };
        if !ok {
            self.chain = chain_before;
        }
        if let Err(e) = self.conn.execute_batch(end) {
            tracing::error!(error = %e, "closing a write request's savepoint");
        }
        reply
    }

    fn store_chain_head(&self, before: &ChainHead) -> Result<()> {
        if self.chain == *before {
            return Ok(());
        }
        self.conn
            .prepare_cached("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
            .and_then(|mut stmt| stmt.execute(rusqlite::params![self.chain.seq, self.chain.hash]))
            .map(|_| ())
            .doing("recording the audit chain's head")
    }
}
