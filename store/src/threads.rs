//! Where each incident's notifications are threaded: the channel and `ts` of the first message a sink
//! posted about the incident, so that every later message is a reply in that thread, across restarts.
use rusqlite::{OptionalExtension, params};

use medic_core::IncidentUid;

use crate::codec::micros;
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
