//! Jittered exponential back-off: the n-th retry waits a random time between half and all of
//! `initial × 2^(n-1)`, capped at `max`. Jitter keeps the requests of many callers that failed together
//! from hammering a recovering model server in lockstep.
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
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let marker = 0u8;
        Self::seeded(initial, max, (nanos as u64) ^ (std::ptr::addr_of!(marker) as u64).rotate_left(29))
    }

    pub fn seeded(initial: Duration, max: Duration, seed: u64) -> Self {
        Self { initial, max: max.max(initial), rng: SmallRng::seed_from_u64(seed) }
    }

    /// The longest wait before the `attempt`-th retry (1 for the first).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// How long to wait before the `attempt`-th retry.
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_nanos().min(u128::from(u64::MAX)) as u64;
        half + Duration::from_nanos(if spread == 0 { 0 } else { self.rng.random_range(0..=spread) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let b = Backoff::seeded(Duration::from_millis(500), Duration::from_secs(10), 1);
        let ceilings: Vec<u128> = (1..=8).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
        assert_eq!(b.ceiling(0), Duration::from_millis(500));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn retries_are_spread_out() {
        let mut b = Backoff::seeded(Duration::from_secs(4), Duration::from_secs(60), 3);
        let delays: std::collections::BTreeSet<Duration> = (0..40).map(|_| b.delay(1)).collect();
        assert!(delays.len() > 30, "{} distinct delays", delays.len());
    }

    proptest! {
        #[test]
        fn every_delay_lies_between_half_and_all_of_its_ceiling(initial in 1u64..5_000, max in 1u64..100_000, attempt in 0u32..80, seed: u64) {
            let mut b = Backoff::seeded(Duration::from_millis(initial), Duration::from_millis(max), seed);
            let ceiling = b.ceiling(attempt);
            let d = b.delay(attempt);
            prop_assert!(d <= ceiling && d >= ceiling / 2, "{d:?} vs {ceiling:?}");
        }
    }
}
