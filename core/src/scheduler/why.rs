//! `why`: where each task of a job is and what it waits for, with an
//! explanation, agent by agent, for the tasks that fit nowhere
//! (`GET /api/v0/why/{hash}`). Made only when asked: O(agents) for the
//! explanation, plus the job's tasks and their instances; the reconcile
//! keeps only its one-line reason per task.

use std::fmt;

use super::Scheduler;
use super::explain::explain;
use super::view::PendingCommand;
use crate::algorithm::{Demand, Explanation};
use crate::ids::AgentId;
use crate::time::Instant;
use crate::transformer::build_placement_cluster;
use crate::wire::{ContainerId, ContainerStatus, JobHash};

/// Every task of one job, and why it is where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobExplanation {
    /// The job's hash.
    pub hash: JobHash,
    /// The job's name.
    pub job: String,
    /// Whether its registry write is durable (placement acts only on
    /// durable jobs).
    pub durable: bool,
    /// The registry index now.
    pub index: u64,
    /// When this was made (the scheduler's clock).
    pub at: Instant,
    /// Each task, in task order.
    pub tasks: Vec<TaskExplanation>,
}

/// One task: its instances, or why it has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskExplanation {
    /// Its container ID.
    pub container: ContainerId,
    /// Its index in the job.
    pub index: u32,
    /// Every instance the scheduler knows of, in agent order.
    pub instances: Vec<InstanceState>,
    /// Creation failed this often in a row: no new placement before
    /// `until`.
    pub creation_backoff: Option<(u32, Instant)>,
    /// Why no agent could take it when placement last tried, explained
    /// against the agents as they are now (the reconcile retries it when
    /// capacity appears; `fit` counts the agents it would fit on now).
    pub unplaced: Option<Explanation>,
    /// The reconcile's one line for it (what it found when it tried).
    pub unplaced_reason: Option<String>,
    /// Whether placement has started (every agent known at start synced
    /// or abandoned).
    pub placement_started: bool,
    /// Whether its job is durable (see [`JobExplanation::durable`]).
    pub durable: bool,
}

/// One instance of a task, as the scheduler knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceState {
    /// The agent holding it.
    pub agent: AgentId,
    /// Its status as last reported; `None` while its create is
    /// unconfirmed.
    pub status: Option<ContainerStatus>,
    /// The command of ours it waits on.
    pub pending: Option<PendingCommand>,
    /// A failing command backs off: nothing more is sent before this.
    pub backoff_until: Option<Instant>,
    /// Whether the agent's stream is synced (an instance on an agent whose
    /// stream is down still counts until the abandon timeout).
    pub agent_synced: bool,
}

impl Scheduler {
    /// Where each task of job `hash` is and why, or `None` if the registry
    /// does not hold the job. Changes nothing.
    pub fn why(&self, hash: &JobHash) -> Option<JobExplanation> {
        let job = self.registry.jobs().get(hash)?;
        let durable = self.registry.durable().contains_key(hash);
        let agents = self.agents.table();
        let located = self.agents.locations().job(hash);
        let mut tasks = Vec::new();
        for index in 0..job.task_count() {
            let container = hash.container_id(index);
            let mut instances: Vec<InstanceState> = located
                .of_task(index)
                .iter()
                .filter_map(|&number| {
                    let agent = agents.at(number)?;
                    let record = agent.containers().get(&container)?;
                    Some(InstanceState {
                        agent: agent.id.clone(),
                        status: record.status,
                        pending: record.pending().map(|pending| PendingCommand {
                            action: pending.action.name(),
                            accepted: pending.phase == crate::agent::Phase::Accepted,
                        }),
                        backoff_until: record
                            .backoff()
                            .map(|b| b.until)
                            .filter(|until| *until > self.now),
                        agent_synced: agent.connection.is_synced(),
                    })
                })
                .collect();
            instances.sort_by(|a, b| a.agent.cmp(&b.agent));
            let creation_backoff = self
                .transformer
                .task_backoff
                .get(&container)
                .filter(|backoff| backoff.until > self.now)
                .map(|backoff| (backoff.failures, backoff.until));
            let unplaced_reason = self
                .transformer
                .unplaced
                .reason(&container)
                .map(|reason| reason.to_string());
            tasks.push(TaskExplanation {
                container,
                index,
                instances,
                creation_backoff,
                unplaced: None,
                unplaced_reason,
                placement_started: self.placement_gate_open,
                durable,
            });
        }
        // One explanation serves every unplaced task: a job's tasks share
        // one demand. Built only if one is unplaced.
        if tasks.iter().any(|task| task.unplaced_reason.is_some()) {
            let demand = Demand::of(hash, &job.container);
            let (cluster, _) = build_placement_cluster(agents);
            let explanation = explain(agents, &cluster, &demand);
            for task in tasks.iter_mut().filter(|t| t.unplaced_reason.is_some()) {
                task.unplaced = Some(explanation.clone());
            }
        }
        Some(JobExplanation {
            hash: hash.clone(),
            job: job.container.job.clone(),
            durable,
            index: self.registry.index(),
            at: self.now,
            tasks,
        })
    }
}

impl fmt::Display for TaskExplanation {
    /// The task's state in a line, without its index: tasks in the same
    /// state read the same, so a listing can group them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.instances.is_empty() {
            let parts: Vec<String> = self.instances.iter().map(|i| i.to_string()).collect();
            if self.instances.len() > 1 {
                write!(f, "{} instances (duplicates are removed): ", parts.len())?;
            }
            return f.write_str(&parts.join("; "));
        }
        if let Some(explanation) = &self.unplaced {
            return write!(f, "unplaced: {explanation}");
        }
        if let Some((failures, until)) = self.creation_backoff {
            let times = if failures == 1 { "time" } else { "times" };
            return write!(
                f,
                "creation failed {failures} {times} in a row; placed again at {until}"
            );
        }
        if !self.durable {
            return f.write_str("waiting for its job's registry write");
        }
        if !self.placement_started {
            return f.write_str(
                "waiting: placement starts once every agent known at start has synced or been abandoned",
            );
        }
        f.write_str("missing: queued for placement")
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status} on {}", self.agent)?,
            None => write!(f, "being created on {}", self.agent)?,
        }
        if let Some(pending) = self.pending {
            let state = if pending.accepted {
                "accepted, unconfirmed"
            } else {
                "unanswered"
            };
            write!(f, ", {} {state}", pending.action)?;
        }
        if let Some(until) = self.backoff_until {
            write!(f, ", backing off until {until}")?;
        }
        if !self.agent_synced {
            f.write_str(" (agent not connected)")?;
        }
        Ok(())
    }
}
