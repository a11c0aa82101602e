//! `medic audit verify` against a store whose SQLite file was tampered with directly (the append-only
//! triggers dropped first, as anyone with the file could): a changed field, a removed row, rows moved —
//! each is reported at the first record concerned, with a non-zero exit; an intact trail passes.
use medic_core::{AuditEntry, AuditKind, IncidentUid};
use medic_store::StoreConfig;
use std::path::{Path, PathBuf};
use std::process::Command;

const RECORDS: i64 = 8;

/// A store with `RECORDS` audit records in a temp dir.
fn trail() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = StoreConfig::new(&path).build().unwrap();
        let incident = IncidentUid::new();
        for i in 1..=RECORDS {
            let entry = AuditEntry::new(incident, AuditKind::ActionApplied, "executor", format!("step {i}"))
                .with_detail(serde_json::json!({"step": i, "api_calls": [format!("PATCH /x/{i}")]}));
            store.append_audit(entry).await.unwrap();
        }
        store.close().await;
    });
    (dir, path)
}

/// Opens the file as an attacker would: the triggers that refuse UPDATE and DELETE removed.
fn tamper(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;").unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Swaps every column but `seq` between two rows.
fn swap(a: i64, b: i64) -> String {
    let columns = "incident_uid, at_us, kind, actor, summary, detail, prev_hash, hash";
    format!(
        "CREATE TEMP TABLE saved AS SELECT seq, {columns} FROM audit WHERE seq IN ({a}, {b});
         UPDATE audit SET ({columns}) = (SELECT {columns} FROM saved WHERE saved.seq = {b}) WHERE seq = {a};
         UPDATE audit SET ({columns}) = (SELECT {columns} FROM saved WHERE saved.seq = {a}) WHERE seq = {b};"
    )
}

fn verify(path: &Path, json: bool) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medic"));
    command.args(["audit", "verify", "--store"]).arg(path).env_remove("MEDIC_CONFIG");
    if json {
        command.arg("--json");
    }
    let output = command.output().expect("medic runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code().unwrap_or(-1), format!("{}{stderr}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn an_intact_trail_verifies() {
    let (_dir, path) = trail();
    let (code, out) = verify(&path, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("audit trail intact: {RECORDS} records")), "{out}");
    let (code, out) = verify(&path, true);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((json["ok"].as_bool(), json["records"].as_i64()), (Some(true), Some(RECORDS)));
}

#[test]
fn every_kind_of_tampering_is_caught_at_the_first_record_concerned() {
    // (what was done, SQL, the record reported, the problem)
    let cases = [
        ("a summary changed", "UPDATE audit SET summary = 'nothing happened' WHERE seq = 3".to_string(), 3, "altered"),
        ("a detail changed", "UPDATE audit SET detail = '{\"step\":5}' WHERE seq = 5".to_string(), 5, "altered"),
        ("a time changed", "UPDATE audit SET at_us = at_us + 1 WHERE seq = 7".to_string(), 7, "altered"),
        ("a kind changed", "UPDATE audit SET kind = 'verified' WHERE seq = 1".to_string(), 1, "altered"),
        ("a row removed", "DELETE FROM audit WHERE seq = 4".to_string(), 4, "removed"),
        ("the last row removed", format!("DELETE FROM audit WHERE seq = {RECORDS}"), RECORDS, "removed"),
        ("two rows swapped", swap(2, 6), 2, "reordered"),
        (
            "a row renumbered into a gap",
            "DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6".to_string(),
            5,
            "altered",
        ),
    ];
    for (what, sql, seq, problem) in cases {
        let (_dir, path) = trail();
        tamper(&path, &sql);
        let (code, out) = verify(&path, false);
        assert_eq!(code, 1, "{what}: {out}");
        assert!(out.contains(&format!("audit trail broken at record {seq}: {problem}")), "{what}: {out}");
        let (code, out) = verify(&path, true);
        assert_eq!(code, 1, "{what}: {out}");
        let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!((json["seq"].as_i64(), json["problem"].as_str()), (Some(seq), Some(problem)), "{what}: {json}");
    }
}

#[test]
fn a_missing_store_is_an_error_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = verify(&dir.path().join("nope.db"), false);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no store at"), "{out}");
}
