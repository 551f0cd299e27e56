//! The agent's state, owned by the state task: every container, the ports,
//! the resource ledger, the event subscribers and the timers. Queries,
//! change notification and deletion live here; creation is in `admission`,
//! processes in `lifecycle`, rebuilding after a restart in `recover`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use harpoon_core::wire::{ContainerInstance, ContainerStatus, HostResources, StateEvent};
use tokio::sync::mpsc;

use super::artifact::ArtifactLimits;
use super::backoff::Backoff;
use super::container::{Container, Phase};
use super::error::{DeleteError, TooManyStreams};
use super::events::{self, Subscribers};
use super::handle::Message;
use super::log_tail::{self, StartAt, Tail};
use super::logs::ContainerLog;
use super::options::AgentOptions;
use super::persist::Store;
use super::ports::PortPool;
use super::prepare;
use super::resources::{Ledger, Reserved};
use super::timers::Timers;
use super::writer::{StateWriter, Waiter, Written};

/// What a GET of one container finds.
#[derive(Debug)]
pub(crate) enum Lookup {
    Shown(ContainerInstance),
    /// Accepted, and not shown until prepared.
    Preparing,
    Unknown,
}

/// Everything the state task owns.
#[derive(Debug)]
pub(crate) struct AgentState {
    pub containers: BTreeMap<String, Container>,
    pub ledger: Ledger,
    pub ports: PortPool,
    /// Where records are read from at start (and unreadable ones set
    /// aside); every write goes through `writer`.
    pub store: Store,
    pub writer: StateWriter,
    pub subscribers: Subscribers,
    pub timers: Timers,
    pub options: Arc<AgentOptions>,
    /// For workers to report back on.
    pub inbox: mpsc::Sender<Message>,
    /// The last run number handed out. Unique across all containers, so
    /// that a timer or exit report about a deleted container can never be
    /// mistaken for one about a new container with the same ID.
    pub last_run: u64,
}

impl AgentState {
    /// A run number never used before.
    pub fn next_run(&mut self) -> u64 {
        self.last_run += 1;
        self.last_run
    }

    /// The sum of every container's reservation. Computed rather than kept
    /// as a running total, so it cannot drift from the containers.
    pub fn reserved(&self) -> Reserved {
        let mut reserved = Reserved::default();
        for container in self.containers.values() {
            reserved.add(&container.instance.config);
        }
        reserved
    }

    pub fn resources(&self) -> HostResources {
        self.ledger.report(self.reserved())
    }

    /// Every container that is shown: not those still being prepared.
    /// `created` means prepared (as the wire doc and the original agent
    /// have it), so a client that starts what it sees `created` finds its
    /// directory complete and gets the start's real answer; a container
    /// appears with the `created` event its preparation ends with.
    pub fn instances(&self) -> BTreeMap<String, ContainerInstance> {
        self.containers
            .iter()
            .filter(|(_, container)| container.is_shown())
            .map(|(id, container)| (id.clone(), container.instance.clone()))
            .collect()
    }

    /// Container `id`, as [`AgentState::instances`] shows it.
    pub fn get(&self, id: &str) -> Lookup {
        match self.containers.get(id) {
            None => Lookup::Unknown,
            Some(container) if container.is_shown() => Lookup::Shown(container.instance.clone()),
            Some(_) => Lookup::Preparing,
        }
    }

    pub fn log(&self, id: &str) -> Option<Arc<ContainerLog>> {
        self.containers
            .get(id)
            .map(|container| container.log.clone())
    }

    /// A new event stream, starting with every container.
    pub fn subscribe(&mut self) -> Result<mpsc::Receiver<Bytes>, TooManyStreams> {
        let first = events::encode(&StateEvent {
            resources: self.resources(),
            containers: self.instances(),
        });
        self.subscribers.subscribe(first)
    }

    /// Records a change of container `id`: persists it and tells the
    /// subscribers. A failure to persist is logged, not returned: the change
    /// (a process ended, say) has happened whether or not it was written.
    pub fn commit(&mut self, id: &str) {
        self.persist(id);
        if let Some(container) = self.containers.get(id) {
            let instance = container.instance.clone();
            self.announce(instance);
        }
    }

    /// Persists container `id` without telling anyone: for changes that
    /// clients do not see. The write happens off this task (`writer`);
    /// answers that depend on it wait with [`AgentState::when_durable`].
    pub fn persist(&mut self, id: &str) {
        if let Some(container) = self.containers.get(id) {
            self.writer.save(container.record());
        }
    }

    /// Runs `waiter` once every change recorded so far is on disk (at once
    /// if nothing is being written): how an answer is held back until the
    /// state it announces is durable.
    pub fn when_durable(&mut self, waiter: Waiter) {
        if let Some(waiter) = self.writer.wait(waiter) {
            let nothing = Written {
                upto: 0,
                failed: BTreeMap::new(),
            };
            waiter(self, &nothing);
        }
        self.writer.kick();
    }

    /// The writer finished a group: runs the waiters it satisfies.
    pub fn on_written(&mut self, written: Written) {
        for waiter in self.writer.on_written(&written) {
            waiter(self, &written);
        }
    }

    /// Sends one container's new state to the subscribers.
    pub fn announce(&mut self, instance: ContainerInstance) {
        let event = StateEvent {
            resources: self.resources(),
            containers: BTreeMap::from([(instance.container_id.clone(), instance)]),
        };
        self.subscribers.broadcast(&event);
    }

    /// Deletes container `id` unless its process runs.
    pub fn delete(&mut self, id: &str) -> Result<(), DeleteError> {
        let container = self
            .containers
            .get(id)
            .ok_or_else(|| DeleteError::NotFound(id.to_owned()))?;
        match container.phase {
            Phase::Running(_) => return Err(DeleteError::Running(id.to_owned())),
            // Its preparation is cancelled when the container is dropped,
            // and the directory is removed when the preparation reports
            // back: removing it now would race with the unpacking.
            Phase::Preparing { .. } => self.forget(id, None, false),
            Phase::Idle | Phase::RestartWait => self.forget(id, None, true),
        }
        tracing::info!(container = id, "deleted");
        Ok(())
    }

    /// Removes container `id`, frees its ports, reservation and record
    /// (and its directory if `remove_dir`), and announces it `deleted`,
    /// with `err` as the reason when there is one.
    pub fn forget(&mut self, id: &str, err: Option<String>, remove_dir: bool) {
        let Some(container) = self.containers.remove(id) else {
            return;
        };
        self.ports.release(id);
        self.writer.remove(id);
        if remove_dir {
            let dir = container.dir.clone();
            tokio::spawn(async move { prepare::remove_dir(&dir).await });
        }
        let mut instance = container.instance.clone();
        instance.status = ContainerStatus::Deleted;
        if err.is_some() {
            instance.process_state.err = err;
        }
        drop(container);
        self.announce(instance);
    }

    /// A fresh log buffer, sized by the options.
    pub fn new_log(&self) -> Arc<ContainerLog> {
        ContainerLog::new(
            self.options.log_lines_max,
            self.options.log_line_max_bytes,
            self.options.log_bytes_max,
        )
    }

    /// Starts following the log file of container `id`.
    pub fn start_tailer(&mut self, id: &str, start: StartAt) {
        let options = self.options.clone();
        let Some(container) = self.containers.get_mut(id) else {
            return;
        };
        let mut tail = Tail::new(
            prepare::log_file(&container.dir),
            start,
            options.log_line_max_bytes,
            options.log_file_max_bytes,
        );
        if let StartAt::Recent = start {
            // Only after a restart of the agent, when nothing is served yet:
            // read the history now, so that it is there from the first
            // request on, rather than a poll interval later.
            match tail.step() {
                Ok((lines, _)) => lines.iter().for_each(|line| container.log.push(line)),
                Err(error) => tracing::warn!(container = id, %error, "cannot read log file"),
            }
        }
        let task = tokio::spawn(log_tail::run(
            tail,
            container.log.clone(),
            options.log_poll_interval,
        ));
        container.tailer = Some(task.abort_handle());
    }

    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.options.restart_backoff_initial,
            max: self.options.restart_backoff_max,
            reset_after: self.options.restart_backoff_reset,
        }
    }

    pub fn artifact_limits(&self) -> ArtifactLimits {
        ArtifactLimits {
            max_bytes: self.options.artifact_max_bytes,
            unpacked_max_bytes: self.options.unpacked_max_bytes,
            fetch_timeout: self.options.fetch_timeout,
        }
    }

    /// Ends every stream and stops every worker; processes keep running,
    /// to be adopted by the next agent on this data directory.
    pub fn shut_down(&mut self) {
        self.subscribers.close_all();
        self.containers.clear();
    }
}
