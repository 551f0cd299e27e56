//! The scheduler's timers: a closed set of reasons to wake up.
//!
//! Timers are kept in one ordered set and validated lazily: when a timer
//! fires, its handler checks that what it was set for still holds (the
//! command is still pending, the agent still down), so cancelling a timer
//! costs nothing and a stale one is a no-op.

use std::collections::BTreeSet;
use std::fmt;

use crate::ids::{AgentId, CommandId};
use crate::time::Instant;
use crate::wire::ContainerId;

/// Why the scheduler wants to be woken.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerReason {
    /// The periodic reconcile.
    Tick,
    /// Continue a reconcile that the command budget cut short.
    ContinueReconcile,
    /// A command may be unconfirmed for too long.
    PendingTimeout {
        /// Where the command went.
        agent: AgentId,
        /// Which container it is about.
        container: ContainerId,
        /// Which command.
        command: CommandId,
    },
    /// Time to reopen an agent's stream.
    Reconnect {
        /// Whose stream.
        agent: AgentId,
    },
    /// An agent's stream may have been down past the abandon timeout.
    Abandon {
        /// Whose stream.
        agent: AgentId,
    },
    /// An agent's stream may have been silent for too long.
    StreamSilence {
        /// Whose stream.
        agent: AgentId,
    },
    /// A failing task's back-off may have expired.
    TaskBackoff {
        /// Which task.
        container: ContainerId,
    },
    /// Retry a failed registry write.
    PersistRetry,
}

impl fmt::Display for TimerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerReason::Tick => f.write_str("periodic reconcile"),
            TimerReason::ContinueReconcile => {
                f.write_str("continue a reconcile cut short by the command budget")
            }
            TimerReason::PendingTimeout {
                agent,
                container,
                command,
            } => {
                write!(
                    f,
                    "pending timeout of command {command} for {container} on {agent}"
                )
            }
            TimerReason::Reconnect { agent } => write!(f, "reconnect to {agent}"),
            TimerReason::Abandon { agent } => write!(f, "abandon timeout of {agent}"),
            TimerReason::StreamSilence { agent } => {
                write!(f, "silence timeout of {agent}'s stream")
            }
            TimerReason::TaskBackoff { container } => write!(f, "back-off of {container} expires"),
            TimerReason::PersistRetry => f.write_str("retry the registry write"),
        }
    }
}

/// Pending timers in deadline order; ties broken by insertion order.
#[derive(Clone, Debug, Default)]
pub struct Timers {
    entries: BTreeSet<(Instant, u64, TimerReason)>,
    next_sequence: u64,
}

impl Timers {
    /// Wakes for `reason` at `deadline`.
    pub fn set(&mut self, deadline: Instant, reason: TimerReason) {
        self.next_sequence += 1;
        self.entries.insert((deadline, self.next_sequence, reason));
    }

    /// The earliest deadline and its reason.
    pub fn next(&self) -> Option<(Instant, &TimerReason)> {
        self.entries.first().map(|(at, _, reason)| (*at, reason))
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerReason> {
        if self.entries.first()?.0 <= now {
            self.entries.pop_first().map(|(_, _, reason)| reason)
        } else {
            None
        }
    }

    /// Drops every timer, e.g. those of an agent that discovery forgot;
    /// `keep` says which to keep.
    pub fn retain(&mut self, mut keep: impl FnMut(&TimerReason) -> bool) {
        self.entries.retain(|(_, _, reason)| keep(reason));
    }
}
