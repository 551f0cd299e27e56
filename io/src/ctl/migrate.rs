//! `harpoonctl migrate FROM.json TO.json`: replace a job by a new version
//! of it, as the original `harpoonctl migrate` does: schedule TO, wait
//! until every task of it runs, unschedule FROM, wait until its tasks are
//! gone. Unlike the original, a TO that does not come up in time is
//! unscheduled again, so that FROM is left as it was and nothing half
//! done stays behind.
//!
//! Task IDs are computed here, as the original client computes them: the
//! job hash is the original's, so they are the scheduler's too.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use harpoon_core::wire::{ContainerStatus, JobConfig, StateEvent, WireDuration};

use super::{Client, CtlError, read_job_file};

/// How often the scheduler's view is polled while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A job file, decoded and checked.
struct JobFile {
    bytes: Vec<u8>,
    job: JobConfig,
}

fn load(path: &Path) -> Result<JobFile, CtlError> {
    let bytes = read_job_file(path)?;
    let job: JobConfig = serde_json::from_slice(&bytes).expect("read_job_file decoded it");
    job.validate()
        .map_err(|problems| CtlError::File(format!("{}: {problems}", path.display())))?;
    Ok(JobFile { bytes, job })
}

/// The container IDs of every task of `job`.
fn task_ids(job: &JobConfig) -> BTreeSet<String> {
    let hash = job.hash();
    (0..job.task_count())
        .map(|index| hash.container_id(index).as_str().to_owned())
        .collect()
}

impl Client {
    /// `migrate FROM TO`. `timeout` bounds the wait for TO's tasks to run
    /// (by default twice TO's `grace.startup`, as the original); the wait
    /// for FROM's tasks to go is twice FROM's `grace.shutdown`. `progress`
    /// is told each step as it is taken.
    pub fn migrate(
        &self,
        from: &Path,
        to: &Path,
        timeout: Option<Duration>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, CtlError> {
        let old = load(from)?;
        let new = load(to)?;
        if old.job.container.job != new.job.container.job {
            return Err(CtlError::File(format!(
                "cannot migrate different jobs (from {:?} to {:?})",
                old.job.container.job, new.job.container.job
            )));
        }
        let twice = |grace: WireDuration| 2 * Duration::from_nanos(grace.as_nanos());
        let start_timeout = timeout.unwrap_or(twice(new.job.container.grace.startup));
        let stop_timeout = twice(old.job.container.grace.shutdown);
        progress(&self.rpc("/api/v0/schedule", Some(&new.bytes))?);
        let wanted = task_ids(&new.job);
        let began = Instant::now();
        if let Err(error) = self.wait_until_running(&wanted, start_timeout) {
            // Undo, so that FROM alone stays scheduled, as it was.
            let undone = self.rpc("/api/v0/unschedule", Some(&new.bytes));
            let undone = match undone {
                Ok(_) => format!("{} unscheduled again", new.job.hash()),
                Err(undo) => format!("unscheduling {} again failed too: {undo}", new.job.hash()),
            };
            return Err(CtlError::Migration(format!(
                "{error}; {undone}; {} left as it was",
                old.job.hash()
            )));
        }
        progress(&format!(
            "{} task(s) of {} running after {:.1}s",
            wanted.len(),
            new.job.hash(),
            began.elapsed().as_secs_f64()
        ));
        progress(&self.rpc("/api/v0/unschedule", Some(&old.bytes))?);
        let doomed = task_ids(&old.job);
        let began = Instant::now();
        self.wait_until_gone(&doomed, stop_timeout)
            .map_err(|error| {
                CtlError::Migration(format!("{error} (the scheduler goes on removing them)"))
            })?;
        progress(&format!(
            "{} task(s) of {} gone after {:.1}s",
            doomed.len(),
            old.job.hash(),
            began.elapsed().as_secs_f64()
        ));
        Ok(format!(
            "migration complete: {} replaced by {}",
            old.job.hash(),
            new.job.hash()
        ))
    }

    /// Waits until every container of `ids` runs, as the scheduler sees
    /// them. Failures to reach the scheduler are retried until `timeout`.
    fn wait_until_running(&self, ids: &BTreeSet<String>, timeout: Duration) -> Result<(), String> {
        self.wait(timeout, |proxy| {
            let running = proxy
                .values()
                .flat_map(|event| event.containers.iter())
                .filter(|(id, instance)| {
                    ids.contains(id.as_str()) && instance.status == ContainerStatus::Running
                })
                .map(|(id, _)| id)
                .collect::<BTreeSet<_>>()
                .len();
            (running == ids.len())
                .then_some(())
                .ok_or(format!("{running} of {} task(s) running", ids.len()))
        })
        .map_err(|state| format!("the new tasks did not all run within {timeout:?} ({state})"))
    }

    /// Waits until no agent holds a container of `ids`.
    fn wait_until_gone(&self, ids: &BTreeSet<String>, timeout: Duration) -> Result<(), String> {
        self.wait(timeout, |proxy| {
            let left = proxy
                .values()
                .flat_map(|event| event.containers.keys())
                .filter(|id| ids.contains(id.as_str()))
                .count();
            (left == 0)
                .then_some(())
                .ok_or(format!("{left} instance(s) left"))
        })
        .map_err(|state| format!("the old tasks were not all gone within {timeout:?} ({state})"))
    }

    /// Polls `/proxy` until `done` says so or `timeout` passes; the error
    /// is the last state `done` described (or why polling failed).
    fn wait(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&std::collections::BTreeMap<String, StateEvent>) -> Result<(), String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = match self.get("/api/v0/proxy") {
                Ok(proxy) => match done(&proxy) {
                    Ok(()) => return Ok(()),
                    Err(state) => state,
                },
                Err(error) => error.to_string(),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(state);
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }
}
