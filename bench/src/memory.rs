//! Part 3: bytes of core state per task in a steady cluster of a million
//! running tasks (10,000 agents), measured with a counting allocator: the
//! bytes in use after the core absorbed the cluster's state, less those in
//! use before, divided by the tasks. The inputs themselves are consumed and
//! freed by then.
//!
//! Baseline: the same state if every task held its own copy of its job's
//! config (the bytes one deep copy of a config costs, measured, added per
//! task): what sharing a job's config among its tasks saves.

use crate::Size;
use crate::alloc_counter;
use crate::cluster::{SteadyCluster, job};
use crate::report::Table;

/// Runs part 3.
pub fn run(size: Size) -> Table {
    let tasks: u32 = size.pick(1_000_000, 20_000);
    let agents = tasks / 100;
    let before = alloc_counter::in_use();
    let cluster = SteadyCluster::build(tasks, agents);
    let state = alloc_counter::in_use().saturating_sub(before) as f64;
    let per_task = state / f64::from(tasks);

    let config = job("a-job-name", 100).container;
    let before_copy = alloc_counter::in_use();
    let copy = Box::new(config.clone());
    let copy_bytes = (alloc_counter::in_use() - before_copy) as f64;
    drop(copy);
    let unshared = per_task + copy_bytes;

    let mut table = Table::new("3. Memory: bytes of core state per task");
    table.row(
        format!("{tasks} running tasks on {agents} agents"),
        per_task,
        Some(unshared),
        "B",
        Some(("≤ 200 B".to_owned(), per_task <= 200.0)),
    );
    table.notes.push(format!(
        "Baseline: the same state with a private copy of the job's config per task ({copy_bytes:.0} B each, measured). \
         Total core state: {:.1} MB. Counted: bytes requested from the allocator, not its own overhead.",
        state / 1e6
    ));
    drop(cluster);
    table
}
