//! The agents of the table as an [`Explanation`] judges them, shared by
//! plans and `why`.

use crate::algorithm::{Candidate, Cluster, Demand, Explanation};
use crate::scheduler::agent_map::AgentTable;

/// Why `demand` fits nowhere in `cluster` (the placeable agents, as
/// placement sees them), judging every agent of `agents`: O(agents).
pub(super) fn explain(agents: &AgentTable, cluster: &Cluster, demand: &Demand) -> Explanation {
    // Both are in id order: each search starts where the last one ended.
    let mut from = 0;
    let candidates = agents.values().map(|agent| {
        if !agent.connection.is_synced() {
            return Candidate::NotConnected(&agent.id);
        }
        if agent.health.is_avoided() {
            return Candidate::Avoided(&agent.id);
        }
        match cluster.position_from(&agent.id, from) {
            Some(index) => {
                from = index + 1;
                Candidate::Placeable(&cluster.agents()[index])
            }
            // The cluster holds every synced agent not avoided.
            None => Candidate::NotConnected(&agent.id),
        }
    });
    Explanation::of(demand, candidates)
}
