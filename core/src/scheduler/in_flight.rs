//! Commands sent and not yet answered.
//!
//! A command is in flight from the moment it is issued until the agent's
//! answer arrives (or the driver reports it lost, or the pending timeout
//! gives up on it). The stream may confirm a command's effect before its
//! answer arrives; the command is still in flight then, and no other
//! command goes to that container until it lands, so that commands for one
//! container never overtake each other.

use std::collections::BTreeMap;

use crate::ids::{AgentId, CommandId};
use crate::wire::ContainerId;

/// The set of unanswered commands, by id and by container.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    by_id: BTreeMap<CommandId, (AgentId, ContainerId)>,
    /// The agents each container has a command in flight to (almost
    /// always one): "any for this container?" is one lookup.
    by_container: BTreeMap<ContainerId, Vec<AgentId>>,
}

impl InFlight {
    /// Records a command just issued.
    pub fn insert(&mut self, id: CommandId, agent: AgentId, container: ContainerId) {
        let agents = self.by_container.entry(container.clone()).or_default();
        debug_assert!(
            !agents.contains(&agent),
            "two commands in flight for {container} on {agent}"
        );
        agents.push(agent.clone());
        self.by_id.insert(id, (agent, container));
    }

    /// Removes an answered (or lost) command, returning where it went.
    pub fn remove(&mut self, id: CommandId) -> Option<(AgentId, ContainerId)> {
        let (agent, container) = self.by_id.remove(&id)?;
        if let Some(agents) = self.by_container.get_mut(&container) {
            agents.retain(|to| *to != agent);
            if agents.is_empty() {
                self.by_container.remove(&container);
            }
        }
        Some((agent, container))
    }

    /// Forgets every command to `agent` (it was forgotten or abandoned; late
    /// answers are ignored).
    pub fn forget_agent(&mut self, agent: &AgentId) {
        self.by_id.retain(|_, (to, _)| to != agent);
        self.by_container.retain(|_, agents| {
            agents.retain(|to| to != agent);
            !agents.is_empty()
        });
    }

    /// Whether the command is still in flight.
    pub fn contains(&self, id: CommandId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Whether a command for `container` is in flight to any agent.
    pub fn any_for(&self, container: &ContainerId) -> bool {
        self.by_container.contains_key(container)
    }

    /// Whether a command for `container` is in flight to `agent`.
    pub fn on(&self, agent: &AgentId, container: &ContainerId) -> bool {
        self.by_container
            .get(container)
            .is_some_and(|agents| agents.contains(agent))
    }

    /// Number of commands in flight.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no command is in flight.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_commands_by_id_and_container() {
        let mut in_flight = InFlight::default();
        let (a, b) = (AgentId::new("a"), AgentId::new("b"));
        let (x, y) = (ContainerId::new("x"), ContainerId::new("y"));
        in_flight.insert(CommandId(1), a.clone(), x.clone());
        in_flight.insert(CommandId(2), b.clone(), x.clone());
        assert!(in_flight.any_for(&x) && !in_flight.any_for(&y));
        assert!(in_flight.on(&b, &x) && !in_flight.on(&b, &y));
        assert_eq!(in_flight.remove(CommandId(1)), Some((a.clone(), x.clone())));
        assert!(in_flight.any_for(&x));
        in_flight.forget_agent(&b);
        assert!(in_flight.is_empty() && !in_flight.any_for(&x));
        assert_eq!(in_flight.remove(CommandId(2)), None);
    }
}
