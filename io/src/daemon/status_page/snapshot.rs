//! What the status page shows, copied out of the core by the core task in
//! one step and rendered elsewhere, so that rendering never holds the core.
//! Everything is bounded: one page of agents and of jobs, the gauges the
//! core keeps (O(agents) to read) and the recent decisions.

use std::collections::BTreeSet;

use harpoon_core::wire::{ContainerStatus, JobHash, cpu_millis};
use harpoon_core::{AgentId, ConnectionState, Gauges, JobTaskCounts, Scheduler};

use super::recent_traces::{RecentTrace, RecentTraces};
use super::rollouts::RolloutsShown;

/// Agents shown per page.
pub const AGENTS_PER_PAGE: usize = 100;
/// Jobs shown per page.
pub const JOBS_PER_PAGE: usize = 100;
/// Recent decisions shown.
pub const DECISIONS_SHOWN: usize = 50;
/// The longest command shown, in characters: commands are user input, of
/// any length the API accepts.
const COMMAND_CHARS_SHOWN: usize = 160;

/// Which page of agents and of jobs to show (`/?agents=N&jobs=M`, offsets
/// into the id-ordered agents and hash-ordered jobs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The first agent shown.
    pub agents_from: usize,
    /// The first job shown.
    pub jobs_from: usize,
}

impl PageRequest {
    /// Reads `agents=N&jobs=M` from a query string; anything else in it,
    /// or a value that is not a number, is ignored (the first page).
    pub fn from_query(query: Option<&str>) -> PageRequest {
        let mut page = PageRequest::default();
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Ok(value) = value.parse::<usize>() else {
                continue;
            };
            match key {
                "agents" => page.agents_from = value,
                "jobs" => page.jobs_from = value,
                _ => {}
            }
        }
        page
    }
}

/// Containers on one agent by what the scheduler knows of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerCounts {
    /// A create of ours is unconfirmed.
    pub creating: u32,
    /// Reported `created`.
    pub created: u32,
    /// Reported `running`.
    pub running: u32,
    /// Reported `failed`.
    pub failed: u32,
    /// Reported `finished`.
    pub finished: u32,
}

/// One agent's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRow {
    /// Its URL.
    pub id: String,
    /// Its stream's state.
    pub state: ConnectionState,
    /// Whether placement avoids it after failing commands.
    pub avoided: bool,
    /// While it is drained: the desired tasks it still holds.
    pub draining: Option<usize>,
    /// CPU promised to its containers and pending creates, milli-cores.
    pub cpu_committed_millis: u64,
    /// CPU it offers, milli-cores.
    pub cpu_total_millis: u64,
    /// Memory promised, MB.
    pub mem_committed_mb: u64,
    /// Memory it offers, MB.
    pub mem_total_mb: u64,
    /// Its containers by status.
    pub containers: ContainerCounts,
}

/// One job's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    /// Its name.
    pub name: String,
    /// Its product and environment, `product/environment`.
    pub product: String,
    /// Its hash.
    pub hash: String,
    /// Its command line, cut to a length a table can show.
    pub command: String,
    /// How its tasks stand.
    pub tasks: JobTaskCounts,
    /// Why its tasks could not be placed, if some could not.
    pub unplaced_reason: Option<String>,
}

/// Everything one rendering of the page reads.
#[derive(Clone, Debug, Default)]
pub struct StatusSnapshot {
    /// Whether the registry has been loaded.
    pub ready: bool,
    /// The cluster at a glance.
    pub gauges: Gauges,
    /// The registry's index: the sequence of its last durable write.
    pub registry_index: u64,
    /// Jobs in the registry.
    pub jobs_total: usize,
    /// The page shown.
    pub page: PageRequest,
    /// The page's agents, in id order.
    pub agents: Vec<AgentRow>,
    /// The page's jobs, in hash order.
    pub jobs: Vec<JobRow>,
    /// Rollouts running and recently finished.
    pub rollouts: RolloutsShown,
    /// The most recent decisions, newest first.
    pub decisions: Vec<RecentTrace>,
}

impl StatusSnapshot {
    /// Copies what page `page` shows out of `scheduler`: O(agents) for the
    /// gauges and the skip to the page, plus the containers of the page's
    /// agents, the tasks of its jobs (and an explanation, O(agents), for
    /// each of its jobs with unplaced tasks) and the rollouts.
    pub fn collect(
        scheduler: &Scheduler,
        recent: &RecentTraces,
        page: PageRequest,
    ) -> StatusSnapshot {
        let drained: BTreeSet<&AgentId> = scheduler.drains().collect();
        let agents = scheduler
            .agents()
            .skip(page.agents_from)
            .take(AGENTS_PER_PAGE)
            .map(|view| {
                let mut containers = ContainerCounts::default();
                for container in view.containers() {
                    let count = match container.status() {
                        None => &mut containers.creating,
                        Some(ContainerStatus::Created) => &mut containers.created,
                        Some(ContainerStatus::Running) => &mut containers.running,
                        Some(ContainerStatus::Failed) => &mut containers.failed,
                        Some(ContainerStatus::Finished | ContainerStatus::Deleted) => {
                            &mut containers.finished
                        }
                    };
                    *count += 1;
                }
                AgentRow {
                    id: view.id.to_string(),
                    state: view.state,
                    avoided: view.avoided_until().is_some(),
                    draining: drained
                        .contains(&view.id)
                        .then(|| scheduler.drain_remaining(view.id)),
                    cpu_committed_millis: view.committed_cpu_millis,
                    cpu_total_millis: cpu_millis(view.resources.cpus.total),
                    mem_committed_mb: view.committed_mem_mb,
                    mem_total_mb: view.resources.mem.total,
                    containers,
                }
            })
            .collect();
        let mut explained = 0;
        let jobs = scheduler
            .jobs()
            .iter()
            .skip(page.jobs_from)
            .take(JOBS_PER_PAGE)
            .map(|(hash, job)| {
                let tasks = scheduler.job_tasks(hash).unwrap_or_default();
                let unplaced_reason = if tasks.unplaced == 0 {
                    None
                } else if explained < EXPLAINED_JOBS_PER_PAGE {
                    explained += 1;
                    unplaced_explanation(scheduler, hash)
                } else {
                    kept_reason(scheduler, hash, job.task_count(), tasks.unplaced)
                };
                let container = &job.container;
                JobRow {
                    name: container.job.clone(),
                    product: format!("{}/{}", container.product, container.environment),
                    hash: hash.to_string(),
                    command: cut_chars(&container.command.exec.get().join(" ")),
                    tasks,
                    unplaced_reason,
                }
            })
            .collect();
        StatusSnapshot {
            ready: scheduler.is_ready(),
            gauges: scheduler.gauges(),
            registry_index: scheduler.registry_sequence(),
            jobs_total: scheduler.jobs().len(),
            page,
            agents,
            jobs,
            rollouts: RolloutsShown::collect(scheduler),
            decisions: recent
                .newest_first()
                .take(DECISIONS_SHOWN)
                .cloned()
                .collect(),
        }
    }
}

/// Why `job`'s tasks could not be placed: the core's explanation
/// ([`Scheduler::why`]: agents evaluated, ruled out by each constraint, the
/// closest candidate) of its first unplaced task, which stands for all of
/// them (a job's tasks share one demand), with how many there are. The one
/// place the page asks for an explanation; it costs O(agents), so the page
/// asks only for its own jobs with unplaced tasks, once each.
pub fn unplaced_explanation(scheduler: &Scheduler, job: &JobHash) -> Option<String> {
    let why = scheduler.why(job)?;
    let mut unplaced = why
        .tasks
        .iter()
        .filter(|task| task.unplaced_reason.is_some());
    let first = unplaced.next()?;
    let count = 1 + unplaced.count();
    let tasks = if count == 1 { "task" } else { "tasks" };
    // The explanation is made whenever a reason is kept; the reason alone
    // is the fallback should that ever change.
    let text = match &first.unplaced {
        Some(explanation) => explanation.to_string(),
        None => first.unplaced_reason.clone().unwrap_or_default(),
    };
    Some(format!("{count} {tasks} unplaced: {text}"))
}

/// Jobs of one page given the whole explanation ([`unplaced_explanation`],
/// O(agents) each); the page's other jobs with unplaced tasks show the
/// one-line reason the core keeps, so a page of unplaceable jobs costs at
/// most this many scans of the agents, not one per job.
const EXPLAINED_JOBS_PER_PAGE: usize = 10;

/// The one-line reason the core keeps for the first unplaced task of
/// `job` (of its `scale` tasks), with how many are unplaced.
fn kept_reason(scheduler: &Scheduler, job: &JobHash, scale: u32, unplaced: u32) -> Option<String> {
    let reason =
        (0..scale).find_map(|index| scheduler.unplaced_reason(&job.container_id(index)))?;
    let tasks = if unplaced == 1 { "task" } else { "tasks" };
    Some(format!("{unplaced} {tasks} unplaced: {reason}"))
}

fn cut_chars(text: &str) -> String {
    match text.char_indices().nth(COMMAND_CHARS_SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_read_from_the_query_and_anything_else_is_ignored() {
        assert_eq!(PageRequest::from_query(None), PageRequest::default());
        assert_eq!(
            PageRequest::from_query(Some("agents=200&jobs=100&x=1")),
            PageRequest {
                agents_from: 200,
                jobs_from: 100
            }
        );
        assert_eq!(
            PageRequest::from_query(Some("agents=-1&jobs=lots")),
            PageRequest::default()
        );
    }

    #[test]
    fn a_long_command_is_cut_on_a_character_boundary() {
        let long = "ü".repeat(COMMAND_CHARS_SHOWN + 10);
        let cut = cut_chars(&long);
        assert_eq!(cut.chars().count(), COMMAND_CHARS_SHOWN + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(cut_chars("short"), "short");
    }
}
