//! Schema versions and migrations on real files.
use medic_store::schema::{MIGRATIONS, current_version};
use medic_store::{Error, StoreConfig};

use crate::common::TestStore;

#[tokio::test]
async fn a_new_file_is_at_the_current_version_in_wal_mode() {
    let mut t = TestStore::new();
    let version: u32 = t.raw().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, current_version());
    assert_eq!(current_version() as usize, MIGRATIONS.len());
    let mode: String = t.raw().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    // Reopening runs nothing again (a second CREATE TABLE would fail).
    t.reopen().await;
    assert_eq!(t.store.alert_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_file_from_a_newer_medic_is_refused() {
    let t = TestStore::new();
    t.store.close().await;
    t.raw().pragma_update(None, "user_version", current_version() + 1).unwrap();
    match StoreConfig::new(t.path()).build() {
        Err(e @ Error::SchemaTooNew { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("schema version {}", current_version() + 1)), "{text}");
            assert!(text.contains(&t.path().display().to_string()), "{text}");
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    std::fs::write(&path, b"this is not a database, just some text that is long enough to have a header").unwrap();
    let err = StoreConfig::new(&path).build().unwrap_err();
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[tokio::test]
async fn missing_directories_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var/lib/medic/medic.db");
    let store = StoreConfig::new(&path).build().unwrap();
    assert_eq!(store.alert_count().await.unwrap(), 0);
    assert!(path.exists());
}

#[tokio::test]
async fn writes_after_close_are_refused_and_reads_still_work() {
    let t = TestStore::new();
    t.store.close().await;
    let err = t.store.ingest(vec![crate::common::firing("x", &[])]).await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
    assert_eq!(t.store.alert_count().await.unwrap(), 0);
}
