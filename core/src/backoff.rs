//! Exponential back-off with seeded jitter, shared by every retry loop of
//! the core (stream reconnects, failing commands, failing tasks, registry
//! writes).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::time::Duration;

/// The delay before attempt `failures + 1`: `min · 2^(failures-1)`, capped
/// at `max`, with "equal jitter": half the delay is fixed and half drawn at
/// random, so that things that failed together do not retry together.
pub fn jittered(rng: &mut ChaCha8Rng, min: Duration, max: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let full = min.saturating_mul(1u64 << exponent).min(max).as_millis();
    let half = full / 2;
    Duration::from_millis(half + rng.random_range(0..=full - half))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_the_jitter_band() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for (failures, full) in [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (7, 60_000),
            (40, 60_000),
        ] {
            for _ in 0..100 {
                let delay = jittered(&mut rng, min, max, failures).as_millis();
                assert!(
                    (full / 2..=full).contains(&delay),
                    "{failures} failures: {delay}ms"
                );
            }
        }
    }
}
