//! One container as the state task holds it: the wire view clients see,
//! plus what the agent is doing with it and the tasks working for it.

use std::path::PathBuf;
use std::sync::Arc;

use harpoon_core::wire::ContainerInstance;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::logs::ContainerLog;
use super::persist::{Record, RecordedPhase};

/// A container on this agent.
#[derive(Debug)]
pub(crate) struct Container {
    /// What clients see. Its status follows `phase`: `created` while
    /// preparing, `running` while a process runs, and the outcome of the
    /// last run (or `created`) otherwise.
    pub instance: ContainerInstance,
    /// Its directory: root directory and log file. Unique per creation, so
    /// that a container re-created under the same ID never meets leftovers
    /// of the previous one.
    pub dir: PathBuf,
    pub phase: Phase,
    pub log: Arc<ContainerLog>,
    /// The task following the log file, once prepared.
    pub tailer: Option<AbortHandle>,
    /// Runs in a row that ended quickly, for the restart back-off.
    pub short_runs: u32,
    /// Number of the current (or last) run, 0 before the first; timers and
    /// exit reports name the run they are about, so stale ones are
    /// recognised.
    pub run: u64,
}

/// What the agent is doing with a container.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Fetching and unpacking; a start that arrives meanwhile is kept.
    Preparing {
        cancel: CancellationToken,
        start_requested: bool,
    },
    /// Prepared, and no process runs.
    Idle,
    /// A process runs.
    Running(Process),
    /// The process ended and a restart timer is set.
    RestartWait,
}

/// A container's running process.
#[derive(Debug)]
pub(crate) struct Process {
    pub pid: i32,
    pub start_time_ticks: u64,
    /// When it started (or was adopted), for the back-off reset.
    pub started: Instant,
    pub stop_requested: bool,
    /// The task waiting for it to end.
    pub watcher: AbortHandle,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.instance.container_id
    }

    /// Whether listings, GETs and first events show it: not while it is
    /// being prepared (see [`super::state::AgentState::instances`]).
    pub fn is_shown(&self) -> bool {
        !matches!(self.phase, Phase::Preparing { .. })
    }

    /// What is persisted of this container.
    pub fn record(&self) -> Record {
        let phase = match &self.phase {
            Phase::Preparing {
                start_requested, ..
            } => RecordedPhase::Preparing {
                start_requested: *start_requested,
            },
            Phase::Idle => RecordedPhase::Idle,
            Phase::Running(process) => RecordedPhase::Running {
                pid: process.pid,
                start_time_ticks: process.start_time_ticks,
                stop_requested: process.stop_requested,
            },
            Phase::RestartWait => RecordedPhase::RestartWait,
        };
        Record {
            instance: self.instance.clone(),
            dir: self.dir.clone(),
            phase,
            short_runs: self.short_runs,
        }
    }
}

impl Drop for Container {
    /// A container leaves the state task's map when it is deleted or when
    /// the agent shuts down: either way the tasks working for it stop. Its
    /// process is left alone, so that a restarted agent can adopt it.
    fn drop(&mut self) {
        if let Some(tailer) = &self.tailer {
            tailer.abort();
        }
        match &self.phase {
            Phase::Preparing { cancel, .. } => cancel.cancel(),
            Phase::Running(process) => process.watcher.abort(),
            Phase::Idle | Phase::RestartWait => {}
        }
    }
}
