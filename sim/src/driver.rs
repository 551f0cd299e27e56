//! The world's driver half: it carries out the scheduler's outputs over the
//! simulated network and disk, and reports every outcome back as an input,
//! as the real HTTP driver does.
//!
//! Like the real driver, it always reports on every command: the answer,
//! `Unreachable` when the agent refused the connection, or `TimedOut` when
//! no answer came within the request timeout (the command or its answer was
//! lost, or the link is partitioned).

use harpoon_core::{
    AgentCommand, AgentId, CommandAction, CommandError, CommandId, Input, Output, Reply, RequestId,
    Scheduler, UnscheduleTarget,
};
use rand::RngExt;

use crate::agent::Effects;
use crate::invariants::Invariant;
use crate::network::StreamPayload;
use crate::world::{DriverStream, Event, InFlightCommand, UserRequest, World};

impl World<'_> {
    /// Carries out one output of the scheduler.
    pub(crate) fn output(&mut self, output: Output) {
        match output {
            Output::Trace(trace) => {
                let text = format!("{}: {}", trace.subject, trace.message);
                self.tracer.line(self.now, "scheduler", &text);
            }
            Output::Command(command) => self.send_command(command),
            Output::OpenStream { agent, session } => self.open_stream(agent, session),
            Output::CloseStream { agent } => {
                self.tracer.line(
                    self.now,
                    "scheduler",
                    &format!("close the stream of {agent}"),
                );
                if let Some(stream) = self.streams.remove(&agent)
                    && !self.network.is_partitioned(&agent)
                {
                    let latency = self.network.latency(&agent, &mut self.rng);
                    self.queue.push(
                        self.now + latency,
                        Event::StreamHangup {
                            agent,
                            session: stream.session,
                        },
                    );
                }
            }
            Output::Persist { sequence, changes } => {
                self.tracer.line(
                    self.now,
                    "disk",
                    &format!(
                        "registry write #{sequence} begins ({} put, {} removed)",
                        changes.put.len(),
                        changes.removed.len()
                    ),
                );
                self.disk.writing = Some((sequence, changes));
                let latency = match self.disk.slow_until {
                    // The `slow_disk` fault: a write begun while it lasts
                    // takes its latency instead.
                    Some((until, slow)) if self.now < until => slow.draw(&mut self.rng),
                    _ => self.scenario.scheduler.persist_latency.draw(&mut self.rng),
                };
                self.queue.push(
                    self.now + latency,
                    Event::PersistDone {
                        incarnation: self.incarnation,
                        sequence,
                    },
                );
            }
            Output::Reply { request, reply } => self.reply(request, reply),
        }
    }

    fn reply(&mut self, request: RequestId, reply: Reply) {
        let Some(pending) = self.requests.remove(&request) else {
            let text = format!("reply to unknown request {}: {}", request.0, reply.msg);
            self.tracer.line(self.now, "user", &text);
            return;
        };
        let text = format!(
            "{} {} answered {}: {}",
            pending.verb, pending.job, reply.status_code, reply.msg
        );
        self.tracer.line(self.now, "user", &text);
        if reply.status_code == 202 {
            if pending.schedule {
                self.acknowledged.insert(pending.hash, pending.job);
            } else {
                self.acknowledged.remove(&pending.hash);
            }
        }
    }

    /// A user sends a schedule or unschedule request for a scenario job.
    pub(crate) fn user_request(&mut self, job: &str, schedule: bool) {
        self.user_request_at(job, schedule, None);
    }

    /// As [`World::user_request`], made against registry `index` if given
    /// (check-and-set).
    pub(crate) fn user_request_at(&mut self, job: &str, schedule: bool, index: Option<u64>) {
        let spec = &self.scenario.jobs[job];
        let verb = if schedule { "schedule" } else { "unschedule" };
        if self.scheduler.is_none() {
            let text = format!("{verb} {job} refused: the scheduler is down (the user gives up)");
            self.tracer.line(self.now, "user", &text);
            return;
        }
        self.next_request += 1;
        let request = RequestId(self.next_request);
        let hash = spec.config.hash();
        self.tracer.line(
            self.now,
            "user",
            &match index {
                Some(index) => format!(
                    "{verb} {job} ({hash}) at index {index}, request {}",
                    request.0
                ),
                None => format!("{verb} {job} ({hash}), request {}", request.0),
            },
        );
        self.requests.insert(
            request,
            UserRequest {
                schedule,
                verb,
                job: job.to_owned(),
                hash,
            },
        );
        let config = spec.config.clone();
        self.input(if schedule {
            Input::Schedule {
                request,
                job: config,
                index,
            }
        } else {
            Input::Unschedule {
                request,
                target: UnscheduleTarget::Config(config),
                index,
            }
        });
    }

    // -- the scheduler process ------------------------------------------------

    /// Starts a scheduler process from what the disk holds.
    pub(crate) fn start_scheduler(&mut self) {
        let seed = self.rng.random::<u64>();
        let config = self.scenario.scheduler.config.clone();
        self.scheduler = Some(Scheduler::new(config, seed, self.now));
        let jobs: Vec<_> = self
            .disk
            .persisted
            .values()
            .map(|job| (**job).clone())
            .collect();
        self.tracer.line(
            self.now,
            "scheduler",
            &format!(
                "process starts (incarnation {}); the disk holds {} jobs",
                self.incarnation,
                jobs.len()
            ),
        );
        let sequence = self.disk.sequence;
        let rollouts = self
            .disk
            .rollouts
            .values()
            .map(|rollout| (**rollout).clone())
            .collect();
        let drains = self.disk.drains.iter().cloned().collect();
        self.input(Input::RegistryLoaded {
            jobs,
            rollouts,
            drains,
            sequence,
        });
        self.input(Input::AgentsDiscovered {
            agents: self.discovered.clone(),
        });
        self.check_acknowledged_survived();
    }

    /// The scheduler process dies: its memory, connections, requests and
    /// the write under way are gone.
    pub(crate) fn crash_scheduler(&mut self, down: harpoon_core::Duration) {
        if self.scheduler.is_none() {
            self.tracer.line(
                self.now,
                "scheduler",
                "already down: the crash changes nothing",
            );
            return;
        }
        if let Some(scheduler) = self.scheduler.take() {
            self.coverage.merge(scheduler.coverage());
        }
        self.incarnation += 1;
        self.commands.clear();
        self.streams.clear();
        self.heard_from.clear();
        if let Some((sequence, changes)) = self.disk.writing.take() {
            // The crash came before the commit or after it (its answer
            // lost): all of the write or none, never a part. A failing disk
            // commits nothing.
            let disk_failing = self
                .disk
                .failing_until
                .is_some_and(|until| self.now < until);
            let text = if !disk_failing && self.rng.random_bool(0.5) {
                self.disk.commit(sequence, &changes);
                format!(
                    "registry write #{sequence} had committed when the crash came: all of it is durable, unacknowledged"
                )
            } else {
                format!("registry write #{sequence} is cut by the crash: nothing of it is durable")
            };
            self.tracer.line(self.now, "disk", &text);
        }
        for (request, pending) in std::mem::take(&mut self.requests) {
            if !pending.schedule {
                // Its write may have committed before the crash: the user,
                // who got no answer, cannot count on the job still being
                // there (nor on its being gone).
                self.acknowledged.remove(&pending.hash);
            }
            let text = format!(
                "request {} ({} {}) gets no answer: the connection died",
                request.0,
                if pending.schedule {
                    "schedule"
                } else {
                    "unschedule"
                },
                pending.job
            );
            self.tracer.line(self.now, "user", &text);
        }
        self.queue.push(
            self.now + down,
            Event::SchedulerRestart {
                incarnation: self.incarnation,
            },
        );
    }

    pub(crate) fn persist_done(&mut self, incarnation: u64, sequence: u64) {
        if incarnation != self.incarnation {
            return;
        }
        let Some((writing, changes)) = self.disk.writing.take() else {
            return;
        };
        if writing != sequence {
            self.disk.writing = Some((writing, changes));
            return;
        }
        let fail = self.scenario.scheduler.persist_fail;
        let disk_failing = self
            .disk
            .failing_until
            .is_some_and(|until| self.now < until);
        if disk_failing || (fail > 0.0 && self.rng.random_bool(fail)) {
            let why = if disk_failing {
                " (the disk is failing)"
            } else {
                ""
            };
            self.tracer.line(
                self.now,
                "disk",
                &format!("registry write #{sequence} fails{why}"),
            );
            self.input(Input::PersistFailed {
                sequence,
                error: "simulated disk error".to_owned(),
            });
            return;
        }
        self.tracer.line(
            self.now,
            "disk",
            &format!(
                "registry write #{sequence} is durable ({} changes)",
                changes.len()
            ),
        );
        self.disk.commit(sequence, &changes);
        self.input(Input::PersistCompleted { sequence });
    }

    // -- commands -------------------------------------------------------------

    fn send_command(&mut self, command: AgentCommand) {
        let AgentCommand {
            id,
            agent,
            container,
            action,
        } = command;
        let container = container.as_str().to_owned();
        self.commands_issued += 1;
        *self.commands_to.entry(agent.clone()).or_default() += 1;
        self.tracer.line(
            self.now,
            "scheduler",
            &format!("command {id} {} {container} → {agent}", action.name()),
        );
        if let Some(other) = self
            .commands
            .iter()
            .find(|(_, sent)| sent.agent == agent && sent.container == container)
        {
            let what = format!(
                "command {id} {} {container} to {agent} while {} {} is still in flight",
                action.name(),
                other.0,
                other.1.action
            );
            self.invariants
                .record(Invariant::OneCommandPerContainer, self.now, what);
        }
        self.commands.insert(
            id,
            InFlightCommand {
                agent: agent.clone(),
                container: container.clone(),
                action: action.name(),
                sent_at: self.now,
            },
        );
        let timeout = self.scenario.network.request_timeout;
        self.queue.push(
            self.now + timeout,
            Event::RequestTimeout {
                incarnation: self.incarnation,
                command: id,
            },
        );
        if !self.discovered.contains(&agent) {
            let what = format!(
                "command {id} {} {container} to {agent}, which discovery does not list",
                action.name()
            );
            self.invariants
                .record(Invariant::OnlyDiscoveredAgents, self.now, what);
            self.queue.push(
                self.now,
                Event::CommandAnswer {
                    incarnation: self.incarnation,
                    command: id,
                    agent,
                    result: Err(CommandError::Unreachable("no such agent".to_owned())),
                },
            );
            return;
        }
        if let CommandAction::Create(config) = &action {
            self.step_creates.insert(agent.clone());
            if let Some(sim) = self.agents.get(&agent)
                && !sim.can_host(config)
            {
                let what = format!("create {container} on {agent}, which lacks a volume it needs");
                self.invariants.record(Invariant::Capacity, self.now, what);
            }
        }
        if self.network.is_partitioned(&agent) {
            self.tracer.line(
                self.now,
                "net",
                &format!("command {id} to {agent} lost: partitioned"),
            );
            return;
        }
        if self.network.randomly_lost(&mut self.rng) {
            self.tracer
                .line(self.now, "net", &format!("command {id} to {agent} lost"));
            return;
        }
        let latency = self.network.latency(&agent, &mut self.rng);
        self.queue.push(
            self.now + latency,
            Event::CommandArrives {
                incarnation: self.incarnation,
                command: id,
                agent,
                container,
                action,
            },
        );
    }

    pub(crate) fn command_arrives(
        &mut self,
        incarnation: u64,
        command: CommandId,
        agent: AgentId,
        container: &str,
        action: &CommandAction,
    ) {
        if self.network.is_partitioned(&agent) {
            self.tracer.line(
                self.now,
                "net",
                &format!("command {command} to {agent} lost: partitioned"),
            );
            return;
        }
        let behaviour = self
            .job_of(container)
            .map(|(_, behaviour)| *behaviour)
            .unwrap_or_default();
        let mut effects = Effects::default();
        let result = match self.agents.get_mut(&agent) {
            Some(sim) if sim.is_up() => sim.command(
                container,
                action,
                behaviour,
                self.now,
                &mut self.rng,
                &mut effects,
            ),
            _ => Err(CommandError::Unreachable("connection refused".to_owned())),
        };
        let text = match &result {
            Ok(()) => format!("{command} {} {container}: accepted", action.name()),
            Err(error) => format!("{command} {} {container}: {error}", action.name()),
        };
        self.tracer.line(self.now, agent.as_str(), &text);
        if matches!(action, CommandAction::Create(_)) {
            // A create sent before the scheduler heard of a shrink was
            // placed on the totals it knew; only later ones are judged.
            let sent_at = self.commands.get(&command).map(|c| c.sent_at);
            let placed_blind = match self.resize_heard_at.get(&agent) {
                Some(None) => true,
                Some(Some(heard)) => sent_at.is_some_and(|sent| sent < *heard),
                None => false,
            };
            if !placed_blind {
                self.check_agent_totals(&agent);
            }
        }
        self.apply_effects(&agent, effects);
        if self.network.is_partitioned(&agent) || self.network.randomly_lost(&mut self.rng) {
            self.tracer.line(
                self.now,
                "net",
                &format!("answer to {command} from {agent} lost"),
            );
            return;
        }
        let latency = self.network.latency(&agent, &mut self.rng);
        self.queue.push(
            self.now + latency,
            Event::CommandAnswer {
                incarnation,
                command,
                agent,
                result,
            },
        );
    }

    pub(crate) fn command_answer(
        &mut self,
        incarnation: u64,
        command: CommandId,
        agent: AgentId,
        result: Result<(), CommandError>,
    ) {
        if incarnation != self.incarnation {
            return;
        }
        if self.network.is_partitioned(&agent) {
            self.tracer.line(
                self.now,
                "net",
                &format!("answer to {command} from {agent} lost: partitioned"),
            );
            return;
        }
        if self.commands.remove(&command).is_none() {
            // The driver already gave up on it and reported a timeout.
            self.tracer.quiet(
                self.now,
                "net",
                &format!("late answer to {command} ignored"),
            );
            return;
        }
        let text = match &result {
            Ok(()) => format!("{command} answered by {agent}: ok"),
            Err(error) => format!("{command} answered by {agent}: {error}"),
        };
        self.tracer.line(self.now, "scheduler", &text);
        self.input(Input::CommandResult {
            agent,
            command,
            result,
        });
    }

    pub(crate) fn request_timeout(&mut self, incarnation: u64, command: CommandId) {
        if incarnation != self.incarnation {
            return;
        }
        let Some(sent) = self.commands.remove(&command) else {
            return;
        };
        let text = format!(
            "{command} to {}: no answer within {}, timed out",
            sent.agent, self.scenario.network.request_timeout
        );
        self.tracer.line(self.now, "scheduler", &text);
        self.input(Input::CommandResult {
            agent: sent.agent,
            command,
            result: Err(CommandError::TimedOut),
        });
    }

    // -- streams --------------------------------------------------------------

    fn open_stream(&mut self, agent: AgentId, core_session: u64) {
        self.next_session += 1;
        let session = self.next_session;
        self.core_sessions
            .insert(session, (self.incarnation, core_session));
        self.tracer.line(
            self.now,
            "scheduler",
            &format!("open the stream of {agent} (session {session})"),
        );
        self.streams.insert(
            agent.clone(),
            DriverStream {
                session,
                open: false,
            },
        );
        let timeout = self.scenario.network.request_timeout;
        self.queue.push(
            self.now + timeout,
            Event::StreamConnectTimeout {
                agent: agent.clone(),
                session,
            },
        );
        if self.network.is_partitioned(&agent) {
            self.tracer.line(
                self.now,
                "net",
                &format!("stream request to {agent} lost: partitioned"),
            );
            return;
        }
        let latency = self.network.latency(&agent, &mut self.rng);
        self.queue.push(
            self.now + latency,
            Event::StreamConnectArrives { agent, session },
        );
    }

    pub(crate) fn stream_connect_arrives(&mut self, agent: AgentId, session: u64) {
        if self.network.is_partitioned(&agent) {
            self.tracer.line(
                self.now,
                "net",
                &format!("stream request to {agent} lost: partitioned"),
            );
            return;
        }
        let Some(sim) = self.agents.get_mut(&agent) else {
            self.send_stream(
                &agent,
                session,
                StreamPayload::Closed("no such host".to_owned()),
            );
            return;
        };
        if !sim.is_up() {
            self.send_stream(
                &agent,
                session,
                StreamPayload::Closed("connection refused".to_owned()),
            );
            return;
        }
        sim.stream = Some(session);
        let first = sim.full_state();
        self.tracer.line(
            self.now,
            agent.as_str(),
            &format!("stream session {session} accepted"),
        );
        let flaps = self.now < sim.flap_stream_until;
        let repeats = self.now < sim.repeat_first_event_until;
        self.send_stream(&agent, session, StreamPayload::Opened);
        if repeats {
            // The `repeat_first_event` fault: the full first event comes
            // twice, as from an agent that replays its snapshot.
            self.send_stream(&agent, session, StreamPayload::Event(first.clone()));
        }
        self.send_stream(&agent, session, StreamPayload::Event(first));
        if flaps {
            // The `flap_stream` fault: the stream breaks right after its
            // first event, every time.
            self.break_stream(&agent, "connection reset right after the first event");
        }
    }

    pub(crate) fn stream_connect_timeout(&mut self, agent: AgentId, session: u64) {
        match self.streams.get(&agent) {
            Some(stream) if stream.session == session && !stream.open => {}
            _ => return,
        }
        self.streams.remove(&agent);
        self.tracer.line(
            self.now,
            "scheduler",
            &format!("stream of {agent}: no answer, connect timed out"),
        );
        let Some(&(_, core_session)) = self.core_sessions.get(&session) else {
            return;
        };
        self.input(Input::StreamClosed {
            agent,
            session: core_session,
            reason: "connect timed out".to_owned(),
        });
    }

    /// Sends a message on an agent's stream session; it arrives in order.
    pub(crate) fn send_stream(&mut self, agent: &AgentId, session: u64, payload: StreamPayload) {
        let at = self.network.stream_arrival(agent, self.now, &mut self.rng);
        self.queue.push(
            at,
            Event::StreamDeliver {
                agent: agent.clone(),
                session,
                payload,
            },
        );
    }

    pub(crate) fn stream_deliver(&mut self, agent: AgentId, session: u64, payload: StreamPayload) {
        if self.network.is_partitioned(&agent) {
            self.network.hold(&agent, session, payload);
            return;
        }
        let Some(&(incarnation, core_session)) = self.core_sessions.get(&session) else {
            return;
        };
        if incarnation != self.incarnation {
            // Opened by a scheduler process that crashed since: its
            // connections died with it.
            return;
        }
        // A session the driver closed or replaced still delivers what was
        // on its way; the core, not the driver, ignores stale sessions.
        let current = matches!(self.streams.get(&agent), Some(stream) if stream.session == session);
        let text = payload.describe();
        if !current || matches!(payload, StreamPayload::KeepAlive) {
            self.tracer.quiet(self.now, agent.as_str(), &text);
        } else {
            self.tracer.line(self.now, agent.as_str(), &text);
        }
        match payload {
            StreamPayload::Opened => {
                if current && let Some(stream) = self.streams.get_mut(&agent) {
                    stream.open = true;
                }
                self.input(Input::StreamOpened {
                    agent,
                    session: core_session,
                });
            }
            StreamPayload::Event(event) => {
                if current {
                    self.heard_from.insert(agent.clone());
                    // Heard only from an event carrying the new totals
                    // (not one the old session had on its way).
                    let current_totals = self.agents.get(&agent).is_some_and(|sim| {
                        event.resources.mem.total == sim.total_mem_mb()
                            && harpoon_core::wire::cpu_millis(event.resources.cpus.total)
                                == sim.total_cpu_millis()
                    });
                    if current_totals
                        && let Some(heard @ None) = self.resize_heard_at.get_mut(&agent)
                    {
                        *heard = Some(self.now);
                    }
                }
                self.input(Input::StreamEvent {
                    agent,
                    session: core_session,
                    event,
                });
            }
            StreamPayload::KeepAlive => self.input(Input::StreamKeepAlive {
                agent,
                session: core_session,
            }),
            StreamPayload::Closed(reason) => {
                if current {
                    self.streams.remove(&agent);
                }
                self.input(Input::StreamClosed {
                    agent,
                    session: core_session,
                    reason,
                });
            }
        }
    }
}
