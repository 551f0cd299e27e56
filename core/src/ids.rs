//! Identifiers the scheduler hands out or receives.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::key_text::KeyText;

/// An agent, named by its endpoint URL (e.g. `http://10.0.0.7:3333`), the
/// key under which `/proxy` reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(KeyText);

impl AgentId {
    /// Names an agent.
    pub fn new(name: &str) -> AgentId {
        AgentId(KeyText::new(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user request (schedule or unschedule), numbered by the driver; the
/// scheduler answers it with an [`crate::Output::Reply`] carrying the same id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RequestId(pub u64);

/// An agent command, numbered by the scheduler; the driver reports its
/// outcome with [`crate::Input::CommandResult`] carrying the same id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CommandId(pub u64);

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where the scheduler's location index keeps a task: its job's number
/// there and the task's index. A container record carries it, so that a
/// reconcile reaches the task's holders and desired state by two array
/// indexes instead of parsing the container ID and searching for its job
/// (at a million tasks, each a cache miss).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskSlot {
    /// The job's number in the index, valid while any of its tasks is
    /// located or desired.
    pub job: u32,
    /// The task's index.
    pub index: u16,
}

/// An agent's number in the scheduler's table of agents: a dense index,
/// reused once the agent is forgotten. The location index holds agents by
/// number rather than by id: four bytes a task instead of thirty-two, and
/// an array index away from the agent instead of a search among ids (which,
/// for URLs sharing their first bytes, compares texts).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AgentNo(std::num::NonZeroU32);

impl AgentNo {
    /// The number of a representation not (yet) in a table.
    pub const UNASSIGNED: AgentNo = AgentNo(std::num::NonZeroU32::MAX);

    /// The number at `index` in a table.
    pub(crate) fn at(index: usize) -> AgentNo {
        u32::try_from(index + 1)
            .ok()
            .and_then(std::num::NonZeroU32::new)
            .filter(|number| *number != std::num::NonZeroU32::MAX)
            .map(AgentNo)
            .expect("fewer than 2^32 - 2 agents")
    }

    /// Its index in a table.
    pub(crate) fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }
}
