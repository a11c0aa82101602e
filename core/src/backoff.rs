//! Jittered exponential back-off: the n-th retry waits a random time between half and all of
//! `initial × 2^(n-1)`, capped at `max`. The jitter keeps many callers that failed together (messages
//! during a Slack outage, requests to a recovering model server) from retrying in lockstep; the lower
//! half-bound keeps the back-off growing.
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    rng: SmallRng,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        // Seeded from the clock and the address of a stack value: distinct per process and per instance.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let marker = 0u8;
        let seed = (nanos as u64) ^ (std::ptr::addr_of!(marker) as u64).rotate_left(32);
        Self::seeded(initial, max, seed)
    }

    pub fn seeded(initial: Duration, max: Duration, seed: u64) -> Self {
        Self { initial, max: max.max(initial), rng: SmallRng::seed_from_u64(seed) }
    }

    /// The ceiling of the `attempt`-th retry (1 for the first): `initial × 2^(attempt-1)`, at most `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.initial.saturating_mul(1u32 << doublings.min(31)).min(self.max)
    }

    /// How long to wait before the `attempt`-th retry.
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_nanos() as u64;
        half + Duration::from_nanos(if spread == 0 { 0 } else { self.rng.random_range(0..=spread) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let b = Backoff::seeded(Duration::from_secs(1), Duration::from_secs(300), 7);
        let ceilings: Vec<u64> = (1..=12).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(300));
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
    }

    #[test]
    fn retries_are_spread_out() {
        let mut b = Backoff::seeded(Duration::from_secs(8), Duration::from_secs(300), 42);
        let delays: std::collections::HashSet<Duration> = (0..50).map(|_| b.delay(1)).collect();
        assert!(delays.len() > 40, "50 retries after the same failure should not wait the same time: {delays:?}");
    }

    proptest! {
        #[test]
        fn a_delay_is_between_half_and_all_of_its_ceiling(
            seed: u64, attempt in 0u32..100, initial_ms in 1u64..10_000, max_s in 1u64..3_600,
        ) {
            let mut b = Backoff::seeded(Duration::from_millis(initial_ms), Duration::from_secs(max_s), seed);
            let ceiling = b.ceiling(attempt);
            let delay = b.delay(attempt);
            prop_assert!(delay <= ceiling && delay >= ceiling / 2, "{delay:?} vs {ceiling:?}");
            prop_assert!(ceiling <= Duration::from_secs(max_s).max(Duration::from_millis(initial_ms)));
        }
    }
}
