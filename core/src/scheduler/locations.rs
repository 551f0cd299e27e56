//! Where each container is: the index from a container ID to the agents
//! that have a record of it. It lets a reconcile look at one task without
//! visiting every agent, and is kept in step with the agents' records by
//! the scheduler (every insert and removal of a record goes through it).

use std::collections::BTreeMap;

use crate::ids::AgentId;
use crate::wire::ContainerId;

/// Container ID → agents holding a record of it (usually one; several
/// while a duplicate is being resolved).
#[derive(Clone, Debug, Default)]
pub struct Locations {
    by_container: BTreeMap<ContainerId, Holders>,
}

/// The agents holding a record of one container, in id order. One agent is
/// kept inline: a million tasks must not cost a million small allocations.
#[derive(Clone, Debug)]
enum Holders {
    One(AgentId),
    Many(Vec<AgentId>),
}

impl Holders {
    fn as_slice(&self) -> &[AgentId] {
        match self {
            Holders::One(agent) => std::slice::from_ref(agent),
            Holders::Many(agents) => agents,
        }
    }
}

impl Locations {
    /// Records that `agent` has a record of `container`.
    pub fn add(&mut self, container: &ContainerId, agent: &AgentId) {
        let Some(holders) = self.by_container.get_mut(container) else {
            self.by_container
                .insert(container.clone(), Holders::One(agent.clone()));
            return;
        };
        let mut agents = holders.as_slice().to_vec();
        if let Err(at) = agents.binary_search(agent) {
            agents.insert(at, agent.clone());
            *holders = Holders::Many(agents);
        }
    }

    /// Records that `agent` no longer has a record of `container`.
    pub fn remove(&mut self, container: &ContainerId, agent: &AgentId) {
        let Some(holders) = self.by_container.get_mut(container) else {
            return;
        };
        let mut agents = holders.as_slice().to_vec();
        agents.retain(|a| a != agent);
        match agents.len() {
            0 => {
                self.by_container.remove(container);
            }
            1 => *holders = Holders::One(agents.remove(0)),
            _ => *holders = Holders::Many(agents),
        }
    }

    /// The agents that have a record of `container`, in id order.
    pub fn of(&self, container: &ContainerId) -> &[AgentId] {
        self.by_container
            .get(container)
            .map_or(&[], Holders::as_slice)
    }

    /// Every located container, in ID order, from `start` on.
    pub fn from(&self, start: &ContainerId) -> impl Iterator<Item = &ContainerId> {
        self.by_container.range(start.clone()..).map(|(id, _)| id)
    }

    /// Every located container, in ID order.
    pub fn containers(&self) -> impl Iterator<Item = &ContainerId> {
        self.by_container.keys()
    }

    /// Number of located containers.
    pub fn len(&self) -> usize {
        self.by_container.len()
    }

    /// True when no container is located.
    pub fn is_empty(&self) -> bool {
        self.by_container.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_agents_sorted_and_drops_empty_entries() {
        let mut locations = Locations::default();
        let id = ContainerId::new("web-abcdef0-0");
        locations.add(&id, &AgentId::new("b"));
        locations.add(&id, &AgentId::new("a"));
        locations.add(&id, &AgentId::new("b"));
        assert_eq!(locations.of(&id), &[AgentId::new("a"), AgentId::new("b")]);
        locations.remove(&id, &AgentId::new("a"));
        locations.remove(&id, &AgentId::new("b"));
        assert!(locations.is_empty());
        assert!(locations.of(&id).is_empty());
    }
}
