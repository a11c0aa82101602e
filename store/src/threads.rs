//! Notifications per sink: where each incident's notifications are threaded (the channel and `ts` of the
//! first message a sink posted about the incident, so that every later message is a reply in that thread,
//! across restarts), and queueing in the outbox with one order per incident and sink, so a sink that is
//! down does not hold back the others.
use rusqlite::{OptionalExtension, params};

use medic_core::IncidentUid;

use crate::codec::{self, micros};
use crate::error::{Context, Result};
use crate::store::Store;

/// An incident's thread in one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyThread {
    pub channel: String,
    /// The `ts` of the thread's first message.
    pub ts: String,
}

impl Store {
    /// Queues a message for `sink` about `incident`, due at once; returns its id. Unlike
    /// [`Store::outbox_enqueue`], the order kept is per incident *and sink*: [`Store::outbox_due`] offers
    /// the oldest unsent message of each (incident, sink), so each sink gets an incident's messages in
    /// order while one sink's outage does not delay another's.
    pub async fn outbox_enqueue_for_sink(
        &self,
        incident: IncidentUid,
        sink: impl Into<String>,
        payload: &serde_json::Value,
    ) -> Result<i64> {
        let sink = sink.into();
        let payload = codec::to_json(payload, "a notification payload")?;
        self.write(move |ctx| {
            let now = micros(ctx.clock.now());
            let uid = incident.to_string();
            let key = format!("{uid}/{sink}");
            ctx.with(
                "INSERT INTO outbox (incident_uid, ordering_key, sink, payload, created_at_us, next_attempt_at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                "queueing a notification",
                |stmt| stmt.insert(params![uid, key, sink, payload, now]),
            )
        })
        .await
    }

    /// The thread `sink` opened for `incident`, if it posted about it already.
    pub async fn notify_thread(&self, incident: IncidentUid, sink: impl Into<String>) -> Result<Option<NotifyThread>> {
        let sink = sink.into();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT channel, ts FROM notify_threads WHERE incident_uid = ?1 AND sink = ?2")
                .doing("reading an incident's notification thread")?;
            stmt.query_row(params![incident.to_string(), sink], |row| {
                Ok(NotifyThread { channel: row.get(0)?, ts: row.get(1)? })
            })
            .optional()
            .doing("reading an incident's notification thread")
        })
        .await
    }

    /// Records the thread `sink` opened for `incident`. The first thread recorded stays: recording another
    /// one later changes nothing and returns the first.
    pub async fn save_notify_thread(
        &self,
        incident: IncidentUid,
        sink: impl Into<String>,
        thread: NotifyThread,
    ) -> Result<NotifyThread> {
        let sink = sink.into();
        self.write(move |ctx| {
            let now = micros(ctx.clock.now());
            let key = incident.to_string();
            ctx.with(
                "INSERT INTO notify_threads (incident_uid, sink, channel, ts, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (incident_uid, sink) DO NOTHING",
                "recording an incident's notification thread",
                |stmt| stmt.execute(params![key, sink, thread.channel, thread.ts, now]),
            )?;
            ctx.with(
                "SELECT channel, ts FROM notify_threads WHERE incident_uid = ?1 AND sink = ?2",
                "recording an incident's notification thread",
                |stmt| {
                    stmt.query_row(params![key, sink], |row| Ok(NotifyThread { channel: row.get(0)?, ts: row.get(1)? }))
                },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;

    #[tokio::test]
    async fn each_sink_keeps_its_own_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
        let incident = IncidentUid::new();
        let mut ids = Vec::new();
        for n in 0..2 {
            for sink in ["chat", "webhook"] {
                ids.push(store.outbox_enqueue_for_sink(incident, sink, &serde_json::json!({"n": n})).await.unwrap());
            }
        }
        let due = |store: Store| async move {
            let now = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
            store.outbox_due(10, now).await.unwrap().into_iter().map(|m| m.id).collect::<Vec<_>>()
        };
        assert_eq!(due(store.clone()).await, [ids[0], ids[1]], "the head of each sink's queue");
        // The chat sink fails; the webhook's next message is due all the same.
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
        store.outbox_mark_failed(ids[0], "down", later).await.unwrap();
        store.outbox_mark_sent(ids[1]).await.unwrap();
        assert_eq!(due(store.clone()).await, [ids[3]], "chat's second message waits behind its first");
    }

    #[tokio::test]
    async fn the_first_thread_of_an_incident_stays_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("medic.db");
        let incident = IncidentUid::new();
        let first = NotifyThread { channel: "C123".into(), ts: "1700000000.000100".into() };
        {
            let store = StoreConfig::new(&path).build().unwrap();
            assert_eq!(store.notify_thread(incident, "slack").await.unwrap(), None);
            assert_eq!(store.save_notify_thread(incident, "slack", first.clone()).await.unwrap(), first);
            let later = NotifyThread { channel: "C123".into(), ts: "1700000099.000100".into() };
            assert_eq!(store.save_notify_thread(incident, "slack", later).await.unwrap(), first, "the first stays");
            assert_eq!(store.notify_thread(incident, "other-sink").await.unwrap(), None, "threads are per sink");
            store.close().await;
        }
        let store = StoreConfig::new(&path).build().unwrap();
        assert_eq!(store.notify_thread(incident, "slack").await.unwrap(), Some(first));
    }
}
