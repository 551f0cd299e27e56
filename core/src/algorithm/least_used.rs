//! `least-used`: the agent with the fewest containers.

use rand_chacha::ChaCha8Rng;

use super::index::{ByContainers, IndexKind};
use super::ranked::Need;
use super::{Algorithm, Cluster, Demand};

/// Picks the agent that fits with the fewest containers (known or pending),
/// the lowest id among equals. It balances the number of containers, not
/// their size: cheap to reason about, and a fair default when tasks are
/// alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeastUsed;

impl Algorithm for LeastUsed {
    fn name(&self) -> &'static str {
        "least-used"
    }

    fn prepare(&self, cluster: &mut Cluster) {
        cluster.build_index(IndexKind::Containers);
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        _rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        match &cluster.indexes().by_containers {
            Some(index) => indexed(index, demand),
            None => scan(demand, cluster),
        }
    }
}

/// The rule, by visiting every agent: the fewest containers, then the
/// lowest index.
pub(super) fn scan(demand: &Demand, cluster: &Cluster) -> Option<usize> {
    cluster.least_fitting_by(demand, |agent| agent.containers)
}

/// The same rule, from the index, which orders the agents by (containers,
/// index), this rule's order: the first agent with room is the answer (for
/// a task needing volumes, the first among each set of agents offering
/// them, then the least of those). Each search starts where the last
/// search for a task of the same size ended (see `ContainersOrder` in
/// `index/containers.rs`): the
/// agents before have no room for it.
fn indexed(index: &ByContainers, demand: &Demand) -> Option<usize> {
    let need = Need::room(demand.cpu_millis, demand.mem_mb);
    let mut best: Option<u64> = None;
    for order in index.for_demand(demand) {
        let start = order.least_used_start(&need);
        if let Some(first) = order.agents.fitting(&start, &need).next() {
            order.least_used_found(&need, first.key);
            if best.is_none_or(|best| first.key < best) {
                best = Some(first.key);
            }
        }
    }
    best.map(agent_of)
}

/// The agent of a key of least-used's order.
pub(super) fn agent_of(key: u64) -> usize {
    (key & u64::from(u32::MAX)) as usize
}
