//! The lab's virtual clock.
//!
//! Virtual time starts at the real time the lab started and advances only when the simulation driver
//! ticks, in fixed steps, so that a run is deterministic under a seed: the same seed and the same API
//! writes at the same ticks give the same cluster. At `--speed N` the driver ticks N times faster than
//! real time.
use jiff::{SignedDuration, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct LabClock {
    epoch: Timestamp,
    elapsed_nanos: AtomicU64,
    speed: f64,
}

impl LabClock {
    /// A clock that starts at `epoch` and runs `speed` times faster than real time.
    pub fn new(epoch: Timestamp, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        Self { epoch, elapsed_nanos: AtomicU64::new(0), speed }
    }

    /// A clock starting now, truncated to the second as Kubernetes timestamps are.
    pub fn starting_now(speed: f64) -> Self {
        let now = Timestamp::now();
        let epoch = Timestamp::from_second(now.as_second()).unwrap_or(now);
        Self::new(epoch, speed)
    }

    pub fn now(&self) -> Timestamp {
        let nanos = self.elapsed_nanos.load(Ordering::Acquire);
        self.epoch + SignedDuration::from_nanos(nanos as i64)
    }

    /// Virtual time elapsed since the lab started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed_nanos.load(Ordering::Acquire))
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The real time that `virtual_duration` takes at this clock's speed.
    pub fn real(&self, virtual_duration: Duration) -> Duration {
        virtual_duration.div_f64(self.speed)
    }

    /// Advance virtual time. Only the simulation driver calls this.
    pub fn advance(&self, by: Duration) {
        self.elapsed_nanos.fetch_add(by.as_nanos() as u64, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_moves_only_when_advanced() {
        let epoch: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = LabClock::new(epoch, 100.0);
        assert_eq!(clock.now(), epoch);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now().to_string(), "2026-01-01T00:01:30Z");
        assert_eq!(clock.real(Duration::from_secs(10)), Duration::from_millis(100));
    }
}
