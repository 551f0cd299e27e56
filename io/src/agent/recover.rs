//! Building the agent's state from its data directory, at start.
//!
//! Every recorded container comes back; none is silently forgotten. A
//! process that still runs (same pid and start time) is adopted; one that is
//! gone is reported `failed` (or `finished` if it was being stopped), and
//! its restart policy applies. A preparation that was interrupted starts
//! again. An unreadable record is reported as a `failed` container whose
//! `err` says why, so that an operator sees it and can delete it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use harpoon_core::wire::{ContainerInstance, ContainerStatus, ProcessState};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backoff;
use super::container::{Container, Phase};
use super::error::AgentError;
use super::events::Subscribers;
use super::handle::Message;
use super::log_tail::StartAt;
use super::options::AgentOptions;
use super::persist::{Record, RecordedPhase, Store};
use super::ports::PortPool;
use super::prepare;
use super::procfs;
use super::resources::Ledger;
use super::state::AgentState;
use super::timers::Timers;
use super::writer::StateWriter;

impl AgentState {
    /// The state recorded in `options.data_dir` (empty for a new one). Must
    /// run inside a tokio runtime: it restarts the recovered containers'
    /// workers.
    pub fn open(
        options: Arc<AgentOptions>,
        inbox: mpsc::Sender<Message>,
    ) -> Result<AgentState, AgentError> {
        let data_dir_error = |source| AgentError::DataDir {
            path: options.data_dir.clone(),
            source,
        };
        let containers_dir = options.data_dir.join("containers");
        std::fs::create_dir_all(&containers_dir).map_err(data_dir_error)?;
        let store = Store::open(options.data_dir.join("state")).map_err(data_dir_error)?;
        let records = store.load_all().map_err(data_dir_error)?;
        let mut state = AgentState {
            containers: BTreeMap::new(),
            ledger: Ledger::new(options.cpu, options.mem_mb, options.volumes.clone()),
            ports: PortPool::new(options.port_range),
            writer: StateWriter::spawn(store.clone()),
            store,
            subscribers: Subscribers::new(options.subscriber_queue_len, options.subscribers_max),
            timers: Timers::default(),
            options,
            inbox,
            last_run: 0,
        };
        for (id, record) in records {
            match record {
                Ok(mut record) => {
                    // Directories are found by name under this data
                    // directory, which may have moved since the record was
                    // written.
                    if let Some(name) = record.dir.file_name() {
                        record.dir = containers_dir.join(name);
                    }
                    state.recover(record);
                }
                Err(reason) => state.recover_unreadable(&id, &containers_dir, reason),
            }
        }
        state.remove_unreferenced_dirs(&containers_dir);
        Ok(state)
    }

    fn recover(&mut self, record: Record) {
        let id = record.instance.container_id.clone();
        for port in record.instance.config.ports.get().values() {
            if let Err(reason) = self.ports.claim(*port, &id) {
                tracing::warn!(container = %id, %reason, "recovered port conflict");
            }
        }
        let cancel = CancellationToken::new();
        let container = Container {
            instance: record.instance,
            dir: record.dir,
            phase: match record.phase {
                RecordedPhase::Preparing { start_requested } => Phase::Preparing {
                    cancel: cancel.clone(),
                    start_requested,
                },
                _ => Phase::Idle,
            },
            log: self.new_log(),
            tailer: None,
            short_runs: record.short_runs,
            run: 0,
        };
        if let Phase::Preparing { .. } = container.phase {
            tracing::info!(container = %id, "recovered; preparing again");
            self.spawn_preparation(&container, cancel);
            self.containers.insert(id, container);
            return;
        }
        self.containers.insert(id.clone(), container);
        match record.phase {
            RecordedPhase::Preparing { .. } => {}
            RecordedPhase::Idle => tracing::info!(container = %id, "recovered"),
            RecordedPhase::Running {
                pid,
                start_time_ticks,
                stop_requested,
            } => {
                if procfs::is_alive(pid, start_time_ticks) {
                    tracing::info!(container = %id, pid, "recovered; adopting its running process");
                    self.adopt(&id, pid, start_time_ticks, stop_requested);
                } else {
                    self.on_lost(&id, stop_requested);
                }
            }
            RecordedPhase::RestartWait => {
                let delay = self.backoff().delay(self.containers[&id].short_runs);
                self.schedule_restart(&id, delay);
            }
        }
        self.start_tailer(&id, StartAt::Recent);
        self.persist(&id);
    }

    /// The process of container `id` ended while no agent watched it.
    fn on_lost(&mut self, id: &str, stop_requested: bool) {
        let backoff = self.backoff();
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        tracing::warn!(
            container = id,
            "recovered; its process ended while the agent was down"
        );
        let state = &mut container.instance.process_state;
        state.up = false;
        state.container_exit_status = Default::default();
        state.err = Some(
            "the process ended while the agent was not running; its exit status is unknown"
                .to_owned(),
        );
        container.instance.status = if stop_requested {
            ContainerStatus::Finished
        } else {
            ContainerStatus::Failed
        };
        if !stop_requested && backoff::restarts(&container.instance.config.restart, false) {
            container.short_runs = container.short_runs.saturating_add(1);
            let delay = backoff.delay(container.short_runs);
            self.schedule_restart(id, delay);
        } else {
            container.instance.process_state.restarting = false;
        }
    }

    fn recover_unreadable(&mut self, id: &str, containers_dir: &Path, reason: String) {
        tracing::error!(container = id, %reason, "recovered an unreadable record; reporting it failed");
        if let Err(error) = self.store.set_aside(id) {
            tracing::error!(container = id, %error, "cannot move the unreadable record aside");
        }
        let container = Container {
            instance: ContainerInstance {
                container_id: id.to_owned(),
                status: ContainerStatus::Failed,
                config: Arc::default(),
                process_state: ProcessState {
                    err: Some(reason),
                    ..ProcessState::default()
                },
            },
            dir: containers_dir.join(format!("{id}.unreadable")),
            phase: Phase::Idle,
            log: self.new_log(),
            tailer: None,
            short_runs: 0,
            run: 0,
        };
        self.containers.insert(id.to_owned(), container);
        self.persist(id);
    }

    /// Removes container directories that no container owns: leftovers of a
    /// delete or a failed preparation that the agent did not finish.
    fn remove_unreferenced_dirs(&self, containers_dir: &Path) {
        let owned: BTreeSet<&Path> = self.containers.values().map(|c| c.dir.as_path()).collect();
        let Ok(entries) = std::fs::read_dir(containers_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !owned.contains(dir.as_path()) {
                tracing::info!(dir = %dir.display(), "removing a leftover container directory");
                tokio::spawn(async move { prepare::remove_dir(&dir).await });
            }
        }
    }
}
