//! Memory rows: stored vectors come back bit for bit, ids are never reused.
use serde_json::json;

use medic_core::IncidentUid;
use medic_store::NewMemory;

use crate::common::TestStore;

fn memory(t: &TestStore, seed: f32) -> NewMemory {
    NewMemory {
        incident: IncidentUid::new(),
        embedder: "hashing-384@1".into(),
        vector: (0..384).map(|i| (i as f32 * seed).sin()).collect(),
        document: json!({"class": "oom-memory-limit", "fix_worked": true}),
        created_at: t.clock_now(),
    }
}

#[tokio::test]
async fn memories_round_trip_and_page_in_id_order() {
    let mut t = TestStore::new();
    let mut ids = Vec::new();
    let mut stored = Vec::new();
    for i in 0..5 {
        let m = memory(&t, i as f32 + 0.5);
        ids.push(t.store.insert_memory(m.clone()).await.unwrap());
        stored.push(m);
    }
    let first = t.store.memory(ids[0]).await.unwrap().unwrap();
    assert_eq!(first.vector, stored[0].vector);
    assert_eq!((first.incident, first.embedder.as_str()), (stored[0].incident, "hashing-384@1"));
    assert_eq!(first.document, stored[0].document);
    assert_eq!(first.created_at, t.clock_now());

    // The BLOB is little-endian f32, 4 bytes a value.
    let blob: Vec<u8> = t.raw().query_row("SELECT vector FROM memories WHERE id = ?1", [ids[0]], |r| r.get(0)).unwrap();
    assert_eq!(blob.len(), 384 * 4);
    assert_eq!(blob[4..8], stored[0].vector[1].to_le_bytes());

    assert!(t.store.delete_memory(ids[1]).await.unwrap());
    assert!(!t.store.delete_memory(ids[1]).await.unwrap());
    assert_eq!(t.store.memory_count().await.unwrap(), 4);
    let page1 = t.store.memories_after(0, 2).await.unwrap();
    let page2 = t.store.memories_after(page1[1].id, 2).await.unwrap();
    let page3 = t.store.memories_after(page2[1].id, 2).await.unwrap();
    let seen: Vec<_> = page1.iter().chain(&page2).chain(&page3).map(|m| m.id).collect();
    assert_eq!(seen, [ids[0], ids[2], ids[3], ids[4]]);

    // Deleting the newest and reopening does not hand its id out again.
    t.store.delete_memory(ids[4]).await.unwrap();
    t.reopen().await;
    let next = t.store.insert_memory(memory(&t, 9.0)).await.unwrap();
    assert!(next > ids[4]);
}
