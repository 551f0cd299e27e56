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

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use crate::agent::{Action, AgentRepresentation, ContainerRecord, Phase};
use crate::algorithm::{self, AgentSlot, Algorithm, Cluster, Demand, Unplaced};
use crate::ids::AgentId;
use crate::registry::Jobs;
use crate::scheduler::{CommandAction, InFlight, SchedulerConfig};
use crate::time::Instant;
use crate::wire::{ContainerConfig, ContainerId, ContainerStatus, JobConfig, JobHash};

/// A command the transformer decided on.
#[derive(Clone, Debug)]
pub struct PlannedCommand {
    /// Where it goes.
    pub agent: AgentId,
    /// Which container.
    pub container: ContainerId,
    /// What to do.
    pub action: CommandAction,
    /// Why, for the trace.
    pub why: String,
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
    /// Tasks that could not be placed at the last reconcile, and why.
    pub unplaced: BTreeMap<ContainerId, Unplaced>,
    /// The container config of each desired job, shared by every create
    /// command and container record of its tasks.
    configs: BTreeMap<JobHash, Arc<ContainerConfig>>,
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
    pub agents: &'a BTreeMap<AgentId, AgentRepresentation>,
    /// Whether new tasks may be placed (false until every agent known at
    /// start has synced or been abandoned).
    pub placement_allowed: bool,
    /// Commands sent and not yet answered.
    pub in_flight: &'a InFlight,
}

struct Instance<'a> {
    agent: &'a AgentId,
    record: &'a ContainerRecord,
    synced: bool,
    /// A command for it is unanswered: nothing more goes to it until then.
    busy: bool,
}

impl Transformer {
    /// Diffs desired against actual state and plans the commands that move
    /// one towards the other.
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
            placement_allowed,
            in_flight,
        } = input;
        let mut actual: BTreeMap<&ContainerId, Vec<Instance<'_>>> = BTreeMap::new();
        for agent in agents.values() {
            let synced = agent.connection.is_synced();
            for (id, record) in &agent.containers {
                actual.entry(id).or_default().push(Instance {
                    agent: &agent.id,
                    record,
                    synced,
                    busy: in_flight.on(&agent.id, id),
                });
            }
        }
        let mut cluster = build_cluster(agents);
        let mut plan = Plan::default();
        let budget = config.max_commands_per_reconcile;
        let mut unplaced = BTreeMap::new();

        // Desired tasks, in container-ID order within job-hash order.
        for (hash, job) in desired {
            let config_arc = self.container_config(hash, job);
            for index in 0..job.task_count() {
                if plan.commands.len() >= budget {
                    plan.more = true;
                    break;
                }
                let id = hash.container_id(index);
                match actual.remove(&id) {
                    None => {
                        // A command for this task is unanswered (a create
                        // given up on, say): wait for its answer first.
                        if !placement_allowed || in_flight.any_for(&id) {
                            continue;
                        }
                        if let Some(backoff) = self.task_backoff.get(&id)
                            && now < backoff.until
                        {
                            continue;
                        }
                        let demand = Demand::of(hash, &config_arc);
                        match algorithm::place(algorithm, &demand, &mut cluster, rng) {
                            Ok(agent) => plan.commands.push(PlannedCommand {
                                agent,
                                container: id,
                                action: CommandAction::Create(Arc::clone(&config_arc)),
                                why: format!("task missing; placed by {}", algorithm.name()),
                            }),
                            Err(reason) => {
                                plan.unplaced_attempts += 1;
                                unplaced.insert(id, reason);
                            }
                        }
                    }
                    Some(instances) => self.keep_one(now, &id, instances, &mut plan),
                }
            }
        }
        // Whatever is left is not desired.
        for (id, instances) in actual {
            for instance in instances {
                if plan.commands.len() >= budget {
                    plan.more = true;
                    break;
                }
                if let Some(planned) = removal(now, id, &instance, "not desired") {
                    plan.commands.push(planned);
                }
            }
        }
        if placement_allowed && !plan.more {
            self.unplaced = unplaced;
        } else {
            self.unplaced.extend(unplaced);
        }
        self.configs.retain(|hash, _| desired.contains_key(hash));
        // Back-offs of tasks no longer desired are dropped with the task.
        self.task_backoff.retain(|id, _| {
            id.task().is_some_and(|(hash, index)| {
                desired
                    .get(&hash)
                    .is_some_and(|job| index < job.task_count())
            })
        });
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
        mut instances: Vec<Instance<'_>>,
        plan: &mut Plan,
    ) {
        instances.sort_by_key(|instance| {
            (
                !instance.synced,
                status_rank(instance.record.status),
                instance.agent,
            )
        });
        let mut rest = instances.into_iter();
        let keeper = rest.next().expect("at least one instance");
        let record = keeper.record;
        let idle = keeper.synced && !keeper.busy && record.pending.is_none();
        if idle
            && record.status == Some(ContainerStatus::Created)
            && !backing_off(record, now, false)
        {
            plan.commands.push(PlannedCommand {
                agent: keeper.agent.clone(),
                container: id.clone(),
                action: CommandAction::Start,
                why: "created with nothing pending".to_owned(),
            });
        }
        for duplicate in rest {
            let why = format!("duplicate of the instance on {}", keeper.agent);
            if let Some(planned) = removal(now, id, &duplicate, &why) {
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
    why: &str,
) -> Option<PlannedCommand> {
    if !instance.synced || instance.busy {
        return None;
    }
    let record = instance.record;
    let action = match record.pending {
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
        container: id.clone(),
        action,
        why: why.to_owned(),
    })
}

/// Whether a record's back-off forbids a command now: removal commands
/// respect only removal failures, so a failing start never delays an
/// unschedule.
fn backing_off(record: &ContainerRecord, now: Instant, removal: bool) -> bool {
    record
        .backoff
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

/// The placement view: synced agents, with what they have promised.
fn build_cluster(agents: &BTreeMap<AgentId, AgentRepresentation>) -> Cluster {
    let slots = agents
        .values()
        .filter(|agent| agent.connection.is_synced())
        .map(|agent| {
            let (cpu_used, mem_used) = agent.committed();
            let mut job_instances: BTreeMap<JobHash, u32> = BTreeMap::new();
            for id in agent.containers.keys() {
                if let Some((hash, _)) = id.task() {
                    *job_instances.entry(hash).or_default() += 1;
                }
            }
            AgentSlot {
                id: agent.id.clone(),
                cpu_total_millis: algorithm::cpu_millis(agent.resources.cpus.total),
                mem_total_mb: agent.resources.mem.total,
                cpu_used_millis: cpu_used,
                mem_used_mb: mem_used,
                volumes: agent.resources.volumes.iter().cloned().collect(),
                containers: u32::try_from(agent.containers.len()).unwrap_or(u32::MAX),
                job_instances,
            }
        })
        .collect();
    Cluster::new(slots)
}
