//! Part 9: the daemon's status page at 10 and 10,000 agents: its size, and
//! the server's time to make it (copying the snapshot out of the core, as
//! the core task does, and rendering the HTML, as the HTTP handler does),
//! beside an empty page (no agent, no job) rendered in the same run.

use std::time::Instant as WallClock;

use harpoon_core::{Input, Instant};
use harpoon_io::daemon::status_page::{
    JOBS_PER_PAGE, PageRequest, RecentTraces, StatusSnapshot, status_page,
};

use crate::Size;
use crate::cluster::SteadyCluster;
use crate::report::{Table, count};

/// Tasks per agent in the measured clusters.
const TASKS_PER_AGENT: u32 = 2;

/// Runs part 9.
pub fn run(size: Size) -> Table {
    let repeats = size.pick(21, 5);
    let mut table = Table::new(
        "9. The status page: bytes and server time (best of repeated renders, snapshot and HTML)",
    );
    let recent = full_ring();
    let empty = SteadyCluster::build(0, 0);
    let (empty_bytes, empty_micros) = measure(&empty, &RecentTraces::default(), repeats);
    table.row("empty page: time", empty_micros, None, "µs", None);
    table.row("empty page: size", empty_bytes as f64, None, "bytes", None);
    let large = size.pick(10_000, 1_000);
    for agents in [10, large] {
        let cluster = SteadyCluster::build(agents * TASKS_PER_AGENT, agents);
        let (bytes, micros) = measure(&cluster, &recent, repeats);
        let what = format!(
            "{} agents, {} tasks, {} jobs",
            count(u64::from(agents)),
            count(u64::from(agents * TASKS_PER_AGENT)),
            cluster.scheduler.jobs().len()
        );
        table.row(
            format!("{what}: time"),
            micros,
            Some(empty_micros),
            "µs",
            Some(("≤ 10 ms".to_owned(), micros <= 10_000.0)),
        );
        table.row(
            format!("{what}: size"),
            bytes as f64,
            Some(empty_bytes as f64),
            "bytes",
            Some(("≤ 200 KB".to_owned(), bytes <= 200_000)),
        );
    }
    // The worst page for the core task: every job on it has unplaced tasks,
    // so each costs an explanation, O(agents).
    let mut unplaced = SteadyCluster::build(0, large);
    let unplaced_jobs = unplaced_page(&mut unplaced);
    let (bytes, micros) = measure(&unplaced, &recent, repeats);
    let what = format!(
        "{} agents, a page of {unplaced_jobs} jobs with unplaced tasks",
        count(u64::from(large))
    );
    table.row(
        format!("{what}: time"),
        micros,
        Some(empty_micros),
        "µs",
        Some(("≤ 50 ms".to_owned(), micros <= 50_000.0)),
    );
    table.row(
        format!("{what}: size"),
        bytes as f64,
        Some(empty_bytes as f64),
        "bytes",
        Some(("≤ 200 KB".to_owned(), bytes <= 200_000)),
    );
    table.notes.push(format!(
        "A job with unplaced tasks shows the core's explanation (`why`, O(agents)), made \
         once per job of the page: the last rows fill a page of {JOBS_PER_PAGE} jobs of \
         {UNPLACED_TASKS_PER_JOB} tasks that fit on no agent."
    ));
    table.notes.push(format!(
        "The page shows the gauges of the whole cluster (O(agents) to read), one page of \
         agents and of jobs ({} each) and the {} latest decisions from a full ring of {}; \
         the loaded pages' rings are full of 100-byte lines.",
        harpoon_io::daemon::status_page::AGENTS_PER_PAGE,
        harpoon_io::daemon::status_page::DECISIONS_SHOWN,
        harpoon_io::daemon::status_page::RECENT_TRACES_KEPT,
    ));
    table
}

/// Tasks per job in the unplaced page.
const UNPLACED_TASKS_PER_JOB: u32 = 10;

/// Schedules a page of jobs whose tasks fit nowhere and lets the core try
/// them; returns how many jobs.
fn unplaced_page(cluster: &mut SteadyCluster) -> usize {
    for index in 0..JOBS_PER_PAGE {
        let request = Input::Schedule {
            request: cluster.request(),
            job: crate::backlog::unplaceable(&format!("unplaced{index}"), UNPLACED_TASKS_PER_JOB),
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
    assert_eq!(
        cluster.scheduler.unplaced_count(),
        JOBS_PER_PAGE * UNPLACED_TASKS_PER_JOB as usize,
        "every task unplaced"
    );
    JOBS_PER_PAGE
}

/// The page's bytes and the best time, µs, of `repeats` snapshots and
/// renders.
fn measure(cluster: &SteadyCluster, recent: &RecentTraces, repeats: u32) -> (usize, f64) {
    let mut best = f64::INFINITY;
    let mut bytes = 0;
    for _ in 0..repeats {
        let started = WallClock::now();
        let snapshot = StatusSnapshot::collect(&cluster.scheduler, recent, PageRequest::default());
        let page = status_page(&snapshot, false);
        best = best.min(started.elapsed().as_secs_f64() * 1e6);
        bytes = std::hint::black_box(page).len();
    }
    (bytes, best)
}

fn full_ring() -> RecentTraces {
    let mut ring = RecentTraces::default();
    for line in 0..harpoon_io::daemon::status_page::RECENT_TRACES_KEPT as u64 {
        ring.push(
            Instant::from_millis(line * 10),
            "http://10.0.0.1:3333",
            &format!(
                "{line:>6}: stream synced after a reconnect; 12 containers reported, none lost"
            ),
        );
    }
    ring
}
