//! The surge and unavailability bounds hold at every step, for random
//! scales and bounds, and a rollout in a world where every task eventually
//! runs finishes.

use proptest::prelude::*;

use super::{Observed, ceiling, floor, next};
use crate::rollout::{RolloutParams, Wanted};

fn params(max_surge: u32, max_unavailable: u32) -> RolloutParams {
    RolloutParams {
        max_surge,
        max_unavailable,
        ..RolloutParams::default()
    }
}

/// An old task's instance in the model world.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Old {
    Running,
    /// Unwanted, gone after this many more steps.
    Stopping(u32),
    Gone,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A world where wanted new tasks become healthy after random delays
    /// and unwanted old ones take random time to go: at every step at most
    /// `max(F, T) + max_surge` tasks exist, at least `min(F, T) -
    /// max_unavailable` are available, and the rollout ends with the new
    /// job at scale and nothing of the old.
    #[test]
    fn bounds_hold_at_every_step_and_the_rollout_finishes(
        from_scale in 0u32..12,
        to_scale in 1u32..12,
        max_surge in 0u32..4,
        max_unavailable in 0u32..4,
        delays in proptest::collection::vec(0u32..4, 64),
    ) {
        prop_assume!(max_surge + max_unavailable > 0);
        let params = params(max_surge, max_unavailable);
        let (top, bottom) = (
            ceiling(from_scale, to_scale, &params),
            floor(from_scale, to_scale, &params),
        );
        let mut delay = delays.iter().cycle().copied();
        let mut old = vec![Old::Running; from_scale as usize];
        // Steps until each new task is healthy, once wanted.
        let mut new: Vec<Option<u32>> = vec![None; to_scale as usize];
        let mut wanted = Wanted { from: from_scale, to: 0 };
        let limit = (from_scale + to_scale + 2) * 8;
        let mut steps = 0;
        loop {
            let observed = Observed {
                from_running: (0..wanted.from as usize).map(|i| old[i] == Old::Running).collect(),
                from_present: old.iter().filter(|o| **o != Old::Gone).count() as u32,
                to_healthy: new[..wanted.to as usize].iter().filter(|n| **n == Some(0)).count() as u32,
            };
            if wanted == (Wanted { from: 0, to: to_scale }) && observed.to_healthy == to_scale {
                break;
            }
            let step = next(from_scale, to_scale, &params, wanted, &observed);
            prop_assert!(step.from <= wanted.from && step.to >= wanted.to, "went back: {wanted:?} to {step:?}");
            prop_assert!(step.to <= to_scale);
            // Carry the step out: unwanted old tasks start stopping.
            for task in old.iter_mut().skip(step.from as usize) {
                if *task == Old::Running {
                    *task = Old::Stopping(delay.next().unwrap_or(0));
                }
            }
            for task in new.iter_mut().take(step.to as usize) {
                if task.is_none() {
                    *task = Some(delay.next().unwrap_or(0) + 1);
                }
            }
            wanted = step;
            let present = old.iter().filter(|o| **o != Old::Gone).count() as u32;
            prop_assert!(present + wanted.to <= top, "{present} old and {} new exceed {top}", wanted.to);
            let running_old = old.iter().filter(|o| **o == Old::Running).count() as u32;
            let healthy = new.iter().filter(|n| **n == Some(0)).count() as u32;
            prop_assert!(running_old + healthy >= bottom, "{running_old} old running and {healthy} new healthy, below {bottom}");
            // Time passes.
            for task in old.iter_mut() {
                *task = match *task {
                    Old::Stopping(0) => Old::Gone,
                    Old::Stopping(n) => Old::Stopping(n - 1),
                    other => other,
                };
            }
            for task in new.iter_mut().flatten() {
                *task = task.saturating_sub(1);
            }
            steps += 1;
            prop_assert!(steps < limit, "no end after {steps} steps at {wanted:?}");
        }
    }

    /// Whatever the agents report (old tasks down, instances lingering), a
    /// step itself never takes availability below the floor, nor what
    /// exists above the ceiling, when they held before.
    #[test]
    fn a_step_never_breaks_a_bound_that_held(
        from_scale in 0u32..12,
        to_scale in 1u32..12,
        max_surge in 0u32..4,
        max_unavailable in 0u32..4,
        from_wanted in 0u32..12,
        to_wanted in 0u32..12,
        running in proptest::collection::vec(any::<bool>(), 12),
        lingering in 0u32..4,
        healthy in 0u32..12,
    ) {
        prop_assume!(max_surge + max_unavailable > 0);
        let params = params(max_surge, max_unavailable);
        let wanted = Wanted { from: from_wanted.min(from_scale), to: to_wanted.min(to_scale) };
        let observed = Observed {
            from_running: running[..wanted.from as usize].to_vec(),
            from_present: wanted.from + lingering.min(from_scale - wanted.from),
            to_healthy: healthy.min(wanted.to),
        };
        let (top, bottom) = (
            ceiling(from_scale, to_scale, &params),
            floor(from_scale, to_scale, &params),
        );
        let step = next(from_scale, to_scale, &params, wanted, &observed);
        let before = observed.available();
        let after = observed.from_running[..step.from as usize].iter().filter(|r| **r).count() as u32
            + observed.to_healthy;
        prop_assert!(after >= bottom.min(before), "available {before} → {after}, floor {bottom}");
        if observed.from_present + wanted.to <= top {
            prop_assert!(observed.from_present.max(step.from) + step.to <= top);
        }
    }
}

#[test]
fn a_surge_of_one_replaces_one_task_at_a_time_healthy_first() {
    let params = params(1, 0);
    let start = Wanted { from: 3, to: 0 };
    let all_running = Observed {
        from_running: vec![true; 3],
        from_present: 3,
        to_healthy: 0,
    };
    assert_eq!(
        next(3, 3, &params, start, &all_running),
        Wanted { from: 3, to: 1 }
    );
    // The new task runs but is not healthy yet: nothing changes.
    let step = Wanted { from: 3, to: 1 };
    assert_eq!(next(3, 3, &params, step, &all_running), step);
    let one_healthy = Observed {
        to_healthy: 1,
        ..all_running
    };
    assert_eq!(
        next(3, 3, &params, step, &one_healthy),
        Wanted { from: 2, to: 1 }
    );
}

#[test]
fn without_room_to_surge_max_unavailable_gives_up_an_old_task_first() {
    let params = params(0, 1);
    let observed = Observed {
        from_running: vec![true; 3],
        from_present: 3,
        to_healthy: 0,
    };
    let step = next(3, 3, &params, Wanted { from: 3, to: 0 }, &observed);
    assert_eq!(step, Wanted { from: 2, to: 0 });
    // Once the old instance is gone, its replacement is wanted.
    let gone = Observed {
        from_running: vec![true; 2],
        from_present: 2,
        to_healthy: 0,
    };
    assert_eq!(next(3, 3, &params, step, &gone), Wanted { from: 2, to: 1 });
}
