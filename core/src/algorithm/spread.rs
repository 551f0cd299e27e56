//! `spread`: the agent with the fewest instances of the task's job.

use rand_chacha::ChaCha8Rng;

use super::index::{ByContainers, IndexKind, containers_key};
use super::least_used::agent_of;
use super::ranked::Need;
use super::{AgentSlot, Algorithm, Cluster, Demand};

/// Picks the agent that fits with the fewest instances of the task's job,
/// then the fewest containers, then the lowest id, so that losing one agent
/// takes down as few of a job's instances as possible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread;

impl Algorithm for Spread {
    fn name(&self) -> &'static str {
        "spread"
    }

    fn prepare(&self, cluster: &mut Cluster) {
        cluster.build_index(IndexKind::Containers);
    }

    fn counts_jobs(&self) -> bool {
        true
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        _rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        match &cluster.indexes().by_containers {
            Some(index) => indexed(index, demand, cluster.agents()),
            None => scan(demand, cluster),
        }
    }
}

/// The rule, by visiting every agent: the fewest instances of the job,
/// then the fewest containers, then the lowest index.
pub(super) fn scan(demand: &Demand, cluster: &Cluster) -> Option<usize> {
    cluster.least_fitting_by(demand, |agent| (instances(agent, demand), agent.containers))
}

/// The same rule, from least-used's index, which orders the agents by
/// (containers, index): walking the agents with room in that order, the
/// first one without an instance of the job is the answer (for a task
/// needing volumes, the first in each set of agents offering them, then
/// the least of those). Only agents already running the job are walked
/// past, and each walk starts where the last walk for a task of the same
/// job and size found its agent (see `ContainersOrder` in
/// `index/containers.rs`): every agent
/// before has no room or runs the job. When every agent with room runs the
/// job, a second walk visits them all for the fewest instances, which is
/// exact but linear in the job's agents.
fn indexed(index: &ByContainers, demand: &Demand, agents: &[AgentSlot]) -> Option<usize> {
    let need = Need::room(demand.cpu_millis, demand.mem_mb);
    let mut fresh: Option<u64> = None;
    for order in index.for_demand(demand) {
        let start = order.spread_start(&demand.job, &need);
        let first = order
            .agents
            .fitting(&start, &need)
            .find(|entry| instances(&agents[entry.agent as usize], demand) == 0);
        if let Some(first) = first {
            order.spread_found(&demand.job, &need, first.key);
            if fresh.is_none_or(|fresh| first.key < fresh) {
                fresh = Some(first.key);
            }
        }
    }
    if let Some(key) = fresh {
        return Some(agent_of(key));
    }
    // Every agent with room runs the job: the fewest instances, ties to
    // the first in the order (the fewest containers, then the index).
    let mut best: Option<(u32, u64)> = None;
    for order in index.for_demand(demand) {
        for entry in order.agents.fitting(&containers_key(0, 0), &need) {
            let count = instances(&agents[entry.agent as usize], demand);
            debug_assert!(count > 0, "an agent before a mark lacks the job");
            if best.is_none_or(|best| (count, entry.key) < best) {
                best = Some((count, entry.key));
            }
        }
    }
    best.map(|(_, key)| agent_of(key))
}

/// How many instances of the task's job `agent` runs.
fn instances(agent: &AgentSlot, demand: &Demand) -> u32 {
    agent.job_instances.get(&demand.job).copied().unwrap_or(0)
}
