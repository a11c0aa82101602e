//! The notification outbox: per-incident order, retries, nothing dropped.
use jiff::SignedDuration;
use serde_json::json;

use medic_core::IncidentUid;
use medic_store::Error;

use crate::common::TestStore;

#[tokio::test]
async fn messages_of_an_incident_go_out_in_order_and_wait_for_their_predecessors() {
    let t = TestStore::new();
    let (a, b) = (IncidentUid::new(), IncidentUid::new());
    let a1 = t.store.outbox_enqueue(a, "slack", &json!({"text": "a opened"})).await.unwrap();
    let b1 = t.store.outbox_enqueue(b, "slack", &json!({"text": "b opened"})).await.unwrap();
    let a2 = t.store.outbox_enqueue(a, "slack", &json!({"text": "a diagnosed"})).await.unwrap();
    let now = t.clock_now();

    let due: Vec<_> = t.store.outbox_due(10, now).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(due, [a1, b1], "a2 waits for a1");
    assert_eq!(t.store.outbox_due(1, now).await.unwrap()[0].id, a1);

    // a1 fails: retry in 30 s. Meanwhile nothing of incident a may overtake it.
    let retry_at = now.checked_add(SignedDuration::from_secs(30)).unwrap();
    assert_eq!(t.store.outbox_mark_failed(a1, "slack answered 503", retry_at).await.unwrap(), 1);
    t.store.outbox_mark_sent(b1).await.unwrap();
    assert!(t.store.outbox_due(10, now).await.unwrap().is_empty());

    let later = retry_at;
    let retry = t.store.outbox_due(10, later).await.unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id, retry[0].attempts), (a1, 1));
    assert_eq!(retry[0].last_error.as_deref(), Some("slack answered 503"));
    assert_eq!(retry[0].payload, json!({"text": "a opened"}));
    assert_eq!(retry[0].sink, "slack");
    t.store.outbox_mark_sent(a1).await.unwrap();
    t.store.outbox_mark_sent(a1).await.unwrap(); // a repeated mark changes nothing
    let next = t.store.outbox_due(10, later).await.unwrap();
    assert_eq!(next.iter().map(|m| m.id).collect::<Vec<_>>(), [a2]);
    assert_eq!(t.store.outbox_unsent().await.unwrap(), 1);

    let sent = t.store.outbox_message(a1).await.unwrap().unwrap();
    assert_eq!((sent.attempts, sent.sent_at, sent.last_error), (2, Some(t.clock_now()), None));
    // A late failure report for a sent message keeps it sent.
    assert_eq!(t.store.outbox_mark_failed(a1, "timeout", later).await.unwrap(), 0);
    assert!(t.store.outbox_message(a1).await.unwrap().unwrap().sent_at.is_some());
    assert!(matches!(t.store.outbox_mark_sent(12345).await, Err(Error::OutboxMessageNotFound(12345))));
}

#[tokio::test]
async fn nothing_is_dropped_however_often_sending_fails() {
    let mut t = TestStore::new();
    let uid = IncidentUid::new();
    let ids: Vec<i64> = futures::future::try_join_all((0..5).map(|i| {
        let store = t.store.clone();
        async move { store.outbox_enqueue(uid, "slack", &json!({"n": i})).await }
    }))
    .await
    .unwrap();
    let mut now = t.clock_now();
    for attempt in 1..=20u32 {
        let due = t.store.outbox_due(10, now).await.unwrap();
        assert_eq!(due.len(), 1);
        now = now.checked_add(SignedDuration::from_secs(1)).unwrap();
        assert_eq!(t.store.outbox_mark_failed(due[0].id, "down", now).await.unwrap(), attempt);
    }
    t.reopen().await;
    let mut delivered = Vec::new();
    while let Some(message) = t.store.outbox_due(10, now).await.unwrap().pop() {
        delivered.push(message.payload["n"].as_i64().unwrap());
        t.store.outbox_mark_sent(message.id).await.unwrap();
    }
    let mut enqueued = ids.clone();
    enqueued.sort();
    // Enqueued concurrently, so the order is the order of the ids; every message arrives once, in it.
    let by_id: Vec<i64> = {
        let mut out = Vec::new();
        for id in enqueued {
            out.push(t.store.outbox_message(id).await.unwrap().unwrap().payload["n"].as_i64().unwrap());
        }
        out
    };
    assert_eq!(delivered, by_id);
    assert_eq!(t.store.outbox_unsent().await.unwrap(), 0);
}
