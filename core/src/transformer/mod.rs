//! The transformer: diffs desired against actual state and plans commands.
//!
//! Semantics follow the original scheduler, with its weaknesses fixed:
//! - An instance in any status counts as the task being present; the
//!   scheduler never restarts processes itself (the agent's restart policy
//!   does). An instance in `created` with nothing pending gets a start.
//! - Duplicates (one task on several agents) keep exactly one instance,
//!   chosen deterministically (on a synced agent, most advanced status,
//!   then lowest agent id), and remove the rest.
//! - Unwanted instances are removed: stop if running, then destroy.
//! - A failing command backs off exponentially per container (capped)
//!   instead of being retried in a tight loop; a task whose creation fails
//!   backs off before being placed again.
//! - An unschedule supersedes a pending start: removal does not wait for
//!   the start's confirmation or back-off.
//! - At most `max_commands_per_reconcile` commands per reconcile.
//!
//! Instances on an agent whose stream is down still count as present until
//! the abandon timeout, so a brief disconnection moves nothing; commands go
//! only to synced agents.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use crate::agent::{Action, AgentRepresentation, ContainerRecord, Phase};
use crate::algorithm::{self, Algorithm};
use crate::ids::{AgentId, AgentNo};
use crate::registry::Jobs;
use crate::scheduler::agent_map::AgentTable;
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::dispatch::Dispatch;
use crate::scheduler::locations::Locations;
use crate::scheduler::output::CommandAction;
use crate::time::Instant;
use crate::wire::{ContainerConfig, ContainerId, ContainerStatus, JobConfig, JobHash};

mod legacy;
mod reconcile;
mod unplaced;
mod view;

use legacy::LegacyNames;
use unplaced::UnplacedTasks;
use view::PlacementView;
pub(crate) use view::build as build_placement_cluster;

/// A command the transformer decided on.
#[derive(Clone, Debug)]
pub struct PlannedCommand {
    /// Where it goes.
    pub agent: AgentId,
    /// The same agent's number in the table of agents the plan was made
    /// from (valid until the table changes: the scheduler issues a plan
    /// at once).
    pub agent_no: AgentNo,
    /// Which container.
    pub container: ContainerId,
    /// What to do.
    pub action: CommandAction,
    /// Why, for the trace (formatted only when traced).
    pub why: Why,
}

/// Why a command was planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The task had no instance; this algorithm placed it.
    Missing(&'static str),
    /// The instance waits in `created` with nothing pending: start it.
    Created,
    /// Another agent holds the instance kept.
    DuplicateOf(AgentId),
    /// The container belongs to no desired task.
    NotDesired,
    /// Its agent is drained and the task's replacement elsewhere is healthy.
    Drained,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Missing(algorithm) => write!(f, "task missing; placed by {algorithm}"),
            Why::Created => f.write_str("created with nothing pending"),
            Why::DuplicateOf(agent) => write!(f, "duplicate of the instance on {agent}"),
            Why::NotDesired => f.write_str("not desired"),
            Why::Drained => f.write_str("its agent is drained and the replacement is healthy"),
        }
    }
}

/// The result of one reconcile.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Commands to issue, in order.
    pub commands: Vec<PlannedCommand>,
    /// True when the command budget ran out with work left: reconcile again.
    pub more: bool,
    /// Tasks for which placement found no agent.
    pub unplaced_attempts: u64,
}

/// Back-off of a task whose creation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskBackoff {
    /// Failures in a row.
    pub failures: u32,
    /// No new placement before this.
    pub until: Instant,
}

/// The transformer's own state: what it remembers between reconciles.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Transformer {
    /// Tasks whose creation failed, by container ID.
    pub task_backoff: BTreeMap<ContainerId, TaskBackoff>,
    /// Tasks that could not be placed, and why, by shape.
    pub unplaced: UnplacedTasks,
    /// The container config of each desired job, shared by every create
    /// command and container record of its tasks.
    configs: BTreeMap<JobHash, Arc<ContainerConfig>>,
    /// Containers to look at in the next reconcile: those whose desired or
    /// actual state changed. A reconcile costs what changed, not the size
    /// of the cluster.
    dirty: BTreeSet<ContainerId>,
    /// Where the anti-entropy sweep continues: over agents (their
    /// containers), and over desired tasks (job hash, task index).
    sweep_agent: Option<AgentId>,
    /// Agents whose containers the next reconcile looks at (the sweep).
    swept: Vec<AgentId>,
    sweep_desired: Option<(JobHash, u32)>,
    /// The cluster as placement sees it, kept between reconciles.
    view: PlacementView,
    /// Missing tasks waiting to be placed, in placement order, and the
    /// same as a set (a task marked again is not queued twice).
    queue: VecDeque<ContainerId>,
    queued: BTreeSet<ContainerId>,
    /// Containers named by earlier versions, adopted as tasks.
    legacy: LegacyNames,
}

/// Everything a reconcile reads.
pub struct ReconcileInput<'a> {
    /// Current time.
    pub now: Instant,
    /// Settings.
    pub config: &'a SchedulerConfig,
    /// Desired state: the durable registry.
    pub desired: &'a Jobs,
    /// Actual state.
    pub agents: &'a AgentTable,
    /// Agents added, removed, or changed in what placement reads, since
    /// the placement view was last updated. The transformer empties it
    /// when it next places a task.
    pub changed_agents: &'a mut BTreeSet<AgentId>,
    /// Which agents hold a record of each container.
    pub locations: &'a Locations,
    /// Whether new tasks may be placed (false until every agent known at
    /// start has synced or been abandoned).
    pub placement_allowed: bool,
    /// Commands sent and not yet answered.
    pub in_flight: &'a Dispatch,
    /// Tasks moving off a drained agent: each gets an instance elsewhere
    /// while the drained one is kept, until it is released (`true`: the
    /// replacement is healthy) and the drained instance goes.
    pub moving: &'a BTreeMap<ContainerId, bool>,
}

struct Instance<'a> {
    agent: &'a AgentId,
    number: AgentNo,
    record: &'a ContainerRecord,
    synced: bool,
    /// A command for it is unanswered: nothing more goes to it until then.
    busy: bool,
    /// Its agent is drained.
    drained: bool,
}

impl<'a> Instance<'a> {
    /// The instance of container `id` that `agent` holds as `record`.
    fn new(
        agent: &'a AgentRepresentation,
        id: &ContainerId,
        record: &'a ContainerRecord,
        in_flight: &Dispatch,
    ) -> Instance<'a> {
        Instance {
            agent: &agent.id,
            number: agent.number,
            record,
            synced: agent.connection.is_synced(),
            busy: in_flight.on(&agent.id, id),
            drained: agent.drained,
        }
    }
}

impl Transformer {
    /// Marks a container to be looked at by the next reconcile.
    pub fn mark(&mut self, id: ContainerId) {
        self.dirty.insert(id);
    }

    /// Marks every task of `job` (`scale` tasks of `hash`).
    pub fn mark_job(&mut self, hash: &JobHash, scale: u32) {
        for index in 0..scale {
            self.dirty.insert(hash.container_id(index));
        }
    }

    /// Capacity appeared (an agent synced, a container went away): the
    /// next reconcile retries unplaced tasks, a few of each shape (see
    /// `unplaced.rs`), at a cost independent of the backlog.
    pub fn mark_unplaced(&mut self) {
        self.unplaced.capacity_appeared();
    }

    /// Capacity appeared on `agent` (it synced, or a container there went
    /// away): the next reconcile retries the unplaced tasks whose shape
    /// fits what the agent has free.
    pub fn capacity_appeared_on(&mut self, agent: &AgentRepresentation) {
        if !agent.connection.is_synced() {
            return;
        }
        let resources = agent.resources();
        let (cpu, mem) = agent.committed();
        let free = (
            algorithm::cpu_millis(resources.cpus.total).saturating_sub(cpu),
            resources.mem.total.saturating_sub(mem),
        );
        self.unplaced.capacity_appeared_on(free, &resources.volumes);
    }

    /// How many containers are marked.
    pub fn marked(&self) -> usize {
        self.dirty.len()
    }

    /// How many missing tasks are queued for placement.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether anything is marked.
    pub fn has_work(&self) -> bool {
        !self.dirty.is_empty()
            || !self.swept.is_empty()
            || !self.queue.is_empty()
            || self.unplaced.retry_due()
    }

    /// The durable registry changed from `old` to `new` in the jobs
    /// `changed`: marks their tasks, and forgets what belonged to jobs no
    /// longer desired; returns the tasks whose creation back-off it forgot
    /// (their timers can go). Costs what changed, not the size of the
    /// registry.
    pub fn desired_changed(
        &mut self,
        changed: &BTreeSet<JobHash>,
        old: &Jobs,
        new: &Jobs,
    ) -> Vec<ContainerId> {
        for hash in changed {
            let before = old.get(hash).map_or(0, |job| job.task_count());
            let after = new.get(hash).map_or(0, |job| job.task_count());
            self.mark_job(hash, before.max(after));
            if !new.contains_key(hash) {
                self.configs.remove(hash);
            }
        }
        let mut forgotten = Vec::new();
        for hash in changed.iter().filter(|hash| !new.contains_key(*hash)) {
            // Containers adopted under a legacy name go with their job.
            if let Some(job) = old.get(hash)
                && let Some(legacy) = self.legacy.remove(hash, job)
            {
                self.mark_job(&legacy, job.task_count());
            }
            // Back-offs and reasons of tasks no longer desired go with
            // them, found by their IDs' common prefix: a cost in the
            // removed job's entries, not in every failing or unplaced task.
            forgotten.extend(forget_tasks_of(&mut self.task_backoff, hash));
            self.unplaced.forget_job(hash);
        }
        forgotten
    }

    /// Knows the jobs of the registry loaded at start by the hashes our
    /// earlier versions gave them too, so that the containers those
    /// started are adopted (see [`legacy`]).
    pub fn know_legacy_names(&mut self, loaded: &Jobs) {
        for (hash, job) in loaded {
            self.legacy.insert(hash, job);
        }
    }

    /// Marks everything: every desired task and every located container
    /// (after the registry loads, or when placement starts).
    pub fn mark_all(&mut self, desired: &Jobs, locations: &Locations) {
        for (hash, job) in desired {
            self.mark_job(hash, job.task_count());
        }
        self.dirty.extend(locations.containers());
    }

    /// The periodic tick: marks the unplaced tasks (capacity may have
    /// freed), and the next containers and desired tasks of a round-robin
    /// sweep, a safety net that would repair a change that was never
    /// marked, at a bounded cost per tick.
    ///
    /// Located containers are swept agent by agent, whole agents until at
    /// least `batch` containers are marked: the reconcile that follows then
    /// looks up a few agents and their records, which stay in cache, rather
    /// than a different agent for every container (at ten thousand agents,
    /// a cache miss each). Desired tasks are swept `batch` at a time in job
    /// order, marking only those located nowhere: a located task is swept
    /// with its agent.
    pub fn sweep(
        &mut self,
        desired: &Jobs,
        locations: &Locations,
        agents: &AgentTable,
        batch: usize,
    ) {
        self.mark_unplaced();
        // From where the last tick stopped, round the end of the agents and
        // back, so that every tick sweeps as much (or every agent once).
        let start = self.sweep_agent.take();
        let after = agents.range((
            start.as_ref().map_or(Bound::Unbounded, Bound::Included),
            Bound::Unbounded,
        ));
        let before = start
            .iter()
            .flat_map(|agent| agents.range((Bound::Unbounded, Bound::Excluded(agent))));
        let mut marked = 0;
        for (id, agent) in after.chain(before) {
            if marked >= batch {
                self.sweep_agent = Some(id.clone());
                break;
            }
            // The agent, not each of its container IDs: the reconcile reads
            // them in place (cloning an ID touches its shared count, a
            // cache miss each at a million containers).
            self.swept.push(id.clone());
            marked += agent.containers().len().max(1);
        }
        let mut budget = batch;
        let (mut hash, mut index) = self.sweep_desired.take().unwrap_or((JobHash::new(""), 0));
        for (job_hash, job) in desired.range(hash.clone()..) {
            let first = if *job_hash == hash { index } else { 0 };
            let last = job.task_count().min(first.saturating_add(budget as u32));
            let located = locations.job(job_hash);
            for task in first..last {
                if located.of_task(task).is_empty() {
                    self.dirty.insert(job_hash.container_id(task));
                }
            }
            budget -= (last - first) as usize;
            if budget == 0 {
                (hash, index) = (job_hash.clone(), last);
                self.sweep_desired = Some((hash, index));
                break;
            }
        }
    }

    /// Looks at every marked container and plans the commands that move
    /// actual towards desired state for it (see `reconcile.rs` for its
    /// phases).
    pub fn reconcile(
        &mut self,
        input: ReconcileInput<'_>,
        algorithm: &mut dyn Algorithm,
        rng: &mut ChaCha8Rng,
    ) -> Plan {
        reconcile::Reconcile::new(self, input).run(algorithm, rng)
    }

    /// The shared container config of a desired job.
    pub fn container_config(&mut self, hash: &JobHash, job: &JobConfig) -> Arc<ContainerConfig> {
        Arc::clone(
            self.configs
                .entry(hash.clone())
                .or_insert_with(|| Arc::new(job.container.clone())),
        )
    }

    /// The shared config for a container an agent reported, if it equals
    /// the config of the desired job it belongs to.
    pub fn shared_config(
        &self,
        id: &ContainerId,
        reported: &ContainerConfig,
    ) -> Option<Arc<ContainerConfig>> {
        let (hash, _) = id.task()?;
        self.configs
            .get(&hash)
            .filter(|shared| ***shared == *reported)
            .cloned()
    }

    /// A desired task with one or more instances: keep the best, start it
    /// if it waits in `created`, remove the others.
    fn keep_one(
        &mut self,
        now: Instant,
        id: &ContainerId,
        instances: &mut [Instance<'_>],
        plan: &mut Plan,
    ) {
        instances.sort_by_key(|instance| {
            (
                !instance.synced,
                status_rank(instance.record.status),
                instance.agent,
            )
        });
        let (keeper, rest) = instances.split_first().expect("at least one instance");
        let record = keeper.record;
        let idle = keeper.synced && !keeper.busy && record.pending().is_none();
        if idle
            && record.status == Some(ContainerStatus::Created)
            && !backing_off(record, now, false)
        {
            plan.commands.push(PlannedCommand {
                agent: keeper.agent.clone(),
                agent_no: keeper.number,
                container: id.clone(),
                action: CommandAction::Start,
                why: Why::Created,
            });
        }
        for duplicate in rest {
            let why = Why::DuplicateOf(keeper.agent.clone());
            if let Some(planned) = removal(now, id, duplicate, why) {
                plan.commands.push(planned);
            }
        }
    }
}

/// The next step in removing an instance, if one can be taken now.
fn removal(
    now: Instant,
    id: &ContainerId,
    instance: &Instance<'_>,
    why: Why,
) -> Option<PlannedCommand> {
    if !instance.synced || instance.busy {
        return None;
    }
    let record = instance.record;
    let action = match record.pending() {
        // Supersede an accepted start: stop now rather than wait for the
        // start to be confirmed or time out.
        Some(p) if p.action == Action::Start && p.phase == Phase::Accepted => CommandAction::Stop,
        Some(_) => return None,
        None => match record.status? {
            ContainerStatus::Running => CommandAction::Stop,
            ContainerStatus::Created | ContainerStatus::Failed | ContainerStatus::Finished => {
                CommandAction::Destroy
            }
            ContainerStatus::Deleted => return None,
        },
    };
    if backing_off(record, now, true) {
        return None;
    }
    Some(PlannedCommand {
        agent: instance.agent.clone(),
        agent_no: instance.number,
        container: id.clone(),
        action,
        why,
    })
}

/// Whether a record's back-off forbids a command now: removal commands
/// respect only removal failures, so a failing start never delays an
/// unschedule.
fn backing_off(record: &ContainerRecord, now: Instant, removal: bool) -> bool {
    record
        .backoff()
        .is_some_and(|b| b.action.is_removal() == removal && now < b.until)
}

/// Lower is better when choosing which duplicate to keep.
fn status_rank(status: Option<ContainerStatus>) -> u8 {
    match status {
        Some(ContainerStatus::Running) => 0,
        Some(ContainerStatus::Created) => 1,
        Some(ContainerStatus::Finished) => 2,
        Some(ContainerStatus::Failed) => 3,
        Some(ContainerStatus::Deleted) | None => 4,
    }
}

/// The keys of `map` that are tasks of `job`. Task IDs are
/// `<job hash>-<index>`, so they sit together under that prefix (with, at
/// most, tasks of other jobs whose hash extends it, which are left out):
/// the cost is in the job's entries, not the map's.
pub(super) fn tasks_of<V>(map: &BTreeMap<ContainerId, V>, job: &JobHash) -> Vec<ContainerId> {
    let prefix = format!("{job}-");
    map.range::<str, _>((
        std::ops::Bound::Included(prefix.as_str()),
        std::ops::Bound::Unbounded,
    ))
    .map(|(id, _)| id)
    .take_while(|id| id.as_str().starts_with(&prefix))
    .filter(|id| {
        id.task_parts()
            .is_some_and(|(hash, _)| hash == job.as_str())
    })
    .cloned()
    .collect()
}

/// Removes the entries of `job`'s tasks from `map`; returns their IDs.
fn forget_tasks_of<V>(map: &mut BTreeMap<ContainerId, V>, job: &JobHash) -> Vec<ContainerId> {
    let doomed = tasks_of(map, job);
    for id in &doomed {
        map.remove(id);
    }
    doomed
}
