//! The rollouts the status page shows: every running one (up to a bound)
//! and the latest finished ones, each in the rollout API's own view
//! ([`RolloutJson::of`]), so that the page and `GET /api/v0/rollouts` never
//! tell two stories of one rollout.

use std::collections::VecDeque;

use harpoon_core::Scheduler;
use harpoon_core::rollout::RolloutStatus;

use crate::daemon::rollouts_api::RolloutJson;

/// Running rollouts shown: at most one per job pair, but the page stays a
/// page whatever the registry holds.
pub const RUNNING_ROLLOUTS_SHOWN: usize = 100;
/// Finished rollouts shown, newest first.
pub const FINISHED_ROLLOUTS_SHOWN: usize = 10;

/// The page's rollouts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutsShown {
    /// Running rollouts, oldest first (by number), at most
    /// [`RUNNING_ROLLOUTS_SHOWN`].
    pub running: Vec<RolloutJson>,
    /// How many run, shown or not.
    pub running_total: usize,
    /// The latest finished rollouts, newest first, at most
    /// [`FINISHED_ROLLOUTS_SHOWN`].
    pub finished: Vec<RolloutJson>,
}

impl RolloutsShown {
    /// Reads the registry's rollouts: O(rollouts) to walk them, and the
    /// API's view made only of those shown.
    pub fn collect(scheduler: &Scheduler) -> RolloutsShown {
        let mut shown = RolloutsShown::default();
        let mut finished = VecDeque::with_capacity(FINISHED_ROLLOUTS_SHOWN + 1);
        for view in scheduler.rollouts() {
            if view.rollout.status == RolloutStatus::Running {
                shown.running_total += 1;
                if shown.running.len() < RUNNING_ROLLOUTS_SHOWN {
                    shown.running.push(RolloutJson::of(&view));
                }
            } else {
                // Rollouts come by number, so the last ones kept are the
                // latest.
                finished.push_back(view);
                if finished.len() > FINISHED_ROLLOUTS_SHOWN {
                    finished.pop_front();
                }
            }
        }
        shown.finished = finished.iter().rev().map(RolloutJson::of).collect();
        shown
    }
}
