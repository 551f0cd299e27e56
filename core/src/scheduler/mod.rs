//! The [`Scheduler`]: one sans-IO state machine that owns the registry, the
//! agent representations and the transformer.
//!
//! See [`Scheduler`] for the contract a driver follows.

pub(crate) mod agent_map;
mod answers;
mod avoidance;
mod checkpoint;
pub(crate) mod config;
mod coverage;
mod discovery;
pub(crate) mod dispatch;
mod drain;
mod explain;
mod fire;
pub(crate) mod input;
mod job_view;
pub(crate) mod locations;
pub(crate) mod output;
mod plan;
mod plan_migrate;
mod reconcile;
mod rollouts;
mod streams;
mod timer;
mod view;
mod why;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::algorithm::{Algorithm, Unplaced};
use crate::metrics::Metrics;
use crate::registry::{Jobs, Registry};
use crate::time::Instant;
use crate::transformer::Transformer;
use crate::wire::{ContainerId, JobConfig};

use agent_map::Agents;
pub use checkpoint::{Checkpoint, RestoreError};
pub use config::SchedulerConfig;
pub use coverage::{Coverage, TransitionRow};
pub(crate) use dispatch::Dispatch;
pub use input::{CommandError, Input, UnscheduleTarget};
pub use job_view::JobTaskCounts;
pub use output::{AgentCommand, CommandAction, Output, Reply, Trace, TraceLevel};
pub use plan::{ChangePlan, PlanChange, PlannedRemoval, PlannedTask, TaskOutcome};
pub use plan_migrate::PlannedStep;
pub use rollouts::{ROLLOUT_CHECK, RolloutView};
pub use timer::TimerReason;
use timer::TimerTable;
pub use view::{AgentView, ContainerView, Gauges, Occupancy, PendingCommand};
pub use why::{InstanceState, JobExplanation, TaskExplanation};

/// The scheduler core.
///
/// # Contract
///
/// The driver (the daemon or the simulator) owns a `Scheduler` and:
///
/// 1. feeds every input through [`Scheduler::handle`] with the time it
///    happened (`now` never goes backwards; an earlier `now` is treated as
///    the latest one seen);
/// 2. after **every** input, drains [`Scheduler::poll_output`] until it
///    returns `None`, carrying out each output (commands, streams, writes,
///    replies) and reporting its outcome later as another input;
/// 3. then asks [`Scheduler::poll_timeout`] for the next deadline, and calls
///    `handle(deadline, Input::TimePassed)` when it is reached unless another
///    input comes first.
///
/// The scheduler never reads a clock, performs no IO and draws randomness
/// only from the ChaCha generator seeded at construction: the same seed and
/// the same inputs at the same times give the same outputs, byte for byte.
///
/// Replies to schedule and unschedule requests are only emitted once the
/// registry write that holds their effect is durable
/// ([`Input::PersistCompleted`]). Placement acts on the durable registry
/// only, so a crash can never leave a task placed for a job that was not
/// acknowledged... and not persisted.
///
/// Every command handed out ([`Output::Command`]) must be answered exactly
/// once ([`Input::CommandResult`]); a driver that never answers one is
/// covered by the pending timeout, which then counts it as lost, so its
/// container is blocked for at most that long. At most
/// [`SchedulerConfig::max_commands_in_flight_per_agent`] commands are
/// unanswered per agent: the core keeps the rest and hands each out when
/// an answer frees a place, so a driver needs no limit of its own.
///
/// Streams are opened in numbered sessions ([`Output::OpenStream`]); every
/// stream input names its session and the core ignores those of any but
/// the agent's latest, so a driver may deliver what a replaced stream
/// still sends.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    rng: ChaCha8Rng,
    algorithm: Box<dyn Algorithm>,
    now: Instant,
    registry: Registry,
    /// The jobs the transformer places: the durable registry with the
    /// jobs a rollout holds at its counts (see `rollouts.rs`).
    desired: Arc<Jobs>,
    /// What the core knows of each running rollout beyond its record.
    rollout_live: BTreeMap<crate::rollout::RolloutId, rollouts::LiveRollout>,
    /// Tasks moving off drained agents (`true`: the replacement is healthy,
    /// the drained instance may go), and since when each replacement runs.
    moving: BTreeMap<ContainerId, bool>,
    move_since: BTreeMap<ContainerId, drain::RunningSince>,
    /// Agents whose drained flag is set.
    drained_applied: std::collections::BTreeSet<AgentId>,
    agents: Agents,
    transformer: Transformer,
    /// Commands in flight or waiting behind their agent's limit.
    dispatch: Dispatch,
    next_command: u64,
    /// The session number of the last stream opened.
    next_session: u64,
    timers: TimerTable,
    outputs: VecDeque<Output>,
    metrics: Metrics,
    coverage: Coverage,
    /// Something changed since the last reconcile.
    reconcile_needed: bool,
    /// Discovery has listed the agents at least once.
    discovered: bool,
    /// Placement may start: every agent known at start has synced or been
    /// abandoned. Once open, stays open.
    placement_gate_open: bool,
}

impl Scheduler {
    /// A scheduler with these settings, drawing randomness from a ChaCha
    /// generator seeded with `seed`. It does nothing until
    /// [`Input::RegistryLoaded`] arrives.
    pub fn new(config: SchedulerConfig, seed: u64, now: Instant) -> Scheduler {
        let mut timers = TimerTable::default();
        timers.set(now + config.tick, TimerReason::Tick);
        Scheduler {
            algorithm: config.algorithm.build(),
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now,
            registry: Registry::default(),
            desired: Arc::default(),
            rollout_live: BTreeMap::new(),
            moving: BTreeMap::new(),
            move_since: BTreeMap::new(),
            drained_applied: std::collections::BTreeSet::new(),
            agents: Agents::default(),
            transformer: Transformer::default(),
            dispatch: Dispatch::default(),
            next_command: 0,
            next_session: 0,
            timers,
            outputs: VecDeque::new(),
            metrics: Metrics::default(),
            coverage: Coverage::default(),
            reconcile_needed: false,
            discovered: false,
            placement_gate_open: false,
        }
    }

    /// Handles one input that happened at `now`, then fires every timer due
    /// by `now` and reconciles if anything changed. Drain
    /// [`Scheduler::poll_output`] afterwards.
    pub fn handle(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::RegistryLoaded {
                jobs,
                rollouts,
                drains,
                sequence,
            } => self.on_registry_loaded(jobs, rollouts, drains, sequence),
            Input::Schedule {
                request,
                job,
                index,
            } => {
                self.metrics.schedule_requests += 1;
                if self.refuse_until_loaded(request) {
                    return;
                }
                self.registry
                    .schedule(request, job, index, &mut self.outputs);
            }
            Input::Unschedule {
                request,
                target,
                index,
            } => {
                self.metrics.unschedule_requests += 1;
                if self.refuse_until_loaded(request) {
                    return;
                }
                self.registry
                    .unschedule(request, target, index, &mut self.outputs);
            }
            Input::Migrate {
                request,
                from,
                to,
                params,
                index,
            } => {
                if self.refuse_until_loaded(request) {
                    return;
                }
                self.registry
                    .migrate(request, from, to, params, index, &mut self.outputs);
            }
            Input::AbortRollout { request, rollout } => {
                if self.refuse_until_loaded(request) {
                    return;
                }
                if self
                    .registry
                    .rollouts()
                    .get(&rollout)
                    .is_some_and(|r| r.status.holds_jobs())
                {
                    self.metrics.rollouts_aborted += 1;
                }
                self.registry
                    .abort_rollout(request, rollout, &mut self.outputs);
            }
            Input::Drain {
                request,
                agent,
                drain,
            } => {
                if self.refuse_until_loaded(request) {
                    return;
                }
                self.registry
                    .drain(request, agent, drain, &mut self.outputs);
            }
            Input::PersistCompleted { sequence } => {
                let before = Arc::clone(&self.desired);
                let rollouts_before = Arc::clone(self.registry.durable_rollouts());
                if let Some(mut changed) =
                    self.registry.write_completed(sequence, &mut self.outputs)
                {
                    self.desired = Arc::new(self.placed_jobs());
                    self.rollouts_written(&rollouts_before, &before, &mut changed);
                    let forgotten =
                        self.transformer
                            .desired_changed(&changed, &before, &self.desired);
                    for container in forgotten {
                        self.timers.cancel(&timer::TimerKey::TaskBackoff(container));
                    }
                    for hash in &changed {
                        let tasks = self.desired.get(hash).map_or(0, |job| job.task_count());
                        self.agents.set_desired(hash, tasks);
                    }
                    self.trace("registry", || format!("write {sequence} is durable"));
                    self.reconcile_needed = true;
                }
            }
            Input::PersistFailed { sequence, error } => self.on_persist_failed(sequence, &error),
            Input::AgentsDiscovered { agents } => {
                self.on_agents_discovered(agents);
                // A drained agent listed again gets no placement from now.
                self.sync_drained_flags();
            }
            Input::StreamOpened { agent, session } => self.on_stream_opened(&agent, session),
            Input::StreamEvent {
                agent,
                session,
                event,
            } => self.on_stream_event(&agent, session, event),
            Input::StreamKeepAlive { agent, session } => self.on_keep_alive(&agent, session),
            Input::StreamClosed {
                agent,
                session,
                reason,
            } => self.on_stream_closed(&agent, session, &reason),
            Input::CommandResult {
                agent,
                command,
                result,
            } => self.on_command_result(&agent, command, result),
            Input::TimePassed => {}
        }
        self.fire_timers();
        if let Some(write) = self.registry.next_write(self.now) {
            self.metrics.registry_writes += 1;
            self.outputs.push_back(write);
        }
        if self.reconcile_needed || self.transformer.has_work() {
            self.reconcile();
        }
    }

    /// The next output for the driver to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`Scheduler::handle`] with [`Input::TimePassed`] at the
    /// latest, and why. In practice this is always `Some`: the periodic
    /// reconcile ([`TimerReason::Tick`]) is set at construction and set
    /// again each time it fires, so a driver that waits forever on `None`
    /// never does. The `Option` is the timer table's honest answer (it is
    /// a table that could be empty), not a state a driver must handle
    /// differently from a distant deadline.
    pub fn poll_timeout(&self) -> Option<(Instant, &TimerReason)> {
        self.timers.next()
    }

    /// The settings.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Which transition-table rows and timer reasons this scheduler has
    /// gone through (see [`Coverage`]).
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The registry: every accepted job, durable or not yet.
    pub fn jobs(&self) -> &Jobs {
        self.registry.jobs()
    }

    /// The sequence number of the last durable registry write (or of the
    /// registry as loaded): the registry's index, monotonic across
    /// restarts.
    pub fn registry_sequence(&self) -> u64 {
        self.registry.durable_sequence()
    }

    /// The registry index as of the last accepted change, durable or not:
    /// what check-and-set (`Input::Schedule`'s `index`) compares with. It
    /// is the sequence number of the write holding that change, so it
    /// moves with every change accepted (a write grouping several changes
    /// advances it by as many), once more when a failed write is given up,
    /// and never back. A plan reports [`Scheduler::registry_sequence`], the
    /// durable index, which equals this one whenever no accepted change
    /// waits for its write (an index that was never durable could come
    /// round again after a crash).
    pub fn registry_index(&self) -> u64 {
        self.registry.index()
    }

    /// Whether the persisted registry has been loaded.
    pub fn is_ready(&self) -> bool {
        self.registry.is_loaded()
    }

    /// Tasks that could not be placed at the last reconcile, and why.
    pub fn unplaced(&self) -> impl Iterator<Item = (&ContainerId, &Unplaced)> {
        self.transformer.unplaced.reasons()
    }

    /// The cluster at a glance (see [`Gauges`]): O(agents).
    pub fn gauges(&self) -> Gauges {
        let (rollouts_running, agents_draining) = self.rollout_gauges();
        let mut gauges = Gauges {
            rollouts_running,
            agents_draining,
            tasks_desired: self.agents.locations().desired_total(),
            tasks_unplaced: self.transformer.unplaced.len() as u64,
            ..Gauges::default()
        };
        for agent in self.agents.values() {
            gauges.agents_known += 1;
            gauges.agents_connected += u64::from(agent.connection.is_synced());
            gauges.agents_avoided += u64::from(agent.health.is_avoided());
            let counts = agent.gauges();
            gauges.tasks_running += counts.running;
            gauges.tasks_pending += counts.pending;
        }
        gauges
    }

    /// Unplaced tasks by the constraint that binds them, for every label
    /// of [`crate::algorithm::Constraint::LABELS`] (a bounded set): kept
    /// as tasks come and go, O(labels) to read.
    pub fn unplaced_by_constraint(&self) -> Vec<(&'static str, u64)> {
        let counts = self.transformer.unplaced.by_constraint();
        crate::algorithm::Constraint::LABELS
            .iter()
            .map(|label| (*label, counts.get(label).copied().unwrap_or(0)))
            .collect()
    }

    /// How many tasks could not be placed.
    pub fn unplaced_count(&self) -> usize {
        self.transformer.unplaced.len()
    }

    /// Why task `id` could not be placed, if it could not.
    pub fn unplaced_reason(&self, id: &ContainerId) -> Option<&Unplaced> {
        self.transformer.unplaced.reason(id)
    }

    /// Every agent discovery lists, in id order.
    pub fn agents(&self) -> impl Iterator<Item = AgentView<'_>> {
        self.agents.values().map(AgentView::of)
    }

    /// One agent, if discovery lists it.
    pub fn agent(&self, id: &AgentId) -> Option<AgentView<'_>> {
        self.agents.get(id).map(AgentView::of)
    }

    /// Commands handed to the driver and not yet answered.
    pub fn commands_in_flight(&self) -> usize {
        self.dispatch.in_flight()
    }

    /// How full the core's queues and tables are, and the bounds they
    /// keep (see [`Occupancy`]). Costs a scan of every record: for checks
    /// and tests, not for a hot path. Panics if the gauges kept per agent
    /// disagree with the records (the simulator calls it after every step).
    pub fn occupancy(&self) -> Occupancy {
        let (pending_timers, backoff_timers, other_timers) = self.timers.count_by_kind();
        let mut occupancy = Occupancy {
            timers: self.timers.len(),
            pending_timers,
            backoff_timers,
            other_timers,
            agents: self.agents.values().count(),
            commands_in_flight: self.dispatch.in_flight(),
            commands_waiting: self.dispatch.waiting(),
            most_in_flight_to_one_agent: self.dispatch.most_in_flight_to_one_agent(),
            tasks_backing_off: self.transformer.task_backoff.len(),
            marked: self.transformer.marked(),
            placement_queue: self.transformer.queued(),
            continue_scheduled: self.timers.is_set(&timer::TimerKey::ContinueReconcile),
            reconciling: self.registry.is_loaded() && self.discovered,
            ..Occupancy::default()
        };
        for agent in self.agents.values() {
            let (mut running, mut pending) = (0, 0);
            for record in agent.containers().values() {
                occupancy.records += 1;
                occupancy.records_pending += usize::from(record.pending().is_some());
                occupancy.records_backing_off += usize::from(record.backoff().is_some());
                running += u64::from(record.status == Some(crate::wire::ContainerStatus::Running));
                pending += u64::from(record.pending().is_some());
            }
            assert_eq!(
                (agent.gauges().running, agent.gauges().pending),
                (running, pending),
                "the gauges kept for {} disagree with its records",
                agent.id
            );
        }
        occupancy
    }

    /// Whether the scheduler is waiting for nothing: no command unanswered
    /// or unconfirmed, no registry write or reply outstanding.
    pub fn is_settled(&self) -> bool {
        self.dispatch.is_empty()
            && self.registry.waiting_replies() == 0
            && self.agents.values().all(|agent| {
                agent
                    .containers()
                    .values()
                    .all(|record| record.pending().is_none())
            })
    }

    fn refuse_until_loaded(&mut self, request: RequestId) -> bool {
        if self.registry.is_loaded() {
            return false;
        }
        let reply = Reply {
            status_code: 503,
            msg: "the scheduler is starting: its registry is not loaded yet; try again".to_owned(),
            index: None,
        };
        self.outputs.push_back(Output::Reply { request, reply });
        true
    }

    fn on_registry_loaded(
        &mut self,
        jobs: Vec<JobConfig>,
        rollouts: Vec<crate::rollout::Rollout>,
        drains: Vec<AgentId>,
        sequence: u64,
    ) {
        if self.registry.is_loaded() {
            self.trace("registry", || "ignored a second load".to_owned());
            return;
        }
        let count = jobs.len();
        for (hash, problems) in self.registry.load(jobs, rollouts, drains, sequence) {
            self.trace(hash.as_str(), || {
                format!("persisted job does not validate (kept): {problems}")
            });
        }
        self.trace("registry", || format!("loaded {count} jobs"));
        self.desired = Arc::new(self.placed_jobs());
        for (hash, job) in self.desired.iter() {
            self.agents.set_desired(hash, job.task_count());
        }
        self.transformer.know_legacy_names(self.registry.durable());
        self.transformer
            .mark_all(&self.desired, self.agents.locations());
        self.reconcile_needed = true;
        self.arm_rollout_check();
    }

    fn on_persist_failed(&mut self, sequence: u64, error: &str) {
        self.metrics.registry_write_failures += 1;
        let (min, max) = (
            self.config.persist_backoff_min,
            self.config.persist_backoff_max,
        );
        let rng = &mut self.rng;
        let failure = self.registry.write_failed(
            sequence,
            error,
            self.now,
            self.config.max_persist_attempts,
            |failures| crate::backoff::jittered(rng, min, max, failures),
            &mut self.outputs,
        );
        match failure {
            Some(WriteFailure::RetryAt(at)) => {
                self.timers.set(at, TimerReason::PersistRetry);
                self.trace("registry", || {
                    format!("write {sequence} failed ({error}); retrying at {at}")
                });
            }
            Some(WriteFailure::GaveUp(at)) => {
                self.timers.set(at, TimerReason::PersistRetry);
                self.trace(
                    "registry",
                    || format!("write {sequence} failed ({error}); gave up, requests answered 500 and rolled back; durable values rewritten at {at}"),
                );
            }
            None => {}
        }
    }
}

use crate::ids::{AgentId, RequestId};
use crate::registry::WriteFailure;

#[cfg(test)]
mod tests;
