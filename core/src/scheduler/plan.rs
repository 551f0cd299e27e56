//! Plans: what the scheduler would do if a change were durable now,
//! computed without changing anything (`POST /api/v0/plan`).
//!
//! A plan is a `&self` method: it writes no registry, issues no command and
//! draws from a copy of the generator, so it changes no later decision. It
//! places the job's missing tasks exactly as the reconcile that follows the
//! change's write would: on a placement view built afresh from the agents
//! (the one the transformer keeps, brought up to date, equals it), in
//! `placement_order`, by the configured algorithm, with the same rule that
//! a size that failed fails again. For the deterministic algorithms
//! (least-used, bin-pack, spread) the plan is what then happens, placement
//! for placement, as long as nothing else happens in between (a property
//! test checks it). Random-fit draws from a copy of the generator as it
//! stands: the same draws, so the same placements, when no other random
//! draw (a jittered back-off, another placement) comes between the plan
//! and the change's reconcile; otherwise a different, equally valid choice.
//! Agents and containers that change in between change the outcome too:
//! check-and-set (`index`) guards the registry, not the cluster.

use std::collections::BTreeMap;

use super::Scheduler;
use super::explain::explain;
use super::input::UnscheduleTarget;
use super::output::Reply;
use super::plan_migrate::PlannedStep;
use crate::algorithm::{self, Demand, Explanation};
use crate::ids::AgentId;
use crate::rollout::RolloutParams;
use crate::transformer::build_placement_cluster;
use crate::wire::{ContainerId, ContainerStatus, JobConfig, JobHash};

/// A change to plan.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum PlanChange {
    /// Schedule this job.
    Schedule(JobConfig),
    /// Unschedule this job.
    Unschedule(UnscheduleTarget),
    /// Roll out from one job to another: its first step is planned (see
    /// `plan_migrate.rs`).
    Migrate {
        /// The old job.
        from: UnscheduleTarget,
        /// The new job.
        to: JobConfig,
        /// Bounds, health and deadline.
        params: RolloutParams,
    },
}

/// What the scheduler would do if a change were durable now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePlan {
    /// The durable registry index the plan was made against: pass it on
    /// (`?index=N`) to apply the change only if the registry is unchanged.
    pub index: u64,
    /// The job's hash.
    pub hash: JobHash,
    /// The job's name.
    pub job: String,
    /// Whether the change schedules (else unschedules) the job.
    pub schedules: bool,
    /// Each task of a job being scheduled, in task order.
    pub tasks: Vec<PlannedTask>,
    /// Each container that would be stopped or removed, in task order.
    pub removals: Vec<PlannedRemoval>,
    /// For a migrate: the rollout's first step (`tasks` are the new job's
    /// tasks it places, `removals` the old job's it stops).
    pub rollout: Option<PlannedStep>,
}

/// One task of a job being scheduled, and what would become of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTask {
    /// The task's container ID.
    pub container: ContainerId,
    /// What would happen.
    pub outcome: TaskOutcome,
}

/// What would become of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Placed on this agent (a create sent there).
    Placed(AgentId),
    /// An instance already exists there (left over, say) and is kept.
    Present(AgentId),
    /// No agent can take it, and why.
    Unplaced(Explanation),
    /// Nothing is placed yet: placement waits for every agent known at
    /// start to sync or be abandoned.
    PlacementNotStarted,
}

/// A container that would be stopped or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRemoval {
    /// The container.
    pub container: ContainerId,
    /// The agent holding it.
    pub agent: AgentId,
    /// Its status as last reported (`None` while its create is
    /// unconfirmed).
    pub status: Option<ContainerStatus>,
    /// Whether it is stopped before it is removed (it runs, or a start is
    /// under way).
    pub stop_first: bool,
}

impl Scheduler {
    /// What the scheduler would do if `change` were durable now, or the
    /// answer the change itself would get (400 invalid, 404 not scheduled,
    /// 409 already scheduled, 503 not loaded). Changes nothing: O(agents)
    /// plus the job's tasks and their instances.
    pub fn plan(&self, change: PlanChange) -> Result<ChangePlan, Reply> {
        if !self.registry.is_loaded() {
            return Err(refusal(
                503,
                "the scheduler is starting: its registry is not loaded yet; try again".to_owned(),
            ));
        }
        match change {
            PlanChange::Schedule(job) => self.plan_schedule(job),
            PlanChange::Unschedule(target) => self.plan_unschedule(target),
            PlanChange::Migrate { from, to, params } => self.plan_migrate(from, to, params),
        }
    }

    fn plan_schedule(&self, job: JobConfig) -> Result<ChangePlan, Reply> {
        if let Err(problems) = job.validate() {
            return Err(refusal(400, problems.to_string()));
        }
        let hash = job.hash();
        if self.registry.jobs().contains_key(&hash) {
            return Err(refusal(409, format!("{hash} already scheduled")));
        }
        Ok(ChangePlan {
            index: self.registry.durable_sequence(),
            job: job.container.job.clone(),
            tasks: self.planned_tasks(&hash, &job, job.task_count()),
            hash,
            schedules: true,
            removals: Vec::new(),
            rollout: None,
        })
    }

    /// What would become of tasks `0..count` of job `job` (hash `hash`)
    /// once the transformer places it at that count, in task order.
    pub(super) fn planned_tasks(
        &self,
        hash: &JobHash,
        job: &JobConfig,
        count: u32,
    ) -> Vec<PlannedTask> {
        let hash = hash.clone();
        let agents = self.agents.table();
        let locations = self.agents.locations();
        // The reconcile looks at the job's tasks in container ID order
        // (its marked set is ordered by ID), so that is the order they are
        // gathered and placed in.
        let mut ids: Vec<ContainerId> = (0..count).map(|index| hash.container_id(index)).collect();
        ids.sort();
        let mut outcomes: BTreeMap<ContainerId, TaskOutcome> = BTreeMap::new();
        let mut present: BTreeMap<&AgentId, u32> = BTreeMap::new();
        let mut missing = Vec::new();
        for id in ids {
            let mut holders: Vec<&AgentId> = locations
                .of(&id)
                .iter()
                .filter_map(|&number| agents.at(number).map(|agent| &agent.id))
                .collect();
            holders.sort();
            match holders.first() {
                Some(&agent) => {
                    for &holder in &holders {
                        *present.entry(holder).or_default() += 1;
                    }
                    outcomes.insert(id, TaskOutcome::Present(agent.clone()));
                }
                None => missing.push(id),
            }
        }
        if !self.placement_gate_open {
            for id in missing.drain(..) {
                outcomes.insert(id, TaskOutcome::PlacementNotStarted);
            }
        }
        if !missing.is_empty() {
            let demand = Demand::of(&hash, &job.container);
            let (mut cluster, _) = build_placement_cluster(agents);
            // A fresh algorithm (they keep no state) and a copy of the
            // generator: the scheduler's own are untouched.
            let mut algorithm = self.config.algorithm.build();
            let mut rng = self.rng.clone();
            if algorithm.counts_jobs() {
                cluster.set_job_instances(&hash, present);
            }
            let demands = vec![demand.clone(); missing.len()];
            // Sizes fail together within a reconcile (agents only fill up),
            // and the reconcile asks no more once one failed.
            let mut failed: Option<Explanation> = None;
            for position in algorithm::placement_order(&demands) {
                let id = missing[position].clone();
                let outcome = match &failed {
                    Some(explanation) => TaskOutcome::Unplaced(explanation.clone()),
                    None => match algorithm::place_at(
                        algorithm.as_mut(),
                        &demand,
                        &mut cluster,
                        &mut rng,
                    ) {
                        Ok(index) => TaskOutcome::Placed(cluster.agents()[index].id.clone()),
                        Err(_) => {
                            let explanation = explain(agents, &cluster, &demand);
                            failed = Some(explanation.clone());
                            TaskOutcome::Unplaced(explanation)
                        }
                    },
                };
                outcomes.insert(id, outcome);
            }
        }
        let mut tasks: Vec<PlannedTask> = outcomes
            .into_iter()
            .map(|(container, outcome)| PlannedTask { container, outcome })
            .collect();
        tasks.sort_by_key(|task| task.container.task().map(|(_, index)| index));
        tasks
    }

    fn plan_unschedule(&self, target: UnscheduleTarget) -> Result<ChangePlan, Reply> {
        let hash = match target {
            UnscheduleTarget::Hash(hash) => hash,
            UnscheduleTarget::Config(job) => match job.validate() {
                Ok(()) => job.hash(),
                Err(problems) => return Err(refusal(400, problems.to_string())),
            },
        };
        let Some(job) = self.registry.jobs().get(&hash) else {
            return Err(refusal(404, format!("{hash} not scheduled")));
        };
        Ok(ChangePlan {
            index: self.registry.durable_sequence(),
            job: job.container.job.clone(),
            removals: self.planned_removals(&hash, 0..job.task_count()),
            hash,
            schedules: false,
            tasks: Vec::new(),
            rollout: None,
        })
    }

    /// The instances of tasks `tasks` of job `hash` that removing them
    /// would stop or remove, in task order then agent order.
    pub(super) fn planned_removals(
        &self,
        hash: &JobHash,
        tasks: std::ops::Range<u32>,
    ) -> Vec<PlannedRemoval> {
        let agents = self.agents.table();
        let located = self.agents.locations().job(hash);
        let mut removals = Vec::new();
        for index in tasks {
            let container = hash.container_id(index);
            for &number in located.of_task(index) {
                let Some(agent) = agents.at(number) else {
                    continue;
                };
                let Some(record) = agent.containers().get(&container) else {
                    continue;
                };
                if record.status == Some(ContainerStatus::Deleted) {
                    continue;
                }
                let starting = record
                    .pending()
                    .is_some_and(|pending| pending.action == crate::agent::Action::Start);
                removals.push(PlannedRemoval {
                    container: container.clone(),
                    agent: agent.id.clone(),
                    status: record.status,
                    stop_first: record.status == Some(ContainerStatus::Running) || starting,
                });
            }
        }
        removals.sort_by(|a, b| {
            let task = |r: &PlannedRemoval| r.container.task().map(|(_, index)| index);
            task(a).cmp(&task(b)).then_with(|| a.agent.cmp(&b.agent))
        });
        removals
    }
}

pub(super) fn refusal(status_code: u16, msg: String) -> Reply {
    Reply {
        status_code,
        msg,
        index: None,
    }
}
