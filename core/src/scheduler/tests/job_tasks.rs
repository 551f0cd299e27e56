//! `Scheduler::job_tasks`: a job's tasks counted as running, pending and
//! unplaced from the location index, as a status page shows them.

use super::harness::*;
use crate::JobTaskCounts;

#[test]
fn a_jobs_tasks_are_counted_running_pending_and_unplaced() {
    let mut h = Harness::new(config());
    let web = job("web", 3, 1.0, 64);
    h.start(vec![web.clone()], &["a", "b"]);
    assert_eq!(
        h.scheduler.job_tasks(&web.hash()),
        Some(JobTaskCounts {
            desired: 3,
            ..JobTaskCounts::default()
        }),
        "nothing is tried before the agents sync"
    );
    h.sync("a", resources(1.0, 1024), vec![]);
    h.sync("b", resources(1.0, 1024), vec![]);
    let creates = h.take_commands();
    assert_eq!(creates.len(), 2, "one task fits on each agent");
    assert_eq!(
        h.scheduler.job_tasks(&web.hash()),
        Some(JobTaskCounts {
            desired: 3,
            running: 0,
            pending: 2,
            unplaced: 1,
        })
    );
    play_agent(&mut h, "a", resources(1.0, 1024), &creates);
    let starts = h.take_commands();
    play_agent(&mut h, "a", resources(1.0, 1024), &starts);
    assert_eq!(
        h.scheduler.job_tasks(&web.hash()),
        Some(JobTaskCounts {
            desired: 3,
            running: 1,
            pending: 1,
            unplaced: 1,
        }),
        "a's task runs; b's create is still unanswered"
    );
    assert_eq!(
        h.scheduler.job_tasks(&job("other", 1, 1.0, 64).hash()),
        None,
        "a job the registry does not hold has no counts"
    );
}
