//! Full-jitter exponential backoff (the AWS Architecture Blog's "Full
//! Jitter"): before retry `n` (0-based) wait a uniformly random time in
//! `[0, min(cap, base * 2^n)]`.
//!
//! Only idempotent calls are retried (GETs, and writes that carry an
//! idempotency key); the client decides that, this module only says how long.

use std::time::Duration;

use rand::Rng;

/// How many times and how long to wait between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// No wait is ever longer than this.
    pub cap: Duration,
    /// Retries after the first try (so `max_retries + 1` tries in all).
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            max_retries: 3,
        }
    }
}

impl Backoff {
    /// The live stream's waits between connections: base 1 s, cap 60 s, and
    /// no last try (the stream never gives up on network trouble).
    pub const LIVE_STREAM: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        max_retries: u32::MAX,
    };

    /// The ceiling of the wait before retry `n` (0-based): `min(cap, base * 2^n)`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `n`: uniform in `[0, ceiling(n)]`.
    pub fn delay<R: Rng + ?Sized>(&self, n: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(n);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceilings_double_until_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_retries: 10,
        };
        let ceilings: Vec<_> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        // Huge retry numbers neither overflow nor pass the cap.
        assert_eq!(b.ceiling(u32::MAX), Duration::from_millis(1000));
        assert_eq!(b.ceiling(64), Duration::from_millis(1000));
    }

    #[test]
    fn the_live_stream_waits_from_one_second_up_to_a_minute() {
        let ceilings: Vec<_> = (0..8)
            .map(|n| Backoff::LIVE_STREAM.ceiling(n).as_secs())
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn delays_stay_within_bounds_and_are_spread() {
        let b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        for n in 0..8 {
            let ceiling = b.ceiling(n);
            let delays: Vec<_> = (0..500).map(|_| b.delay(n, &mut rng)).collect();
            assert!(
                delays.iter().all(|d| *d <= ceiling),
                "retry {n} past its ceiling"
            );
            // Full jitter: the draws cover the low and the high part of the range.
            assert!(
                delays.iter().any(|d| *d < ceiling / 4),
                "retry {n}: no short wait"
            );
            assert!(
                delays.iter().any(|d| *d > ceiling * 3 / 4),
                "retry {n}: no long wait"
            );
        }
    }

    #[test]
    fn mean_delay_grows_with_the_retry_number_until_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1600),
            max_retries: 10,
        };
        let mut rng = StdRng::seed_from_u64(42);
        let mean = |n: u32, rng: &mut StdRng| {
            let total: Duration = (0..2000).map(|_| b.delay(n, rng)).sum();
            total / 2000
        };
        let means: Vec<_> = (0..7).map(|n| mean(n, &mut rng)).collect();
        for w in means.windows(2).take(4) {
            assert!(w[1] > w[0] * 3 / 2, "mean did not grow: {means:?}");
        }
        // Past the cap the mean stays near cap / 2.
        for m in &means[4..] {
            let ms = m.as_millis();
            assert!((700..=900).contains(&ms), "mean past the cap is {ms} ms");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let b = Backoff::default();
        let a: Vec<_> = {
            let mut r = StdRng::seed_from_u64(1);
            (0..4).map(|n| b.delay(n, &mut r)).collect()
        };
        let c: Vec<_> = {
            let mut r = StdRng::seed_from_u64(1);
            (0..4).map(|n| b.delay(n, &mut r)).collect()
        };
        assert_eq!(a, c);
        let zero = Backoff {
            base: Duration::ZERO,
            ..b
        };
        assert_eq!(zero.delay(3, &mut StdRng::seed_from_u64(1)), Duration::ZERO);
    }
}
