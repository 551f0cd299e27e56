//! Processes: start, stop, exit, automatic restart, and the timers that
//! drive the shutdown grace and the restart back-off.
//!
//! Status rules: `running` while a process runs; when it ends, `finished`
//! if it exited 0, or if it ended because of a stop (by the signal the stop
//! sent, or in an unknown way); `failed` otherwise, and when it could not be
//! started (with `process_state.err`). While a restart is pending the status
//! stays that outcome, with `process_state.restarting` set.

use std::future::Future;
use std::time::Duration;

use harpoon_core::wire::ContainerStatus;
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::backoff;
use super::container::{Phase, Process};
use super::error::{StartError, StopError};
use super::handle::Message;
use super::launch;
use super::prepare::{log_file, root_dir};
use super::state::AgentState;
use super::timers::Timer;
use super::watch::{self, Exit};

impl AgentState {
    /// Starts container `id`, or, while it is being prepared, remembers to
    /// start it once prepared.
    pub fn start(&mut self, id: &str) -> Result<(), StartError> {
        let container = self
            .containers
            .get_mut(id)
            .ok_or_else(|| StartError::NotFound(id.to_owned()))?;
        match &mut container.phase {
            Phase::Preparing {
                start_requested, ..
            } => {
                *start_requested = true;
                self.persist(id);
                Ok(())
            }
            Phase::Running(_) => Err(StartError::AlreadyRunning(id.to_owned())),
            Phase::Idle | Phase::RestartWait => {
                self.launch(id, false).map_err(|reason| StartError::Failed {
                    id: id.to_owned(),
                    reason,
                })
            }
        }
    }

    /// Stops container `id`: SIGTERM to its process group now, SIGKILL when
    /// the shutdown grace is over. A pending start or restart is cancelled.
    pub fn stop(&mut self, id: &str) -> Result<(), StopError> {
        let container = self
            .containers
            .get_mut(id)
            .ok_or_else(|| StopError::NotFound(id.to_owned()))?;
        let not_running = |status: ContainerStatus| StopError::NotRunning {
            id: id.to_owned(),
            status: status.to_string(),
        };
        let grace = grace_of(container);
        let kill = Timer::Kill {
            id: id.to_owned(),
            run: container.run,
        };
        match &mut container.phase {
            Phase::Preparing {
                start_requested, ..
            } if *start_requested => {
                *start_requested = false;
                self.persist(id);
            }
            Phase::Preparing { .. } | Phase::Idle => {
                return Err(not_running(container.instance.status));
            }
            Phase::RestartWait => {
                // The pending restart timer no longer matches and is ignored.
                container.phase = Phase::Idle;
                container.instance.process_state.restarting = false;
                self.commit(id);
            }
            Phase::Running(process) if process.stop_requested => {}
            Phase::Running(process) => {
                process.stop_requested = true;
                tracing::info!(container = id, pid = process.pid, ?grace, "stopping");
                launch::signal_group(process.pid, process.start_time_ticks, Signal::SIGTERM);
                self.timers.set(Instant::now() + grace, kill);
                self.persist(id);
            }
        }
        Ok(())
    }

    /// Run `run` of container `id` ended with `exit`.
    pub fn on_exit(&mut self, id: &str, run: u64, exit: Exit) {
        let backoff = self.backoff();
        let Some(container) = self.containers.get_mut(id).filter(|c| c.run == run) else {
            return;
        };
        let Phase::Running(process) = std::mem::replace(&mut container.phase, Phase::Idle) else {
            return;
        };
        let succeeded = match &exit {
            Exit::Code(code) => *code == 0,
            Exit::Signal(signal) => {
                process.stop_requested
                    && [Signal::SIGTERM as i32, Signal::SIGKILL as i32].contains(signal)
            }
            Exit::Unknown(_) => process.stop_requested,
        };
        let state = &mut container.instance.process_state;
        state.up = false;
        state.container_exit_status = exit.to_wire();
        if let Exit::Unknown(reason) = &exit {
            state.err = Some(reason.clone());
        }
        container.instance.status = if succeeded {
            ContainerStatus::Finished
        } else {
            ContainerStatus::Failed
        };
        let policy = &container.instance.config.restart;
        let restart = !process.stop_requested && backoff::restarts(policy, succeeded);
        tracing::info!(
            container = id,
            pid = process.pid,
            ?exit,
            restart,
            "process ended"
        );
        if restart {
            container.short_runs =
                backoff.next_short_runs(container.short_runs, process.started.elapsed());
            let delay = backoff.delay(container.short_runs);
            self.schedule_restart(id, delay);
        } else {
            container.instance.process_state.restarting = false;
        }
        self.commit(id);
    }

    /// A timer fired.
    pub fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Kill { id, run } => {
                let Some(container) = self.containers.get(&id).filter(|c| c.run == run) else {
                    return;
                };
                if let Phase::Running(process) = &container.phase
                    && process.stop_requested
                {
                    tracing::warn!(container = %id, pid = process.pid, "still running after the shutdown grace; killing");
                    launch::signal_group(process.pid, process.start_time_ticks, Signal::SIGKILL);
                }
            }
            Timer::Restart { id, run } => {
                let Some(container) = self.containers.get_mut(&id).filter(|c| c.run == run) else {
                    return;
                };
                if let Phase::RestartWait = container.phase {
                    container.instance.process_state.restarts += 1;
                    // A failure is already recorded and handled by `launch`.
                    let _ = self.launch(&id, true);
                }
            }
        }
    }

    /// Starts a new run of container `id`. A failure is recorded as
    /// `failed`; after an automatic restart, the restart policy then decides
    /// whether to try again.
    fn launch(&mut self, id: &str, automatic: bool) -> Result<(), String> {
        let inbox = self.inbox.clone();
        let backoff = self.backoff();
        let run = self.next_run();
        let Some(container) = self.containers.get_mut(id) else {
            return Err(format!("container {id} not found"));
        };
        container.run = run;
        let config = container.instance.config.clone();
        let result = launch::launch(
            &root_dir(&container.dir),
            &log_file(&container.dir),
            &config,
        );
        let state = &mut container.instance.process_state;
        match result {
            Ok(launched) => {
                tracing::info!(container = id, pid = launched.pid, run, "started");
                let watcher = spawn_reporter(inbox, id, run, watch::child(launched.child));
                container.phase = Phase::Running(Process {
                    pid: launched.pid,
                    start_time_ticks: launched.start_time_ticks,
                    started: Instant::now(),
                    stop_requested: false,
                    watcher,
                });
                container.instance.status = ContainerStatus::Running;
                state.up = true;
                state.restarting = false;
                state.err = None;
                self.commit(id);
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(container = id, %reason, "cannot start");
                container.phase = Phase::Idle;
                container.instance.status = ContainerStatus::Failed;
                state.up = false;
                state.restarting = false;
                state.err = Some(reason.clone());
                if automatic && backoff::restarts(&config.restart, false) {
                    container.short_runs = container.short_runs.saturating_add(1);
                    let delay = backoff.delay(container.short_runs);
                    self.schedule_restart(id, delay);
                }
                self.commit(id);
                Err(reason)
            }
        }
    }

    /// Sets container `id` to restart after `delay`.
    pub fn schedule_restart(&mut self, id: &str, delay: Duration) {
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        container.phase = Phase::RestartWait;
        container.instance.process_state.restarting = true;
        let timer = Timer::Restart {
            id: id.to_owned(),
            run: container.run,
        };
        tracing::info!(container = id, ?delay, "restarting after back-off");
        self.timers.set(Instant::now() + delay, timer);
    }

    /// Tracks a process that a previous agent started and that still runs.
    pub fn adopt(&mut self, id: &str, pid: i32, start_time_ticks: u64, stop_requested: bool) {
        let inbox = self.inbox.clone();
        let poll = self.options.adopted_poll_interval;
        let run = self.next_run();
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        container.run = run;
        let watcher = spawn_reporter(inbox, id, run, watch::adopted(pid, start_time_ticks, poll));
        container.phase = Phase::Running(Process {
            pid,
            start_time_ticks,
            started: Instant::now(),
            stop_requested,
            watcher,
        });
        if stop_requested {
            // The stop was under way when the agent went down: finish it.
            let grace = grace_of(container);
            self.timers.set(
                Instant::now() + grace,
                Timer::Kill {
                    id: id.to_owned(),
                    run,
                },
            );
            launch::signal_group(pid, start_time_ticks, Signal::SIGTERM);
        }
    }
}

/// The shutdown grace of a container's config.
fn grace_of(container: &super::container::Container) -> Duration {
    Duration::from_millis(
        container
            .instance
            .config
            .grace
            .shutdown
            .to_duration()
            .as_millis(),
    )
}

/// Spawns a task that awaits `exit` and reports it as run `run` of `id`.
fn spawn_reporter(
    inbox: mpsc::Sender<Message>,
    id: &str,
    run: u64,
    exit: impl Future<Output = Exit> + Send + 'static,
) -> tokio::task::AbortHandle {
    let id = id.to_owned();
    let task = tokio::spawn(async move {
        let exit = exit.await;
        // No receiver means the agent is shutting down; the next agent
        // finds out about the process from its record.
        let _ = inbox.send(Message::Exited { id, run, exit }).await;
    });
    task.abort_handle()
}
