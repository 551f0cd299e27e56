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
use crate::algorithm::{self, Algorithm, Demand, Unplaced};
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
mod unplaced;
mod view;

use legacy::LegacyNames;
use unplaced::{UnplacedTasks, shape_of};
use view::PlacementView;

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
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Missing(algorithm) => write!(f, "task missing; placed by {algorithm}"),
            Why::Created => f.write_str("created with nothing pending"),
            Why::DuplicateOf(agent) => write!(f, "duplicate of the instance on {agent}"),
            Why::NotDesired => f.write_str("not desired"),
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskBackoff {
    /// Failures in a row.
    pub failures: u32,
    /// No new placement before this.
    pub until: Instant,
}

/// The transformer's own state: what it remembers between reconciles.
#[derive(Clone, Debug, Default)]
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
}

struct Instance<'a> {
    agent: &'a AgentId,
    number: AgentNo,
    record: &'a ContainerRecord,
    synced: bool,
    /// A command for it is unanswered: nothing more goes to it until then.
    busy: bool,
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
    /// actual towards desired state for it.
    pub fn reconcile(
        &mut self,
        input: ReconcileInput<'_>,
        algorithm: &mut dyn Algorithm,
        rng: &mut ChaCha8Rng,
    ) -> Plan {
        let ReconcileInput {
            now,
            config,
            desired,
            agents,
            changed_agents,
            locations,
            placement_allowed,
            in_flight,
        } = input;
        let mut plan = Plan::default();
        let budget = config.max_commands_per_reconcile;
        self.legacy.begin_reconcile();
        // A container's task, parsed once per look: its job hash is the
        // probe for both job lookups (a `JobHash` compares the keys'
        // inline heads; a `&str` would follow every key's pointer).
        type Task = Option<(JobHash, u32)>;
        let wanted_job = |task: &Task| {
            task.as_ref().and_then(|(hash, index)| {
                desired
                    .get_key_value(hash)
                    .filter(|(_, job)| *index < job.task_count())
            })
        };
        let instances_of = |id: &ContainerId, task: &Task| -> Vec<Instance<'_>> {
            let holders = match task {
                Some((hash, index)) => locations.of_task(hash, *index),
                None => locations.of(id),
            };
            let mut instances: Vec<Instance<'_>> = holders
                .iter()
                .filter_map(|&number| {
                    let agent = agents.at(number)?;
                    let record = agent.containers().get(id)?;
                    Some(Instance::new(agent, id, record, in_flight))
                })
                .collect();
            // In id order, as commands to several holders are issued.
            instances.sort_by(|a, b| a.agent.cmp(b.agent));
            instances
        };
        // Whether a task with no instance may be placed now: placement has
        // started, no command for it is unanswered (a create given up on,
        // say: its answer marks the task again), and it is not backing off.
        let placeable = |transformer: &Transformer, id: &ContainerId| {
            placement_allowed
                && !in_flight.any_for(id)
                && transformer
                    .task_backoff
                    .get(id)
                    .is_none_or(|b| now >= b.until)
        };
        // Missing tasks are gathered, not placed at once, so that they can
        // be placed in an order that packs well.
        let mut gathered: Vec<(ContainerId, Demand)> = Vec::new();
        let examine = |this: &mut Transformer,
                       id: &ContainerId,
                       gathered: &mut Vec<(ContainerId, Demand)>,
                       plan: &mut Plan| {
            let task = id.task();
            // A container an earlier version named is looked at as the
            // task it stands for (rare: only when its ID names no desired
            // job).
            let adopted = match wanted_job(&task) {
                Some(_) => None,
                None => this
                    .legacy
                    .adopt(&task)
                    .filter(|task| wanted_job(&Some(task.clone())).is_some())
                    .map(|(hash, index)| (hash.container_id(index), Some((hash, index)))),
            };
            let (id, task) = match &adopted {
                Some((own, task)) => (own, task.clone()),
                None => (id, task),
            };
            // The task's instances under its legacy name, if its job has any.
            let legacy_id = task
                .as_ref()
                .and_then(|(hash, index)| this.legacy.legacy_id(hash, *index));
            if (adopted.is_some() || legacy_id.is_some()) && !this.legacy.first_look(id) {
                return; // planned for under its other name already
            }
            let mut instances = instances_of(id, &task);
            let mut legacy = legacy_id
                .as_ref()
                .map_or_else(Vec::new, |legacy| instances_of(legacy, &legacy.task()));
            match wanted_job(&task) {
                Some((hash, job)) if instances.is_empty() && legacy.is_empty() => {
                    if placeable(this, id) && !this.queued.contains(id) {
                        let shared = this.container_config(hash, job);
                        gathered.push((id.clone(), Demand::of(hash, &shared)));
                    }
                }
                Some(_) if instances.is_empty() => {
                    this.unplaced.remove(id);
                    let legacy_id = legacy_id.as_ref().expect("legacy instances have a name");
                    this.keep_one(now, legacy_id, &mut legacy, plan);
                }
                Some(_) => {
                    this.unplaced.remove(id);
                    this.keep_one(now, id, &mut instances, plan);
                    // Under its own name the task is kept; under its
                    // legacy name it is a duplicate.
                    if let Some(legacy_id) = &legacy_id {
                        let keeper = instances[0].agent.clone();
                        for instance in &legacy {
                            let why = Why::DuplicateOf(keeper.clone());
                            if let Some(planned) = removal(now, legacy_id, instance, why) {
                                plan.commands.push(planned);
                            }
                        }
                    }
                }
                None => {
                    this.unplaced.remove(id);
                    for instance in &instances {
                        if let Some(planned) = removal(now, id, instance, Why::NotDesired) {
                            plan.commands.push(planned);
                        }
                    }
                }
            }
        };
        // The sweep's agents, their containers read in place. A container
        // that several swept agents hold is examined once: one look covers
        // all its instances, and a second would plan its commands again.
        let mut examined: BTreeSet<ContainerId> = BTreeSet::new();
        for agent_id in std::mem::take(&mut self.swept) {
            let Some(agent) = agents.get(&agent_id) else {
                continue;
            };
            for (id, record) in agent.containers() {
                if self.dirty.contains(id) {
                    continue; // looked at below
                }
                if plan.commands.len() >= budget {
                    self.dirty.insert(id.clone());
                    plan.more = true;
                    continue;
                }
                // The usual case, a desired task held by this agent alone,
                // is told from the record's task slot: no ID parsed, no job
                // searched for (at a million tasks, a cache miss each).
                if let Some(slot) = record.task_slot() {
                    let (holders, desired) = locations.at(slot);
                    debug_assert!(
                        id.task().is_some_and(|(hash, index)| {
                            hash == *locations.job_at(slot) && index == u32::from(slot.index)
                        }),
                        "{id} carries the task slot of another task"
                    );
                    debug_assert_eq!(
                        desired,
                        wanted_job(&id.task()).is_some(),
                        "the location index and the registry disagree on {id}"
                    );
                    if desired
                        && holders.len() == 1
                        && holders[0] == agent.number
                        && !self.legacy.involves(locations.job_at(slot))
                    {
                        self.unplaced.remove(id);
                        let instance = Instance::new(agent, id, record, in_flight);
                        self.keep_one(now, id, &mut [instance], &mut plan);
                        continue;
                    }
                }
                if examined.insert(id.clone()) {
                    examine(self, id, &mut gathered, &mut plan);
                }
            }
        }
        self.dirty.extend(self.unplaced.take_retries());
        while let Some(id) = self.dirty.pop_first() {
            if plan.commands.len() >= budget {
                self.dirty.insert(id);
                plan.more = true;
                break;
            }
            examine(self, &id, &mut gathered, &mut plan);
        }
        // What was gathered joins the placement queue in placement order,
        // behind what is queued already: a burst larger than the command
        // budget is placed over several reconciles, but in the order of the
        // whole burst, which packs as well as placing it at once.
        if !gathered.is_empty() {
            let demands: Vec<Demand> = gathered.iter().map(|(_, demand)| demand.clone()).collect();
            for index in algorithm::placement_order(&demands) {
                let id = gathered[index].0.clone();
                self.queued.insert(id.clone());
                self.queue.push_back(id);
            }
        }
        // The view is taken out of `self` while placing, which also calls
        // `&mut self` methods.
        let mut view = std::mem::take(&mut self.view);
        let mut cluster = (!self.queue.is_empty()).then(|| view.refresh(agents, changed_agents));
        let mut counted_jobs: BTreeSet<JobHash> = BTreeSet::new();
        // Sizes no agent could take in this reconcile, and why. Agents only
        // fill up within a reconcile, so a task of the same size fails too:
        // a backlog of unplaced tasks costs one search per size, not one
        // search and one explanation per task.
        let mut failed: Vec<(Demand, Unplaced)> = Vec::new();
        while plan.commands.len() < budget {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.queued.remove(&id);
            // Still missing? It may have been removed, placed or failed
            // since it was queued.
            let task = id.task();
            let Some((hash, job)) = wanted_job(&task) else {
                continue;
            };
            if !instances_of(&id, &task).is_empty() || !placeable(self, &id) {
                continue;
            }
            let legacy_id = task
                .as_ref()
                .and_then(|(hash, index)| self.legacy.legacy_id(hash, *index));
            if legacy_id.is_some_and(|legacy| !instances_of(&legacy, &legacy.task()).is_empty()) {
                continue; // present under the name an earlier version gave it
            }
            let shared = self.container_config(hash, job);
            let demand = Demand::of(hash, &shared);
            let same_size = |(other, _): &&(Demand, Unplaced)| {
                (other.cpu_millis, other.mem_mb, &other.volumes)
                    == (demand.cpu_millis, demand.mem_mb, &demand.volumes)
            };
            if let Some((_, reason)) = failed.iter().find(same_size) {
                plan.unplaced_attempts += 1;
                self.unplaced.insert(id, shape_of(&demand), reason.clone());
                continue;
            }
            let Some((cluster, numbers, avoided)) = cluster.as_mut() else {
                break;
            };
            if algorithm.counts_jobs() && !counted_jobs.contains(hash) {
                let mut counts: BTreeMap<&AgentId, u32> = BTreeMap::new();
                for task in 0..job.task_count() {
                    for &number in locations.of_task(hash, task) {
                        if let Some(agent) = agents.at(number) {
                            *counts.entry(&agent.id).or_default() += 1;
                        }
                    }
                }
                cluster.set_job_instances(hash, counts);
                counted_jobs.insert(hash.clone());
            }
            match algorithm::place_at(algorithm, &demand, cluster, rng) {
                Ok(index) => {
                    self.unplaced.remove(&id);
                    plan.commands.push(PlannedCommand {
                        agent: cluster.agents()[index].id.clone(),
                        agent_no: numbers[index],
                        container: id,
                        action: CommandAction::Create(shared),
                        why: Why::Missing(algorithm.name()),
                    });
                }
                Err(mut reason) => {
                    if *avoided > 0 {
                        let agents = if *avoided == 1 { "agent" } else { "agents" };
                        reason.reason +=
                            &format!("; {avoided} {agents} avoided after failing commands");
                    }
                    plan.unplaced_attempts += 1;
                    self.unplaced.insert(id, shape_of(&demand), reason.clone());
                    failed.push((demand, reason));
                }
            }
        }
        self.view = view;
        let failed_shapes: Vec<_> = failed.iter().map(|(demand, _)| shape_of(demand)).collect();
        if !self.queue.is_empty() || self.unplaced.after_placement(&failed_shapes) {
            plan.more = true;
        }
        plan
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

/// Removes the entries of `job`'s tasks from `map`. Task IDs are
/// `<job hash>-<index>`, so they sit together under that prefix (with, at
/// most, tasks of other jobs whose hash extends it, which are kept).
/// Returns the IDs removed.
fn forget_tasks_of<V>(map: &mut BTreeMap<ContainerId, V>, job: &JobHash) -> Vec<ContainerId> {
    let prefix = format!("{job}-");
    let doomed: Vec<ContainerId> = map
        .range::<str, _>((
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
        .collect();
    for id in &doomed {
        map.remove(id);
    }
    doomed
}
