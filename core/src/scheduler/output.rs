//! Everything the scheduler asks its driver to do.

use std::fmt;
use std::sync::Arc;

use crate::ids::{AgentId, CommandId, RequestId};
use crate::jobs::RegistryChanges;
use crate::time::Instant;
use crate::wire::{ContainerConfig, ContainerId};

/// One output, drained with [`crate::Scheduler::poll_output`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Output {
    /// Send a command to an agent and report the outcome with
    /// [`crate::Input::CommandResult`].
    Command(AgentCommand),
    /// Open the agent's event stream (`GET /containers` as
    /// `text/event-stream`), closing any earlier one of that agent; report
    /// [`crate::Input::StreamOpened`], then events and keep-alives, and
    /// [`crate::Input::StreamClosed`] when it fails or ends, each naming
    /// `session`. The core ignores inputs of any session but the agent's
    /// latest, so a driver need not filter what a replaced stream still
    /// delivers.
    OpenStream {
        /// Whose stream.
        agent: AgentId,
        /// Names this stream in every input it causes; increases with
        /// every stream opened.
        session: u64,
    },
    /// Close the agent's event stream, if open. Inputs it still delivers
    /// are ignored.
    CloseStream {
        /// Whose stream.
        agent: AgentId,
    },
    /// Apply these changes to the registry's store atomically and durably,
    /// and report [`crate::Input::PersistCompleted`] or
    /// [`crate::Input::PersistFailed`] with the same sequence number. At most
    /// one write is outstanding at a time. The full contract (ordering,
    /// failures, what durable means) is in `registry.rs`.
    Persist {
        /// Increases with every write, across restarts: the store keeps the
        /// last durable one.
        sequence: u64,
        /// Every job put and hash removed since the last durable write.
        changes: Arc<RegistryChanges>,
    },
    /// Answer a user request.
    Reply {
        /// The request answered.
        request: RequestId,
        /// The answer, in the wire format's RPC shape.
        reply: Reply,
    },
    /// A decision, for logs and simulation traces.
    Trace(Trace),
}

/// A command for one container on one agent.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AgentCommand {
    /// Echo in [`crate::Input::CommandResult`].
    pub id: CommandId,
    /// The agent to send it to.
    pub agent: AgentId,
    /// The container it is about.
    pub container: ContainerId,
    /// What to do.
    pub action: CommandAction,
}

/// What a command does, with the agent API request that carries it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum CommandAction {
    /// `PUT /containers/{id}` with the config.
    Create(Arc<ContainerConfig>),
    /// `POST /containers/{id}/start`.
    Start,
    /// `POST /containers/{id}/stop`.
    Stop,
    /// `DELETE /containers/{id}`.
    Destroy,
}

impl CommandAction {
    /// A short lower-case name: `create`, `start`, `stop`, `destroy`.
    pub fn name(&self) -> &'static str {
        match self {
            CommandAction::Create(_) => "create",
            CommandAction::Start => "start",
            CommandAction::Stop => "stop",
            CommandAction::Destroy => "destroy",
        }
    }
}

/// The answer to a user request: the HTTP status and the `msg` of the wire
/// format's `{"status_code","msg"}` body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    /// 202 accepted, 400 invalid, 404 not scheduled, 409 already scheduled,
    /// 500 the registry could not be written, 503 not ready.
    pub status_code: u16,
    /// What happened, for a person.
    pub msg: String,
    /// The registry index the answer was made at, on answers that depend
    /// on the registry (every schedule and unschedule answer but a refused
    /// config's 400 and a given-up write's 500): after a 202, the index of
    /// the change itself; after a 409, the index to plan again from. It is
    /// durable when the answer is sent.
    pub index: Option<u64>,
}

/// One traced decision: when, about what, what happened and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trace {
    /// When it was decided.
    pub at: Instant,
    /// What it is about: an agent, a container, a job or `registry`.
    pub subject: String,
    /// What happened and why, for a person.
    pub message: String,
    /// Whether someone running the scheduler should see it.
    pub level: TraceLevel,
}

/// How much a traced decision matters to someone running the scheduler,
/// so that a driver can log the few that do without formatting the many
/// that do not.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TraceLevel {
    /// A routine decision, for debugging and simulation traces: emitted
    /// only when [`crate::SchedulerConfig::trace`] is on.
    Detail,
    /// A state change an operator should see, emitted whether tracing is
    /// on or not: an agent discovered, forgotten, synced, losing its
    /// stream (or failing to open it, the first time) or abandoned (the
    /// subject is the agent), or a duplicate instance removed (the subject
    /// is the container). One per change, never one per event.
    Change,
    /// A command to `agent` that went unconfirmed until its pending
    /// timeout, emitted whether tracing is on or not (the subject is the
    /// container). A failing agent can cause many: drivers aggregate them.
    Unconfirmed {
        /// The agent the command went to.
        agent: AgentId,
    },
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>10} {} {}",
            self.at.to_string(),
            self.subject,
            self.message
        )
    }
}
