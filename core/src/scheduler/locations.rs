//! Where each container is: the index from a container ID to the agents
//! that have a record of it. It lets a reconcile look at one task without
//! visiting every agent, and is kept in step with the agents' records by
//! the scheduler (every insert and removal of a record goes through it).
//!
//! Tasks are stored by job, then densely by task index: a lookup is one
//! search among jobs (thousands, whose hashes stay in cache) and an array
//! index, where a map keyed by container ID would chase a pointer to a
//! different string at every comparison of a twenty-level search through a
//! million keys: the cost that made a reconcile at a million tasks twice
//! as slow as at a thousand. It also stores no container ID per task.
//! Containers this scheduler did not name (or with an index beyond any
//! valid scale) are kept by ID.

use std::collections::BTreeMap;

use crate::ids::AgentId;
use crate::wire::{ContainerId, JobConfig, JobHash};

/// Task indexes below this are stored densely.
const DENSE_INDEXES: u32 = JobConfig::MAX_SCALE as u32;

/// Container ID → agents holding a record of it (usually one; several
/// while a duplicate is being resolved).
#[derive(Clone, Debug, Default)]
pub struct Locations {
    /// Tasks, by job hash, then by index (no trailing `None`, no empty
    /// vector).
    tasks: BTreeMap<JobHash, Vec<Option<Holders>>>,
    /// Every other container, by ID.
    others: BTreeMap<ContainerId, Holders>,
    /// Containers located, in both.
    len: usize,
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

    /// `self` with `agent` added; false if it was there.
    fn add(&mut self, agent: &AgentId) -> bool {
        let mut agents = self.as_slice().to_vec();
        match agents.binary_search(agent) {
            Ok(_) => false,
            Err(at) => {
                agents.insert(at, agent.clone());
                *self = Holders::Many(agents);
                true
            }
        }
    }

    /// `self` without `agent`, or `None` when no agent is left.
    fn without(&self, agent: &AgentId) -> Option<Holders> {
        let mut agents = self.as_slice().to_vec();
        agents.retain(|a| a != agent);
        match agents.len() {
            0 => None,
            1 => Some(Holders::One(agents.remove(0))),
            _ => Some(Holders::Many(agents)),
        }
    }
}

/// Where a container is stored: a task's job and index, or by ID.
fn dense(container: &ContainerId) -> Option<(&str, usize)> {
    container
        .task_parts()
        .filter(|&(_, index)| index < DENSE_INDEXES)
        .map(|(hash, index)| (hash, index as usize))
}

impl Locations {
    /// Records that `agent` has a record of `container`.
    pub fn add(&mut self, container: &ContainerId, agent: &AgentId) {
        let slot = match dense(container) {
            Some((hash, index)) => {
                let slots = match self.tasks.get_mut(hash) {
                    Some(slots) => slots,
                    None => self.tasks.entry(JobHash::new(hash)).or_default(),
                };
                if slots.len() <= index {
                    slots.resize_with(index + 1, || None);
                }
                &mut slots[index]
            }
            None => {
                if let Some(holders) = self.others.get_mut(container) {
                    holders.add(agent);
                    return;
                }
                self.others
                    .insert(container.clone(), Holders::One(agent.clone()));
                self.len += 1;
                return;
            }
        };
        match slot {
            Some(holders) => {
                holders.add(agent);
            }
            None => {
                *slot = Some(Holders::One(agent.clone()));
                self.len += 1;
            }
        }
    }

    /// Records that `agent` no longer has a record of `container`.
    pub fn remove(&mut self, container: &ContainerId, agent: &AgentId) {
        match dense(container) {
            Some((hash, index)) => {
                let Some(slots) = self.tasks.get_mut(hash) else {
                    return;
                };
                let Some(Some(holders)) = slots.get(index) else {
                    return;
                };
                let left = holders.without(agent);
                if left.is_none() {
                    self.len -= 1;
                }
                slots[index] = left;
                while slots.last().is_some_and(Option::is_none) {
                    slots.pop();
                }
                if slots.is_empty() {
                    self.tasks.remove(hash);
                }
            }
            None => {
                let Some(holders) = self.others.get(container) else {
                    return;
                };
                match holders.without(agent) {
                    Some(left) => {
                        self.others.insert(container.clone(), left);
                    }
                    None => {
                        self.others.remove(container);
                        self.len -= 1;
                    }
                }
            }
        }
    }

    /// The agents that have a record of `container`, in id order.
    pub fn of(&self, container: &ContainerId) -> &[AgentId] {
        let holders = match dense(container) {
            // A `JobHash` probe: its search compares inline heads, where a
            // `&str` would follow every key's pointer.
            Some((hash, index)) => self
                .tasks
                .get(&JobHash::new(hash))
                .and_then(|slots| slots.get(index))
                .and_then(Option::as_ref),
            None => self.others.get(container),
        };
        holders.map_or(&[], Holders::as_slice)
    }

    /// The agents that have a record of task `index` of `job`, in id order
    /// (as [`Locations::of`] its container ID, without making the ID).
    pub fn of_task(&self, job: &JobHash, index: u32) -> &[AgentId] {
        if index >= DENSE_INDEXES {
            return self.of(&job.container_id(index));
        }
        self.tasks
            .get(job)
            .and_then(|slots| slots.get(index as usize))
            .and_then(Option::as_ref)
            .map_or(&[], Holders::as_slice)
    }

    /// Every located container, in a fixed order: tasks by job and
    /// index, then the others by ID.
    pub fn containers(&self) -> impl Iterator<Item = ContainerId> + '_ {
        let tasks = self.tasks.iter().flat_map(|(hash, slots)| {
            slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.is_some())
                .map(|(index, _)| hash.container_id(index as u32))
        });
        tasks.chain(self.others.keys().cloned())
    }

    /// Number of located containers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no container is located.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_agents_sorted_and_drops_empty_entries() {
        for id in [
            "web-abcdef0-0",
            "web-abcdef0-7",
            "foreign",
            "web-abcdef0-5000",
        ] {
            let mut locations = Locations::default();
            let id = ContainerId::new(id);
            locations.add(&id, &AgentId::new("b"));
            locations.add(&id, &AgentId::new("a"));
            locations.add(&id, &AgentId::new("b"));
            assert_eq!(locations.of(&id), &[AgentId::new("a"), AgentId::new("b")]);
            assert_eq!(locations.len(), 1);
            locations.remove(&id, &AgentId::new("a"));
            assert_eq!(locations.of(&id), &[AgentId::new("b")]);
            locations.remove(&id, &AgentId::new("b"));
            assert!(locations.is_empty(), "{id}");
            assert!(locations.of(&id).is_empty());
            assert!(locations.tasks.is_empty() && locations.others.is_empty());
        }
    }

    #[test]
    fn iterates_every_container_once_in_a_fixed_order() {
        let mut locations = Locations::default();
        let ids: Vec<ContainerId> = [
            "web-abcdef0-0",
            "web-abcdef0-3",
            "api-1234567-2",
            "foreign-b",
            "foreign-a",
            "api-1234567-99999",
        ]
        .into_iter()
        .map(ContainerId::new)
        .collect();
        for id in &ids {
            locations.add(id, &AgentId::new("a1"));
        }
        let all: Vec<ContainerId> = locations.containers().collect();
        let names: Vec<&str> = all.iter().map(ContainerId::as_str).collect();
        assert_eq!(
            names,
            [
                "api-1234567-2",
                "web-abcdef0-0",
                "web-abcdef0-3",
                "api-1234567-99999",
                "foreign-a",
                "foreign-b"
            ]
        );
    }
}
