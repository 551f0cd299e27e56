//! How one job's tasks stand, for a status page: desired, running, pending
//! and unplaced, counted from the location index without visiting every
//! agent, so that a page of jobs costs the tasks on it, not the cluster.

use crate::wire::JobHash;

use super::Scheduler;

/// One job's tasks as the scheduler sees them (from
/// [`Scheduler::job_tasks`]). A task is counted once, in the first of
/// these that holds for it: running, pending, unplaced; a task in none
/// (created, stopped, failed, or on no agent and not yet tried) is only
/// counted in `desired`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobTaskCounts {
    /// Tasks the registry asks for (its scale, within the bound).
    pub desired: u32,
    /// Tasks with an instance reported `running` on some agent.
    pub running: u32,
    /// Tasks not running with a command of ours pending on some agent.
    pub pending: u32,
    /// Tasks that could not be placed at the last reconcile.
    pub unplaced: u32,
}

impl Scheduler {
    /// How `job`'s tasks stand; `None` if the registry has no such job.
    /// Costs O(scale · log agents), whatever the size of the cluster.
    pub fn job_tasks(&self, job: &JobHash) -> Option<JobTaskCounts> {
        let config = self.jobs().get(job)?;
        let desired = config.task_count();
        let mut counts = JobTaskCounts {
            desired,
            ..JobTaskCounts::default()
        };
        let locations = self.agents.locations();
        let table = self.agents.table();
        let located = locations.job(job);
        for index in 0..desired {
            let id = job.container_id(index);
            let records = located
                .of_task(index)
                .iter()
                .filter_map(|&number| table.at(number))
                .filter_map(|agent| agent.containers().get(&id));
            let (mut running, mut pending) = (false, false);
            for record in records {
                running |= record.status == Some(crate::wire::ContainerStatus::Running);
                pending |= record.pending().is_some();
            }
            if running {
                counts.running += 1;
            } else if pending {
                counts.pending += 1;
            } else if self.unplaced_reason(&id).is_some() {
                counts.unplaced += 1;
            }
        }
        Some(counts)
    }
}
