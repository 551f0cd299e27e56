//! What the daemon's tasks send to the task that owns the scheduler core.

use std::collections::BTreeMap;
use std::sync::Arc;

use harpoon_core::Jobs;
use harpoon_core::wire::{JobConfig, JobHash, StateEvent};
use harpoon_core::{ChangePlan, Input, JobExplanation, PlanChange, Reply, UnscheduleTarget};
use tokio::sync::{mpsc, oneshot};

/// A message for the core task.
#[derive(Debug)]
pub enum CoreMessage {
    /// An input from a worker (command result, registry write, discovery,
    /// an agent's stream: the core itself ignores stale stream sessions).
    Input(Input),
    /// A command's answer for the core, with what failed, if it did, for
    /// the operator log.
    CommandAnswered {
        /// The [`Input::CommandResult`].
        input: Input,
        /// `action container: error`, if the command failed.
        failure: Option<String>,
    },
    /// A user's schedule request.
    Schedule {
        /// The decoded job.
        job: JobConfig,
        /// Check-and-set: `?index=N`, validated where the request entered.
        index: Option<u64>,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A user's unschedule request.
    Unschedule {
        /// Which job.
        target: UnscheduleTarget,
        /// Check-and-set: `?index=N`, validated where the request entered.
        index: Option<u64>,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A user's migrate request (a rollout).
    Migrate {
        /// The decoded request.
        migrate: super::rollouts_api::Migrate,
        /// Check-and-set (`?index=N`).
        index: Option<u64>,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A user's abort of a rollout.
    AbortRollout {
        /// Which rollout.
        rollout: u64,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A user's drain (`drain: true`) or undrain of an agent.
    Drain {
        /// Which agent.
        agent: harpoon_core::AgentId,
        /// Drain or end the drain.
        drain: bool,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// A read-only question.
    Query(Query),
    /// Stop: finish the registry write under way and end.
    Shutdown,
}

/// Read-only questions the HTTP API asks the core task.
#[derive(Debug)]
pub enum Query {
    /// Desired state.
    Registry(oneshot::Sender<Arc<Jobs>>),
    /// Actual state as the scheduler knows it, by agent URL.
    Proxy(oneshot::Sender<BTreeMap<String, StateEvent>>),
    /// Counters and gauges.
    Metrics(oneshot::Sender<MetricsSnapshot>),
    /// What a change would do (`POST /api/v0/plan`), or the answer the
    /// change itself would get.
    Plan(Box<PlanChange>, oneshot::Sender<Result<ChangePlan, Reply>>),
    /// Where a job's tasks are and why (`GET /api/v0/why/{hash}`), if the
    /// registry holds it.
    Why(JobHash, oneshot::Sender<Option<JobExplanation>>),
    /// What one page of the status page shows.
    Status(
        super::status_page::PageRequest,
        oneshot::Sender<super::status_page::StatusSnapshot>,
    ),
    /// Every rollout.
    Rollouts(oneshot::Sender<Vec<super::rollouts_api::RolloutJson>>),
    /// Every drained agent and what it still holds.
    Drains(oneshot::Sender<Vec<super::rollouts_api::DrainJson>>),
}

/// The core's counters and the gauges it keeps.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    /// The core's counters.
    pub counters: harpoon_core::Metrics,
    /// Agents whose stream is open and synced.
    pub agents_connected: u64,
    /// Agents discovery lists.
    pub agents_known: u64,
    /// Agents placement avoids after failed or unconfirmed commands.
    pub agents_avoided: u64,
    /// Tasks the registry asks for.
    pub tasks_desired: u64,
    /// Instances reported `running`.
    pub tasks_running: u64,
    /// Instances with a command of ours pending.
    pub tasks_pending: u64,
    /// Tasks no agent could take at the last reconcile.
    pub tasks_unplaced: u64,
    /// The same by the constraint that binds them, every label of a
    /// bounded set.
    pub unplaced_by_reason: Vec<(&'static str, u64)>,
    /// Rollouts running.
    pub rollouts_running: u64,
    /// Agents being drained.
    pub agents_draining: u64,
}

/// A cloneable handle to the core task.
#[derive(Clone, Debug)]
pub struct CoreHandle {
    pub(crate) sender: mpsc::Sender<CoreMessage>,
}

/// The core task is gone (the daemon is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the scheduler is shutting down")]
pub struct CoreGone;

impl CoreHandle {
    /// Sends a request and waits for the reply.
    pub async fn request(
        &self,
        make: impl FnOnce(oneshot::Sender<Reply>) -> CoreMessage,
    ) -> Result<Reply, CoreGone> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(make(reply)).await.map_err(|_| CoreGone)?;
        answer.await.map_err(|_| CoreGone)
    }

    /// Asks a question and waits for the answer.
    pub async fn query<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Query,
    ) -> Result<T, CoreGone> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(CoreMessage::Query(make(reply)))
            .await
            .map_err(|_| CoreGone)?;
        answer.await.map_err(|_| CoreGone)
    }
}
