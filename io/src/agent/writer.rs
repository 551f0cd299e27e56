//! Durable writes of container records, off the state task, with group
//! commit.
//!
//! The state task records a change (the latest record of a container, or
//! its removal) and carries on; a writer task applies changes to the
//! [`Store`] on a blocking thread, fsyncs included. At most one group of
//! changes is being written at a time; changes recorded meanwhile are
//! coalesced per container and written together by the next group, as the
//! daemon's registry writer does. Every change gets a sequence number, and
//! an answer that must not go out before its change is on disk waits until
//! a group covering that number is done (see `AgentState::reply_when_durable`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;

use super::persist::{Change, Record, Store};
use super::state::AgentState;

/// How long shutting down waits for the last writes.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A group of changes handed to the writer task.
#[derive(Debug)]
struct Group {
    /// The last sequence number the group covers.
    upto: u64,
    changes: Vec<(String, Change)>,
}

/// What the writer task reports about a group.
#[derive(Debug)]
pub(crate) struct Written {
    /// The last sequence number the group covered: every change recorded
    /// up to it is on disk, or listed in `failed`.
    pub upto: u64,
    /// Containers whose change could not be written, with the reason.
    pub failed: BTreeMap<String, String>,
}

/// Something to do once the changes recorded before it are durable: it is
/// given the state and the group's report.
pub(crate) type Waiter = Box<dyn FnOnce(&mut AgentState, &Written) + Send>;

/// The state task's end of the writer.
pub(crate) struct StateWriter {
    /// Changes not yet handed to the writer task, the latest per container.
    pending: BTreeMap<String, Change>,
    /// The sequence number of the last change recorded.
    recorded: u64,
    /// The sequence number the group being written covers, if one is.
    in_flight: Option<u64>,
    /// Every change up to this sequence number has been written (or failed).
    written: u64,
    /// Answers waiting for their changes, in order of sequence number.
    waiting: VecDeque<(u64, Waiter)>,
    groups: mpsc::Sender<Group>,
    reports: mpsc::Receiver<Written>,
}

impl std::fmt::Debug for StateWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateWriter")
            .field("pending", &self.pending.len())
            .field("recorded", &self.recorded)
            .field("in_flight", &self.in_flight)
            .field("written", &self.written)
            .field("waiting", &self.waiting.len())
            .finish()
    }
}

impl StateWriter {
    /// Starts the writer task on `store`. Must be called within a tokio
    /// runtime.
    pub fn spawn(store: Store) -> StateWriter {
        // One group at a time: the state task hands over the next only
        // after the last was reported, so one slot each way suffices.
        let (groups, mut incoming) = mpsc::channel::<Group>(1);
        let (reports_sender, reports) = mpsc::channel(1);
        tokio::spawn(async move {
            while let Some(group) = incoming.recv().await {
                let store = store.clone();
                let upto = group.upto;
                let failed = tokio::task::spawn_blocking(move || store.apply(&group.changes))
                    .await
                    .unwrap_or_else(|error| {
                        BTreeMap::from([(String::new(), format!("the writer failed: {error}"))])
                    });
                if reports_sender.send(Written { upto, failed }).await.is_err() {
                    break; // The state task is gone.
                }
            }
        });
        StateWriter {
            pending: BTreeMap::new(),
            recorded: 0,
            in_flight: None,
            written: 0,
            waiting: VecDeque::new(),
            groups,
            reports,
        }
    }

    /// Records that container `record` is to be written.
    pub fn save(&mut self, record: Record) {
        let id = record.instance.container_id.clone();
        self.record(id, Change::Save(Box::new(record)));
    }

    /// Records that container `id`'s file is to be removed.
    pub fn remove(&mut self, id: &str) {
        self.record(id.to_owned(), Change::Remove);
    }

    fn record(&mut self, id: String, change: Change) {
        self.recorded += 1;
        self.pending.insert(id, change);
    }

    /// Whether every change recorded so far is written.
    pub fn is_idle(&self) -> bool {
        self.written == self.recorded
    }

    /// Keeps `waiter` until every change recorded so far is written; gives
    /// it back, for the caller to run now, if there is nothing to wait for.
    pub fn wait(&mut self, waiter: Waiter) -> Option<Waiter> {
        if self.is_idle() {
            return Some(waiter);
        }
        self.waiting.push_back((self.recorded, waiter));
        None
    }

    /// Hands the pending changes to the writer task, unless a group is
    /// being written (they go with the next one).
    pub fn kick(&mut self) {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return;
        }
        let group = Group {
            upto: self.recorded,
            changes: std::mem::take(&mut self.pending).into_iter().collect(),
        };
        self.in_flight = Some(group.upto);
        if let Err(error) = self.groups.try_send(group) {
            // Only if the writer task died (a panic): nothing will be
            // written again, and waiting answers would wait for ever.
            tracing::error!(%error, "the state writer is gone; container state is no longer saved");
            self.in_flight = None;
            self.written = self.recorded;
        }
    }

    /// The next report of the writer task (pending while nothing is being
    /// written).
    pub async fn next_report(&mut self) -> Written {
        if self.in_flight.is_none() {
            return std::future::pending().await;
        }
        match self.reports.recv().await {
            Some(written) => written,
            None => std::future::pending().await,
        }
    }

    /// Takes the report of a group: returns the waiters it satisfies. The
    /// changes recorded meanwhile go with the next [`StateWriter::kick`],
    /// after the waiters have run: a waiter that forgets a container whose
    /// record failed turns its pending write into a removal.
    pub fn on_written(&mut self, written: &Written) -> Vec<Waiter> {
        self.in_flight = None;
        self.written = self.written.max(written.upto);
        for (id, error) in &written.failed {
            tracing::error!(container = %id, %error, "cannot save container state");
        }
        let mut ready = Vec::new();
        while let Some((sequence, _)) = self.waiting.front() {
            if *sequence > self.written {
                break;
            }
            if let Some((_, waiter)) = self.waiting.pop_front() {
                ready.push(waiter);
            }
        }
        ready
    }

    /// Writes what is left, when the agent shuts down: waits for the group
    /// being written, then writes the rest, within [`FLUSH_TIMEOUT`].
    /// Waiting answers are dropped (their clients see the agent go).
    pub async fn flush(&mut self) {
        self.waiting.clear();
        let flushing = async {
            while !self.is_idle() {
                self.kick();
                let written = self.next_report().await;
                self.on_written(&written);
            }
        };
        if tokio::time::timeout(FLUSH_TIMEOUT, flushing).await.is_err() {
            tracing::warn!(timeout = ?FLUSH_TIMEOUT, "container state not all saved at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::persist::RecordedPhase;
    use harpoon_core::wire::{ContainerInstance, ContainerStatus};

    fn record(id: &str) -> Record {
        Record {
            instance: ContainerInstance {
                container_id: id.to_owned(),
                status: ContainerStatus::Created,
                config: Default::default(),
                process_state: Default::default(),
            },
            dir: std::path::PathBuf::from("/data/containers/x"),
            phase: RecordedPhase::Idle,
            short_runs: 0,
        }
    }

    #[tokio::test]
    async fn changes_made_during_a_write_go_together_in_the_next() {
        let dir = std::env::temp_dir().join(format!("harpoon-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut writer = StateWriter::spawn(Store::open(dir.clone()).unwrap());
        writer.save(record("a"));
        writer.kick();
        // While the first group is written: three changes, two of one
        // container, which coalesce.
        writer.save(record("b"));
        writer.save(record("c"));
        writer.remove("a");
        writer.kick();
        assert!(!writer.is_idle());
        let first = writer.next_report().await;
        assert_eq!(first.upto, 1);
        assert!(writer.on_written(&first).is_empty());
        writer.kick();
        assert_eq!(writer.in_flight, Some(4), "one group for the rest");
        let second = writer.next_report().await;
        assert!(second.failed.is_empty(), "{:?}", second.failed);
        writer.on_written(&second);
        assert!(writer.is_idle());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["b.json", "c.json"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
