//! The notification outbox: messages to people (Slack, ...) are stored first and sent after, so a restart
//! or a sink outage delays them but never loses them, and an incident's messages arrive in order.
//!
//! The ordering key is the incident: [`Store::outbox_due`] offers only the oldest unsent message of each
//! incident, so a message is never sent before its predecessors of the same incident. A failed send is
//! retried at the time the sender chooses (its back-off); a message is never dropped.
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use medic_core::IncidentUid;

use crate::codec::{self, micros};
use crate::error::{Context, Error, Result};
use crate::store::Store;

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub incident: IncidentUid,
    /// The sink that sends it (`slack`, ...).
    pub sink: String,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    /// Sends tried so far (failed ones, plus the successful one).
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

const OUTBOX_COLUMNS: &str =
    "id, incident_uid, sink, payload, created_at_us, attempts, next_attempt_at_us, last_error, sent_at_us";

fn read_message(row: &rusqlite::Row<'_>) -> Result<OutboxMessage> {
    let get_err = |source| Error::Sqlite { doing: "reading the outbox", source };
    let id: i64 = row.get(0).map_err(get_err)?;
    let incident: String = row.get(1).map_err(get_err)?;
    let payload: String = row.get(3).map_err(get_err)?;
    Ok(OutboxMessage {
        id,
        incident: codec::parse(&incident, "outbox", id, "incident_uid")?,
        sink: row.get(2).map_err(get_err)?,
        payload: codec::from_json(&payload, "outbox", id, "payload")?,
        created_at: codec::timestamp(row.get(4).map_err(get_err)?, "outbox", id, "created_at_us")?,
        attempts: row.get(5).map_err(get_err)?,
        next_attempt_at: codec::timestamp(row.get(6).map_err(get_err)?, "outbox", id, "next_attempt_at_us")?,
        last_error: row.get(7).map_err(get_err)?,
        sent_at: codec::opt_timestamp(row.get(8).map_err(get_err)?, "outbox", id, "sent_at_us")?,
    })
}

impl Store {
    /// Queues a message for `sink` about `incident`, due at once; returns its id.
    pub async fn outbox_enqueue(
        &self,
        incident: IncidentUid,
        sink: impl Into<String>,
        payload: &serde_json::Value,
    ) -> Result<i64> {
        let sink = sink.into();
        let payload = codec::to_json(payload, "a notification payload")?;
        self.write(move |ctx| {
            let now = micros(ctx.clock.now());
            let key = incident.to_string();
            ctx.with(
                "INSERT INTO outbox (incident_uid, ordering_key, sink, payload, created_at_us, next_attempt_at_us)
                     VALUES (?1, ?1, ?2, ?3, ?4, ?4)",
                "queueing a notification",
                |stmt| stmt.insert(params![key, sink, payload, now]),
            )
        })
        .await
    }

    /// Up to `limit` messages to send now, oldest first: for each incident with unsent messages, its oldest
    /// unsent one, if its next attempt is due at `now`.
    pub async fn outbox_due(&self, limit: usize, now: Timestamp) -> Result<Vec<OutboxMessage>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox o
                 WHERE o.sent_at_us IS NULL AND o.next_attempt_at_us <= ?1
                   AND o.id = (SELECT MIN(p.id) FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.sent_at_us IS NULL)
                 ORDER BY o.id LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql).doing("reading due notifications")?;
            let mut rows = stmt.query(params![micros(now), limit]).doing("reading due notifications")?;
            let mut messages = Vec::new();
            while let Some(row) = rows.next().doing("reading due notifications")? {
                messages.push(read_message(row)?);
            }
            Ok(messages)
        })
        .await
    }

    /// Records that a message was delivered. Marking a sent message again changes nothing.
    pub async fn outbox_mark_sent(&self, id: i64) -> Result<()> {
        self.write(move |ctx| {
            let now = micros(ctx.clock.now());
            let changed = ctx.with(
                "UPDATE outbox SET sent_at_us = ?2, attempts = attempts + 1, last_error = NULL
                     WHERE id = ?1 AND sent_at_us IS NULL",
                "marking a notification sent",
                |stmt| stmt.execute(params![id, now]),
            )?;
            if changed == 0 {
                exists(ctx.conn, id)?;
            }
            Ok(())
        })
        .await
    }

    /// Records a failed send and when to try again; returns the attempts so far.
    pub async fn outbox_mark_failed(
        &self,
        id: i64,
        error: impl Into<String>,
        next_attempt_at: Timestamp,
    ) -> Result<u32> {
        let error = error.into();
        self.write(move |ctx| {
            let attempts: Option<u32> = ctx.with(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at_us = ?3
                     WHERE id = ?1 AND sent_at_us IS NULL RETURNING attempts",
                "recording a failed notification",
                |stmt| stmt.query_row(params![id, error, micros(next_attempt_at)], |r| r.get(0)).optional(),
            )?;
            match attempts {
                Some(attempts) => Ok(attempts),
                None => {
                    // Already sent (a late failure report): keep it sent.
                    exists(ctx.conn, id)?;
                    Ok(0)
                }
            }
        })
        .await
    }

    /// The message with this id.
    pub async fn outbox_message(&self, id: i64) -> Result<Option<OutboxMessage>> {
        self.read(move |conn| {
            let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1");
            let mut stmt = conn.prepare_cached(&sql).doing("reading the outbox")?;
            let mut rows = stmt.query(params![id]).doing("reading the outbox")?;
            match rows.next().doing("reading the outbox")? {
                Some(row) => read_message(row).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    /// How many messages are not sent yet.
    pub async fn outbox_unsent(&self) -> Result<u64> {
        self.read(|conn| {
            codec::count(conn, "SELECT COUNT(*) FROM outbox WHERE sent_at_us IS NULL", "counting unsent notifications")
        })
        .await
    }
}

fn exists(conn: &rusqlite::Connection, id: i64) -> Result<()> {
    let found = conn
        .prepare_cached("SELECT 1 FROM outbox WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists(params![id]))
        .doing("reading the outbox")?;
    if found { Ok(()) } else { Err(Error::OutboxMessageNotFound(id)) }
}
