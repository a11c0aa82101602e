//! The memory bank against a real SQLite store and real FAISS in a temporary directory: restarts keep the
//! memory, a crash between the store write and the index write neither loses nor duplicates a memory,
//! recall follows the rules the Director relies on.
mod common;

use common::fixtures::{crash_loop, dependency_down, image_pull, later, memory_of, node_not_ready};
use medic_core::RootCauseClass;
use medic_core::ports::Embedder;
use medic_memory::{EmbedderConfig, HashingEmbedder, MemoryBank, MemoryConfig, MemoryDocument, OpenReport, Remembered};
use medic_store::{NewMemory, Store, StoreConfig};
use std::path::Path;

async fn open_with(dir: &Path, config: MemoryConfig) -> (MemoryBank, OpenReport, Store) {
    let store = StoreConfig::new(dir.join("medic.db")).build().expect("store opens");
    let (bank, report) = MemoryBank::open(config, store.clone()).await.expect("memory opens");
    (bank, report, store)
}

async fn open(dir: &Path) -> (MemoryBank, OpenReport, Store) {
    open_with(dir, MemoryConfig::new(dir.join("memory.faiss"))).await
}

/// Stops medic: the bank goes away and the store's writer flushes, as at a process exit.
async fn stop(bank: MemoryBank, store: Store) {
    drop(bank);
    store.close().await;
}

fn stored(r: Remembered) -> i64 {
    match r {
        Remembered::Stored { id } => id,
        other => panic!("expected a new memory, got {other:?}"),
    }
}

#[tokio::test]
async fn a_restart_keeps_the_memory() {
    let dir = tempfile::tempdir().unwrap();
    let past = crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1);
    let lesson = memory_of(&past, RootCauseClass::OomMemoryLimit, "raise-memory-limit", true, None);
    {
        let (bank, report, store) = open(dir.path()).await;
        assert_eq!(report, OpenReport::default(), "a new memory starts empty");
        stored(bank.remember(lesson.clone()).await.unwrap());
        stored(
            bank.remember(memory_of(
                &image_pull("web", "web-5c6b7f8d9-q8w4z"),
                RootCauseClass::ImagePull,
                "rollback-deployment",
                true,
                None,
            ))
            .await
            .unwrap(),
        );
        stop(bank, store).await;
    }
    let (bank, report, _store) = open(dir.path()).await;
    assert!(report.loaded && report.caught_up == 0 && report.rebuilt.is_none(), "{report:?}");
    assert_eq!(report.memories, 2);
    let now = later(crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.244.3.17", 5));
    let recalled = bank.recall(&now, now.incident, 5).await.unwrap();
    assert_eq!(recalled.len(), 1, "{recalled:?}");
    assert_eq!(recalled[0].incident, lesson.incident);
    assert_eq!(recalled[0].playbook.as_deref(), Some("raise-memory-limit"));
    assert!(recalled[0].similarity > 0.95, "{}", recalled[0].similarity);
}

/// What a memory row looks like when the process dies right after the store committed it.
async fn store_only(store: &Store, memory: medic_core::messages::IncidentMemory) -> i64 {
    let embedder = HashingEmbedder::new(1024, 0);
    let document = MemoryDocument::new(memory);
    let vector = embedder.embed_one(&document.digest);
    store
        .insert_memory(NewMemory {
            incident: document.memory.incident,
            embedder: embedder.id().to_string(),
            vector,
            document: serde_json::to_value(&document).unwrap(),
            created_at: jiff::Timestamp::now(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_crash_between_the_store_write_and_the_index_write_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = memory_of(
        &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
        RootCauseClass::OomMemoryLimit,
        "raise-memory-limit",
        true,
        None,
    );
    let second = memory_of(
        &dependency_down("api", "api-6b7c8d9f5-z9x8w", "10.0.2.9"),
        RootCauseClass::DependencyDown,
        "restart-dependency",
        true,
        None,
    );
    {
        let (bank, _, store) = open(dir.path()).await;
        stored(bank.remember(first.clone()).await.unwrap());
        // The store commits the second memory; the process dies before the index hears of it.
        store_only(&store, second.clone()).await;
        stop(bank, store).await;
    }
    let (bank, report, store) = open(dir.path()).await;
    assert!(report.loaded && report.rebuilt.is_none(), "{report:?}");
    assert_eq!((report.caught_up, report.memories), (1, 2), "{report:?}");
    let stats = bank.stats();
    assert_eq!(stats.memories, 2);
    assert_eq!(store.memory_count().await.unwrap(), 2);
    let recalled = bank.recall(&later((*second.context).clone()), None, 5).await.unwrap();
    assert_eq!(recalled.first().map(|r| r.incident), Some(second.incident), "{recalled:?}");
    assert_eq!(recalled.iter().filter(|r| r.incident == second.incident).count(), 1, "not duplicated");

    // The caught-up index was saved: the next start loads it as it is.
    stop(bank, store).await;
    let (_bank, report, _store) = open(dir.path()).await;
    assert!(report.loaded && report.caught_up == 0 && report.rebuilt.is_none(), "{report:?}");
}

#[tokio::test]
async fn an_index_that_disagrees_with_the_store_is_rebuilt_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let index_path = dir.path().join("memory.faiss");
    let lessons = [
        memory_of(
            &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
            RootCauseClass::OomMemoryLimit,
            "raise-memory-limit",
            true,
            None,
        ),
        memory_of(
            &image_pull("web", "web-5c6b7f8d9-q8w4z"),
            RootCauseClass::ImagePull,
            "rollback-deployment",
            true,
            None,
        ),
        memory_of(&node_not_ready("node-3"), RootCauseClass::NodeNotReady, "drain-node", true, None),
    ];
    let deleted;
    {
        let (bank, _, store) = open(dir.path()).await;
        let mut ids = Vec::new();
        for lesson in &lessons {
            ids.push(stored(bank.remember(lesson.clone()).await.unwrap()));
        }
        // A row the index has disappears from the store (deleted by hand, or a store restored from a backup).
        deleted = ids[1];
        assert!(store.delete_memory(deleted).await.unwrap());
        stop(bank, store).await;
    }
    let (bank, report, store) = open(dir.path()).await;
    assert!(report.rebuilt.as_deref().is_some_and(|r| r.contains("disagrees")), "{report:?}");
    assert_eq!(bank.stats().memories, 2);
    let recalled = bank.recall(&later((*lessons[1].context).clone()), None, 5).await.unwrap();
    assert!(
        recalled.iter().all(|r| r.incident != lessons[1].incident),
        "a deleted memory is not recalled: {recalled:?}"
    );
    stop(bank, store).await;

    // A half-written or foreign index file is not trusted either.
    std::fs::write(&index_path, b"garbage").unwrap();
    let (bank, report, store) = open(dir.path()).await;
    assert!(report.rebuilt.is_some(), "{report:?}");
    assert_eq!(bank.stats().memories, 2);
    stop(bank, store).await;

    // An older index (saved before the last memories) is caught up, not rebuilt.
    let backup = tempfile::tempdir().unwrap();
    let index_files = |dir: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("memory.faiss"))
            .collect()
    };
    for file in index_files(dir.path()) {
        std::fs::copy(&file, backup.path().join(file.file_name().unwrap())).unwrap();
    }
    let (bank, _, store) = open(dir.path()).await;
    stored(
        bank.remember(memory_of(
            &dependency_down("api", "api-6b7c8d9f5-z9x8w", "10.0.2.9"),
            RootCauseClass::DependencyDown,
            "restart-dependency",
            true,
            None,
        ))
        .await
        .unwrap(),
    );
    stop(bank, store).await;
    for file in index_files(backup.path()) {
        std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
    }
    let (bank, report, _store) = open(dir.path()).await;
    assert!(report.loaded && report.rebuilt.is_none() && report.caught_up == 1, "{report:?}");
    assert_eq!(bank.stats().memories, 3);
}

#[tokio::test]
async fn remembering_the_same_lesson_twice_stores_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let lesson = memory_of(
        &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
        RootCauseClass::OomMemoryLimit,
        "raise-memory-limit",
        true,
        None,
    );
    let (bank, _, store) = open(dir.path()).await;
    let id = stored(bank.remember(lesson.clone()).await.unwrap());
    assert_eq!(bank.remember(lesson.clone()).await.unwrap(), Remembered::AlreadyKnown { id });
    stop(bank, store).await;
    // Also after a restart, when the Director sends it again.
    let (bank, _, store) = open(dir.path()).await;
    assert_eq!(bank.remember(lesson.clone()).await.unwrap(), Remembered::AlreadyKnown { id });
    assert_eq!(store.memory_count().await.unwrap(), 1);
    // A different outcome of the same incident is a new lesson.
    let mut failed = lesson.clone();
    failed.fix_worked = false;
    stored(bank.remember(failed).await.unwrap());
    assert_eq!(store.memory_count().await.unwrap(), 2);
}

#[tokio::test]
async fn recall_reports_what_worked_what_failed_and_who_approved_it() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, _, _store) = open(dir.path()).await;
    let failed = memory_of(
        &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
        RootCauseClass::CrashTransient,
        "restart-pods",
        false,
        None,
    );
    let approved = memory_of(
        &crash_loop("cart", "cart-6c7d8f9b4-k2l4m", "10.0.1.8", 2),
        RootCauseClass::OomMemoryLimit,
        "raise-memory-limit",
        true,
        Some("api:alice"),
    );
    let unrelated = memory_of(
        &image_pull("web", "web-5c6b7f8d9-q8w4z"),
        RootCauseClass::ImagePull,
        "rollback-deployment",
        true,
        None,
    );
    for m in [&failed, &approved, &unrelated] {
        stored(bank.remember(m.clone()).await.unwrap());
    }
    let now = later(crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.244.3.17", 9));
    let recalled = bank.recall(&now, now.incident, 10).await.unwrap();
    assert_eq!(recalled.len(), 2, "the image-pull incident is below the similarity floor: {recalled:?}");
    let by_playbook = |p: &str| recalled.iter().find(|r| r.playbook.as_deref() == Some(p)).unwrap();
    let f = by_playbook("restart-pods");
    assert_eq!(
        (f.incident, f.class, f.fix_worked, f.approved_by.as_deref()),
        (failed.incident, RootCauseClass::CrashTransient, false, None)
    );
    let a = by_playbook("raise-memory-limit");
    assert_eq!((a.incident, a.fix_worked, a.approved_by.as_deref()), (approved.incident, true, Some("api:alice")));
    assert!(recalled.iter().all(|r| r.similarity >= 0.6 && r.similarity <= 1.0));
    assert!(recalled.windows(2).all(|w| w[0].similarity >= w[1].similarity), "best first");
    assert_eq!(bank.recall(&now, now.incident, 1).await.unwrap().len(), 1, "k is respected");
}

#[tokio::test]
async fn one_recollection_per_incident_and_fix_the_latest_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, _, _store) = open(dir.path()).await;
    let context = crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1);
    // One incident: a rollback that failed verification, retried later and verified; then a second fix.
    stored(
        bank.remember(memory_of(&context, RootCauseClass::BadRollout, "rollback-deployment", false, None))
            .await
            .unwrap(),
    );
    // The retry was remembered with the context as it was then: the pods had been replaced and logged
    // something else, so the memory of the verified retry resembles today's incident a little less.
    let mut retried = context.clone();
    retried.logs[0].lines.push("2026-03-01T12:00:00Z INFO cache warm-up done".into());
    stored(
        bank.remember(memory_of(&retried, RootCauseClass::BadRollout, "rollback-deployment", true, None))
            .await
            .unwrap(),
    );
    stored(
        bank.remember(memory_of(&context, RootCauseClass::OomMemoryLimit, "raise-memory-limit", true, None))
            .await
            .unwrap(),
    );
    let now = later(crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.244.3.17", 3));
    let recalled = bank.recall(&now, now.incident, 10).await.unwrap();
    let rollbacks: Vec<_> = recalled.iter().filter(|r| r.playbook.as_deref() == Some("rollback-deployment")).collect();
    assert_eq!(rollbacks.len(), 1, "{recalled:?}");
    assert!(rollbacks[0].fix_worked, "the latest outcome of the same fix wins");
    assert_eq!(recalled.len(), 2);
    let raise = recalled.iter().find(|r| r.playbook.as_deref() == Some("raise-memory-limit")).unwrap();
    assert!(
        (rollbacks[0].similarity - raise.similarity).abs() < 1e-6,
        "with the similarity of the incident's closest memory: {recalled:?}"
    );
}

#[tokio::test]
async fn the_index_turns_approximate_as_the_memory_grows_and_reloads_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = MemoryConfig::new(dir.path().join("memory.faiss"));
    config.index.exact_up_to = 12;
    config.index.approximate = "HNSW16,Flat".into();
    config.index.params = [("efSearch".to_string(), 64.0)].into();
    let (bank, _, store) = open_with(dir.path(), config.clone()).await;
    let mut incidents = Vec::new();
    for i in 0..16u32 {
        let app = format!("svc{i}");
        let context = crash_loop(&app, &format!("{app}-7d9f8b6c4-x2x9z"), "10.0.0.5", i);
        let lesson = memory_of(&context, RootCauseClass::OomMemoryLimit, "raise-memory-limit", true, None);
        incidents.push(lesson.incident);
        stored(bank.remember(lesson).await.unwrap());
        let want = if i < 12 { "exact" } else { "approximate" };
        assert_eq!(bank.stats().index_kind, want, "after {} memories", i + 1);
    }
    stop(bank, store).await;
    let (bank, report, _store) = open_with(dir.path(), config).await;
    assert!(report.loaded && report.rebuilt.is_none(), "{report:?}");
    assert_eq!((bank.stats().index_kind, bank.stats().index_factory.as_str()), ("approximate", "HNSW16,Flat"));
    let now = later(crash_loop("svc7", "svc7-5f6d7c8b9-m2n4p", "10.9.9.9", 40));
    let recalled = bank.recall(&now, now.incident, 1).await.unwrap();
    assert_eq!(recalled.len(), 1);
    assert_eq!(recalled[0].incident, incidents[7], "{recalled:?}");
}

#[tokio::test]
async fn another_embedder_embeds_every_memory_again() {
    let dir = tempfile::tempdir().unwrap();
    let lesson = memory_of(
        &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
        RootCauseClass::OomMemoryLimit,
        "raise-memory-limit",
        true,
        None,
    );
    {
        let (bank, _, store) = open(dir.path()).await;
        stored(bank.remember(lesson.clone()).await.unwrap());
        stored(
            bank.remember(memory_of(&node_not_ready("node-3"), RootCauseClass::NodeNotReady, "drain-node", true, None))
                .await
                .unwrap(),
        );
        stop(bank, store).await;
    }
    let mut config = MemoryConfig::new(dir.path().join("memory.faiss"));
    config.embedder = EmbedderConfig::Hashing { dimension: 256, seed: 9 };
    let (bank, report, store) = open_with(dir.path(), config.clone()).await;
    assert_eq!(report.re_embedded, 2, "{report:?}");
    assert!(report.rebuilt.is_some());
    assert_eq!(bank.stats().dimension, 256);
    let now = later(crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.244.3.17", 3));
    assert_eq!(bank.recall(&now, None, 3).await.unwrap()[0].incident, lesson.incident);
    stop(bank, store).await;
    // The rebuilt index was saved under the new embedder: no second re-embedding.
    let (_bank, report, _store) = open_with(dir.path(), config).await;
    assert!(report.loaded && report.re_embedded == 0, "{report:?}");
}

#[tokio::test]
async fn search_finds_memories_from_a_pasted_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let (bank, _, _store) = open(dir.path()).await;
    let oom = memory_of(
        &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
        RootCauseClass::OomMemoryLimit,
        "raise-memory-limit",
        true,
        None,
    );
    let db = memory_of(
        &dependency_down("api", "api-6b7c8d9f5-z9x8w", "10.0.2.9"),
        RootCauseClass::DependencyDown,
        "restart-dependency",
        true,
        None,
    );
    stored(bank.remember(oom.clone()).await.unwrap());
    stored(bank.remember(db.clone()).await.unwrap());
    let hits = bank
        .search_text("2026-11-02T03:04:05Z dial tcp 10.96.0.12:5432: connect: connection refused", 2)
        .await
        .unwrap();
    assert_eq!(hits[0].memory.incident, db.incident, "{hits:?}");
    assert!(hits[0].similarity > hits.get(1).map_or(0.0, |h| h.similarity));
    let hits = bank.search_text("exit-code: 137\nlast-terminated: OOMKilled", 1).await.unwrap();
    assert_eq!(hits[0].memory.incident, oom.incident);
    assert!(bank.search_text("   ", 3).await.unwrap().is_empty());
}
