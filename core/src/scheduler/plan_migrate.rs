//! The plan of a migrate: the rollout's first step, computed as the
//! scheduler would take it once the migrate is durable, changing nothing.
//!
//! The migrate is judged by the registry's own checks (the same function
//! answers the migrate), so a plan refuses exactly what the migrate
//! would. The first step is [`step::next`] on the rollout as the migrate
//! would record it (every old task wanted, no new one) and the old job's
//! tasks as the agents report them now (no new task exists yet, so none is
//! healthy). Its new tasks are placed by the placement a plan of a schedule
//! uses, at the step's count; its old tasks given up are the ones the
//! transformer then stops (the highest indices). With nothing else
//! happening in between, that is what the scheduler does, placement for
//! placement, for the deterministic algorithms (a test checks it).

use super::Scheduler;
use super::input::UnscheduleTarget;
use super::output::Reply;
use super::plan::{ChangePlan, refusal};
use crate::registry::validate_migrate;
use crate::rollout::step::{self, Observed};
use crate::rollout::{Rollout, RolloutParams, Wanted};
use crate::wire::{JobConfig, JobHash};

/// A migrate's first step, as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    /// The old job's hash.
    pub from: JobHash,
    /// The old job's name.
    pub from_job: String,
    /// The old job's scale as a task count.
    pub from_scale: u32,
    /// The new job's scale as a task count.
    pub to_scale: u32,
    /// The bounds, health and deadline the rollout would run with.
    pub params: RolloutParams,
    /// The most tasks that may exist at once (`max(F, T) + max_surge`).
    pub ceiling: u32,
    /// The fewest tasks that must stay available (`min(F, T) -
    /// max_unavailable`).
    pub floor: u32,
    /// Old tasks running now.
    pub from_running: u32,
    /// Old instances present now, in any status.
    pub from_present: u32,
    /// The counts the first step wants: old tasks `0..from` kept, new
    /// tasks `0..to` placed.
    pub wanted: Wanted,
    /// Why the first step changes nothing yet, when it does not.
    pub waiting: Option<String>,
}

impl Scheduler {
    /// The plan of a migrate from `from` to `to` (see the module doc).
    pub(super) fn plan_migrate(
        &self,
        from: UnscheduleTarget,
        to: JobConfig,
        params: RolloutParams,
    ) -> Result<ChangePlan, Reply> {
        let from = validate_migrate(&from, &to, &params).map_err(|msg| refusal(400, msg))?;
        let to_hash = to.hash();
        let old = self
            .registry
            .migrate_conflict(&from, &to_hash)
            .map_err(|(status, msg)| refusal(status, msg))?;
        // The rollout as the migrate would record it.
        let rollout = Rollout::begin(
            self.registry.index() + 1,
            &from,
            &old,
            &to_hash,
            &to,
            params,
        );
        let (from_running, from_present) = self.observe_old(&rollout);
        let observed = Observed {
            from_running,
            from_present,
            to_healthy: 0,
        };
        let wanted = step::next(
            rollout.from_scale,
            rollout.to_scale,
            &rollout.params,
            rollout.wanted,
            &observed,
        );
        let waiting = (wanted == rollout.wanted).then(|| self.waiting_reason(&rollout, &observed));
        let planned = PlannedStep {
            from: from.clone(),
            from_job: rollout.from_job.clone(),
            from_scale: rollout.from_scale,
            to_scale: rollout.to_scale,
            ceiling: step::ceiling(rollout.from_scale, rollout.to_scale, &rollout.params),
            floor: step::floor(rollout.from_scale, rollout.to_scale, &rollout.params),
            from_running: observed.from_running.iter().filter(|&&r| r).count() as u32,
            from_present,
            wanted,
            waiting,
            params: rollout.params.clone(),
        };
        Ok(ChangePlan {
            index: self.registry.durable_sequence(),
            job: to.container.job.clone(),
            tasks: self.planned_tasks(&to_hash, &to, wanted.to),
            removals: self.planned_removals(&from, wanted.from..rollout.from_scale),
            hash: to_hash,
            schedules: true,
            rollout: Some(planned),
        })
    }
}
