//! The registry: desired jobs, their persistence, and the replies that wait
//! for it.
//!
//! Every accepted change bumps the registry's `version`. A write carries the
//! version it holds as its sequence number; at most one write is outstanding,
//! and changes made meanwhile are written together by the next one (group
//! commit). A reply is released only once a write with a sequence number at
//! least the version its request observed is durable, so a 202 always means
//! "on disk", and an error like "already scheduled" is never based on
//! something that could still be lost.
//!
//! The transformer acts on the *durable* jobs only: a job is placed once it
//! is on disk, so a crash can never leave running tasks for a job the
//! restarted scheduler does not know.
//!
//! # The persistence contract
//!
//! What a store (the daemon's embedded database, a replicated store, the
//! simulator's disk) promises and what the core promises it:
//!
//! - **Changes, not snapshots.** [`crate::Output::Persist`] carries
//!   [`RegistryChanges`]: every job put (its whole config, keyed by hash)
//!   and every hash removed since the previous write the store acknowledged,
//!   each hash at most once, with the write's sequence number. A store
//!   applies them to what it holds; a write costs the size of the change.
//! - **Ordering.** Sequence numbers increase with every write, also across
//!   restarts: the store keeps the sequence of its last durable write and
//!   hands it back with the jobs in [`crate::Input::RegistryLoaded`]; the
//!   core numbers its next write above it.
//! - **At most one write outstanding.** The core issues the next write only
//!   after the previous one completed or failed, so a store never has to
//!   order concurrent writes; changes made meanwhile are grouped.
//! - **Durable** means: once the store reports
//!   [`crate::Input::PersistCompleted`], the write's changes survive a crash
//!   of the process and of the machine (fsync, or a quorum for a replicated
//!   store), and a later load returns them. A write is applied atomically:
//!   after a crash the store holds all of a write's changes or none.
//! - **A failed write** ([`crate::Input::PersistFailed`]) may or may not
//!   have been applied: an fsync error or a lost answer leaves it unknown.
//!   Changes are whole values keyed by hash, so applying one again is
//!   harmless: the core retries after a jittered back-off with the failed
//!   write's changes merged with newer ones (each hash carries its current
//!   value). After `max_persist_attempts` failures it gives up: waiting
//!   requests are answered 500 (their outcome is unknown to the user, as
//!   with any 500), the live registry rolls back to the durable one, and the
//!   next write re-asserts the durable value of every hash the abandoned
//!   writes touched, so that a store which did apply one converges back to
//!   what the core believes. Until that write completes, a crash may bring
//!   back a job that was answered 500.

mod rollouts;
pub(crate) use rollouts::validate_migrate;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::ids::{AgentId, RequestId};
use crate::rollout::{Rollout, RolloutId};
use crate::scheduler::input::UnscheduleTarget;
use crate::scheduler::output::{Output, Reply};
use crate::time::{Duration, Instant};
use crate::wire::{JobConfig, JobHash};

/// Jobs by hash, shared between the registry, writes and the transformer.
///
pub use crate::jobs::{Drains, Jobs, RegistryChanges, Rollouts};

/// Desired state and its persistence.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    loaded: bool,
    jobs: Jobs,
    version: u64,
    durable: Arc<Jobs>,
    durable_version: u64,
    /// Rollouts (durable with the jobs they touch), live and durable.
    rollouts: Rollouts,
    durable_rollouts: Arc<Rollouts>,
    /// Agents being drained, live and durable.
    drains: Drains,
    durable_drains: Arc<Drains>,
    in_flight: Option<InFlightWrite>,
    /// Jobs added or removed since the last write was issued, and those of
    /// failed writes (retried merged with newer changes).
    changed: BTreeSet<JobHash>,
    /// Rollouts and drains changed likewise.
    changed_rollouts: BTreeSet<RolloutId>,
    changed_drains: BTreeSet<AgentId>,
    failed_attempts: u32,
    retry_at: Option<Instant>,
    waiting: VecDeque<(u64, RequestId, Reply)>,
}

/// The write under way: the version it holds, its jobs, and which jobs it
/// changes from the durable registry.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct InFlightWrite {
    version: u64,
    jobs: Arc<Jobs>,
    changed: BTreeSet<JobHash>,
    rollouts: Arc<Rollouts>,
    changed_rollouts: BTreeSet<RolloutId>,
    drains: Arc<Drains>,
    changed_drains: BTreeSet<AgentId>,
}

/// What a registry write failure leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteFailure {
    /// Try again at this time.
    RetryAt(Instant),
    /// Attempts are exhausted: requests were answered 500 and their changes
    /// rolled back; the durable values are written again at this time.
    GaveUp(Instant),
}

impl Registry {
    /// Whether the persisted registry has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Jobs as accepted, durable or not.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Jobs that are durable: what the transformer places.
    pub fn durable(&self) -> &Arc<Jobs> {
        &self.durable
    }

    /// The sequence number of the last durable write (or of the registry
    /// as loaded): monotonic across restarts.
    pub fn durable_sequence(&self) -> u64 {
        self.durable_version
    }

    /// Loads the persisted jobs, rollouts and drains; they are durable by
    /// definition. `sequence` is the store's last durable write: the next
    /// write is numbered above it. Returns jobs whose stored form does not
    /// validate (kept: they were accepted once), with the problems.
    pub fn load(
        &mut self,
        jobs: Vec<JobConfig>,
        rollouts: Vec<Rollout>,
        drains: Vec<AgentId>,
        sequence: u64,
    ) -> Vec<(JobHash, String)> {
        for rollout in rollouts {
            self.rollouts.insert(rollout.id, Arc::new(rollout));
        }
        self.drains.extend(drains);
        self.durable_rollouts = Arc::new(self.rollouts.clone());
        self.durable_drains = Arc::new(self.drains.clone());
        let mut invalid = Vec::new();
        for job in jobs {
            let hash = job.hash();
            if let Err(problems) = job.validate() {
                invalid.push((hash.clone(), problems.to_string()));
            }
            self.jobs.insert(hash, Arc::new(job));
        }
        self.durable = Arc::new(self.jobs.clone());
        self.version = sequence;
        self.durable_version = sequence;
        self.loaded = true;
        invalid
    }

    /// The registry's index as of the last accepted change: the sequence
    /// number the write holding that change carries (so it is durable
    /// once [`Registry::durable_sequence`] reaches it). It moves with every
    /// change accepted, and once more when a write is given up (see the
    /// contract above), never back.
    pub fn index(&self) -> u64 {
        self.version
    }

    /// Handles a schedule request; the reply is queued in `out` now or when
    /// the write holding it completes. With `index`, the job is scheduled
    /// only if the registry is still at that index (see
    /// [`Registry::stale_index`]).
    pub fn schedule(
        &mut self,
        request: RequestId,
        job: JobConfig,
        index: Option<u64>,
        out: &mut VecDeque<Output>,
    ) {
        if let Err(problems) = job.validate() {
            return reply_now(out, request, 400, problems.to_string());
        }
        if self.stale_index(request, index, out) {
            return;
        }
        let hash = job.hash();
        if self.jobs.contains_key(&hash) {
            return self.reply_after(out, request, 409, format!("{hash} already scheduled"));
        }
        let msg = format!(
            "request to schedule '{}' ({hash}) has been accepted",
            job.container.job
        );
        self.changed.insert(hash.clone());
        self.jobs.insert(hash, Arc::new(job));
        self.version += 1;
        self.reply_after(out, request, 202, msg);
    }

    /// Handles an unschedule request, like [`Registry::schedule`].
    pub fn unschedule(
        &mut self,
        request: RequestId,
        target: UnscheduleTarget,
        index: Option<u64>,
        out: &mut VecDeque<Output>,
    ) {
        let hash = match target {
            UnscheduleTarget::Hash(hash) => hash,
            // As the original: a config is checked before it is looked up,
            // so that a wrong file is told apart from a job not scheduled.
            UnscheduleTarget::Config(job) => match job.validate() {
                Ok(()) => job.hash(),
                Err(problems) => return reply_now(out, request, 400, problems.to_string()),
            },
        };
        if self.stale_index(request, index, out) {
            return;
        }
        if !self.jobs.contains_key(&hash) {
            return self.reply_after(out, request, 404, format!("{hash} not scheduled"));
        }
        if let Some(rollout) = self.rollout_holding(&hash) {
            let msg = format!(
                "{hash} is held by rollout {} ({}); abort the rollout first",
                rollout.id,
                rollout.status.as_str()
            );
            return self.reply_after(out, request, 409, msg);
        }
        let job = self.jobs.remove(&hash).expect("checked above");
        self.changed.insert(hash.clone());
        self.version += 1;
        let msg = format!(
            "request to unschedule {} ({hash}) has been accepted",
            job.container.job
        );
        self.reply_after(out, request, 202, msg);
    }

    /// Check-and-set: whether a request made against registry index
    /// `index` comes too late, because a change was accepted since (durable
    /// or not: the check is against the state this request's write would
    /// apply to, so of two requests made against the same index exactly
    /// one is accepted). A late request is answered 409 with the current
    /// index, once that index is durable, like every answer that depends
    /// on the registry's contents.
    fn stale_index(
        &mut self,
        request: RequestId,
        index: Option<u64>,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let Some(index) = index else {
            return false;
        };
        if index == self.version {
            return false;
        }
        let msg = format!(
            "the registry changed since index {index}: it is at index {} now; plan again",
            self.version
        );
        self.reply_after(out, request, 409, msg);
        true
    }

    /// The next write to issue, if one is due: changes are waiting, no write
    /// is outstanding, and no retry back-off is running.
    pub fn next_write(&mut self, now: Instant) -> Option<Output> {
        if self.in_flight.is_some() || self.version == self.durable_version {
            return None;
        }
        if self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        self.retry_at = None;
        let changed = std::mem::take(&mut self.changed);
        let changed_rollouts = std::mem::take(&mut self.changed_rollouts);
        let changed_drains = std::mem::take(&mut self.changed_drains);
        let mut changes = RegistryChanges::default();
        for hash in &changed {
            match self.jobs.get(hash) {
                Some(job) => changes.put.push((hash.clone(), Arc::clone(job))),
                None => changes.removed.push(hash.clone()),
            }
        }
        for id in &changed_rollouts {
            match self.rollouts.get(id) {
                Some(rollout) => changes.rollouts_put.push(Arc::clone(rollout)),
                None => changes.rollouts_removed.push(*id),
            }
        }
        for agent in &changed_drains {
            match self.drains.contains(agent) {
                true => changes.drains_put.push(agent.clone()),
                false => changes.drains_removed.push(agent.clone()),
            }
        }
        self.in_flight = Some(InFlightWrite {
            version: self.version,
            jobs: Arc::new(self.jobs.clone()),
            changed,
            rollouts: Arc::new(self.rollouts.clone()),
            changed_rollouts,
            drains: Arc::new(self.drains.clone()),
            changed_drains,
        });
        Some(Output::Persist {
            sequence: self.version,
            changes: Arc::new(changes),
        })
    }

    /// A write completed: its jobs become durable and the replies it holds
    /// are released. Returns the hashes of the jobs whose durable state it
    /// changed, or `None` for an unknown sequence number.
    pub fn write_completed(
        &mut self,
        sequence: u64,
        out: &mut VecDeque<Output>,
    ) -> Option<BTreeSet<JobHash>> {
        match self.in_flight.take() {
            Some(write) if write.version == sequence => {
                self.durable = write.jobs;
                self.durable_rollouts = write.rollouts;
                self.durable_drains = write.drains;
                self.durable_version = write.version;
                self.failed_attempts = 0;
                self.release(out);
                Some(write.changed)
            }
            other => {
                self.in_flight = other;
                None
            }
        }
    }

    /// A write failed: retry after a jittered back-off (`delay` gives it for
    /// a number of consecutive failures), or after `retry.max_attempts` give
    /// up, answer the waiting requests 500 and roll their changes back.
    /// Either way the failed write's hashes are written again, merged with
    /// newer changes (see the contract above).
    pub fn write_failed(
        &mut self,
        sequence: u64,
        error: &str,
        now: Instant,
        max_attempts: u32,
        delay: impl FnOnce(u32) -> Duration,
        out: &mut VecDeque<Output>,
    ) -> Option<WriteFailure> {
        match self.in_flight.take() {
            Some(write) if write.version == sequence => {
                self.changed.extend(write.changed);
                self.changed_rollouts.extend(write.changed_rollouts);
                self.changed_drains.extend(write.changed_drains);
            }
            other => {
                self.in_flight = other;
                return None;
            }
        }
        self.failed_attempts += 1;
        let retry_at = now + delay(self.failed_attempts);
        self.retry_at = Some(retry_at);
        if self.failed_attempts < max_attempts {
            return Some(WriteFailure::RetryAt(retry_at));
        }
        self.failed_attempts = 0;
        self.jobs = (*self.durable).clone();
        self.rollouts = (*self.durable_rollouts).clone();
        self.drains = (*self.durable_drains).clone();
        // The failed writes may have been applied in part of the store's
        // view (an ambiguous failure): the next write puts back the durable
        // value of every hash they touched. No reply waits for it.
        self.version += 1;
        for (_, request, _) in std::mem::take(&mut self.waiting) {
            reply_now(
                out,
                request,
                500,
                format!("the registry could not be written: {error}"),
            );
        }
        Some(WriteFailure::GaveUp(retry_at))
    }

    /// Number of requests whose replies wait for a write.
    pub fn waiting_replies(&self) -> usize {
        self.waiting.len()
    }

    fn reply_after(
        &mut self,
        out: &mut VecDeque<Output>,
        request: RequestId,
        status_code: u16,
        msg: String,
    ) {
        let reply = Reply {
            status_code,
            msg,
            index: Some(self.version),
        };
        self.waiting.push_back((self.version, request, reply));
        self.release(out);
    }

    fn release(&mut self, out: &mut VecDeque<Output>) {
        while self
            .waiting
            .front()
            .is_some_and(|(version, _, _)| *version <= self.durable_version)
        {
            let (_, request, reply) = self.waiting.pop_front().expect("front exists");
            out.push_back(Output::Reply { request, reply });
        }
    }
}

fn reply_now(out: &mut VecDeque<Output>, request: RequestId, status_code: u16, msg: String) {
    out.push_back(Output::Reply {
        request,
        reply: Reply {
            status_code,
            msg,
            index: None,
        },
    });
}
