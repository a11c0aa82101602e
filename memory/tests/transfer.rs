//! `medic memory export|import`: a JSON Lines round trip between two stores.
mod common;

use common::fixtures::{crash_loop, dependency_down, later, memory_of, node_not_ready};
use medic_core::RootCauseClass;
use medic_memory::transfer::ExportedMemory;
use medic_memory::{EmbedderConfig, MemoryBank, MemoryConfig};
use medic_store::StoreConfig;
use std::io::Cursor;
use std::path::Path;

async fn open(dir: &Path, embedder: EmbedderConfig) -> MemoryBank {
    let store = StoreConfig::new(dir.join("medic.db")).build().unwrap();
    let mut config = MemoryConfig::new(dir.join("memory.faiss"));
    config.embedder = embedder;
    MemoryBank::open(config, store).await.unwrap().0
}

fn lessons() -> Vec<medic_core::messages::IncidentMemory> {
    vec![
        memory_of(
            &crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1),
            RootCauseClass::OomMemoryLimit,
            "raise-memory-limit",
            true,
            Some("slack:U123"),
        ),
        memory_of(
            &dependency_down("api", "api-6b7c8d9f5-z9x8w", "10.0.2.9"),
            RootCauseClass::DependencyDown,
            "restart-dependency",
            false,
            None,
        ),
        memory_of(&node_not_ready("node-3"), RootCauseClass::NodeNotReady, "drain-node", true, None),
    ]
}

#[tokio::test]
async fn an_export_imports_into_another_store_once() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(a.path(), EmbedderConfig::default()).await;
    for lesson in lessons() {
        source.remember(lesson).await.unwrap();
    }
    let mut jsonl = Vec::new();
    assert_eq!(source.export(&mut jsonl).await.unwrap(), 3);
    let lines: Vec<ExportedMemory> =
        String::from_utf8(jsonl.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.embedder == source.embedder_id() && l.vector.len() == 1024));

    let target = open(b.path(), EmbedderConfig::default()).await;
    let report = target.import(&mut Cursor::new(&jsonl), Path::new("memories.jsonl")).await.unwrap();
    assert_eq!((report.imported, report.skipped, report.re_embedded), (3, 0, 0));
    let report = target.import(&mut Cursor::new(&jsonl), Path::new("memories.jsonl")).await.unwrap();
    assert_eq!((report.imported, report.skipped), (0, 3), "a second import adds nothing");

    // The imported memories are what was exported, and are recalled.
    let mut round_trip = Vec::new();
    target.export(&mut round_trip).await.unwrap();
    let again: Vec<ExportedMemory> =
        String::from_utf8(round_trip).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (before, after) in lines.iter().zip(&again) {
        assert_eq!(
            (&before.incident, &before.vector, &before.document, before.created_at),
            (&after.incident, &after.vector, &after.document, after.created_at)
        );
    }
    let now = later(crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.244.3.17", 4));
    let recalled = target.recall(&now, now.incident, 3).await.unwrap();
    assert_eq!(recalled[0].incident, lines[0].incident);
    assert_eq!(recalled[0].approved_by.as_deref(), Some("slack:U123"));
    assert_eq!(target.stats().memories, 3);
}

#[tokio::test]
async fn an_import_under_another_embedder_embeds_again() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(a.path(), EmbedderConfig::default()).await;
    for lesson in lessons() {
        source.remember(lesson).await.unwrap();
    }
    let mut jsonl = Vec::new();
    source.export(&mut jsonl).await.unwrap();
    let target = open(b.path(), EmbedderConfig::Hashing { dimension: 128, seed: 3 }).await;
    let report = target.import(&mut Cursor::new(&jsonl), Path::new("m.jsonl")).await.unwrap();
    assert_eq!((report.imported, report.re_embedded), (3, 3));
    let hits = target.search_text("Node node-7 status is now: NodeNotReady", 1).await.unwrap();
    assert_eq!(hits[0].memory.class, RootCauseClass::NodeNotReady);
}

#[tokio::test]
async fn a_bad_line_is_named_and_the_lines_before_it_are_kept() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(a.path(), EmbedderConfig::default()).await;
    for lesson in lessons() {
        source.remember(lesson).await.unwrap();
    }
    let mut jsonl = Vec::new();
    source.export(&mut jsonl).await.unwrap();
    let text = String::from_utf8(jsonl).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.insert(1, String::new());
    lines[2] = lines[2].replace("\"fix_worked\"", "\"fix_wrked\"");
    let broken = lines.join("\n");

    let target = open(b.path(), EmbedderConfig::default()).await;
    let err = target.import(&mut Cursor::new(broken.as_bytes()), Path::new("broken.jsonl")).await.unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("broken.jsonl line 3: document:"), "{message}");
    assert!(message.contains("fix_worked"), "{message}");
    assert_eq!(target.stats().memories, 1);

    let err = target.import(&mut Cursor::new(b"{\"id\": 1}\n".as_slice()), Path::new("x.jsonl")).await.unwrap_err();
    assert!(err.to_string().starts_with("x.jsonl line 1: missing field"), "{err}");
}
