//! The kubelet's exponential back-off (client-go `flowcontrol.Backoff` without jitter), used for
//! restarting crashed containers (`CrashLoopBackOff`) and for pulling images (`ImagePullBackOff`):
//! 10 s doubling to 5 min, forgotten after 10 min without a new failure.
//!
//! How the kubelet uses it for a crashed container: if the container finished within the current
//! back-off window it waits (`CrashLoopBackOff`); otherwise it calls [`Backoff::next`] and restarts.
//! So the first crash restarts at once, and the waits after the following crashes are 10, 20, 40, 80,
//! 160, 300, 300 ... seconds; a container that ran for more than 10 min starts over at the beginning.
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: Timestamp,
}

/// One back-off window (the kubelet keys these by pod and container, or pod and image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entry: Option<Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(INITIAL, MAX)
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, entry: None }
    }

    /// The current window (zero before the first failure).
    pub fn current(&self) -> Duration {
        self.entry.map_or(Duration::ZERO, |e| e.backoff)
    }

    fn expired(&self, entry: &Entry, at: Timestamp) -> bool {
        let forget_after = SignedDuration::try_from(self.max * 2).unwrap_or(SignedDuration::MAX);
        at.duration_since(entry.last_update) > forget_after
    }

    /// Whether `now` is still inside the window that started at `event_time` (a container's
    /// `finishedAt`).
    pub fn is_in_backoff_since(&self, event_time: Timestamp, now: Timestamp) -> bool {
        let Some(entry) = &self.entry else { return false };
        if self.expired(entry, event_time) {
            return false;
        }
        now.duration_since(event_time) < SignedDuration::try_from(entry.backoff).unwrap_or(SignedDuration::MAX)
    }

    /// Whether `now` is inside the window that started at the last [`Backoff::next`] (image pulls).
    pub fn is_in_backoff_since_update(&self, now: Timestamp) -> bool {
        let Some(entry) = &self.entry else { return false };
        if self.expired(entry, now) {
            return false;
        }
        now.duration_since(entry.last_update) < SignedDuration::try_from(entry.backoff).unwrap_or(SignedDuration::MAX)
    }

    /// Moves to the next window: the initial one after a long quiet spell, otherwise double, capped.
    pub fn next(&mut self, event_time: Timestamp, now: Timestamp) {
        let backoff = match &self.entry {
            Some(entry) if !self.expired(entry, event_time) => (entry.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entry = Some(Entry { backoff, last_update: now });
    }

    /// When a window that started at `event_time` ends.
    pub fn ends_at(&self, event_time: Timestamp) -> Timestamp {
        event_time + SignedDuration::try_from(self.current()).unwrap_or(SignedDuration::ZERO)
    }

    pub fn reset(&mut self) {
        self.entry = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Crashes a container `crashes` times, each run lasting `run_for`, restarting as soon as the
    /// kubelet's 1 s sync finds it outside its back-off window; returns the wait before each restart.
    fn waits(crashes: usize, run_for: i64) -> Vec<i64> {
        let mut backoff = Backoff::default();
        let mut now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut waits = Vec::new();
        for _ in 0..crashes {
            now += SignedDuration::from_secs(run_for);
            let finished = now;
            loop {
                now += SignedDuration::from_secs(1);
                if !backoff.is_in_backoff_since(finished, now) {
                    backoff.next(finished, now);
                    waits.push(now.duration_since(finished).as_secs());
                    break;
                }
            }
        }
        waits
    }

    #[test]
    fn crash_loop_waits_double_to_five_minutes() {
        // The first restart is immediate (the next sync); then 10, 20, 40, 80, 160, 300, 300.
        assert_eq!(waits(8, 5), vec![1, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn ten_minutes_of_running_resets_the_back_off() {
        let mut backoff = Backoff::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        backoff.next(t0, t0);
        backoff.next(t0, t0);
        assert_eq!(backoff.current(), Duration::from_secs(20));
        let crash_after_long_run = t0 + SignedDuration::from_secs(601);
        assert!(!backoff.is_in_backoff_since(crash_after_long_run, crash_after_long_run));
        backoff.next(crash_after_long_run, crash_after_long_run);
        assert_eq!(backoff.current(), INITIAL);
    }

    #[test]
    fn image_pull_back_off_counts_from_the_failed_pull() {
        let mut backoff = Backoff::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(!backoff.is_in_backoff_since_update(t0));
        backoff.next(t0, t0);
        assert!(backoff.is_in_backoff_since_update(t0 + SignedDuration::from_secs(9)));
        assert!(!backoff.is_in_backoff_since_update(t0 + SignedDuration::from_secs(10)));
        backoff.next(t0, t0 + SignedDuration::from_secs(10));
        assert_eq!(backoff.current(), Duration::from_secs(20));
    }
}
