//! Whether an agent carries out our commands: the failures counted against
//! it, and whether placement avoids it.
//!
//! An agent that answers 500 to every command, never answers, or accepts
//! commands and never confirms them would otherwise keep winning
//! placement as long as it reports free capacity, holding tasks hostage
//! for as long as it stays broken. So every command failure and every
//! unconfirmed command counts against its agent, every confirmation clears
//! the count, and after a few in a row placement avoids the agent for a
//! while (doubling, with jitter, each time it is avoided again without a
//! confirmation in between). Commands for what already lives there (starts,
//! stops, deletes) still go to it: only new tasks go elsewhere.

use crate::time::Instant;

/// The command record of one agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandHealth {
    /// Commands that failed or went unconfirmed since the last
    /// confirmation.
    pub failures: u32,
    /// Times the agent was avoided since the last confirmation: the
    /// avoidance back-off grows with it.
    pub avoidances: u32,
    /// Placement avoids the agent until then (its probation timer).
    pub avoided_until: Option<Instant>,
}

impl CommandHealth {
    /// Whether placement avoids the agent.
    pub fn is_avoided(&self) -> bool {
        self.avoided_until.is_some()
    }
}
