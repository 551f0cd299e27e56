//! A rollout's next step: a pure function of its scales, its bounds, the
//! counts it wants now and what the agents report, so that the scheduler,
//! a plan (`POST /plan`) and the property test all compute the same step.
//!
//! Bounds, with `F` and `T` the old and new scales:
//! - **surge**: at most `max(F, T) + max_surge` tasks exist, counting every
//!   instance of the old job still present (being stopped included) and
//!   every new task wanted (placed or not);
//! - **unavailability**: an old task is given up only while the running old
//!   tasks and the healthy new ones stay at least `min(F, T) -
//!   max_unavailable`. A new task that runs but is not yet healthy does
//!   not count, so the old one it replaces is stopped only after it is.
//!
//! The transformer keeps tasks `0..wanted`, so giving up old tasks removes
//! the highest indices: the step knows which of those run.

use super::{RolloutParams, Wanted};

/// What the agents report about a rollout's tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// For each wanted old task (index `0..wanted.from`), whether it runs.
    pub from_running: Vec<bool>,
    /// Instances of the old job present, in any status and at any index
    /// (those being stopped included).
    pub from_present: u32,
    /// Wanted new tasks that are healthy.
    pub to_healthy: u32,
}

impl Observed {
    /// The tasks that count as available: old ones running, new ones
    /// healthy.
    pub fn available(&self) -> u32 {
        self.from_running.iter().filter(|&&running| running).count() as u32 + self.to_healthy
    }
}

/// The most tasks that may exist at once.
pub fn ceiling(from_scale: u32, to_scale: u32, params: &RolloutParams) -> u32 {
    from_scale.max(to_scale).saturating_add(params.max_surge)
}

/// The fewest tasks that must be available, as far as the rollout's own
/// decisions go.
pub fn floor(from_scale: u32, to_scale: u32, params: &RolloutParams) -> u32 {
    from_scale
        .min(to_scale)
        .saturating_sub(params.max_unavailable)
}

/// The counts to want next. Never fewer new tasks nor more old ones than
/// before: a rollout only moves forward.
pub fn next(
    from_scale: u32,
    to_scale: u32,
    params: &RolloutParams,
    wanted: Wanted,
    observed: &Observed,
) -> Wanted {
    let (ceiling, floor) = (
        ceiling(from_scale, to_scale, params),
        floor(from_scale, to_scale, params),
    );
    // Give up old tasks from the top while enough stay available.
    let mut from = wanted.from.min(observed.from_running.len() as u32);
    let mut available = observed.available();
    while from > 0 {
        let running = observed.from_running[from as usize - 1];
        if running {
            if available <= floor {
                break;
            }
            available -= 1;
        }
        from -= 1;
    }
    // Add new tasks while what exists stays within the ceiling.
    let existing_old = from.max(observed.from_present);
    let room = ceiling.saturating_sub(existing_old);
    let to = wanted.to.max(room.min(to_scale));
    Wanted { from, to }
}

#[cfg(test)]
mod tests;
