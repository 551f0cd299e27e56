//! The simulated world: the real [`Scheduler`], simulated agents, network,
//! disk and users, and the loop that moves virtual time from one event to
//! the next.
//!
//! The world plays the daemon's part towards the scheduler (it is the
//! driver): it feeds inputs through [`Scheduler::handle`], drains every
//! output after each input, carries the outputs out through the simulated
//! network, and reports each outcome later as another input, exactly as the
//! contract in `harpoon_core::scheduler` asks. Nothing here reaches into
//! the scheduler except its public getters, which the invariants read.
//!
//! One seeded ChaCha generator draws every random choice (latencies, loss,
//! delays, the scheduler's own seed), and the event queue breaks ties by
//! sequence number, so a scenario and a seed give one run, event for event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use harpoon_core::wire::JobHash;
use harpoon_core::{
    AgentId, CommandAction, CommandError, CommandId, Coverage, Instant, RequestId, Scheduler,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::agent::{ContainerTimer, Effects, SimAgent};
use crate::behaviour::Behaviour;
use crate::expectations::ExpectationState;
use crate::invariants::Invariants;
use crate::network::{Network, StreamPayload};
use crate::queue::{EventQueue, Order};
use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::trace::Tracer;

/// No run takes more steps than this; one that does is stuck in a loop.
const MAX_STEPS: u64 = 5_000_000;
/// No instant holds more steps than this; more means time stopped moving.
const MAX_STEPS_PER_INSTANT: u64 = 100_000;

/// Something that will happen at a point of virtual time.
#[derive(Debug)]
pub(crate) enum Event {
    /// The timeline entry with this index.
    Timeline(usize),
    /// Check the expectation with this index.
    Expect(usize),
    /// The scheduler process comes back.
    SchedulerRestart { incarnation: u64 },
    /// A registry write finishes (or fails).
    PersistDone { incarnation: u64, sequence: u64 },
    /// A command reaches its agent.
    CommandArrives {
        incarnation: u64,
        command: CommandId,
        agent: AgentId,
        container: String,
        action: CommandAction,
    },
    /// A command's answer reaches the driver.
    CommandAnswer {
        incarnation: u64,
        command: CommandId,
        agent: AgentId,
        result: Result<(), CommandError>,
    },
    /// The driver stops waiting for a command's answer.
    RequestTimeout {
        incarnation: u64,
        command: CommandId,
    },
    /// A stream request reaches its agent.
    StreamConnectArrives { agent: AgentId, session: u64 },
    /// The driver stops waiting for a stream to open.
    StreamConnectTimeout { agent: AgentId, session: u64 },
    /// A stream message reaches the driver.
    StreamDeliver {
        agent: AgentId,
        session: u64,
        payload: StreamPayload,
    },
    /// The driver's hang-up reaches the agent.
    StreamHangup { agent: AgentId, session: u64 },
    /// A delay an agent asked for ends.
    AgentTimer {
        agent: AgentId,
        timer: ContainerTimer,
    },
    /// The agent's periodic keep-alive.
    KeepAlive { agent: AgentId },
    /// The agent's stream breaks by chance (`network.stream_drop`).
    StreamBreak { agent: AgentId },
}

/// A command the driver sent and has not yet reported on.
#[derive(Clone, Debug)]
pub(crate) struct InFlightCommand {
    pub(crate) agent: AgentId,
    pub(crate) container: String,
    pub(crate) action: &'static str,
    /// When the scheduler sent it.
    pub(crate) sent_at: harpoon_core::Instant,
}

/// The driver's side of an agent's event stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DriverStream {
    pub(crate) session: u64,
    pub(crate) open: bool,
}

/// A user request waiting for its reply.
#[derive(Clone, Debug)]
pub(crate) struct UserRequest {
    pub(crate) schedule: bool,
    /// What the user asked, for the trace: `schedule`, `migrate`, ….
    pub(crate) verb: &'static str,
    pub(crate) job: String,
    pub(crate) hash: JobHash,
}

/// The scheduler's simulated registry store, as the daemon's embedded
/// database behaves: what is durable (jobs and the sequence of the last
/// durable write), the write under way (its sequence number and changes),
/// and until when every write fails (`disk_fail`). A write's changes are
/// applied all at once when it commits; a crash during a write leaves all
/// of them (it had committed, the answer was lost) or none, drawn at
/// random.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    pub(crate) persisted: harpoon_core::Jobs,
    /// Rollouts and drained agents, kept with the jobs.
    pub(crate) rollouts: std::collections::BTreeMap<u64, Arc<harpoon_core::rollout::Rollout>>,
    pub(crate) drains: std::collections::BTreeSet<harpoon_core::AgentId>,
    pub(crate) sequence: u64,
    pub(crate) writing: Option<(u64, Arc<harpoon_core::RegistryChanges>)>,
    pub(crate) failing_until: Option<harpoon_core::Instant>,
    /// Until when writes begun take longer (`slow_disk`), and how long.
    pub(crate) slow_until: Option<(harpoon_core::Instant, crate::range::TimeRange)>,
}

impl Disk {
    /// Applies one write's changes, as one transaction.
    pub(crate) fn commit(&mut self, sequence: u64, changes: &harpoon_core::RegistryChanges) {
        for (hash, job) in &changes.put {
            self.persisted.insert(hash.clone(), Arc::clone(job));
        }
        for hash in &changes.removed {
            self.persisted.remove(hash);
        }
        for rollout in &changes.rollouts_put {
            self.rollouts.insert(rollout.id, Arc::clone(rollout));
        }
        for id in &changes.rollouts_removed {
            self.rollouts.remove(id);
        }
        for agent in &changes.drains_put {
            self.drains.insert(agent.clone());
        }
        for agent in &changes.drains_removed {
            self.drains.remove(agent);
        }
        self.sequence = sequence;
    }
}

/// How to run a scenario.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The seed of the run's generator.
    pub seed: u64,
    /// Keep the trace lines (for printing or snapshots); the hash is
    /// computed either way.
    pub keep_trace: bool,
}

/// Runs `scenario` once.
pub fn run(scenario: &Scenario, options: RunOptions) -> RunReport {
    World::new(scenario, options, false).run().0
}

/// Runs `scenario` once and records what a timeline chart shows of it
/// (`crate::timeline_chart`); the run is the same as [`run`]'s, event for
/// event.
pub fn run_recorded(
    scenario: &Scenario,
    options: RunOptions,
) -> (RunReport, crate::timeline_chart::Recording) {
    let (report, recorded) = World::new(scenario, options, true).run();
    let (recorder, end) = recorded.expect("a recorded run returns its recorder");
    let failed: Vec<_> = report.failures().cloned().collect();
    let recording = recorder.finish(scenario, options.seed, end, &failed);
    (report, recording)
}

/// Everything that exists in a run.
pub(crate) struct World<'s> {
    pub(crate) scenario: &'s Scenario,
    pub(crate) seed: u64,
    pub(crate) now: Instant,
    pub(crate) end: Instant,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) tracer: Tracer,
    pub(crate) scheduler: Option<Scheduler>,
    /// Bumped at each scheduler crash; messages of an older incarnation
    /// belong to a process that no longer exists.
    pub(crate) incarnation: u64,
    pub(crate) agents: BTreeMap<AgentId, SimAgent>,
    pub(crate) network: Network,
    /// What discovery lists now (and what the scheduler was told).
    pub(crate) discovered: BTreeSet<AgentId>,
    pub(crate) disk: Disk,
    pub(crate) commands: BTreeMap<CommandId, InFlightCommand>,
    pub(crate) streams: BTreeMap<AgentId, DriverStream>,
    /// Agents whose stream delivered an event to this scheduler process:
    /// until then it cannot know what they run.
    pub(crate) heard_from: BTreeSet<AgentId>,
    /// Agents a `shrink_agent` restarted smaller, and when the scheduler
    /// first heard an event of theirs since (`None`: not yet). Until then
    /// it cannot know their smaller totals, so a create it sent before
    /// may rightly land on an agent that no longer has room for it.
    pub(crate) resize_heard_at: BTreeMap<AgentId, Option<harpoon_core::Instant>>,
    pub(crate) next_session: u64,
    /// For each stream session of the network (numbered across the whole
    /// run), the scheduler incarnation that opened it and the core's own
    /// session number, which the core's stream inputs name.
    pub(crate) core_sessions: BTreeMap<u64, (u64, u64)>,
    pub(crate) requests: BTreeMap<RequestId, UserRequest>,
    pub(crate) next_request: u64,
    /// Jobs whose schedule request was answered 202 (and not unscheduled
    /// with a 202 since): these must never be lost.
    pub(crate) acknowledged: BTreeMap<JobHash, String>,
    /// Scenario job names and behaviours by job hash.
    pub(crate) jobs_by_hash: BTreeMap<JobHash, (String, Behaviour)>,
    /// Agent commands issued over the whole run, every incarnation.
    pub(crate) commands_issued: u64,
    /// Of which, to each agent.
    pub(crate) commands_to: BTreeMap<AgentId, u64>,
    /// Agents that were sent a create in the current step.
    pub(crate) step_creates: BTreeSet<AgentId>,
    /// When the last timeline entry happens.
    pub(crate) last_action_at: Instant,
    pub(crate) invariants: Invariants,
    pub(crate) expectations: ExpectationState,
    /// What the scheduler processes that crashed went through.
    pub(crate) coverage: Coverage,
    /// What a timeline chart shows, when the run is recorded.
    pub(crate) recorder: Option<crate::timeline_chart::Recorder>,
    steps: u64,
}

impl<'s> World<'s> {
    fn new(scenario: &'s Scenario, options: RunOptions, recorded: bool) -> World<'s> {
        let jobs_by_hash = scenario
            .jobs
            .values()
            .map(|job| (job.config.hash(), (job.name.clone(), job.behaviour)))
            .collect();
        World {
            scenario,
            seed: options.seed,
            now: Instant::ZERO,
            end: Instant::ZERO + scenario.duration,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            queue: EventQueue::default(),
            tracer: Tracer::new(options.keep_trace),
            scheduler: None,
            incarnation: 0,
            agents: BTreeMap::new(),
            network: Network::new(&scenario.network),
            discovered: BTreeSet::new(),
            disk: Disk::default(),
            commands: BTreeMap::new(),
            streams: BTreeMap::new(),
            heard_from: BTreeSet::new(),
            resize_heard_at: BTreeMap::new(),
            next_session: 0,
            core_sessions: BTreeMap::new(),
            requests: BTreeMap::new(),
            next_request: 0,
            acknowledged: BTreeMap::new(),
            jobs_by_hash,
            commands_issued: 0,
            commands_to: BTreeMap::new(),
            step_creates: BTreeSet::new(),
            last_action_at: scenario
                .timeline
                .last()
                .map_or(Instant::ZERO, |entry| Instant::ZERO + entry.at),
            invariants: Invariants::default(),
            expectations: ExpectationState::new(&scenario.expectations),
            coverage: Coverage::default(),
            recorder: recorded.then(crate::timeline_chart::Recorder::default),
            steps: 0,
        }
    }

    fn run(
        mut self,
    ) -> (
        RunReport,
        Option<(crate::timeline_chart::Recorder, Instant)>,
    ) {
        self.tracer.line(
            self.now,
            "sim",
            &format!("scenario {:?}, seed {}", self.scenario.name, self.seed),
        );
        for spec in &self.scenario.agents {
            self.add_agent(spec.clone());
        }
        for (index, entry) in self.scenario.timeline.iter().enumerate() {
            self.queue
                .push(Instant::ZERO + entry.at, Event::Timeline(index));
        }
        for (index, at) in self.expectations.timed() {
            self.queue
                .push_ordered(Instant::ZERO + at, Order::Observation, Event::Expect(index));
        }
        self.start_scheduler();
        self.after_step();
        self.record_step();

        let mut last_instant = self.now;
        let mut steps_at_instant = 0;
        loop {
            let next_event = self.queue.peek();
            let next_timer = self
                .scheduler
                .as_ref()
                .and_then(|scheduler| scheduler.poll_timeout())
                .map(|(at, reason)| (at, reason.clone()));
            let fire_timer = match (next_event, &next_timer) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((event_at, order)), Some((timer_at, _))) => {
                    *timer_at < event_at || (*timer_at == event_at && order == Order::Observation)
                }
            };
            let at = match (fire_timer, next_event, &next_timer) {
                (true, _, Some((timer_at, _))) => (*timer_at).max(self.now),
                (false, Some((event_at, _)), _) => event_at,
                _ => unreachable!("chosen above"),
            };
            if at > self.end {
                break;
            }
            self.now = at;
            self.steps += 1;
            if at == last_instant {
                steps_at_instant += 1;
            } else {
                last_instant = at;
                steps_at_instant = 0;
            }
            if self.steps > MAX_STEPS || steps_at_instant > MAX_STEPS_PER_INSTANT {
                let what = format!(
                    "the run made {} steps ({} at {}): something loops without time passing",
                    self.steps, steps_at_instant, self.now
                );
                self.invariants
                    .record(crate::invariants::Invariant::Progress, self.now, what);
                break;
            }
            if fire_timer {
                let (_, reason) = next_timer.expect("a timer was chosen");
                self.timer_fires(&reason);
            } else {
                let (_, event) = self.queue.pop().expect("an event was chosen");
                self.happen(event);
            }
            self.after_step();
            self.record_step();
        }
        if self.now < self.end
            && self
                .invariants
                .is_clean_of(crate::invariants::Invariant::Progress)
        {
            self.now = self.end;
        }
        self.finish()
    }

    /// Carries out one event.
    fn happen(&mut self, event: Event) {
        match event {
            Event::Timeline(index) => {
                let entry = &self.scenario.timeline[index];
                self.act(&entry.action.clone());
            }
            Event::Expect(index) => self.check_expectation(index),
            Event::SchedulerRestart { incarnation } => {
                if incarnation == self.incarnation && self.scheduler.is_none() {
                    self.start_scheduler();
                }
            }
            Event::PersistDone {
                incarnation,
                sequence,
            } => self.persist_done(incarnation, sequence),
            Event::CommandArrives {
                incarnation,
                command,
                agent,
                container,
                action,
            } => self.command_arrives(incarnation, command, agent, &container, &action),
            Event::CommandAnswer {
                incarnation,
                command,
                agent,
                result,
            } => self.command_answer(incarnation, command, agent, result),
            Event::RequestTimeout {
                incarnation,
                command,
            } => self.request_timeout(incarnation, command),
            Event::StreamConnectArrives { agent, session } => {
                self.stream_connect_arrives(agent, session)
            }
            Event::StreamConnectTimeout { agent, session } => {
                self.stream_connect_timeout(agent, session)
            }
            Event::StreamDeliver {
                agent,
                session,
                payload,
            } => self.stream_deliver(agent, session, payload),
            Event::StreamHangup { agent, session } => {
                if let Some(sim) = self.agents.get_mut(&agent)
                    && sim.stream == Some(session)
                {
                    sim.stream = None;
                }
            }
            Event::AgentTimer { agent, timer } => {
                let mut effects = Effects::default();
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.fire(&timer, self.now, &mut effects);
                }
                self.apply_effects(&agent, effects);
            }
            Event::KeepAlive { agent } => {
                if let Some(session) = self.agents.get(&agent).and_then(|sim| sim.stream) {
                    self.send_stream(&agent, session, StreamPayload::KeepAlive);
                }
                let every = self.scenario.network.keep_alive;
                self.queue
                    .push(self.now + every, Event::KeepAlive { agent });
            }
            Event::StreamBreak { agent } => {
                if let Some(session) = self
                    .agents
                    .get_mut(&agent)
                    .and_then(|sim| sim.stream.take())
                {
                    self.tracer.line(
                        self.now,
                        agent.as_str(),
                        "stream breaks (network.stream_drop)",
                    );
                    self.send_stream(
                        &agent,
                        session,
                        StreamPayload::Closed("connection reset".to_owned()),
                    );
                }
                if let Some(at) = self.network.next_stream_break(self.now, &mut self.rng) {
                    self.queue.push(at, Event::StreamBreak { agent });
                }
            }
        }
    }

    /// Creates a simulated agent, lists it in discovery, and starts its
    /// periodic events.
    pub(crate) fn add_agent(&mut self, spec: crate::scenario::AgentSpec) {
        let id = AgentId::new(&spec.name);
        self.agents.insert(id.clone(), SimAgent::new(spec));
        self.discovered.insert(id.clone());
        // Agents do not tick in lock-step: each keeps its own phase.
        let every = self.scenario.network.keep_alive.as_millis();
        let phase = self.rng.random_range(0..every.max(1));
        self.queue.push(
            self.now + harpoon_core::Duration::from_millis(phase),
            Event::KeepAlive { agent: id.clone() },
        );
        if let Some(at) = self.network.next_stream_break(self.now, &mut self.rng) {
            self.queue.push(at, Event::StreamBreak { agent: id });
        }
    }

    /// Sends what an agent did to the queue, the trace and its stream.
    pub(crate) fn apply_effects(&mut self, agent: &AgentId, effects: Effects) {
        for note in &effects.notes {
            self.tracer.line(self.now, agent.as_str(), note);
        }
        for (delay, timer) in effects.timers {
            self.queue.push(
                self.now + delay,
                Event::AgentTimer {
                    agent: agent.clone(),
                    timer,
                },
            );
        }
        let Some(sim) = self.agents.get(agent) else {
            return;
        };
        if let (true, Some(session)) = (sim.is_up(), sim.stream) {
            let events: Vec<_> = effects
                .changed
                .into_iter()
                .map(|instance| sim.delta(instance))
                .collect();
            for event in events {
                self.send_stream(agent, session, StreamPayload::Event(event));
            }
        }
    }

    /// The job a container belongs to, by the scenario's name, and what its
    /// process does.
    pub(crate) fn job_of(&self, container: &str) -> Option<&(String, Behaviour)> {
        let (hash, _) = harpoon_core::wire::ContainerId::new(container).task()?;
        self.jobs_by_hash.get(&hash)
    }

    /// Feeds one input to the scheduler (if it is up) and carries out every
    /// output it produces.
    pub(crate) fn input(&mut self, input: harpoon_core::Input) {
        let outputs = self.handle(input);
        for output in outputs {
            self.output(output);
        }
    }

    fn handle(&mut self, input: harpoon_core::Input) -> Vec<harpoon_core::Output> {
        let Some(scheduler) = self.scheduler.as_mut() else {
            return Vec::new();
        };
        scheduler.handle(self.now, input);
        std::iter::from_fn(|| scheduler.poll_output()).collect()
    }

    /// The scheduler's deadline is reached. Its timers are validated when
    /// they fire, so many do nothing: those are traced as routine lines.
    fn timer_fires(&mut self, reason: &harpoon_core::TimerReason) {
        let outputs = self.handle(harpoon_core::Input::TimePassed);
        let text = format!("timer: {reason}");
        if outputs.is_empty() {
            self.tracer.quiet(self.now, "scheduler", &text);
        } else {
            self.tracer.line(self.now, "scheduler", &text);
        }
        for output in outputs {
            self.output(output);
        }
    }

    fn finish(
        mut self,
    ) -> (
        RunReport,
        Option<(crate::timeline_chart::Recorder, Instant)>,
    ) {
        self.tracer.line(self.now, "sim", "end of the run");
        let verdicts = self.final_verdicts();
        if let Some(scheduler) = &self.scheduler {
            self.coverage.merge(scheduler.coverage());
        }
        let report = RunReport {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            verdicts,
            trace_hash: self.tracer.hash(),
            trace_lines: self.tracer.count(),
            steps: self.steps,
            commands_issued: self.commands_issued,
            coverage: self.coverage,
            trace: self.tracer.into_lines(),
        };
        let end = self.now;
        (report, self.recorder.map(|recorder| (recorder, end)))
    }
}
