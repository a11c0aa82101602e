//! Helpers shared by the store's tests: alert builders, a clock the test moves, a store in a temp dir.
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use medic_core::ports::Clock;
use medic_core::{Alert, AlertSource, AlertStatus};
use medic_store::{Store, StoreConfig};

/// A clock that only moves when the test says so.
#[derive(Debug)]
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn at(text: &str) -> Arc<TestClock> {
        Arc::new(TestClock(Mutex::new(text.parse().expect("timestamp"))))
    }
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).unwrap();
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A store in a fresh temp dir, on a test clock.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub clock: Arc<TestClock>,
}

impl TestStore {
    pub fn new() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = TestClock::at("2026-11-22T14:00:00Z");
        let store = StoreConfig::new(dir.path().join("medic.db")).build_with_clock(clock.clone()).expect("open store");
        TestStore { dir, store, clock }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("medic.db")
    }

    /// Closes the store and opens the same file again, as a restarted medic would.
    pub async fn reopen(&mut self) {
        self.store.close().await;
        self.store = StoreConfig::new(self.path()).build_with_clock(self.clock.clone()).expect("reopen store");
    }

    pub fn clock_now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A raw connection to the file, to look at or tamper with it directly.
    pub fn raw(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.path()).expect("raw connection");
        conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        conn
    }
}

/// A firing Alertmanager alert with these labels.
pub fn firing(fingerprint: &str, labels: &[(&str, &str)]) -> Alert {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Alert {
        source: AlertSource::Alertmanager,
        status: AlertStatus::Firing,
        fingerprint: fingerprint.to_string(),
        name: labels.get("alertname").cloned().unwrap_or_else(|| "TestAlert".into()),
        labels,
        annotations: BTreeMap::from([("summary".to_string(), "something is wrong".to_string())]),
        starts_at: "2026-11-22T13:59:00Z".parse().unwrap(),
        ends_at: None,
        group_key: None,
        generator_url: None,
    }
}

/// The same alert, resolved.
pub fn resolved(alert: &Alert) -> Alert {
    let mut resolved = alert.clone();
    resolved.status = AlertStatus::Resolved;
    resolved.ends_at = Some(alert.starts_at.checked_add(SignedDuration::from_mins(5)).unwrap());
    resolved
}

pub fn with_group_key(mut alert: Alert, key: &str) -> Alert {
    alert.group_key = Some(key.to_string());
    alert
}
