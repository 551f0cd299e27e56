//! Commands on their way to agents: unanswered ones, and those waiting
//! behind an agent's limit of commands in flight.
//!
//! A command is *in flight* from the moment it is handed to the driver
//! until the agent's answer arrives (or the pending timeout gives up on an
//! answer the driver never reported). Each agent takes at most
//! [`SchedulerConfig::max_commands_in_flight_per_agent`] at once; the core
//! keeps the rest *waiting*, in the order they were decided, and hands the
//! next one out when an answer frees a place. A container with a command
//! in flight or waiting is *busy*: no other command goes to it until the
//! first is answered, even if the stream already confirmed its effect, so
//! commands for one container never overtake each other, whatever the
//! driver's limits (the limit lives here, not in the driver, so that time
//! spent waiting never counts against a command's pending timeout).
//!
//! [`SchedulerConfig::max_commands_in_flight_per_agent`]: super::SchedulerConfig::max_commands_in_flight_per_agent

use std::collections::{BTreeMap, VecDeque};

use super::output::AgentCommand;
use crate::ids::{AgentId, AgentNo, CommandId};
use crate::wire::ContainerId;

/// Unanswered and waiting commands, by id, by container and by agent.
///
/// Agents are keyed by number, not id: ids are URLs whose first bytes tie
/// (`http://10.0.12.`), so a search among ten thousand of them follows a
/// pointer to text out of cache at every step, once per command.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Dispatch {
    /// Every busy command (in flight or waiting): where it goes.
    #[serde(with = "crate::map_as_pairs")]
    by_id: BTreeMap<CommandId, Busy>,
    /// The agents each container has a busy command for (almost always
    /// one): "any for this container?" is one lookup.
    by_container: BTreeMap<ContainerId, Vec<AgentId>>,
    /// Per agent: how many are in flight, and those waiting for a place.
    #[serde(with = "crate::map_as_pairs")]
    by_agent: BTreeMap<AgentNo, AgentLine>,
}

/// Where a busy command goes, and whether it was handed out.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Busy {
    agent: AgentId,
    number: AgentNo,
    container: ContainerId,
    /// Handed to the driver (in flight), rather than waiting for a place.
    handed_out: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct AgentLine {
    in_flight: usize,
    waiting: VecDeque<AgentCommand>,
}

impl Dispatch {
    /// Registers a command just decided on, for the agent numbered
    /// `number`. Returns it when it may be handed out now; otherwise it
    /// waits for a place (see [`Dispatch::answered`]).
    pub(crate) fn issue(
        &mut self,
        command: AgentCommand,
        number: AgentNo,
        limit: usize,
    ) -> Option<AgentCommand> {
        let agents = self
            .by_container
            .entry(command.container.clone())
            .or_default();
        debug_assert!(
            !agents.contains(&command.agent),
            "two commands busy for {} on {}",
            command.container,
            command.agent
        );
        agents.push(command.agent.clone());
        let line = self.by_agent.entry(number).or_default();
        let handed_out = line.in_flight < limit.max(1);
        self.by_id.insert(
            command.id,
            Busy {
                agent: command.agent.clone(),
                number,
                container: command.container.clone(),
                handed_out,
            },
        );
        if handed_out {
            line.in_flight += 1;
            Some(command)
        } else {
            line.waiting.push_back(command);
            None
        }
    }

    /// Removes an answered (or lost) command, returning where it went and
    /// the agent's next waiting command, now handed out. `None` if the
    /// command is not in flight (answered already, never handed out, or
    /// its agent forgotten).
    pub(crate) fn answered(
        &mut self,
        id: CommandId,
    ) -> Option<((AgentId, ContainerId), Option<AgentCommand>)> {
        if !self.is_in_flight(id) {
            return None; // not handed out: nothing can have answered it
        }
        let busy = self.by_id.remove(&id)?;
        self.unbusy(&busy.agent, &busy.container);
        let line = self
            .by_agent
            .get_mut(&busy.number)
            .expect("a command in flight has its agent's line");
        line.in_flight -= 1;
        let next = line.waiting.pop_front();
        if let Some(next) = &next {
            line.in_flight += 1;
            if let Some(waiting) = self.by_id.get_mut(&next.id) {
                waiting.handed_out = true;
            }
        } else if line.in_flight == 0 {
            self.by_agent.remove(&busy.number);
        }
        Some(((busy.agent, busy.container), next))
    }

    fn unbusy(&mut self, agent: &AgentId, container: &ContainerId) {
        if let Some(agents) = self.by_container.get_mut(container) {
            agents.retain(|to| to != agent);
            if agents.is_empty() {
                self.by_container.remove(container);
            }
        }
    }

    /// Forgets every command to the agent numbered `number`, in flight or
    /// waiting (it was forgotten or abandoned; late answers are ignored).
    pub(crate) fn forget_agent(&mut self, number: AgentNo) {
        if self.by_agent.remove(&number).is_none() {
            return;
        }
        let doomed: Vec<CommandId> = self
            .by_id
            .iter()
            .filter(|(_, busy)| busy.number == number)
            .map(|(id, _)| *id)
            .collect();
        for id in doomed {
            if let Some(busy) = self.by_id.remove(&id) {
                self.unbusy(&busy.agent, &busy.container);
            }
        }
    }

    /// Whether the command is in flight (handed out, not yet answered).
    pub(crate) fn is_in_flight(&self, id: CommandId) -> bool {
        self.by_id.get(&id).is_some_and(|busy| busy.handed_out)
    }

    /// Whether a command for `container` is busy to any agent.
    pub(crate) fn any_for(&self, container: &ContainerId) -> bool {
        self.by_container.contains_key(container)
    }

    /// Whether a command for `container` is busy to `agent`.
    pub(crate) fn on(&self, agent: &AgentId, container: &ContainerId) -> bool {
        self.by_container
            .get(container)
            .is_some_and(|agents| agents.contains(agent))
    }

    /// Commands handed out and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.by_agent.values().map(|line| line.in_flight).sum()
    }

    /// Commands waiting behind their agent's limit.
    pub(crate) fn waiting(&self) -> usize {
        self.by_agent.values().map(|line| line.waiting.len()).sum()
    }

    /// The most commands in flight to one agent.
    pub(crate) fn most_in_flight_to_one_agent(&self) -> usize {
        self.by_agent
            .values()
            .map(|line| line.in_flight)
            .max()
            .unwrap_or(0)
    }

    /// True when no command is in flight or waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::output::CommandAction;

    fn command(id: u64, agent: &str, container: &str) -> AgentCommand {
        AgentCommand {
            id: CommandId(id),
            agent: AgentId::new(agent),
            container: ContainerId::new(container),
            action: CommandAction::Start,
        }
    }

    /// The number the tests give agent `agent` ("a" is 0, "b" is 1, ...).
    fn no(agent: &str) -> AgentNo {
        AgentNo::at(usize::from(agent.as_bytes()[0] - b'a'))
    }

    fn issue(
        dispatch: &mut Dispatch,
        id: u64,
        agent: &str,
        container: &str,
        limit: usize,
    ) -> Option<AgentCommand> {
        dispatch.issue(command(id, agent, container), no(agent), limit)
    }

    #[test]
    fn tracks_commands_by_id_and_container() {
        let mut dispatch = Dispatch::default();
        let (a, b) = (AgentId::new("a"), AgentId::new("b"));
        let (x, y) = (ContainerId::new("x"), ContainerId::new("y"));
        assert!(issue(&mut dispatch, 1, "a", "x", 8).is_some());
        assert!(issue(&mut dispatch, 2, "b", "x", 8).is_some());
        assert!(dispatch.any_for(&x) && !dispatch.any_for(&y));
        assert!(dispatch.on(&b, &x) && !dispatch.on(&b, &y));
        assert_eq!(
            dispatch.answered(CommandId(1)).map(|(to, _)| to),
            Some((a.clone(), x.clone()))
        );
        assert!(dispatch.any_for(&x));
        dispatch.forget_agent(no("b"));
        assert!(dispatch.is_empty() && !dispatch.any_for(&x));
        assert!(dispatch.answered(CommandId(2)).is_none());
    }

    #[test]
    fn an_agent_takes_at_most_its_limit_and_the_rest_wait_in_order() {
        let mut dispatch = Dispatch::default();
        assert!(issue(&mut dispatch, 1, "a", "c-1", 2).is_some());
        assert!(issue(&mut dispatch, 2, "a", "c-2", 2).is_some());
        assert!(issue(&mut dispatch, 3, "a", "c-3", 2).is_none());
        assert!(issue(&mut dispatch, 4, "a", "c-4", 2).is_none());
        assert!(issue(&mut dispatch, 5, "b", "c-5", 2).is_some());
        assert_eq!((dispatch.in_flight(), dispatch.waiting()), (3, 2));
        assert!(dispatch.on(&AgentId::new("a"), &ContainerId::new("c-3")));
        assert!(!dispatch.is_in_flight(CommandId(3)));
        assert!(
            dispatch.answered(CommandId(3)).is_none(),
            "a waiting command cannot be answered"
        );
        let (_, next) = dispatch.answered(CommandId(2)).expect("in flight");
        assert_eq!(next.map(|c| c.id), Some(CommandId(3)));
        assert!(dispatch.is_in_flight(CommandId(3)));
        assert_eq!(dispatch.most_in_flight_to_one_agent(), 2);
        dispatch.forget_agent(no("a"));
        assert_eq!((dispatch.in_flight(), dispatch.waiting()), (1, 0));
    }
}
