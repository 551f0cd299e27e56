//! Random-fit's index: every agent by index.

use std::collections::BTreeSet;

use super::super::ranked::{Entry, Need, Ranked};
use super::super::{AgentSlot, Demand};
use super::{Footprint, agent_number, classify};

/// Every agent, by index. Random-fit draws among all agents, so it keeps
/// one order; the agents' sets of volumes are numbered and a search skips
/// the agents, and blocks of agents, whose set lacks what the task needs.
#[derive(Clone, Debug)]
pub(in crate::algorithm) struct ById {
    volume_sets: Vec<BTreeSet<String>>,
    agents: Ranked<u32>,
}

impl ById {
    pub(super) fn new(agents: &[AgentSlot]) -> ById {
        let (sets, numbers) = classify(agents, 0..agents.len(), |slot| &slot.volumes);
        let entries = agents
            .iter()
            .zip(&numbers)
            .enumerate()
            .map(|(index, (slot, &set))| Entry {
                key: agent_number(index),
                cpu_free_millis: slot.cpu_free_millis(),
                mem_free_mb: slot.mem_free_mb(),
                agent: agent_number(index),
                volume_set: set,
            })
            .collect();
        ById {
            volume_sets: sets.into_iter().cloned().collect(),
            agents: Ranked::new(entries),
        }
    }

    pub(super) fn moved(&mut self, agent: u32, after: Footprint) {
        // The order never changes (keys are indexes), so the agent's entry
        // is where it was put.
        self.agents
            .set_free_nth(agent as usize, after.cpu_free_millis, after.mem_free_mb);
    }

    /// What a search for `demand` asks: room for it on an agent whose set
    /// offers every volume it needs. Allocates only for a task that needs
    /// volumes.
    pub(in crate::algorithm) fn need(&self, demand: &Demand) -> Need {
        let compatible = (!demand.volumes.is_empty()).then(|| {
            self.volume_sets
                .iter()
                .map(|set| demand.volumes.is_subset(set))
                .collect()
        });
        Need::new(demand.cpu_millis, demand.mem_mb, compatible)
    }

    /// The indexes of the agents that satisfy `need`, in order.
    pub(in crate::algorithm) fn fitting<'a>(
        &'a self,
        need: &'a Need,
    ) -> impl Iterator<Item = usize> + 'a {
        self.agents
            .fitting(&0, need)
            .map(|entry| entry.agent as usize)
    }
}
