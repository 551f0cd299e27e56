//! Read-only views of what the scheduler knows, for the daemon's `/proxy`
//! and metrics, the simulator's invariants and the benchmarks. They expose
//! what a container *is* (status, pending command, process state, config),
//! never the core's records, whose layout may change freely.

use std::sync::Arc;

use crate::agent::{Action, AgentRepresentation, ConnectionState, ContainerRecord, Phase};
use crate::ids::AgentId;
use crate::wire::{ContainerConfig, ContainerId, ContainerStatus, HostResources, ProcessState};

/// What the scheduler knows about one agent.
#[derive(Clone, Copy, Debug)]
pub struct AgentView<'a> {
    /// The agent.
    pub id: &'a AgentId,
    /// Its stream's state.
    pub state: ConnectionState,
    /// The session of its latest stream (see `Output::OpenStream`).
    pub session: u64,
    /// Resources as last reported.
    pub resources: &'a HostResources,
    /// CPU promised to known containers and pending creates, milli-cores.
    pub committed_cpu_millis: u64,
    /// Memory promised to known containers and pending creates, MB.
    pub committed_mem_mb: u64,
    rep: &'a AgentRepresentation,
}

impl<'a> AgentView<'a> {
    pub(crate) fn of(rep: &'a AgentRepresentation) -> AgentView<'a> {
        let (committed_cpu_millis, committed_mem_mb) = rep.committed();
        AgentView {
            id: &rep.id,
            state: rep.connection.state(),
            session: rep.connection.session,
            resources: rep.resources(),
            committed_cpu_millis,
            committed_mem_mb,
            rep,
        }
    }

    /// Its containers as the scheduler knows them, pending creates
    /// included, in ID order.
    pub fn containers(&self) -> impl Iterator<Item = ContainerView<'a>> + 'a {
        self.rep
            .containers()
            .iter()
            .map(|(id, record)| ContainerView { id, record })
    }

    /// One of its containers.
    pub fn container(&self, id: &str) -> Option<ContainerView<'a>> {
        self.rep
            .containers()
            .get_key_value(id)
            .map(|(id, record)| ContainerView { id, record })
    }

    /// How many containers it has, pending creates included.
    pub fn container_count(&self) -> usize {
        self.rep.containers().len()
    }

    /// Whether placement avoids it after failing commands, and until when.
    pub fn avoided_until(&self) -> Option<crate::time::Instant> {
        self.rep.health.avoided_until
    }

    /// Commands to it that failed or went unconfirmed since the last one
    /// it confirmed.
    pub fn command_failures(&self) -> u32 {
        self.rep.health.failures
    }
}

/// What the scheduler knows about one container on one agent.
#[derive(Clone, Copy, Debug)]
pub struct ContainerView<'a> {
    id: &'a ContainerId,
    record: &'a ContainerRecord,
}

/// A command of the scheduler's that a container waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingCommand {
    /// `create`, `start`, `stop` or `destroy`.
    pub action: &'static str,
    /// Whether the agent accepted it (it then waits for the stream to
    /// confirm it); false while it is unanswered.
    pub accepted: bool,
}

impl<'a> ContainerView<'a> {
    /// Its ID.
    pub fn id(&self) -> &'a ContainerId {
        self.id
    }

    /// The status the stream last reported; `None` while a create is
    /// unconfirmed.
    pub fn status(&self) -> Option<ContainerStatus> {
        self.record.status
    }

    /// The command of ours it waits on, if any.
    pub fn pending(&self) -> Option<PendingCommand> {
        self.record.pending().map(|pending| PendingCommand {
            action: pending.action.name(),
            accepted: pending.phase == Phase::Accepted,
        })
    }

    /// Whether the pending command is a create.
    pub fn is_being_created(&self) -> bool {
        self.record
            .pending()
            .is_some_and(|pending| pending.action == Action::Create)
    }

    /// The process state the stream last reported.
    pub fn process_state(&self) -> ProcessState {
        self.record.process_state()
    }

    /// The config it runs.
    pub fn config(&self) -> &'a Arc<ContainerConfig> {
        self.record.config()
    }
}

/// The cluster at a glance, for `/metrics`: kept by the core as it changes,
/// so reading it costs the number of agents, not of records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Agents discovery lists.
    pub agents_known: u64,
    /// Agents whose stream is open and synced.
    pub agents_connected: u64,
    /// Agents placement avoids after failing commands.
    pub agents_avoided: u64,
    /// Tasks of the durable registry.
    pub tasks_desired: u64,
    /// Containers whose last reported status is `running`, on any agent.
    pub tasks_running: u64,
    /// Containers with a command of ours pending.
    pub tasks_pending: u64,
    /// Tasks that could not be placed.
    pub tasks_unplaced: u64,
    /// Rollouts running.
    pub rollouts_running: u64,
    /// Agents being drained (durably).
    pub agents_draining: u64,
}

/// How full the core's tables and queues are (from
/// [`crate::Scheduler::occupancy`]), with the bounds they keep. The
/// simulator checks [`Occupancy::within_bounds`] after every step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Live timers.
    pub timers: usize,
    /// Of which pending timeouts (one per container per agent at most).
    pub pending_timers: usize,
    /// Of which back-off timers (one per container at most).
    pub backoff_timers: usize,
    /// Of which the rest: the tick, a continued reconcile, a write retry,
    /// the rollout check,
    /// and per agent its reconnect, abandon, silence, healthy and
    /// probation timers.
    pub other_timers: usize,
    /// Agents discovery lists.
    pub agents: usize,
    /// Container records, on every agent.
    pub records: usize,
    /// Records with a command of ours pending.
    pub records_pending: usize,
    /// Records backing off after failed commands.
    pub records_backing_off: usize,
    /// Tasks backing off after failed creates.
    pub tasks_backing_off: usize,
    /// Commands handed out and unanswered.
    pub commands_in_flight: usize,
    /// Commands waiting behind their agent's limit.
    pub commands_waiting: usize,
    /// The most commands in flight to one agent.
    pub most_in_flight_to_one_agent: usize,
    /// Containers marked for the next reconcile.
    pub marked: usize,
    /// Missing tasks queued for placement.
    pub placement_queue: usize,
    /// Whether a reconcile is scheduled to continue at once.
    pub continue_scheduled: bool,
    /// Whether reconciles run: the registry is loaded and discovery has
    /// listed the agents.
    pub reconciling: bool,
}

/// Timers one agent may have live: reconnect, abandon, silence, healthy,
/// probation.
const PER_AGENT_TIMERS: usize = 5;

impl Occupancy {
    /// The most timers that may be live: four scheduler-wide (tick,
    /// continued reconcile, write retry, rollout check), five per agent (reconnect,
    /// abandon, silence, healthy, probation after failing commands), a
    /// pending timeout per pending record or unanswered command, and a
    /// back-off per backing-off record or task.
    pub fn timer_limit(&self) -> usize {
        4 + PER_AGENT_TIMERS * self.agents
            + self.records_pending
            + self.commands_in_flight
            + self.records_backing_off
            + self.tasks_backing_off
    }

    /// Each bound that does not hold, described; empty when all hold:
    /// the timer limit, each kind within its share, the per-agent command
    /// limit, and work left over from a reconcile always scheduled to
    /// continue.
    pub fn within_bounds(&self, max_in_flight_per_agent: usize) -> Vec<String> {
        let mut broken = Vec::new();
        if self.timers > self.timer_limit() {
            broken.push(format!(
                "{} timers live, bound {} ({self:?})",
                self.timers,
                self.timer_limit()
            ));
        }
        if self.pending_timers > self.records_pending + self.commands_in_flight {
            broken.push(format!(
                "{} pending timeouts for {} pending records and {} unanswered commands",
                self.pending_timers, self.records_pending, self.commands_in_flight
            ));
        }
        if self.backoff_timers > self.records_backing_off + self.tasks_backing_off {
            broken.push(format!(
                "{} back-off timers for {} records and {} tasks backing off",
                self.backoff_timers, self.records_backing_off, self.tasks_backing_off
            ));
        }
        if self.other_timers > 4 + PER_AGENT_TIMERS * self.agents {
            broken.push(format!(
                "{} stream and scheduler timers for {} agents",
                self.other_timers, self.agents
            ));
        }
        if self.most_in_flight_to_one_agent > max_in_flight_per_agent.max(1) {
            broken.push(format!(
                "{} commands in flight to one agent, limit {max_in_flight_per_agent}",
                self.most_in_flight_to_one_agent
            ));
        }
        if self.commands_waiting > self.records_pending {
            broken.push(format!(
                "{} commands waiting for {} pending records",
                self.commands_waiting, self.records_pending
            ));
        }
        if self.reconciling
            && (self.marked > 0 || self.placement_queue > 0)
            && !self.continue_scheduled
        {
            broken.push(format!(
                "{} marked containers and {} queued tasks left with no reconcile scheduled",
                self.marked, self.placement_queue
            ));
        }
        broken
    }
}
