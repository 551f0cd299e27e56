//! When the agent restarts a process that exited, per its restart policy.
//!
//! The original scheduler retried a failing start in a tight loop; here
//! every automatic restart waits, and the wait doubles with each failure in
//! a row up to a ceiling, so a crashing process costs little.

use std::time::Duration;

use harpoon_core::wire::RestartPolicy;

/// Exponential back-off between automatic restarts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A run at least this long was healthy: the back-off after it starts
    /// from `initial` again.
    pub reset_after: Duration,
}

impl Backoff {
    /// The wait before a restart after `short_runs` runs in a row that
    /// ended before `reset_after` (1 for the first).
    pub fn delay(&self, short_runs: u32) -> Duration {
        let doublings = short_runs.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The count of short runs in a row after a run of length `ran_for`.
    pub fn next_short_runs(&self, short_runs: u32, ran_for: Duration) -> u32 {
        if ran_for >= self.reset_after {
            1
        } else {
            short_runs.saturating_add(1)
        }
    }
}

/// Whether `policy` restarts a process that exited, successfully or not:
/// the wire type's one rule, shared with the simulated agents.
pub(crate) fn restarts(policy: &RestartPolicy, succeeded: bool) -> bool {
    policy.restarts(succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(60),
        reset_after: Duration::from_secs(10),
    };

    #[test]
    fn doubles_up_to_the_ceiling() {
        let delays: Vec<u128> = [1, 2, 3, 8, 200]
            .map(|n| BACKOFF.delay(n).as_millis())
            .into();
        assert_eq!(delays, [500, 1000, 2000, 60_000, 60_000]);
    }

    #[test]
    fn a_long_run_resets_the_count() {
        assert_eq!(BACKOFF.next_short_runs(5, Duration::from_secs(1)), 6);
        assert_eq!(BACKOFF.next_short_runs(5, Duration::from_secs(10)), 1);
    }

    #[test]
    fn policies() {
        assert!(restarts(&RestartPolicy::Always, true));
        assert!(restarts(&RestartPolicy::OnFailure, false));
        assert!(!restarts(&RestartPolicy::OnFailure, true));
        assert!(!restarts(&RestartPolicy::No, false));
    }
}
