//! The [`Scheduler`]: one sans-IO state machine that owns the registry, the
//! agent representations and the transformer.
//!
//! # Contract
//!
//! The driver (the daemon or the simulator) owns a `Scheduler` and:
//!
//! 1. feeds every input through [`Scheduler::handle`] with the time it
//!    happened (`now` never goes backwards; an earlier `now` is treated as
//!    the latest one seen);
//! 2. after **every** input, drains [`Scheduler::poll_output`] until it
//!    returns `None`, carrying out each output (commands, streams, writes,
//!    replies) and reporting its outcome later as another input;
//! 3. then asks [`Scheduler::poll_timeout`] for the next deadline, and calls
//!    `handle(deadline, Input::TimePassed)` when it is reached unless another
//!    input comes first.
//!
//! The scheduler never reads a clock, performs no IO and draws randomness
//! only from the ChaCha generator seeded at construction: the same seed and
//! the same inputs at the same times give the same outputs, byte for byte.
//!
//! Replies to schedule and unschedule requests are only emitted once the
//! registry write that holds their effect is durable
//! ([`Input::PersistCompleted`]). Placement acts on the durable registry
//! only, so a crash can never leave a task placed for a job that was not
//! acknowledged... and not persisted.

mod agent_map;
mod agents;
mod config;
mod in_flight;
mod input;
mod locations;
mod output;
mod reconcile;
mod timer;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::agent::ContainerRecord;
use crate::algorithm::{Algorithm, Unplaced};
use crate::ids::AgentId;
use crate::metrics::Metrics;
use crate::registry::{Jobs, Registry};
use crate::time::Instant;
use crate::transformer::Transformer;
use crate::wire::{ContainerId, HostResources, JobConfig};

pub use agent_map::AgentTable;
use agent_map::Agents;
pub use config::SchedulerConfig;
pub use in_flight::InFlight;
pub use input::{CommandError, Input, UnscheduleTarget};
pub use locations::Locations;
pub use output::{AgentCommand, CommandAction, Output, Reply, Trace, TraceLevel};
pub use timer::TimerReason;
use timer::Timers;

/// The scheduler core. See the [module documentation](self) for the
/// contract a driver follows.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    rng: ChaCha8Rng,
    algorithm: Box<dyn Algorithm>,
    now: Instant,
    registry: Registry,
    agents: Agents,
    transformer: Transformer,
    /// Commands sent and not yet answered.
    in_flight: InFlight,
    /// Which agents hold a record of each container.
    locations: Locations,
    next_command: u64,
    timers: Timers,
    outputs: VecDeque<Output>,
    metrics: Metrics,
    /// Something changed since the last reconcile.
    reconcile_needed: bool,
    /// Discovery has listed the agents at least once.
    discovered: bool,
    /// Placement may start: every agent known at start has synced or been
    /// abandoned. Once open, stays open.
    placement_gate_open: bool,
}

/// What the scheduler knows about one agent, for `/proxy`, metrics and the
/// simulator's invariant checks.
#[derive(Clone, Copy, Debug)]
pub struct AgentView<'a> {
    /// The agent.
    pub id: &'a AgentId,
    /// Its stream's state.
    pub state: ConnectionState,
    /// Resources as last reported.
    pub resources: &'a HostResources,
    /// Its containers as the scheduler knows them, pending creates included.
    pub containers: &'a BTreeMap<ContainerId, ContainerRecord>,
    /// CPU promised to known containers and pending creates, milli-cores.
    pub committed_cpu_millis: u64,
    /// Memory promised to known containers and pending creates, MB.
    pub committed_mem_mb: u64,
}

impl Scheduler {
    /// A scheduler with these settings, drawing randomness from a ChaCha
    /// generator seeded with `seed`. It does nothing until
    /// [`Input::RegistryLoaded`] arrives.
    pub fn new(config: SchedulerConfig, seed: u64, now: Instant) -> Scheduler {
        let mut timers = Timers::default();
        timers.set(now + config.tick, TimerReason::Tick);
        Scheduler {
            algorithm: config.algorithm.build(),
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now,
            registry: Registry::default(),
            agents: Agents::default(),
            transformer: Transformer::default(),
            in_flight: InFlight::default(),
            locations: Locations::default(),
            next_command: 0,
            timers,
            outputs: VecDeque::new(),
            metrics: Metrics::default(),
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
            Input::RegistryLoaded { jobs } => self.on_registry_loaded(jobs),
            Input::Schedule { request, job } => {
                self.metrics.schedule_requests += 1;
                if self.refuse_until_loaded(request) {
                    return;
                }
                self.registry.schedule(request, job, &mut self.outputs);
            }
            Input::Unschedule { request, target } => {
                self.metrics.unschedule_requests += 1;
                if self.refuse_until_loaded(request) {
                    return;
                }
                self.registry.unschedule(request, target, &mut self.outputs);
            }
            Input::PersistCompleted { sequence } => {
                let before = Arc::clone(self.registry.durable());
                if let Some(changed) = self.registry.write_completed(sequence, &mut self.outputs) {
                    self.transformer
                        .desired_changed(&changed, &before, self.registry.durable());
                    for hash in &changed {
                        let tasks = self
                            .registry
                            .durable()
                            .get(hash)
                            .map_or(0, |job| job.task_count());
                        self.locations.set_desired(hash, tasks);
                    }
                    self.trace("registry", || format!("write {sequence} is durable"));
                    self.reconcile_needed = true;
                }
            }
            Input::PersistFailed { sequence, error } => self.on_persist_failed(sequence, &error),
            Input::AgentsDiscovered { agents } => self.on_agents_discovered(agents),
            Input::StreamOpened { agent } => self.on_stream_opened(&agent),
            Input::StreamEvent { agent, event } => self.on_stream_event(&agent, event),
            Input::StreamKeepAlive { agent } => {
                if let Some(mut rep) = self.agents.get_mut(&agent)
                    && rep.connection.is_live()
                {
                    rep.connection.last_heard = self.now;
                }
            }
            Input::StreamClosed { agent, reason } => self.on_stream_closed(&agent, &reason),
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
    /// latest, and why. There is always a deadline: the periodic reconcile.
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

    /// The registry: every accepted job, durable or not yet.
    pub fn jobs(&self) -> &Jobs {
        self.registry.jobs()
    }

    /// Whether the persisted registry has been loaded.
    pub fn is_ready(&self) -> bool {
        self.registry.is_loaded()
    }

    /// Tasks that could not be placed at the last reconcile, and why.
    pub fn unplaced(&self) -> &BTreeMap<ContainerId, Unplaced> {
        &self.transformer.unplaced
    }

    /// Every agent discovery lists, in id order.
    pub fn agents(&self) -> impl Iterator<Item = AgentView<'_>> {
        self.agents.values().map(|agent| {
            let (committed_cpu_millis, committed_mem_mb) = agent.committed();
            AgentView {
                id: &agent.id,
                state: agent.connection.state(),
                resources: &agent.resources,
                containers: agent.containers(),
                committed_cpu_millis,
                committed_mem_mb,
            }
        })
    }

    /// Commands sent and not yet answered.
    pub fn commands_in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether the scheduler is waiting for nothing: no command unanswered
    /// or unconfirmed, no registry write or reply outstanding.
    pub fn is_settled(&self) -> bool {
        self.in_flight.is_empty()
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
        };
        self.outputs.push_back(Output::Reply { request, reply });
        true
    }

    fn on_registry_loaded(&mut self, jobs: Vec<JobConfig>) {
        if self.registry.is_loaded() {
            self.trace("registry", || "ignored a second load".to_owned());
            return;
        }
        let count = jobs.len();
        for (hash, problems) in self.registry.load(jobs) {
            self.trace(hash.as_str(), || {
                format!("persisted job does not validate (kept): {problems}")
            });
        }
        self.trace("registry", || format!("loaded {count} jobs"));
        for (hash, job) in self.registry.durable().iter() {
            self.locations.set_desired(hash, job.task_count());
        }
        self.transformer
            .mark_all(self.registry.durable(), &self.locations);
        self.reconcile_needed = true;
    }

    fn on_persist_failed(&mut self, sequence: u64, error: &str) {
        self.metrics.registry_write_failures += 1;
        let failure = self.registry.write_failed(
            sequence,
            error,
            self.now,
            self.config.max_persist_attempts,
            self.config.task_backoff_min,
            &mut self.outputs,
        );
        match failure {
            Some(WriteFailure::RetryAt(at)) => {
                self.timers.set(at, TimerReason::PersistRetry);
                self.trace("registry", || format!("write {sequence} failed ({error}); retrying at {at}"));
            }
            Some(WriteFailure::GaveUp) => self.trace(
                "registry",
                || format!("write {sequence} failed ({error}); gave up, requests answered 500 and rolled back"),
            ),
            None => {}
        }
    }
}

use crate::agent::ConnectionState;
use crate::ids::RequestId;
use crate::registry::WriteFailure;

#[cfg(test)]
mod tests;
