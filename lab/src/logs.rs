//! Container logs: what `kubectl logs` (and `--previous`) reads.
//!
//! The application model appends lines; the kubelet rotates the current log to "previous" when a
//! container restarts and drops a pod's logs when the pod is deleted; the API server reads them.
use jiff::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::runtime::ContainerKey;

/// Lines kept per container instance; older lines are dropped as a kubelet's log rotation would.
pub const MAX_LINES_PER_CONTAINER: usize = 5_000;

#[derive(Debug, Default)]
struct ContainerLogs {
    current: VecDeque<(Timestamp, String)>,
    previous: Option<VecDeque<(Timestamp, String)>>,
}

#[derive(Debug, Default)]
pub struct LogStore {
    containers: Mutex<HashMap<ContainerKey, ContainerLogs>>,
}

/// The options of `GET .../pods/{name}/log`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    pub previous: bool,
    pub tail_lines: Option<usize>,
    /// Only lines newer than this.
    pub since: Option<Timestamp>,
    pub timestamps: bool,
}

impl LogStore {
    pub fn append(&self, key: &ContainerKey, at: Timestamp, line: impl Into<String>) {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let logs = map.entry(key.clone()).or_default();
        if logs.current.len() == MAX_LINES_PER_CONTAINER {
            logs.current.pop_front();
        }
        logs.current.push_back((at, line.into()));
    }

    /// The container restarted: its current log becomes the previous one.
    pub fn rotate(&self, key: &ContainerKey) {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let logs = map.entry(key.clone()).or_default();
        logs.previous = Some(std::mem::take(&mut logs.current));
    }

    /// The pod is gone: forget the logs of all its containers.
    pub fn remove_pod(&self, namespace: &str, pod: &str) {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|k, _| !(k.namespace == namespace && k.pod == pod));
    }

    /// Whether a previous instance's log exists (`kubectl logs --previous` answers 400 otherwise).
    pub fn has_previous(&self, key: &ContainerKey) -> bool {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).is_some_and(|l| l.previous.is_some())
    }

    /// The log text as the kubelet serves it: one line per entry, each ending in `\n`.
    pub fn read(&self, key: &ContainerKey, query: &LogQuery) -> String {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(logs) = map.get(key) else { return String::new() };
        let lines = if query.previous {
            match &logs.previous {
                Some(previous) => previous,
                None => return String::new(),
            }
        } else {
            &logs.current
        };
        let selected: Vec<&(Timestamp, String)> =
            lines.iter().filter(|(at, _)| query.since.is_none_or(|since| *at >= since)).collect();
        let skip = query.tail_lines.map_or(0, |tail| selected.len().saturating_sub(tail));
        let mut out = String::new();
        for (at, line) in &selected[skip..] {
            if query.timestamps {
                let _ = write!(out, "{} ", at);
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ContainerKey {
        ContainerKey { namespace: "shop".into(), pod: "cart-1".into(), container: "app".into() }
    }

    #[test]
    fn tail_since_previous_and_timestamps() {
        let store = LogStore::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        for i in 0..5 {
            store.append(&key(), t0 + jiff::SignedDuration::from_secs(i), format!("line {i}"));
        }
        let tail = store.read(&key(), &LogQuery { tail_lines: Some(2), ..Default::default() });
        assert_eq!(tail, "line 3\nline 4\n");
        let since = LogQuery { since: Some(t0 + jiff::SignedDuration::from_secs(3)), ..Default::default() };
        assert_eq!(store.read(&key(), &since), "line 3\nline 4\n");
        let stamped = store.read(&key(), &LogQuery { tail_lines: Some(1), timestamps: true, ..Default::default() });
        assert_eq!(stamped, "2026-01-01T00:00:04Z line 4\n");

        assert!(!store.has_previous(&key()));
        store.rotate(&key());
        store.append(&key(), t0, "fresh");
        assert!(store.has_previous(&key()));
        assert_eq!(store.read(&key(), &LogQuery::default()), "fresh\n");
        let previous = store.read(&key(), &LogQuery { previous: true, tail_lines: Some(1), ..Default::default() });
        assert_eq!(previous, "line 4\n");

        store.remove_pod("shop", "cart-1");
        assert_eq!(store.read(&key(), &LogQuery::default()), "");
    }

    #[test]
    fn old_lines_are_dropped_beyond_the_bound() {
        let store = LogStore::default();
        let t0 = Timestamp::UNIX_EPOCH;
        for i in 0..MAX_LINES_PER_CONTAINER + 10 {
            store.append(&key(), t0, format!("{i}"));
        }
        let all = store.read(&key(), &LogQuery::default());
        assert_eq!(all.lines().count(), MAX_LINES_PER_CONTAINER);
        assert_eq!(all.lines().next(), Some("10"));
    }
}
