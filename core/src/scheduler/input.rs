//! Everything that can happen to the scheduler.

use std::collections::BTreeSet;

use crate::ids::{AgentId, CommandId, RequestId};
use crate::rollout::{Rollout, RolloutId, RolloutParams};
use crate::wire::{JobConfig, JobHash, StateEvent};

/// One input to [`crate::Scheduler::handle`]. The driver passes the time at
/// which it happened alongside.
// Inputs are moved into the scheduler one at a time, never stored in bulk,
// so the size of the job-carrying variants costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Input {
    /// The persisted registry, read at start. Until this arrives the
    /// scheduler answers no request and sends no command. Jobs that fail
    /// validation are kept (they were accepted once) but traced.
    RegistryLoaded {
        /// Every job in the persisted registry.
        jobs: Vec<JobConfig>,
        /// Every rollout it holds, finished ones included.
        rollouts: Vec<Rollout>,
        /// Every agent it holds as drained.
        drains: Vec<AgentId>,
        /// The sequence number of the store's last durable write (0 for a
        /// new store); the next write is numbered above it.
        sequence: u64,
    },
    /// A user asks to schedule a job (`PUT /schedule`).
    Schedule {
        /// Echoed in the reply.
        request: RequestId,
        /// The job as decoded; the scheduler validates it.
        job: JobConfig,
        /// Check-and-set (`?index=N`): schedule only if the registry is
        /// still at this index (see [`crate::Scheduler::registry_index`]),
        /// else 409 with the current index.
        index: Option<u64>,
    },
    /// A user asks to unschedule a job (`PUT /unschedule`).
    Unschedule {
        /// Echoed in the reply.
        request: RequestId,
        /// Which job.
        target: UnscheduleTarget,
        /// Check-and-set, as for [`Input::Schedule`].
        index: Option<u64>,
    },
    /// A user asks to roll out from one job to another (`POST
    /// /api/v0/migrate`): `to` is scheduled and replaces `from` task by
    /// task (see [`crate::rollout`]). Answered once the rollout is durable.
    Migrate {
        /// Echoed in the reply.
        request: RequestId,
        /// The old job, by config or hash.
        from: UnscheduleTarget,
        /// The new job as decoded; the scheduler validates it.
        to: JobConfig,
        /// Bounds, health and deadline.
        params: RolloutParams,
        /// Check-and-set, as for [`Input::Schedule`] (absent in
        /// recordings made before migrate took one).
        #[serde(default)]
        index: Option<u64>,
    },
    /// A user aborts a rollout (`POST /api/v0/rollouts/{id}/abort`): it is
    /// reverted.
    AbortRollout {
        /// Echoed in the reply.
        request: RequestId,
        /// Which rollout.
        rollout: RolloutId,
    },
    /// A user drains an agent (`POST /api/v0/drain`) or ends its drain
    /// (`/undrain`): a drained agent gets no placements, and its tasks
    /// move elsewhere, each replacement healthy before the original stops.
    Drain {
        /// Echoed in the reply.
        request: RequestId,
        /// Which agent (it need not be listed by discovery).
        agent: AgentId,
        /// `true` to drain, `false` to end the drain.
        drain: bool,
    },
    /// The write of [`crate::Output::Persist`] with this sequence number is
    /// durable.
    PersistCompleted {
        /// The sequence number of the completed write.
        sequence: u64,
    },
    /// The write with this sequence number failed; it may or may not have
    /// been applied (see the persistence contract in `registry.rs`).
    PersistFailed {
        /// The sequence number of the failed write.
        sequence: u64,
        /// What went wrong, for the trace and for the replies.
        error: String,
    },
    /// Discovery's complete current list of agents. Agents not in the list
    /// are forgotten at once: their streams closed, their containers no
    /// longer counted, and no command goes to them.
    AgentsDiscovered {
        /// Every agent discovery lists now.
        agents: BTreeSet<AgentId>,
    },
    /// The event stream requested by [`crate::Output::OpenStream`] is open
    /// (the HTTP answer arrived); its first event is still to come.
    StreamOpened {
        /// Whose stream.
        agent: AgentId,
        /// The session of [`crate::Output::OpenStream`] it answers.
        session: u64,
    },
    /// An event arrived on an agent's stream.
    StreamEvent {
        /// Whose stream.
        agent: AgentId,
        /// The session it arrived on.
        session: u64,
        /// The event: the first of a stream lists every container, later
        /// ones only those that changed.
        event: StateEvent,
    },
    /// A keep-alive (SSE comment) arrived on an agent's stream: the agent is
    /// alive even though nothing changed.
    StreamKeepAlive {
        /// Whose stream.
        agent: AgentId,
        /// The session it arrived on.
        session: u64,
    },
    /// An agent's stream ended, failed to open, or broke.
    StreamClosed {
        /// Whose stream.
        agent: AgentId,
        /// The session that ended.
        session: u64,
        /// Why, for the trace.
        reason: String,
    },
    /// The outcome of a command the scheduler sent. Success means the agent
    /// accepted it; only the event stream says whether it took effect.
    CommandResult {
        /// The agent the command went to.
        agent: AgentId,
        /// The command's id.
        command: CommandId,
        /// Accepted, or why not.
        result: Result<(), CommandError>,
    },
    /// Time passed; the driver calls this when [`crate::Scheduler::poll_timeout`]'s
    /// deadline is reached (calling it earlier is harmless).
    TimePassed,
}

/// Which job an unschedule request names.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum UnscheduleTarget {
    /// By its full config, whose hash names it (`PUT /unschedule`).
    Config(JobConfig),
    /// By hash (`PUT /unschedule/{hash}`).
    Hash(JobHash),
}

/// Why an agent did not accept a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CommandError {
    /// 404: the agent does not know the container.
    #[error("not found")]
    NotFound,
    /// 409 on create or delete: the container exists, or is running.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 409 on stop: the container is not running, which counts as stopped.
    #[error("already stopped")]
    AlreadyStopped,
    /// 5xx, or another status the agent API does not define.
    #[error("server error: {0}")]
    ServerError(String),
    /// The request could not be delivered (connection refused, reset
    /// before sending): the command certainly did not take effect.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No answer in time: the command may or may not have taken effect.
    #[error("timed out")]
    TimedOut,
}
