//! A simulated harpoon agent, behaving as the wire doc says a real one does
//! (`shared/wire/harpoon-v0.md`, "Observed on a real agent"):
//!
//! - create → hidden while the artifact is prepared, then `created`; or, if
//!   preparation fails, a `deleted` event;
//! - start → `running` after a delay; or, when it cannot start, a 500 with
//!   the reason and `failed` with `process_state.err`;
//! - stop of a container that is not running answers 409 (already stopped);
//! - delete only when not running, then `deleted`;
//! - restart policies apply when a running process exits, and when a start
//!   fails: the agent itself tries again, backing off (1s doubling to 30s),
//!   with `process_state.restarting` set meanwhile;
//! - resources are reserved at create and released at delete.
//!
//! Timeline faults make it a broken peer for a while: it answers 500 to
//! every command (`fail_commands`), or accepts every command and does
//! nothing (`never_confirm`); `report_stray` makes it report a container
//! nobody scheduled. (A stream that breaks after each first event is the
//! driver's: see `driver.rs`.) `shrink_agent` restarts it with less cpu and
//! memory than its containers reserve (they keep running), and
//! `lose_containers` deletes some of its containers behind the scheduler's
//! back (see `agent/faults.rs`).
//!
//! The agent knows nothing about the network or the scheduler: a command
//! returns its answer, and every visible change is pushed to
//! [`Effects::changed`] for the world to send on the stream. Delays are
//! requested as [`ContainerTimer`]s that the world schedules and fires back.

use std::collections::BTreeMap;
use std::sync::Arc;

use harpoon_core::wire::{
    ContainerConfig, ContainerInstance, ContainerStatus, CpuTotalReserved, ExitStatus,
    HostResources, ProcessState, StateEvent, TotalReserved, cpu_millis,
};
use harpoon_core::{CommandAction, CommandError};
use harpoon_core::{Duration, Instant};
use rand_chacha::ChaCha8Rng;

use crate::behaviour::Behaviour;
use crate::scenario::AgentSpec;

/// How long an agent waits before restarting a process its policy restarts.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// The longest an agent waits before retrying a start that failed.
const START_RETRY_MAX: Duration = Duration::from_secs(30);

/// How long an agent waits before retrying a start that failed `failures`
/// times in a row: `RESTART_DELAY` doubling up to `START_RETRY_MAX`.
fn start_retry_delay(failures: u32) -> Duration {
    RESTART_DELAY
        .saturating_mul(1 << failures.saturating_sub(1).min(10))
        .min(START_RETRY_MAX)
}

/// A delay an agent asked for; the world fires it back with
/// [`SimAgent::fire`]. Stale timers (their container moved on or is gone)
/// are recognised by their generation and do nothing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerTimer {
    /// Which container.
    pub container: String,
    /// The container's generation when the timer was set.
    pub generation: u64,
}

/// What a command or timer did that the world must carry out.
#[derive(Debug, Default)]
pub struct Effects {
    /// Timers to set: after how long, and which.
    pub timers: Vec<(Duration, ContainerTimer)>,
    /// Containers that changed, as a stream delta shows them (`deleted`
    /// for containers the agent forgot).
    pub changed: Vec<ContainerInstance>,
    /// A line for the trace for each transition, in order.
    pub notes: Vec<String>,
}

/// Where a container is in its life; the visible `status` follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The artifact is being prepared; the container is not listed yet.
    Preparing,
    /// Not running and nothing under way (`created`, `failed`, `finished`).
    Idle,
    /// A start was accepted; the process is coming up.
    Starting,
    /// The process runs.
    Running,
    /// A stop was accepted; the process is shutting down.
    Stopping,
    /// The process exited and the restart policy restarts it soon.
    Restarting,
}

#[derive(Clone, Debug)]
struct SimContainer {
    config: Arc<ContainerConfig>,
    behaviour: Behaviour,
    phase: Phase,
    status: ContainerStatus,
    process: ProcessState,
    generation: u64,
    cpu_millis: u64,
    mem_mb: u64,
    /// Starts that failed in a row, for the retry back-off.
    start_failures: u32,
}

/// One simulated agent: its containers, resources and reachability.
#[derive(Clone, Debug)]
pub struct SimAgent {
    spec: AgentSpec,
    up: bool,
    containers: BTreeMap<String, SimContainer>,
    /// The stream session the agent pushes events to, if any.
    pub stream: Option<u64>,
    fail_starts_until: Instant,
    fail_commands_until: Instant,
    never_confirm_until: Instant,
    /// Until then, its stream breaks right after each first event.
    pub flap_stream_until: Instant,
    /// Until then, its stream delivers its first event twice.
    pub repeat_first_event_until: Instant,
    strays: u64,
    next_generation: u64,
}

impl SimAgent {
    /// A fresh agent with no containers, up.
    pub fn new(spec: AgentSpec) -> SimAgent {
        SimAgent {
            spec,
            up: true,
            containers: BTreeMap::new(),
            stream: None,
            fail_starts_until: Instant::ZERO,
            fail_commands_until: Instant::ZERO,
            never_confirm_until: Instant::ZERO,
            flap_stream_until: Instant::ZERO,
            repeat_first_event_until: Instant::ZERO,
            strays: 0,
            next_generation: 0,
        }
    }

    /// Whether the agent answers (not crashed).
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The agent process stops answering; its containers keep running and
    /// its stream is gone.
    pub fn crash(&mut self) {
        self.up = false;
        self.stream = None;
    }

    /// The agent answers again, with the containers it had.
    pub fn restart(&mut self) {
        self.up = true;
    }

    /// The machine was replaced: the agent answers again with nothing.
    pub fn wipe(&mut self) {
        self.up = true;
        self.stream = None;
        self.containers.clear();
    }

    /// Starts fail on this agent until `until`.
    pub fn fail_starts_until(&mut self, until: Instant) {
        self.fail_starts_until = self.fail_starts_until.max(until);
    }

    /// Every command fails with a 500, doing nothing, until `until`.
    pub fn fail_commands_until(&mut self, until: Instant) {
        self.fail_commands_until = self.fail_commands_until.max(until);
    }

    /// Every command is accepted and does nothing until `until`.
    pub fn never_confirm_until(&mut self, until: Instant) {
        self.never_confirm_until = self.never_confirm_until.max(until);
    }

    /// A running container nobody scheduled appears (`stray-N`, reserving
    /// nothing), as on a machine where someone started one by hand.
    pub fn add_stray(&mut self, effects: &mut Effects) {
        self.strays += 1;
        let id = format!("stray-{}", self.strays);
        let container = SimContainer {
            config: Arc::new(ContainerConfig::default()),
            behaviour: Behaviour::Runs,
            phase: Phase::Running,
            status: ContainerStatus::Running,
            process: ProcessState {
                up: true,
                ..ProcessState::default()
            },
            generation: 0,
            cpu_millis: 0,
            mem_mb: 0,
            start_failures: 0,
        };
        effects.changed.push(instance(&id, &container));
        effects
            .notes
            .push(format!("{id}: running, nobody scheduled it"));
        self.containers.insert(id, container);
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn timer(&mut self, id: &str, delay: Duration, effects: &mut Effects) {
        let generation = self.generation();
        if let Some(container) = self.containers.get_mut(id) {
            container.generation = generation;
        }
        effects.timers.push((
            delay,
            ContainerTimer {
                container: id.to_owned(),
                generation,
            },
        ));
    }

    /// Invalidates any timer set for the container.
    fn cancel_timer(&mut self, id: &str) {
        let generation = self.generation();
        if let Some(container) = self.containers.get_mut(id) {
            container.generation = generation;
        }
    }

    /// Carries out one command, arriving at `now`, as the agent API would
    /// and returns its answer. `behaviour` is what the container's process
    /// will do, should this be a create.
    pub fn command(
        &mut self,
        id: &str,
        action: &CommandAction,
        behaviour: Behaviour,
        now: Instant,
        rng: &mut ChaCha8Rng,
        effects: &mut Effects,
    ) -> Result<(), CommandError> {
        let delay = self.spec.start_delay.draw(rng);
        if now < self.fail_commands_until {
            return Err(CommandError::ServerError(
                "simulated: this agent fails every command".to_owned(),
            ));
        }
        if now < self.never_confirm_until {
            effects
                .notes
                .push(format!("{id}: {} accepted and ignored", action.name()));
            return Ok(());
        }
        match action {
            CommandAction::Create(config) => {
                if self.containers.contains_key(id) {
                    return Err(CommandError::Conflict(format!("container {id} exists")));
                }
                // A volume the agent does not offer makes preparation fail;
                // the world separately flags the placement as a violation.
                let container = SimContainer {
                    config: Arc::clone(config),
                    behaviour,
                    phase: Phase::Preparing,
                    status: ContainerStatus::Created,
                    process: ProcessState::default(),
                    generation: 0,
                    cpu_millis: cpu_millis(config.resources.cpu),
                    mem_mb: config.resources.mem,
                    start_failures: 0,
                };
                self.containers.insert(id.to_owned(), container);
                self.timer(id, delay, effects);
                effects.notes.push(format!("{id}: preparing the artifact"));
                Ok(())
            }
            CommandAction::Start => {
                let container = self.containers.get(id).ok_or(CommandError::NotFound)?;
                match container.phase {
                    Phase::Preparing => Err(CommandError::ServerError(format!(
                        "container {id} is still being prepared"
                    ))),
                    Phase::Running | Phase::Stopping => Err(CommandError::ServerError(format!(
                        "container {id} is already running"
                    ))),
                    Phase::Starting => Ok(()),
                    // Like harpoon-agent, a start that cannot happen fails
                    // at once: the answer is a 500 with the reason, and the
                    // container goes `failed` with `process_state.err` set.
                    Phase::Idle | Phase::Restarting
                        if container.behaviour == Behaviour::FailsToStart
                            || now < self.fail_starts_until =>
                    {
                        let reason = self.fail_start(id, effects);
                        Err(CommandError::ServerError(reason))
                    }
                    Phase::Idle | Phase::Restarting => {
                        self.set_phase(id, Phase::Starting);
                        self.timer(id, delay, effects);
                        effects.notes.push(format!("{id}: starting"));
                        Ok(())
                    }
                }
            }
            CommandAction::Stop => {
                let container = self.containers.get(id).ok_or(CommandError::NotFound)?;
                match container.phase {
                    Phase::Running => {
                        self.set_phase(id, Phase::Stopping);
                        self.timer(id, delay, effects);
                        effects.notes.push(format!("{id}: stopping"));
                        Ok(())
                    }
                    Phase::Stopping => Ok(()),
                    // Not running: a stop cancels what is under way and
                    // answers 409, which a client treats as success.
                    Phase::Starting | Phase::Restarting => {
                        self.cancel_timer(id);
                        self.set_phase(id, Phase::Idle);
                        if let Some(container) = self.containers.get_mut(id)
                            && container.process.restarting
                        {
                            container.process.restarting = false;
                            let instance = instance(id, container);
                            effects.changed.push(instance);
                        }
                        effects
                            .notes
                            .push(format!("{id}: stop cancels the pending start"));
                        Err(CommandError::AlreadyStopped)
                    }
                    Phase::Idle | Phase::Preparing => Err(CommandError::AlreadyStopped),
                }
            }
            CommandAction::Destroy => {
                let container = self.containers.get(id).ok_or(CommandError::NotFound)?;
                match container.phase {
                    Phase::Running | Phase::Starting | Phase::Stopping => Err(
                        CommandError::Conflict(format!("container {id} is running: stop it first")),
                    ),
                    Phase::Preparing => Err(CommandError::Conflict(format!(
                        "container {id} is still being prepared"
                    ))),
                    Phase::Idle | Phase::Restarting => {
                        let container = self.containers.remove(id).expect("checked above");
                        effects.changed.push(deleted(id, &container));
                        effects
                            .notes
                            .push(format!("{id}: deleted, resources released"));
                        Ok(())
                    }
                }
            }
        }
    }

    fn set_phase(&mut self, id: &str, phase: Phase) {
        if let Some(container) = self.containers.get_mut(id) {
            container.phase = phase;
        }
    }

    /// Fires a timer the agent asked for; stale timers do nothing.
    pub fn fire(&mut self, timer: &ContainerTimer, now: Instant, effects: &mut Effects) {
        let id = timer.container.as_str();
        let Some(container) = self.containers.get(id) else {
            return;
        };
        if container.generation != timer.generation {
            return;
        }
        let behaviour = container.behaviour;
        match container.phase {
            Phase::Preparing => {
                if behaviour == Behaviour::FailsToPrepare || !self.offers_volumes(&container.config)
                {
                    let container = self.containers.remove(id).expect("present");
                    effects.changed.push(deleted(id, &container));
                    effects
                        .notes
                        .push(format!("{id}: preparation failed, deleted"));
                } else {
                    self.update(id, effects, |container| {
                        container.phase = Phase::Idle;
                        container.status = ContainerStatus::Created;
                    });
                    effects.notes.push(format!("{id}: created"));
                }
            }
            Phase::Starting => {
                self.run(id, effects);
                effects.notes.push(format!("{id}: running"));
            }
            Phase::Restarting => {
                if behaviour == Behaviour::FailsToStart || now < self.fail_starts_until {
                    self.fail_start(id, effects);
                    return;
                }
                if let Some(container) = self.containers.get_mut(id) {
                    container.process.restarts += 1;
                }
                self.run(id, effects);
                effects
                    .notes
                    .push(format!("{id}: restarted by its policy, running"));
            }
            Phase::Running => {
                let Behaviour::Exits { code, .. } = behaviour else {
                    return;
                };
                let restart = container.config.restart.restarts(code == 0);
                self.update(id, effects, |container| {
                    container.status = if code == 0 {
                        ContainerStatus::Finished
                    } else {
                        ContainerStatus::Failed
                    };
                    container.phase = if restart {
                        Phase::Restarting
                    } else {
                        Phase::Idle
                    };
                    container.process.up = false;
                    container.process.restarting = restart;
                    container.process.container_exit_status = ExitStatus {
                        exited: Some(true),
                        exit_status: Some(code),
                        ..ExitStatus::default()
                    };
                });
                if restart {
                    self.timer(id, RESTART_DELAY, effects);
                }
                effects.notes.push(format!(
                    "{id}: exited {code}{}",
                    if restart {
                        ", restart policy restarts it"
                    } else {
                        ""
                    }
                ));
            }
            Phase::Stopping => {
                self.update(id, effects, |container| {
                    container.phase = Phase::Idle;
                    container.status = ContainerStatus::Failed;
                    container.process.up = false;
                    container.process.container_exit_status = ExitStatus {
                        signaled: Some(true),
                        signal: Some(15),
                        ..ExitStatus::default()
                    };
                });
                effects.notes.push(format!("{id}: stopped"));
            }
            Phase::Idle => {}
        }
    }

    /// A start that cannot happen: the container goes `failed` with
    /// `process_state.err`; if its restart policy restarts failures, the
    /// agent tries again after a back-off. Returns the reason.
    fn fail_start(&mut self, id: &str, effects: &mut Effects) -> String {
        let reason = "cannot start: exec format error (simulated)".to_owned();
        self.cancel_timer(id);
        let mut retry = None;
        self.update(id, effects, |container| {
            let restarts = container.config.restart.restarts(false);
            container.start_failures += 1;
            container.phase = if restarts {
                Phase::Restarting
            } else {
                Phase::Idle
            };
            container.status = ContainerStatus::Failed;
            container.process.up = false;
            container.process.restarting = restarts;
            container.process.err = Some(reason.clone());
            if restarts {
                retry = Some(start_retry_delay(container.start_failures));
            }
        });
        match retry {
            Some(delay) => {
                self.timer(id, delay, effects);
                effects.notes.push(format!(
                    "{id}: start failed; its restart policy retries in {delay}"
                ));
            }
            None => effects.notes.push(format!("{id}: start failed")),
        }
        reason
    }

    fn run(&mut self, id: &str, effects: &mut Effects) {
        let mut exit_after = None;
        self.update(id, effects, |container| {
            container.phase = Phase::Running;
            container.status = ContainerStatus::Running;
            container.process.up = true;
            container.process.restarting = false;
            container.process.err = None;
            container.start_failures = 0;
            if let Behaviour::Exits { after, .. } = container.behaviour {
                exit_after = Some(after);
            }
        });
        match exit_after {
            Some(after) => self.timer(id, after, effects),
            None => self.cancel_timer(id),
        }
    }

    /// Applies `change` to a listed container and records the change for
    /// the stream.
    fn update(&mut self, id: &str, effects: &mut Effects, change: impl FnOnce(&mut SimContainer)) {
        if let Some(container) = self.containers.get_mut(id) {
            change(container);
            if container.phase != Phase::Preparing {
                effects.changed.push(instance(id, container));
            }
        }
    }

    fn offers_volumes(&self, config: &ContainerConfig) -> bool {
        config
            .storage
            .volumes
            .get()
            .values()
            .all(|host| self.spec.volumes.contains(host))
    }

    /// Whether the agent offers every host path the config needs.
    pub fn can_host(&self, config: &ContainerConfig) -> bool {
        self.offers_volumes(config)
    }

    /// What the agent has and has reserved.
    pub fn resources(&self) -> HostResources {
        HostResources {
            mem: TotalReserved {
                total: self.spec.mem_mb,
                reserved: self.reserved_mem_mb(),
            },
            cpus: CpuTotalReserved {
                total: self.spec.cpu,
                reserved: self.reserved_cpu_millis() as f64 / 1000.0,
            },
            storage: TotalReserved::default(),
            volumes: self.spec.volumes.clone(),
        }
    }

    /// CPU reserved by containers (preparing ones included), in milli-cores.
    pub fn reserved_cpu_millis(&self) -> u64 {
        self.containers.values().map(|c| c.cpu_millis).sum()
    }

    /// Memory reserved by containers (preparing ones included), in MB.
    pub fn reserved_mem_mb(&self) -> u64 {
        self.containers.values().map(|c| c.mem_mb).sum()
    }

    /// CPU the agent has, in milli-cores.
    pub fn total_cpu_millis(&self) -> u64 {
        cpu_millis(self.spec.cpu)
    }

    /// Memory the agent has, in MB.
    pub fn total_mem_mb(&self) -> u64 {
        self.spec.mem_mb
    }

    /// The first event of a stream: every listed container.
    pub fn full_state(&self) -> StateEvent {
        StateEvent {
            resources: self.resources(),
            containers: self
                .containers
                .iter()
                .filter(|(_, container)| container.phase != Phase::Preparing)
                .map(|(id, container)| (id.clone(), instance(id, container)))
                .collect(),
        }
    }

    /// A later event: only `instance` changed.
    pub fn delta(&self, instance: ContainerInstance) -> StateEvent {
        StateEvent {
            resources: self.resources(),
            containers: BTreeMap::from([(instance.container_id.clone(), instance)]),
        }
    }

    /// Whether the container is `failed` because a start could not happen
    /// (its `process_state.err` says why, rather than a process that
    /// exited or was stopped) and no retry is pending
    /// (`process_state.restarting` is not set).
    pub fn start_failed_for_good(&self, id: &str) -> bool {
        self.containers.get(id).is_some_and(|container| {
            container.status == ContainerStatus::Failed
                && container.process.err.is_some()
                && !container.process.restarting
        })
    }

    /// Every listed container, its status and whether a restart by its
    /// restart policy is pending: what a timeline chart draws.
    pub fn chart_states(&self) -> impl Iterator<Item = (&str, ContainerStatus, bool)> {
        self.containers
            .iter()
            .filter(|(_, container)| container.phase != Phase::Preparing)
            .map(|(id, container)| {
                let restarting =
                    container.phase == Phase::Restarting || container.process.restarting;
                (id.as_str(), container.status, restarting)
            })
    }

    /// Every listed container and its status, as `GET /containers` shows.
    pub fn instances(&self) -> impl Iterator<Item = (&str, ContainerStatus)> {
        self.containers
            .iter()
            .filter(|(_, container)| container.phase != Phase::Preparing)
            .map(|(id, container)| (id.as_str(), container.status))
    }
}

fn instance(id: &str, container: &SimContainer) -> ContainerInstance {
    ContainerInstance {
        container_id: id.to_owned(),
        status: container.status,
        config: Arc::clone(&container.config),
        process_state: container.process.clone(),
    }
}

fn deleted(id: &str, container: &SimContainer) -> ContainerInstance {
    ContainerInstance {
        container_id: id.to_owned(),
        status: ContainerStatus::Deleted,
        config: Arc::clone(&container.config),
        process_state: ProcessState::default(),
    }
}

#[cfg(test)]
mod tests;

mod faults;
