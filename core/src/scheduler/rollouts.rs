//! Rollouts advanced: the durable rollouts looked at every
//! [`ROLLOUT_CHECK`] while one runs, each stepped with
//! [`crate::rollout::step::next`] from what the agents report, and ended
//! when it succeeds or stops making progress.
//!
//! What the core keeps in memory only (lost with a restart, which then
//! waits as if the rollout had just resumed): since when each new task has
//! run without a restart, and when the rollout last made progress. The
//! durable record (its counts and status) is never ahead of what the
//! registry wrote: a step is taken only once the previous one is durable.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Scheduler, TimerReason, TraceLevel};
use crate::registry::Jobs;
use crate::rollout::step::{self, Observed};
use crate::rollout::{Rollout, RolloutId, RolloutStatus, Wanted};
use crate::time::{Duration, Instant};
use crate::wire::{ContainerStatus, JobHash};

/// How often running rollouts are looked at: the precision of
/// `min_healthy` and `progress_deadline`.
pub const ROLLOUT_CHECK: Duration = Duration::from_secs(1);

/// What the core knows of a running rollout beyond its durable record.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct LiveRollout {
    /// For each new task seen running: since when, and its restart count
    /// then (a changed count is a restart, even between two looks).
    #[serde(with = "crate::map_as_pairs")]
    running_since: BTreeMap<u32, (Instant, u64)>,
    /// When it last took a step or saw another new task healthy.
    last_progress: Option<Instant>,
    /// The most new tasks seen healthy at once.
    best_healthy: u32,
    /// What the last look saw.
    pub(crate) from_running: u32,
    pub(crate) to_running: u32,
    pub(crate) to_healthy: u32,
    /// Why it did not step at the last look.
    pub(crate) waiting: Option<String>,
}

/// A rollout as [`Scheduler::rollouts`] shows it: the accepted record and,
/// while it runs, what the core last saw of its tasks.
#[derive(Clone, Debug)]
pub struct RolloutView<'a> {
    /// The record (as accepted: a step may still be being written).
    pub rollout: &'a Rollout,
    /// Old tasks running at the last look.
    pub from_running: u32,
    /// New tasks running at the last look.
    pub to_running: u32,
    /// New tasks healthy at the last look.
    pub to_healthy: u32,
    /// Why it is waiting, while it runs and cannot step.
    pub waiting: Option<&'a str>,
}

impl Scheduler {
    /// Every rollout the registry holds, finished ones included, by number.
    pub fn rollouts(&self) -> impl Iterator<Item = RolloutView<'_>> {
        self.registry
            .rollouts()
            .values()
            .map(|rollout| self.rollout_view(rollout))
    }

    /// The agents being drained (as accepted), in id order.
    pub fn drains(&self) -> impl Iterator<Item = &crate::ids::AgentId> {
        self.registry.drains().iter()
    }

    /// One rollout, if the registry holds it.
    pub fn rollout(&self, id: RolloutId) -> Option<RolloutView<'_>> {
        self.registry
            .rollouts()
            .get(&id)
            .map(|rollout| self.rollout_view(rollout))
    }

    fn rollout_view<'a>(&'a self, rollout: &'a Rollout) -> RolloutView<'a> {
        let live = self
            .rollout_live
            .get(&rollout.id)
            .filter(|_| rollout.status == RolloutStatus::Running);
        RolloutView {
            rollout,
            from_running: live.map_or(0, |live| live.from_running),
            to_running: live.map_or(0, |live| live.to_running),
            to_healthy: live.map_or(0, |live| live.to_healthy),
            waiting: live.and_then(|live| live.waiting.as_deref()),
        }
    }

    /// The jobs the transformer places: the durable registry, with each job
    /// a rollout holds at that rollout's count instead of its scale.
    pub(super) fn placed_jobs(&self) -> Jobs {
        let mut jobs = (**self.registry.durable()).clone();
        for rollout in self.registry.durable_rollouts().values() {
            for hash in [&rollout.from, &rollout.to] {
                if let (Some(count), Some(job)) = (rollout.wanted_of(hash), jobs.get(hash))
                    && job.task_count() != count
                {
                    let mut held = (**job).clone();
                    held.scale = i64::from(count);
                    jobs.insert(hash.clone(), Arc::new(held));
                }
            }
        }
        jobs
    }

    /// Looks at every durable running rollout, steps or ends it, and looks
    /// again after [`ROLLOUT_CHECK`] while any runs.
    pub(super) fn advance_rollouts(&mut self) {
        let durable = Arc::clone(self.registry.durable_rollouts());
        let mut running = false;
        for rollout in durable.values() {
            if rollout.status != RolloutStatus::Running {
                continue;
            }
            running = true;
            // Until every agent known at start has synced or been
            // abandoned, the core's view of the tasks is incomplete (just
            // restarted, it has heard from nobody): a step on it could stop
            // old tasks that run.
            if !self.placement_gate_open {
                continue;
            }
            // A step or an end accepted but not yet durable: wait for it.
            if self
                .registry
                .rollouts()
                .get(&rollout.id)
                .is_none_or(|accepted| !Arc::ptr_eq(accepted, rollout))
            {
                continue;
            }
            self.advance_rollout(rollout);
        }
        self.rollout_live.retain(|id, _| {
            durable
                .get(id)
                .is_some_and(|r| r.status == RolloutStatus::Running)
        });
        if running {
            self.timers
                .set(self.now + ROLLOUT_CHECK, TimerReason::RolloutCheck);
        }
    }

    fn advance_rollout(&mut self, rollout: &Rollout) {
        let now = self.now;
        let observed = self.observe(rollout);
        let live = self.rollout_live.entry(rollout.id).or_default();
        let last_progress = *live.last_progress.get_or_insert(now);
        let subject = format!("rollout {}", rollout.id);
        let target = Wanted {
            from: 0,
            to: rollout.to_scale,
        };
        if rollout.wanted == target && observed.to_healthy >= rollout.to_scale {
            live.waiting = None;
            self.metrics.rollouts_succeeded += 1;
            self.registry.finish_rollout(
                rollout.id,
                RolloutStatus::Succeeded,
                format!("{} tasks of {} healthy", rollout.to_scale, rollout.to),
            );
            self.notice(TraceLevel::Change, &subject, || {
                format!("succeeded: {} replaced by {}", rollout.from, rollout.to)
            });
            return;
        }
        let next = step::next(
            rollout.from_scale,
            rollout.to_scale,
            &rollout.params,
            rollout.wanted,
            &observed,
        );
        if next != rollout.wanted {
            live.last_progress = Some(now);
            live.best_healthy = live.best_healthy.max(observed.to_healthy);
            live.waiting = None;
            self.registry.step_rollout(rollout.id, next);
            self.notice(TraceLevel::Change, &subject, || {
                format!(
                    "step {}: {} tasks of {} and {} of {} wanted ({} new healthy)",
                    rollout.step + 1,
                    next.from,
                    rollout.from,
                    next.to,
                    rollout.to,
                    observed.to_healthy
                )
            });
            return;
        }
        if observed.to_healthy > live.best_healthy {
            live.best_healthy = observed.to_healthy;
            live.last_progress = Some(now);
        } else if now.saturating_since(last_progress) >= rollout.params.progress_deadline() {
            let waiting = self.waiting_reason(rollout, &observed);
            let why = format!(
                "no progress for {}: {waiting}",
                rollout.params.progress_deadline()
            );
            let status = if rollout.params.auto_revert {
                self.metrics.rollouts_reverted += 1;
                RolloutStatus::Reverted
            } else {
                self.metrics.rollouts_failed += 1;
                RolloutStatus::Failed
            };
            self.notice(TraceLevel::Change, &subject, || {
                format!("{}: {why}", status.as_str())
            });
            self.registry.finish_rollout(rollout.id, status, why);
            return;
        }
        let waiting = self.waiting_reason(rollout, &observed);
        let changed = self
            .rollout_live
            .get(&rollout.id)
            .is_none_or(|live| live.waiting.as_deref() != Some(waiting.as_str()));
        if changed {
            self.trace(&subject, || format!("waits: {waiting}"));
        }
        if let Some(live) = self.rollout_live.get_mut(&rollout.id) {
            live.waiting = Some(waiting);
        }
    }

    /// What the agents report of a rollout's tasks, and the live record of
    /// its new tasks' health brought up to date.
    fn observe(&mut self, rollout: &Rollout) -> Observed {
        let now = self.now;
        let (from_running, from_present) = self.observe_old(rollout);
        let statuses: Vec<(bool, u64)> = (0..rollout.wanted.to)
            .map(|index| self.task_status(&rollout.to, index))
            .collect();
        let min_healthy = rollout.params.min_healthy();
        let live = self.rollout_live.entry(rollout.id).or_default();
        let mut to_healthy = 0;
        for (index, (running, restarts)) in statuses.iter().copied().enumerate() {
            let index = index as u32;
            if !running {
                live.running_since.remove(&index);
                continue;
            }
            let since = live.running_since.entry(index).or_insert((now, restarts));
            if since.1 != restarts {
                *since = (now, restarts);
            }
            if now.saturating_since(since.0) >= min_healthy {
                to_healthy += 1;
            }
        }
        live.running_since
            .retain(|index, _| *index < rollout.wanted.to);
        live.from_running = from_running.iter().filter(|&&r| r).count() as u32;
        live.to_running = statuses.iter().filter(|(r, _)| *r).count() as u32;
        live.to_healthy = to_healthy;
        Observed {
            from_running,
            from_present,
            to_healthy,
        }
    }

    /// What the agents report of a rollout's old job: whether each wanted
    /// old task runs, and how many old instances are present. A plan of a
    /// migrate observes the same way.
    pub(super) fn observe_old(&self, rollout: &Rollout) -> (Vec<bool>, u32) {
        let from_running = (0..rollout.wanted.from)
            .map(|index| self.task_status(&rollout.from, index).0)
            .collect();
        let from_present = (0..rollout.from_scale)
            .map(|index| self.agents.locations().of_task(&rollout.from, index).len() as u32)
            .sum();
        (from_running, from_present)
    }

    /// Whether task `index` of `job` runs on some agent, and its restart
    /// count there.
    fn task_status(&self, job: &JobHash, index: u32) -> (bool, u64) {
        let id = job.container_id(index);
        let table = self.agents.table();
        self.agents
            .locations()
            .of_task(job, index)
            .iter()
            .filter_map(|&number| table.at(number)?.containers().get(&id))
            .find(|record| record.status == Some(ContainerStatus::Running))
            .map_or((false, 0), |record| (true, record.process_state().restarts))
    }

    /// Why a rollout that could not step waits, for a person.
    pub(super) fn waiting_reason(&self, rollout: &Rollout, observed: &Observed) -> String {
        let wanted = rollout.wanted;
        for index in 0..wanted.to {
            if let Some(reason) = self.unplaced_reason(&rollout.to.container_id(index)) {
                return format!("new task {index} cannot be placed: {}", reason.reason);
            }
        }
        if observed.to_healthy < wanted.to {
            return format!(
                "waiting for {} of {} new tasks to run for {} without a restart",
                wanted.to - observed.to_healthy,
                wanted.to,
                rollout.params.min_healthy()
            );
        }
        if wanted.to < rollout.to_scale {
            let ceiling = step::ceiling(rollout.from_scale, rollout.to_scale, &rollout.params);
            return format!(
                "no room to surge: {} old instances and {} new tasks reach the ceiling of {ceiling} (max_surge {}), and max_unavailable {} lets no more old tasks stop first",
                observed.from_present,
                wanted.to,
                rollout.params.max_surge,
                rollout.params.max_unavailable
            );
        }
        format!(
            "waiting for {} old instances to stop",
            observed.from_present
        )
    }

    /// A registry write made rollouts durable: counts the new ones, adds to
    /// `changed` the jobs whose placed count changed from `placed_before`,
    /// and looks at the rollouts at once.
    pub(super) fn rollouts_written(
        &mut self,
        before: &crate::registry::Rollouts,
        placed_before: &Jobs,
        changed: &mut std::collections::BTreeSet<JobHash>,
    ) {
        let after = Arc::clone(self.registry.durable_rollouts());
        for rollout in after.values() {
            if before
                .get(&rollout.id)
                .is_some_and(|old| Arc::ptr_eq(old, rollout))
            {
                continue;
            }
            if !before.contains_key(&rollout.id) {
                self.metrics.rollouts_started += 1;
                self.notice(
                    TraceLevel::Change,
                    &format!("rollout {}", rollout.id),
                    || {
                        format!(
                            "started: {} ({} tasks) to {} ({} tasks)",
                            rollout.from, rollout.from_scale, rollout.to, rollout.to_scale
                        )
                    },
                );
            }
            for hash in [&rollout.from, &rollout.to] {
                let count = |jobs: &Jobs| jobs.get(hash).map(|job| job.task_count());
                if count(placed_before) != count(&self.desired) {
                    changed.insert(hash.clone());
                }
            }
        }
        self.arm_rollout_check();
    }

    /// Looks at the rollouts now (in this input's timers) if one runs and
    /// no look is due.
    pub(super) fn arm_rollout_check(&mut self) {
        let running = self
            .registry
            .durable_rollouts()
            .values()
            .any(|rollout| rollout.status == RolloutStatus::Running);
        if running
            || !self.registry.durable_drains().is_empty()
            || !self.moving.is_empty()
            || !self.drained_applied.is_empty()
        {
            self.timers.set(self.now, TimerReason::RolloutCheck);
        }
    }

    /// Rollouts counted by status and agents drained, for the gauges.
    pub(super) fn rollout_gauges(&self) -> (u64, u64) {
        let running = self
            .registry
            .durable_rollouts()
            .values()
            .filter(|rollout| rollout.status == RolloutStatus::Running)
            .count() as u64;
        (running, self.registry.durable_drains().len() as u64)
    }
}
