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

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::ids::RequestId;
use crate::scheduler::input::UnscheduleTarget;
use crate::scheduler::output::{Output, Reply};
use crate::time::{Duration, Instant};
use crate::wire::{JobConfig, JobHash};

/// Jobs by hash, shared between the registry, writes and the transformer.
///
pub use crate::jobs::Jobs;

/// Desired state and its persistence.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    loaded: bool,
    jobs: Jobs,
    version: u64,
    durable: Arc<Jobs>,
    durable_version: u64,
    in_flight: Option<InFlightWrite>,
    /// Jobs added or removed since the last write was issued.
    changed: BTreeSet<JobHash>,
    failed_attempts: u32,
    retry_at: Option<Instant>,
    waiting: VecDeque<(u64, RequestId, Reply)>,
}

/// The write under way: the version it holds, its jobs, and which jobs it
/// changes from the durable registry.
#[derive(Clone, Debug)]
struct InFlightWrite {
    version: u64,
    jobs: Arc<Jobs>,
    changed: BTreeSet<JobHash>,
}

/// What a registry write failure leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteFailure {
    /// Try again at this time.
    RetryAt(Instant),
    /// Attempts are exhausted: requests were answered 500 and their changes
    /// rolled back.
    GaveUp,
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

    /// Loads the persisted jobs; they are durable by definition. Returns
    /// jobs whose stored form does not validate (kept: they were accepted
    /// once), with the problems.
    pub fn load(&mut self, jobs: Vec<JobConfig>) -> Vec<(JobHash, String)> {
        let mut invalid = Vec::new();
        for job in jobs {
            let hash = job.hash();
            if let Err(problems) = job.validate() {
                invalid.push((hash.clone(), problems.to_string()));
            }
            self.jobs.insert(hash, Arc::new(job));
        }
        self.durable = Arc::new(self.jobs.clone());
        self.loaded = true;
        invalid
    }

    /// Handles a schedule request; the reply is queued in `out` now or when
    /// the write holding it completes.
    pub fn schedule(&mut self, request: RequestId, job: JobConfig, out: &mut VecDeque<Output>) {
        if let Err(problems) = job.validate() {
            return reply_now(out, request, 400, problems.to_string());
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
        let Some(job) = self.jobs.remove(&hash) else {
            return self.reply_after(out, request, 404, format!("{hash} not scheduled"));
        };
        self.changed.insert(hash.clone());
        self.version += 1;
        let msg = format!(
            "request to unschedule {} ({hash}) has been accepted",
            job.container.job
        );
        self.reply_after(out, request, 202, msg);
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
        let snapshot = Arc::new(self.jobs.clone());
        self.in_flight = Some(InFlightWrite {
            version: self.version,
            jobs: Arc::clone(&snapshot),
            changed: std::mem::take(&mut self.changed),
        });
        Some(Output::Persist {
            sequence: self.version,
            jobs: snapshot,
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

    /// A write failed: retry with back-off, or after `max_attempts` give up,
    /// answer the waiting requests 500 and roll their changes back.
    pub fn write_failed(
        &mut self,
        sequence: u64,
        error: &str,
        now: Instant,
        max_attempts: u32,
        backoff_min: Duration,
        out: &mut VecDeque<Output>,
    ) -> Option<WriteFailure> {
        match self.in_flight.take() {
            Some(write) if write.version == sequence => self.changed.extend(write.changed),
            other => {
                self.in_flight = other;
                return None;
            }
        }
        self.failed_attempts += 1;
        if self.failed_attempts < max_attempts {
            let delay = backoff_min.saturating_mul(1 << self.failed_attempts.min(10));
            self.retry_at = Some(now + delay);
            return Some(WriteFailure::RetryAt(now + delay));
        }
        self.failed_attempts = 0;
        self.retry_at = None;
        self.jobs = (*self.durable).clone();
        self.changed.clear();
        // The content equals the durable content again, so nothing is left
        // to write; the version keeps increasing so sequence numbers do.
        self.version += 1;
        self.durable_version = self.version;
        for (_, request, _) in std::mem::take(&mut self.waiting) {
            reply_now(
                out,
                request,
                500,
                format!("the registry could not be written: {error}"),
            );
        }
        Some(WriteFailure::GaveUp)
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
        self.waiting
            .push_back((self.version, request, Reply { status_code, msg }));
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
        reply: Reply { status_code, msg },
    });
}
