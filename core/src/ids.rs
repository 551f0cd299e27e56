//! Identifiers the scheduler hands out or receives.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An agent, named by its endpoint URL (e.g. `http://10.0.0.7:3333`), the
/// key under which `/proxy` reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(Arc<str>);

impl AgentId {
    /// Names an agent.
    pub fn new(name: &str) -> AgentId {
        AgentId(Arc::from(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user request (schedule or unschedule), numbered by the driver; the
/// scheduler answers it with an [`crate::Output::Reply`] carrying the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// An agent command, numbered by the scheduler; the driver reports its
/// outcome with [`crate::Input::CommandResult`] carrying the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommandId(pub u64);

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
