//! The one task that owns the scheduler core.
//!
//! Everything else talks to it over one bounded channel: HTTP handlers send
//! requests and questions with a oneshot for the answer; stream, command and
//! persistence workers send the core's inputs. The task feeds each message
//! to the core, drains its outputs (spawning workers for commands, streams
//! and writes), and otherwise sleeps until the core's next deadline. No lock
//! is shared with anyone.

use std::collections::BTreeMap;
use std::sync::Arc;

use harpoon_core::wire::{ContainerInstance, StateEvent};
use harpoon_core::{
    AgentCommand, AgentId, CommandAction, Input, Output, Reply, RequestId, Scheduler, TraceLevel,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tracing::{debug, info, warn};

use super::agent_client::AgentClient;
use super::messages::{CoreMessage, MetricsSnapshot, Query};
use super::operator_log::{self, OperatorLog};
use super::record::Recorder;
use super::status_page::{RecentTraces, StatusSnapshot};
use super::store::{RegistryStore, StoredRegistry};

/// How the core task runs.
#[derive(Debug)]
pub struct CoreTask {
    pub(crate) scheduler: Scheduler,
    pub(crate) epoch: tokio::time::Instant,
    pub(crate) receiver: mpsc::Receiver<CoreMessage>,
    /// For workers to report back.
    pub(crate) sender: mpsc::Sender<CoreMessage>,
    pub(crate) client: AgentClient,
    /// Where writes go. One write is outstanding at a time (the core's
    /// contract), so the lock is never contended.
    pub(crate) store: Arc<std::sync::Mutex<RegistryStore>>,
    /// Where every input goes too, with `--record`.
    pub(crate) recorder: Option<Recorder>,
}

struct Driver {
    scheduler: Scheduler,
    epoch: tokio::time::Instant,
    sender: mpsc::Sender<CoreMessage>,
    client: AgentClient,
    store: Arc<std::sync::Mutex<RegistryStore>>,
    replies: BTreeMap<RequestId, oneshot::Sender<Reply>>,
    next_request: u64,
    /// Each agent's stream task and its session.
    streams: BTreeMap<AgentId, (u64, AbortHandle)>,
    workers: JoinSet<()>,
    writes: JoinSet<()>,
    /// What operators see of the core's decisions (rate-limited).
    log: OperatorLog,
    /// The latest decisions, for the status page.
    recent: RecentTraces,
    recorder: Option<Recorder>,
}

impl CoreTask {
    /// Runs until every sender is gone (the daemon is shutting down), then
    /// waits for the registry write under way, if any.
    pub async fn run(self, stored: StoredRegistry) {
        let CoreTask {
            scheduler,
            epoch,
            mut receiver,
            sender,
            client,
            store,
            recorder,
        } = self;
        let mut driver = Driver {
            scheduler,
            epoch,
            sender,
            client,
            store,
            replies: BTreeMap::new(),
            next_request: 0,
            streams: BTreeMap::new(),
            workers: JoinSet::new(),
            writes: JoinSet::new(),
            log: OperatorLog::new(std::time::Instant::now()),
            recent: RecentTraces::default(),
            recorder,
        };
        // Counts the operator log holds are written when their window
        // ends, even if nothing else happens by then.
        let mut log_windows = tokio::time::interval(operator_log::WINDOW);
        log_windows.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        driver.feed(Input::RegistryLoaded {
            jobs: stored.jobs,
            rollouts: stored.rollouts,
            drains: stored.drains,
            sequence: stored.sequence,
        });
        loop {
            let deadline = driver
                .scheduler
                .poll_timeout()
                .map(|(at, _)| driver.epoch + std::time::Duration::from_millis(at.as_millis()));
            let message = tokio::select! {
                message = receiver.recv() => message,
                () = sleep_until(deadline) => {
                    driver.feed(Input::TimePassed);
                    continue;
                }
                Some(_) = driver.workers.join_next(), if !driver.workers.is_empty() => continue,
                _ = log_windows.tick() => {
                    driver.log.roll(std::time::Instant::now());
                    continue;
                }
            };
            match message {
                Some(CoreMessage::Shutdown) | None => break,
                Some(message) => driver.on_message(message),
            }
        }
        info!("core task stopping: finishing the registry write under way");
        while driver.writes.join_next().await.is_some() {}
        for (_, (_, handle)) in std::mem::take(&mut driver.streams) {
            handle.abort();
        }
        driver.workers.abort_all();
        if let Some(recorder) = driver.recorder.take() {
            recorder.finish();
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    fn now(&self) -> harpoon_core::Instant {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        harpoon_core::Instant::from_millis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }

    fn feed(&mut self, input: Input) {
        let now = self.now();
        if !self.recorder.as_ref().is_some_and(Recorder::is_recording) {
            self.scheduler.handle(now, input);
            while let Some(output) = self.scheduler.poll_output() {
                self.carry_out(output);
            }
            return;
        }
        // Recorded: the input and its outputs are cloned for the writer
        // (shared configs and changes make that cheap), which hashes and
        // encodes them off this task.
        self.scheduler.handle(now, input.clone());
        let mut outputs = Vec::new();
        while let Some(output) = self.scheduler.poll_output() {
            outputs.push(output.clone());
            self.carry_out(output);
        }
        if let Some(recorder) = &mut self.recorder {
            recorder.record(now, input, outputs, &self.scheduler);
        }
    }

    fn on_message(&mut self, message: CoreMessage) {
        match message {
            CoreMessage::CommandAnswered { input, failure } => {
                if let (Some(failure), Input::CommandResult { agent, .. }) = (&failure, &input) {
                    self.log
                        .command_failed(std::time::Instant::now(), agent, failure);
                }
                self.feed(input);
            }
            CoreMessage::Input(input) => {
                if let Input::StreamClosed { agent, session, .. } = &input
                    && self.streams.get(agent).is_some_and(|(s, _)| s == session)
                {
                    self.streams.remove(agent);
                }
                self.feed(input)
            }
            CoreMessage::Schedule { job, index, reply } => {
                let request = self.remember(reply);
                self.feed(Input::Schedule {
                    request,
                    job,
                    index,
                });
            }
            CoreMessage::Unschedule {
                target,
                index,
                reply,
            } => {
                let request = self.remember(reply);
                self.feed(Input::Unschedule {
                    request,
                    target,
                    index,
                });
            }
            CoreMessage::Migrate {
                migrate,
                index,
                reply,
            } => {
                let request = self.remember(reply);
                self.feed(Input::Migrate {
                    request,
                    from: migrate.from,
                    to: migrate.to,
                    params: migrate.params,
                    index,
                });
            }
            CoreMessage::AbortRollout { rollout, reply } => {
                let request = self.remember(reply);
                self.feed(Input::AbortRollout { request, rollout });
            }
            CoreMessage::Drain {
                agent,
                drain,
                reply,
            } => {
                let request = self.remember(reply);
                self.feed(Input::Drain {
                    request,
                    agent,
                    drain,
                });
            }
            CoreMessage::Query(query) => self.answer(query),
            CoreMessage::Shutdown => {}
        }
    }

    fn remember(&mut self, reply: oneshot::Sender<Reply>) -> RequestId {
        self.next_request += 1;
        let request = RequestId(self.next_request);
        self.replies.insert(request, reply);
        request
    }

    fn carry_out(&mut self, output: Output) {
        match output {
            Output::Command(command) => {
                if matches!(command.action, CommandAction::Create(_)) {
                    self.log.placed(std::time::Instant::now(), &command.agent);
                    // Placements are commands, not traces; the page shows
                    // them among the decisions.
                    let placed = format!("placed on {}", command.agent);
                    let now = self.now();
                    self.recent.push(now, command.container.as_str(), &placed);
                }
                self.send_command(command);
            }
            Output::OpenStream { agent, session } => {
                if let Some((_, old)) = self.streams.remove(&agent) {
                    old.abort();
                }
                let client = self.client.clone();
                let sender = self.sender.clone();
                let stream_agent = agent.clone();
                let handle = self
                    .workers
                    .spawn(async move { client.stream(stream_agent, session, sender).await });
                self.streams.insert(agent, (session, handle));
            }
            Output::CloseStream { agent } => {
                if let Some((_, handle)) = self.streams.remove(&agent) {
                    handle.abort();
                }
            }
            Output::Persist { sequence, changes } => {
                let store = Arc::clone(&self.store);
                let sender = self.sender.clone();
                self.writes.spawn(async move {
                    let written = tokio::task::spawn_blocking(move || {
                        store
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .apply(sequence, &changes)
                    })
                    .await;
                    let input = match written {
                        Ok(Ok(())) => Input::PersistCompleted { sequence },
                        Ok(Err(error)) => {
                            warn!(sequence, %error, "registry write failed; the core retries it");
                            Input::PersistFailed {
                                sequence,
                                error: error.to_string(),
                            }
                        }
                        Err(error) => Input::PersistFailed {
                            sequence,
                            error: error.to_string(),
                        },
                    };
                    let _ = sender.send(CoreMessage::Input(input)).await;
                });
            }
            Output::Reply { request, reply } => {
                if let Some(waiter) = self.replies.remove(&request) {
                    // The client may have gone away; its request still took effect.
                    let _ = waiter.send(reply);
                }
            }
            Output::Trace(trace) => {
                self.recent.push(trace.at, &trace.subject, &trace.message);
                self.log_trace(&trace);
            }
        }
    }

    fn log_trace(&mut self, trace: &harpoon_core::Trace) {
        match &trace.level {
            TraceLevel::Detail => {
                debug!(target: "harpoon::core", at = %trace.at, subject = %trace.subject, "{}", trace.message)
            }
            TraceLevel::Change => {
                self.log
                    .change(std::time::Instant::now(), &trace.subject, &trace.message);
            }
            TraceLevel::Unconfirmed { agent } => {
                let what = format!("{}: {}", trace.subject, trace.message);
                self.log
                    .command_failed(std::time::Instant::now(), agent, &what);
            }
        }
    }

    fn send_command(&mut self, command: AgentCommand) {
        // The core hands out at most its limit of commands per agent
        // (`SchedulerConfig::max_commands_in_flight_per_agent`), so each
        // goes out at once: time spent here would count against its
        // pending timeout.
        let client = self.client.clone();
        let sender = self.sender.clone();
        self.workers.spawn(async move {
            let result = client
                .command(&command.agent, &command.container, &command.action)
                .await;
            // Logged by the core task, aggregated per agent: a failing
            // agent must not write a line per command.
            let failure = result
                .as_ref()
                .err()
                .map(|error| format!("{} {}: {error}", command.action.name(), command.container));
            let input = Input::CommandResult {
                agent: command.agent,
                command: command.id,
                result,
            };
            let _ = sender
                .send(CoreMessage::CommandAnswered { input, failure })
                .await;
        });
    }

    fn answer(&mut self, query: Query) {
        match query {
            Query::Registry(reply) => {
                // A structure-sharing snapshot: O(1), whatever the size.
                let _ = reply.send(Arc::new(self.scheduler.jobs().clone()));
            }
            Query::Proxy(reply) => {
                let mut proxy = BTreeMap::new();
                for view in self.scheduler.agents() {
                    let containers = view
                        .containers()
                        .filter_map(|container| {
                            let id = container.id().to_string();
                            let instance = ContainerInstance {
                                container_id: id.clone(),
                                status: container.status()?,
                                config: Arc::clone(container.config()),
                                process_state: container.process_state(),
                            };
                            Some((id, instance))
                        })
                        .collect();
                    proxy.insert(
                        view.id.to_string(),
                        StateEvent {
                            resources: view.resources.clone(),
                            containers,
                        },
                    );
                }
                let _ = reply.send(proxy);
            }
            Query::Status(page, reply) => {
                let _ = reply.send(StatusSnapshot::collect(&self.scheduler, &self.recent, page));
            }
            Query::Metrics(reply) => {
                // Kept by the core as things change: O(agents), never a
                // scan of every record.
                let gauges = self.scheduler.gauges();
                let snapshot = MetricsSnapshot {
                    counters: self.scheduler.metrics().clone(),
                    agents_known: gauges.agents_known,
                    agents_connected: gauges.agents_connected,
                    agents_avoided: gauges.agents_avoided,
                    tasks_desired: gauges.tasks_desired,
                    tasks_running: gauges.tasks_running,
                    tasks_pending: gauges.tasks_pending,
                    tasks_unplaced: gauges.tasks_unplaced,
                    unplaced_by_reason: self.scheduler.unplaced_by_constraint(),
                    rollouts_running: gauges.rollouts_running,
                    agents_draining: gauges.agents_draining,
                };
                let _ = reply.send(snapshot);
            }
            // Both read the core without changing it (a plan draws from a
            // copy of its generator); each costs O(agents), once per
            // request.
            Query::Plan(change, reply) => {
                let _ = reply.send(self.scheduler.plan(*change));
            }
            Query::Why(hash, reply) => {
                let _ = reply.send(self.scheduler.why(&hash));
            }
            Query::Rollouts(reply) => {
                let rollouts = self
                    .scheduler
                    .rollouts()
                    .map(|view| super::rollouts_api::RolloutJson::of(&view))
                    .collect();
                let _ = reply.send(rollouts);
            }
            Query::Drains(reply) => {
                let drains = self
                    .scheduler
                    .drains()
                    .map(|agent| super::rollouts_api::DrainJson {
                        agent: agent.to_string(),
                        remaining: self.scheduler.drain_remaining(agent),
                    })
                    .collect();
                let _ = reply.send(drains);
            }
        }
    }
}
