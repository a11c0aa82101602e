//! The audit chain: appends, timelines, and tampering found by verify.
use jiff::SignedDuration;
use serde_json::json;

use medic_core::ports::AuditSink;
use medic_core::{AuditEntry, AuditKind, IncidentUid};
use medic_store::audit::{GENESIS_HASH, row_hash};
use medic_store::{AuditBreakKind, Error};

use crate::common::TestStore;

/// A store with `n` audit rows over two incidents; returns the incidents.
async fn chain_of(t: &TestStore, n: usize) -> (IncidentUid, IncidentUid) {
    let (a, b) = (IncidentUid::new(), IncidentUid::new());
    for i in 0..n {
        let incident = if i % 2 == 0 { a } else { b };
        let mut entry = AuditEntry::new(incident, AuditKind::Findings, "director", format!("step {}", i + 1))
            .with_detail(json!({"step": i + 1, "hypotheses": [{"class": "oom-memory-limit", "confidence": 0.9}]}));
        entry.at = t.clock_now().checked_add(SignedDuration::from_secs(i as i64)).unwrap();
        t.store.append_audit(entry).await.unwrap();
    }
    (a, b)
}

fn broken(result: medic_store::Result<u64>) -> medic_store::AuditBreak {
    match result {
        Err(Error::AuditBroken(b)) => b,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

/// Lets the test edit the audit table as someone with write access to the file would.
fn tamper(t: &TestStore, sql: &str) {
    let conn = t.raw();
    conn.execute_batch(&format!("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; {sql}")).unwrap();
}

#[tokio::test]
async fn an_intact_chain_verifies_and_timelines_come_in_order() {
    let t = TestStore::new();
    assert_eq!(t.store.verify_audit().await.unwrap(), 0);
    let (a, b) = chain_of(&t, 7).await;
    assert_eq!(t.store.verify_audit().await.unwrap(), 7);
    let timeline = t.store.timeline(a).await.unwrap();
    let seqs: Vec<_> = timeline.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 3, 5, 7]);
    assert_eq!(t.store.timeline(b).await.unwrap().len(), 3);
    let first = &timeline[0];
    assert_eq!(first.prev_hash, GENESIS_HASH);
    assert_eq!(first.entry.summary, "step 1");
    assert_eq!(first.entry.actor, "director");
    assert_eq!(first.entry.kind, AuditKind::Findings);
    assert_eq!(first.entry.detail["hypotheses"][0]["confidence"], json!(0.9));
    assert_eq!(first.entry.at, t.clock_now());
    // The documented hash: canonical JSON of the record, then the previous hash.
    let detail = r#"{"hypotheses":[{"class":"oom-memory-limit","confidence":0.9}],"step":1}"#;
    let at_us = t.clock_now().as_microsecond();
    let expected = row_hash(1, Some(&a.to_string()), at_us, "findings", "director", "step 1", detail, GENESIS_HASH);
    assert_eq!(first.hash, expected);
    let record = format!(
        r#"{{"actor":"director","at":{at_us},"detail":{detail},"incident":"{a}","kind":"findings","seq":1,"summary":"step 1"}}"#
    );
    use sha2::Digest;
    let by_hand = hex::encode(sha2::Sha256::digest(format!("{record}{GENESIS_HASH}").as_bytes()));
    assert_eq!(first.hash, by_hand);
    let page = t.store.audit_after(2, 3).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(page[0].prev_hash, t.store.audit_after(1, 1).await.unwrap()[0].hash);
}

#[tokio::test]
async fn the_store_is_an_audit_sink_and_entries_without_incident_chain_too() {
    let t = TestStore::new();
    let sink: &dyn AuditSink = &t.store;
    let uid = IncidentUid::new();
    sink.append(AuditEntry::new(uid, AuditKind::Decision, "director", "act")).await.unwrap();
    let mut global = AuditEntry::new(uid, AuditKind::Notified, "notifier", "slack is back");
    global.incident = None;
    sink.append(global).await.unwrap();
    assert_eq!(t.store.verify_audit().await.unwrap(), 2);
    assert_eq!(t.store.timeline(uid).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_table_refuses_updates_and_deletes() {
    let t = TestStore::new();
    chain_of(&t, 2).await;
    let conn = t.raw();
    let update = conn.execute("UPDATE audit SET summary = 'nothing happened' WHERE seq = 1", []).unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = conn.execute("DELETE FROM audit WHERE seq = 2", []).unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
    assert_eq!(t.store.verify_audit().await.unwrap(), 2);
}

#[tokio::test]
async fn an_altered_summary_or_detail_is_named() {
    for (sql, what) in [
        ("UPDATE audit SET summary = 'nothing happened' WHERE seq = 4", "summary"),
        (r#"UPDATE audit SET detail = '{"step":4}' WHERE seq = 4"#, "detail"),
        ("UPDATE audit SET actor = 'human' WHERE seq = 4", "actor"),
        ("UPDATE audit SET at_us = at_us + 1 WHERE seq = 4", "at"),
    ] {
        let t = TestStore::new();
        chain_of(&t, 6).await;
        tamper(&t, sql);
        let b = broken(t.store.verify_audit().await);
        assert_eq!((b.seq, b.kind), (4, AuditBreakKind::Altered), "altering the {what}: {b}");
    }
}

#[tokio::test]
async fn an_altered_row_with_a_recomputed_hash_breaks_the_next_link() {
    let t = TestStore::new();
    chain_of(&t, 6).await;
    let conn = t.raw();
    let (incident, at_us, detail, prev): (String, i64, String, String) = conn
        .query_row("SELECT incident_uid, at_us, detail, prev_hash FROM audit WHERE seq = 3", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    let forged = row_hash(3, Some(&incident), at_us, "findings", "director", "forged", &detail, &prev);
    tamper(&t, &format!("UPDATE audit SET summary = 'forged', hash = '{forged}' WHERE seq = 3"));
    let b = broken(t.store.verify_audit().await);
    assert_eq!((b.seq, b.kind), (4, AuditBreakKind::BrokenLink), "{b}");
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    let t = TestStore::new();
    chain_of(&t, 6).await;
    tamper(&t, "DELETE FROM audit WHERE seq = 3");
    let b = broken(t.store.verify_audit().await);
    assert_eq!((b.seq, b.kind), (3, AuditBreakKind::Removed), "{b}");
    assert!(b.to_string().contains("jumps from row 2 to row 4"), "{b}");
}

#[tokio::test]
async fn a_deleted_and_renumbered_row_is_named() {
    let t = TestStore::new();
    chain_of(&t, 6).await;
    tamper(&t, "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3");
    let b = broken(t.store.verify_audit().await);
    assert_eq!(b.seq, 3, "{b}");
}

#[tokio::test]
async fn rows_removed_from_the_end_are_named() {
    let t = TestStore::new();
    chain_of(&t, 6).await;
    tamper(&t, "DELETE FROM audit WHERE seq >= 5");
    let b = broken(t.store.verify_audit().await);
    assert_eq!((b.seq, b.kind), (5, AuditBreakKind::Removed), "{b}");
}

#[tokio::test]
async fn swapped_rows_are_named() {
    // Swapping the seq numbers of rows 3 and 4 (so they are read in the other order).
    let t = TestStore::new();
    chain_of(&t, 6).await;
    tamper(
        &t,
        "UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = -1",
    );
    let b = broken(t.store.verify_audit().await);
    assert_eq!((b.seq, b.kind), (3, AuditBreakKind::Reordered), "{b}");
    assert!(b.detail.contains("follows row 4"), "{b}");

    // Swapping everything but the seq numbers of rows 2 and 5.
    let t = TestStore::new();
    chain_of(&t, 6).await;
    let cols = "incident_uid, at_us, kind, actor, summary, detail, prev_hash, hash";
    tamper(
        &t,
        &format!(
            "CREATE TEMP TABLE saved AS SELECT seq, {cols} FROM audit WHERE seq IN (2, 5);
             UPDATE audit SET ({cols}) = (SELECT {cols} FROM saved WHERE saved.seq = 7 - audit.seq) WHERE seq IN (2, 5);"
        ),
    );
    let b = broken(t.store.verify_audit().await);
    assert_eq!((b.seq, b.kind), (2, AuditBreakKind::Reordered), "{b}");
}

#[tokio::test]
async fn the_chain_continues_across_reopens_and_concurrent_appends() {
    let mut t = TestStore::new();
    chain_of(&t, 3).await;
    t.reopen().await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = t.store.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let entry =
                        AuditEntry::new(IncidentUid::new(), AuditKind::Notified, "notifier", format!("{w}/{i}"));
                    store.append_audit(entry).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let seqs = t.store.append_audit_all(vec![
        AuditEntry::new(IncidentUid::new(), AuditKind::Escalated, "director", "a"),
        AuditEntry::new(IncidentUid::new(), AuditKind::Escalated, "director", "b"),
    ]);
    assert_eq!(seqs.await.unwrap(), [204, 205]);
    assert_eq!(t.store.verify_audit().await.unwrap(), 205);
}
