//! One reconcile, as named phases over a short-lived [`Reconcile`]: the
//! sweep's agents, the marked containers, then the placement queue.
//!
//! Every container looked at goes through one rule, [`Reconcile::examine`]
//! (keep one instance of a desired task and start it if it waits, remove
//! what is not desired, gather what is missing), except the sweep's usual
//! case, a desired task held by the swept agent alone, which is told from
//! the record's task slot without parsing its ID or searching the registry
//! (at a million tasks a cache miss each: part 2's periodic tick row).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use super::unplaced::shape_of;
use super::{Instance, Plan, PlannedCommand, ReconcileInput, Transformer, Why, removal};
use crate::algorithm::{self, Algorithm, Demand, Unplaced};
use crate::ids::AgentId;
use crate::registry::Jobs;
use crate::scheduler::agent_map::AgentTable;
use crate::scheduler::dispatch::Dispatch;
use crate::scheduler::locations::Locations;
use crate::scheduler::output::CommandAction;
use crate::time::Instant;
use crate::wire::{ContainerId, JobConfig, JobHash};

/// A container's task, parsed once per look: its job hash is the probe for
/// both job lookups (a `JobHash` compares the keys' inline heads; a `&str`
/// would follow every key's pointer).
type Task = Option<(JobHash, u32)>;

/// One reconcile under way: what it reads, and what it has planned.
pub(super) struct Reconcile<'t, 'a> {
    transformer: &'t mut Transformer,
    now: Instant,
    budget: usize,
    desired: &'a Jobs,
    agents: &'a AgentTable,
    changed_agents: &'a mut BTreeSet<AgentId>,
    locations: &'a Locations,
    placement_allowed: bool,
    in_flight: &'a Dispatch,
    moving: &'a BTreeMap<ContainerId, bool>,
    plan: Plan,
    /// Missing tasks, gathered rather than placed at once, so that they
    /// can be placed in an order that packs well.
    gathered: Vec<(ContainerId, Demand)>,
    /// Containers the sweep examined under the one rule: a container held
    /// by several swept agents (a duplicate) is met once per agent, and
    /// must be planned for once (a second plan would send a second command
    /// to a container whose first is not even issued yet).
    examined: BTreeSet<ContainerId>,
}

impl<'t, 'a> Reconcile<'t, 'a> {
    pub(super) fn new(transformer: &'t mut Transformer, input: ReconcileInput<'a>) -> Self {
        transformer.legacy.begin_reconcile();
        Reconcile {
            transformer,
            now: input.now,
            budget: input.config.max_commands_per_reconcile,
            desired: input.desired,
            agents: input.agents,
            changed_agents: input.changed_agents,
            locations: input.locations,
            placement_allowed: input.placement_allowed,
            in_flight: input.in_flight,
            moving: input.moving,
            plan: Plan::default(),
            gathered: Vec::new(),
            examined: BTreeSet::new(),
        }
    }

    /// Runs every phase in order and returns the plan.
    pub(super) fn run(mut self, algorithm: &mut dyn Algorithm, rng: &mut ChaCha8Rng) -> Plan {
        self.sweep_agents();
        self.marked_containers();
        self.queue_gathered();
        self.place_queued(algorithm, rng);
        self.plan
    }

    fn out_of_budget(&self) -> bool {
        self.plan.commands.len() >= self.budget
    }

    /// The desired job of `task`, if the task is within its scale.
    fn wanted_job(&self, task: &Task) -> Option<(&'a JobHash, &'a Arc<JobConfig>)> {
        let desired = self.desired;
        task.as_ref().and_then(|(hash, index)| {
            desired
                .get_key_value(hash)
                .filter(|(_, job)| *index < job.task_count())
        })
    }

    /// Every instance of container `id` (task `task`), in agent id order,
    /// as commands to several holders are issued.
    fn instances_of(&self, id: &ContainerId, task: &Task) -> Vec<Instance<'a>> {
        let (agents, in_flight) = (self.agents, self.in_flight);
        let holders = match task {
            Some((hash, index)) => self.locations.of_task(hash, *index),
            None => self.locations.of(id),
        };
        let mut instances: Vec<Instance<'a>> = holders
            .iter()
            .filter_map(|&number| {
                let agent = agents.at(number)?;
                let record = agent.containers().get(id)?;
                Some(Instance::new(agent, id, record, in_flight))
            })
            .collect();
        instances.sort_by(|a, b| a.agent.cmp(b.agent));
        instances
    }

    /// Whether a task with no instance may be placed now: placement has
    /// started, no command for it is unanswered (a create given up on,
    /// say: its answer marks the task again), and it is not backing off.
    fn placeable(&self, id: &ContainerId) -> bool {
        self.placement_allowed
            && !self.in_flight.any_for(id)
            && self
                .transformer
                .task_backoff
                .get(id)
                .is_none_or(|b| self.now >= b.until)
    }

    /// Phase 1: the containers of the agents the periodic sweep took, read
    /// in place.
    fn sweep_agents(&mut self) {
        let (agents, locations, in_flight) = (self.agents, self.locations, self.in_flight);
        for agent_id in std::mem::take(&mut self.transformer.swept) {
            let Some(agent) = agents.get(&agent_id) else {
                continue;
            };
            for (id, record) in agent.containers() {
                if self.transformer.dirty.contains(id) {
                    continue; // looked at with the marked containers
                }
                if self.out_of_budget() {
                    self.transformer.dirty.insert(id.clone());
                    self.plan.more = true;
                    continue;
                }
                // The usual case, a desired task held by this agent alone,
                // is told from the record's task slot: no ID parsed, no job
                // searched for.
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
                        self.wanted_job(&id.task()).is_some(),
                        "the location index and the registry disagree on {id}"
                    );
                    if desired
                        && holders.len() == 1
                        && !self.moving.contains_key(id)
                        && holders[0] == agent.number
                        && !self.transformer.legacy.involves(locations.job_at(slot))
                    {
                        self.transformer.unplaced.remove(id);
                        let instance = Instance::new(agent, id, record, in_flight);
                        self.transformer
                            .keep_one(self.now, id, &mut [instance], &mut self.plan);
                        continue;
                    }
                }
                if self.examined.insert(id.clone()) {
                    self.examine(id);
                }
            }
        }
    }

    /// Phase 2: every marked container, and the unplaced tasks due a retry
    /// because capacity that fits them appeared.
    fn marked_containers(&mut self) {
        let retries = self.transformer.unplaced.take_retries();
        self.transformer.dirty.extend(retries);
        while let Some(id) = self.transformer.dirty.pop_first() {
            if self.examined.contains(&id) {
                continue; // the sweep looked at it in this reconcile
            }
            if self.out_of_budget() {
                self.transformer.dirty.insert(id);
                self.plan.more = true;
                break;
            }
            self.examine(&id);
        }
    }

    /// The one rule for a container looked at: keep one instance of a
    /// desired task (starting it if it waits), remove what is not desired,
    /// and gather a desired task with no instance for placement.
    fn examine(&mut self, id: &ContainerId) {
        let now = self.now;
        let task = id.task();
        // A container an earlier version named is looked at as the task it
        // stands for (rare: only when its ID names no desired job).
        let adopted = match self.wanted_job(&task) {
            Some(_) => None,
            None => self
                .transformer
                .legacy
                .adopt(&task)
                .filter(|task| self.wanted_job(&Some(task.clone())).is_some())
                .map(|(hash, index)| (hash.container_id(index), Some((hash, index)))),
        };
        let (id, task) = match &adopted {
            Some((own, task)) => (own, task.clone()),
            None => (id, task),
        };
        // The task's instances under its legacy name, if its job has any.
        let legacy_id = task
            .as_ref()
            .and_then(|(hash, index)| self.transformer.legacy.legacy_id(hash, *index));
        if (adopted.is_some() || legacy_id.is_some()) && !self.transformer.legacy.first_look(id) {
            return; // planned for under its other name already
        }
        let mut instances = self.instances_of(id, &task);
        let mut legacy = legacy_id
            .as_ref()
            .map_or_else(Vec::new, |legacy| self.instances_of(legacy, &legacy.task()));
        match self.wanted_job(&task) {
            Some((hash, job)) if instances.is_empty() && legacy.is_empty() => {
                if self.placeable(id) && !self.transformer.queued.contains(id) {
                    let shared = self.transformer.container_config(hash, job);
                    self.gathered.push((id.clone(), Demand::of(hash, &shared)));
                } else if !self.placeable(id) {
                    // Backing off or awaiting an answer: not unplaced. Left
                    // among them, a retry of its shape would neither place
                    // nor fail it, and be due again at once, forever.
                    self.transformer.unplaced.remove(id);
                }
            }
            Some(_) if instances.is_empty() => {
                self.transformer.unplaced.remove(id);
                let legacy_id = legacy_id.as_ref().expect("legacy instances have a name");
                self.transformer
                    .keep_one(now, legacy_id, &mut legacy, &mut self.plan);
            }
            Some((hash, job)) if self.moving.contains_key(id) => {
                self.move_off_drained(id, hash, job, &mut instances);
            }
            Some(_) => {
                self.transformer.unplaced.remove(id);
                self.transformer
                    .keep_one(now, id, &mut instances, &mut self.plan);
                // Under its own name the task is kept; under its legacy
                // name it is a duplicate.
                if let Some(legacy_id) = &legacy_id {
                    let keeper = instances[0].agent.clone();
                    for instance in &legacy {
                        let why = Why::DuplicateOf(keeper.clone());
                        if let Some(planned) = removal(now, legacy_id, instance, why) {
                            self.plan.commands.push(planned);
                        }
                    }
                }
            }
            None => {
                self.transformer.unplaced.remove(id);
                for instance in &instances {
                    if let Some(planned) = removal(now, id, instance, Why::NotDesired) {
                        self.plan.commands.push(planned);
                    }
                }
            }
        }
    }

    /// A task moving off a drained agent: its drained instances are kept
    /// until an instance elsewhere is healthy (the drain releases it), then
    /// removed; with no instance elsewhere, one is gathered for placement
    /// (which avoids drained agents).
    fn move_off_drained(
        &mut self,
        id: &ContainerId,
        hash: &'a JobHash,
        job: &'a Arc<JobConfig>,
        instances: &mut [Instance<'a>],
    ) {
        let now = self.now;
        instances.sort_by_key(|instance| instance.drained);
        let split = instances.partition_point(|instance| !instance.drained);
        let (elsewhere, drained) = instances.split_at_mut(split);
        if elsewhere.is_empty() {
            self.transformer.keep_one(now, id, drained, &mut self.plan);
            if self.placeable(id) && !self.transformer.queued.contains(id) {
                let shared = self.transformer.container_config(hash, job);
                self.gathered.push((id.clone(), Demand::of(hash, &shared)));
            } else if !self.placeable(id) {
                // As for a missing task: not unplaced while it cannot be.
                self.transformer.unplaced.remove(id);
            }
            return;
        }
        self.transformer.unplaced.remove(id);
        self.transformer
            .keep_one(now, id, elsewhere, &mut self.plan);
        if self.moving.get(id) == Some(&true) {
            for instance in drained.iter() {
                if let Some(planned) = removal(now, id, instance, Why::Drained) {
                    self.plan.commands.push(planned);
                }
            }
        }
    }

    /// Phase 3: what was gathered joins the placement queue in placement
    /// order, behind what is queued already: a burst larger than the
    /// command budget is placed over several reconciles, but in the order
    /// of the whole burst, which packs as well as placing it at once.
    fn queue_gathered(&mut self) {
        if self.gathered.is_empty() {
            return;
        }
        let gathered = std::mem::take(&mut self.gathered);
        let demands: Vec<Demand> = gathered.iter().map(|(_, demand)| demand.clone()).collect();
        for index in algorithm::placement_order(&demands) {
            let id = gathered[index].0.clone();
            self.transformer.queued.insert(id.clone());
            self.transformer.queue.push_back(id);
        }
    }

    /// Phase 4: the placement queue, in order, within the command budget.
    fn place_queued(&mut self, algorithm: &mut dyn Algorithm, rng: &mut ChaCha8Rng) {
        let (agents, locations) = (self.agents, self.locations);
        // The view is taken out of the transformer while placing, which
        // also calls its `&mut self` methods.
        let mut view = std::mem::take(&mut self.transformer.view);
        let mut cluster =
            (!self.transformer.queue.is_empty()).then(|| view.refresh(agents, self.changed_agents));
        let mut counted_jobs: BTreeSet<JobHash> = BTreeSet::new();
        // Sizes no agent could take in this reconcile, and why. Agents only
        // fill up within a reconcile, so a task of the same size fails too:
        // a backlog of unplaced tasks costs one search per size, not one
        // search and one explanation per task.
        let mut failed: Vec<(Demand, Unplaced)> = Vec::new();
        while !self.out_of_budget() {
            let Some(id) = self.transformer.queue.pop_front() else {
                break;
            };
            self.transformer.queued.remove(&id);
            // Still missing? It may have been removed, placed or failed
            // since it was queued.
            let task = id.task();
            let Some((hash, job)) = self.wanted_job(&task) else {
                continue;
            };
            let instances = self.instances_of(&id, &task);
            let missing = match self.moving.contains_key(&id) {
                // A task moving off a drained agent is missing elsewhere.
                true => instances.iter().all(|instance| instance.drained),
                false => instances.is_empty(),
            };
            if !missing || !self.placeable(&id) {
                continue;
            }
            let legacy_id = task
                .as_ref()
                .and_then(|(hash, index)| self.transformer.legacy.legacy_id(hash, *index));
            if legacy_id
                .is_some_and(|legacy| !self.instances_of(&legacy, &legacy.task()).is_empty())
            {
                continue; // present under the name an earlier version gave it
            }
            let shared = self.transformer.container_config(hash, job);
            let demand = Demand::of(hash, &shared);
            let same_size = |(other, _): &&(Demand, Unplaced)| {
                (other.cpu_millis, other.mem_mb, &other.volumes)
                    == (demand.cpu_millis, demand.mem_mb, &demand.volumes)
            };
            if let Some((_, reason)) = failed.iter().find(same_size) {
                self.plan.unplaced_attempts += 1;
                self.transformer
                    .unplaced
                    .insert(id, shape_of(&demand), reason.clone());
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
                    self.transformer.unplaced.remove(&id);
                    self.plan.commands.push(PlannedCommand {
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
                        if cluster.agents().is_empty() {
                            reason.constraint = algorithm::Constraint::Avoided;
                        }
                    }
                    self.plan.unplaced_attempts += 1;
                    self.transformer
                        .unplaced
                        .insert(id, shape_of(&demand), reason.clone());
                    failed.push((demand, reason));
                }
            }
        }
        self.transformer.view = view;
        let failed_shapes: Vec<_> = failed.iter().map(|(demand, _)| shape_of(demand)).collect();
        if !self.transformer.queue.is_empty()
            || self.transformer.unplaced.after_placement(&failed_shapes)
        {
            self.plan.more = true;
        }
    }
}
