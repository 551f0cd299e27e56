//! Rollouts: a server-side migration from one job to another, task by task,
//! within bounds on surge and unavailability, gated on the new tasks'
//! health, and reverted when it stops making progress.
//!
//! A [`Rollout`] is a durable record of the registry, written with the
//! jobs it touches (see the persistence contract in `registry.rs`). Its
//! [`Wanted`] counts say how many tasks of each job the transformer keeps:
//! while a rollout is active its two jobs are placed at those counts, not
//! at their scales. The scheduler advances the counts with [`step::next`],
//! a pure function of the durable record and what the agents report, so a
//! restarted scheduler resumes from the last durable step.
//!
//! Drains are the same machinery's other user; they live in the registry
//! too, as a set of agents (see `scheduler/drain.rs`).

pub mod step;

use serde::{Deserialize, Serialize};

use crate::time::Duration;
use crate::wire::{JobConfig, JobHash};

/// A rollout's number: the registry version of the write that created it,
/// so numbers increase across restarts (the store keeps the sequence).
pub type RolloutId = u64;

/// At most this many finished rollouts are kept for `GET /rollouts`; the
/// oldest finished one goes when another finishes beyond it.
pub const MAX_FINISHED_ROLLOUTS: usize = 64;

/// The longest `min_healthy` and `progress_deadline` accepted.
pub const MAX_ROLLOUT_DURATION: Duration = Duration::from_secs(24 * 3600);

/// How a rollout proceeds, as the user asked (the API's defaults fill in
/// what was not given).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutParams {
    /// At most this many tasks above the larger scale exist at once.
    pub max_surge: u32,
    /// At most this many tasks below the smaller scale are not running.
    pub max_unavailable: u32,
    /// A new task is healthy once it has run this long without a restart
    /// (milliseconds).
    pub min_healthy_ms: u64,
    /// The rollout fails when no new task became healthy and no step was
    /// taken for this long (milliseconds).
    pub progress_deadline_ms: u64,
    /// Whether a failed rollout brings the old job back and removes the new.
    pub auto_revert: bool,
}

impl Default for RolloutParams {
    /// The API's defaults: one task of surge, none unavailable, healthy
    /// after 10 s, failing after 5 min without progress, reverted then.
    fn default() -> Self {
        RolloutParams {
            max_surge: 1,
            max_unavailable: 0,
            min_healthy_ms: 10_000,
            progress_deadline_ms: 300_000,
            auto_revert: true,
        }
    }
}

impl RolloutParams {
    /// `min_healthy` as a duration.
    pub fn min_healthy(&self) -> Duration {
        Duration::from_millis(self.min_healthy_ms)
    }

    /// `progress_deadline` as a duration.
    pub fn progress_deadline(&self) -> Duration {
        Duration::from_millis(self.progress_deadline_ms)
    }

    /// Every problem with these parameters, for a 400; empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let max_tasks = crate::wire::JobConfig::MAX_SCALE as u32;
        if self.max_surge == 0 && self.max_unavailable == 0 {
            problems.push(
                "max_surge and max_unavailable are both 0: no task could ever be replaced"
                    .to_owned(),
            );
        }
        if self.max_surge > max_tasks {
            problems.push(format!("max_surge {} is above {max_tasks}", self.max_surge));
        }
        if self.max_unavailable > max_tasks {
            problems.push(format!(
                "max_unavailable {} is above {max_tasks}",
                self.max_unavailable
            ));
        }
        let longest = MAX_ROLLOUT_DURATION.as_millis();
        if self.min_healthy_ms > longest {
            problems.push(format!(
                "min_healthy {} is longer than {MAX_ROLLOUT_DURATION}",
                self.min_healthy()
            ));
        }
        if self.progress_deadline_ms > longest {
            problems.push(format!(
                "progress_deadline {} is longer than {MAX_ROLLOUT_DURATION}",
                self.progress_deadline()
            ));
        }
        if self.progress_deadline_ms <= self.min_healthy_ms {
            problems.push(format!(
                "progress_deadline {} must be longer than min_healthy {}: no new task could become healthy in time",
                self.progress_deadline(),
                self.min_healthy()
            ));
        }
        problems
    }
}

/// Where a rollout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutStatus {
    /// Replacing tasks.
    Running,
    /// The old job is unscheduled and the new one at scale.
    Succeeded,
    /// It failed and was reverted: the old job is back at its scale, the
    /// new one removed.
    Reverted,
    /// It failed without `auto_revert`: both jobs stay at the counts of the
    /// last step until the user aborts it (which reverts) or unschedules.
    Failed,
    /// The user aborted it: reverted like a failure.
    Aborted,
}

impl RolloutStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Running => "running",
            RolloutStatus::Succeeded => "succeeded",
            RolloutStatus::Reverted => "reverted",
            RolloutStatus::Failed => "failed",
            RolloutStatus::Aborted => "aborted",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<RolloutStatus> {
        [
            RolloutStatus::Running,
            RolloutStatus::Succeeded,
            RolloutStatus::Reverted,
            RolloutStatus::Failed,
            RolloutStatus::Aborted,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Whether the rollout still holds its jobs at its counts (running, or
    /// failed without revert): no other rollout may touch them, and the
    /// transformer places them at the rollout's counts.
    pub fn holds_jobs(self) -> bool {
        matches!(self, RolloutStatus::Running | RolloutStatus::Failed)
    }
}

/// How many tasks of each job a rollout wants now: tasks `0..from` of the
/// old job and `0..to` of the new one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wanted {
    /// Tasks of the old job kept.
    pub from: u32,
    /// Tasks of the new job placed.
    pub to: u32,
}

/// One rollout, as the registry persists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// Its number.
    pub id: RolloutId,
    /// The old job's hash.
    pub from: JobHash,
    /// The old job's name.
    pub from_job: String,
    /// The old job's scale as a task count.
    pub from_scale: u32,
    /// The new job's hash.
    pub to: JobHash,
    /// The new job's name.
    pub to_job: String,
    /// The new job's scale as a task count.
    pub to_scale: u32,
    /// How it proceeds.
    pub params: RolloutParams,
    /// Where it is.
    pub status: RolloutStatus,
    /// The tasks of each job it wants now.
    pub wanted: Wanted,
    /// Steps taken (each a durable change of `wanted`).
    pub step: u32,
    /// Why it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl Rollout {
    /// A rollout just accepted, numbered `id`, from the job `old` (hash
    /// `from`) to `to` (hash `to_hash`): running, at step 0, every old task
    /// wanted and no new one yet. The one place a rollout begins, so that
    /// a plan of a migrate steps from exactly what the migrate records.
    pub fn begin(
        id: RolloutId,
        from: &JobHash,
        old: &JobConfig,
        to_hash: &JobHash,
        to: &JobConfig,
        params: RolloutParams,
    ) -> Rollout {
        Rollout {
            id,
            from: from.clone(),
            from_job: old.container.job.clone(),
            from_scale: old.task_count(),
            to: to_hash.clone(),
            to_job: to.container.job.clone(),
            to_scale: to.task_count(),
            params,
            status: RolloutStatus::Running,
            wanted: Wanted {
                from: old.task_count(),
                to: 0,
            },
            step: 0,
            outcome: None,
        }
    }

    /// Whether it touches job `hash`.
    pub fn touches(&self, hash: &JobHash) -> bool {
        self.from == *hash || self.to == *hash
    }

    /// The task count the transformer keeps for `hash`, if this rollout
    /// holds that job.
    pub fn wanted_of(&self, hash: &JobHash) -> Option<u32> {
        if !self.status.holds_jobs() {
            return None;
        }
        if self.from == *hash {
            Some(self.wanted.from)
        } else if self.to == *hash {
            Some(self.wanted.to)
        } else {
            None
        }
    }
}
