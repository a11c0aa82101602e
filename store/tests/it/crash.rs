//! kill -9 in the middle of a stream of writes: every alert the store acknowledged is in the file.
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use medic_store::{Durability, StoreConfig};

use crate::common::firing;

const CHILD_DB: &str = "MEDIC_STORE_CRASH_CHILD_DB";
const CHILD_DURABILITY: &str = "MEDIC_STORE_CRASH_CHILD_DURABILITY";
const CHILD_TEST: &str = "crash::child_process_ingests_until_killed";

/// Not a test on its own: the body of the child process the crash tests start and kill. Without the
/// environment variable it returns at once.
#[test]
fn child_process_ingests_until_killed() {
    let Ok(path) = std::env::var(CHILD_DB) else { return };
    let durability = match std::env::var(CHILD_DURABILITY).as_deref() {
        Ok("normal") => Durability::Normal,
        _ => Durability::Full,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let store = StoreConfig::new(path).with_durability(durability).build().unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for batch in 0.. {
                        let alerts: Vec<_> = (0..10)
                            .map(|i| {
                                let ns = format!("ns{}", (batch + i) % 5);
                                let pod = format!("app{i}-x7k2p");
                                firing(
                                    &format!("t{task}-{batch}-{i}"),
                                    &[("namespace", ns.as_str()), ("pod", pod.as_str())],
                                )
                            })
                            .collect();
                        let outcome = store.ingest(alerts).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        for a in outcome.alerts {
                            writeln!(out, "ack {} {}", a.alert.fingerprint, a.id).unwrap();
                        }
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kill_mid_stream_then_reopen(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medic.db");
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &path)
            .env(CHILD_DURABILITY, durability)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut acknowledged = Vec::new();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    while acknowledged.len() < 4_000 {
        let line = lines.next().expect("the child stopped early").unwrap();
        if let Some(ack) = line.strip_prefix("ack ") {
            let (fingerprint, id) = ack.split_once(' ').unwrap();
            acknowledged.push((fingerprint.to_string(), id.parse::<i64>().unwrap()));
        }
    }
    // SIGKILL while the child is still writing.
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = StoreConfig::new(&path).build().unwrap();
        let stored = store.alert_count().await.unwrap();
        assert!(stored >= acknowledged.len() as u64, "{stored} alerts stored, {} acknowledged", acknowledged.len());
        for (fingerprint, id) in &acknowledged {
            let row = store.alert(*id).await.unwrap();
            assert_eq!(row.map(|r| r.alert.fingerprint).as_ref(), Some(fingerprint), "acknowledged alert {id}");
        }
        store.verify_audit().await.expect("the audit chain survives the crash");
    });
}

#[test]
fn acknowledged_alerts_survive_kill_9_with_synchronous_full() {
    kill_mid_stream_then_reopen("full");
}

#[test]
fn acknowledged_alerts_survive_kill_9_with_synchronous_normal() {
    kill_mid_stream_then_reopen("normal");
}
