//! Part 8: an unplaced backlog must not make unrelated events expensive.
//! A cluster of 1,000 running tasks on 10 agents also holds jobs whose
//! tasks fit nowhere (100 jobs of 1,000 tasks at full size, 7 at quick
//! size): each sample, an agent reports a container nobody scheduled and
//! then reports it deleted, which frees capacity. The deletion is timed,
//! beside the same deletion in the same cluster with no backlog.

use std::sync::Arc;
use std::time::Instant as WallClock;

use harpoon_core::wire::{ContainerInstance, ContainerStatus, JobConfig, StateEvent};
use harpoon_core::{Duration, Input};

use crate::Size;
use crate::cluster::{SteadyCluster, job};
use crate::report::Table;

/// Runs part 8.
pub fn run(size: Size) -> Table {
    let backlog_jobs = size.pick(100, 7);
    let repeats = size.pick(31, 7);
    let mut table = Table::new(
        "8. An unrelated event beside an unplaced backlog (best µs of repeated single events)",
    );
    let mut plain = SteadyCluster::build(1_000, 10);
    let baseline = best(foreign_deletions(&mut plain, repeats));
    let mut loaded = SteadyCluster::build(1_000, 10);
    let backlog = add_backlog(&mut loaded, backlog_jobs);
    let figure = best(foreign_deletions(&mut loaded, repeats));
    table.row(
        "a foreign container deleted, no unplaced backlog".to_owned(),
        baseline,
        None,
        "µs",
        None,
    );
    table.row(
        format!(
            "unrelated event with an unplaced backlog of {} tasks",
            crate::report::count(backlog as u64)
        ),
        figure,
        Some(baseline),
        "µs",
        Some(("≤ 2× no backlog".to_owned(), figure <= 2.0 * baseline)),
    );
    table.notes.push(format!(
        "Both clusters run 1,000 tasks on 10 agents; the second also holds {backlog_jobs} jobs of \
         1,000 tasks that need more cpu than any agent has. Each of {repeats} samples reports a \
         container nobody scheduled, then times the event that reports it deleted (which frees \
         capacity, so unplaced tasks are worth another look) and the reconcile it causes."
    ));
    table
}

/// A job of `scale` tasks that fit on no agent (also part 9's).
pub(crate) fn unplaceable(name: &str, scale: u32) -> JobConfig {
    let mut job = job(name, scale);
    job.container.resources.cpu = 1_000_000.0;
    job
}

/// Schedules `jobs` unplaceable jobs of 1,000 tasks and lets the core try
/// them; returns how many tasks are unplaced.
fn add_backlog(cluster: &mut SteadyCluster, jobs: u32) -> usize {
    for index in 0..jobs {
        let request = Input::Schedule {
            request: cluster.request(),
            job: unplaceable(&format!("backlog{index}"), 1000),
            index: None,
        };
        let sequence = cluster
            .feed_until_write(request)
            .expect("a schedule writes the registry");
        cluster.feed(Input::PersistCompleted { sequence });
        while cluster
            .scheduler
            .poll_timeout()
            .is_some_and(|(at, _)| at <= cluster.now)
        {
            cluster.feed(Input::TimePassed);
        }
    }
    let unplaced = cluster.scheduler.unplaced_count();
    assert_eq!(
        unplaced,
        jobs as usize * 1000,
        "every backlog task unplaced"
    );
    unplaced
}

/// Reports a foreign container on an agent, then times the event that
/// reports it deleted.
fn foreign_deletions(cluster: &mut SteadyCluster, repeats: usize) -> Vec<f64> {
    let agent = cluster.agents[0].clone();
    let session = cluster
        .scheduler
        .agent(&agent)
        .map_or(0, |view| view.session);
    let resources = cluster
        .scheduler
        .agent(&agent)
        .expect("agent")
        .resources
        .clone();
    let config = Arc::new(job("foreign", 1).container);
    (0..repeats)
        .map(|sample| {
            let id = format!("foreign-{sample}");
            let event = |status| {
                let instance = ContainerInstance {
                    container_id: id.clone(),
                    status,
                    config: Arc::clone(&config),
                    process_state: Default::default(),
                };
                Input::StreamEvent {
                    agent: agent.clone(),
                    session,
                    event: StateEvent {
                        resources: resources.clone(),
                        containers: [(id.clone(), instance)].into_iter().collect(),
                    },
                }
            };
            cluster.feed(event(ContainerStatus::Failed));
            cluster.advance(Duration::from_millis(1));
            let deleted = event(ContainerStatus::Deleted);
            let start = WallClock::now();
            cluster.feed(deleted);
            let micros = start.elapsed().as_secs_f64() * 1e6;
            cluster.advance(Duration::from_millis(1));
            // Removing the foreign container may have been planned on the
            // first event; answer nothing, it is gone now.
            micros
        })
        .collect()
}

fn best(samples: Vec<f64>) -> f64 {
    samples.into_iter().fold(f64::INFINITY, f64::min)
}
