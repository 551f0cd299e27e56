//! The scheduler's timers: a closed set of reasons to wake up, kept in a
//! keyed table.
//!
//! Every timer has a key ([`TimerKey`]): what it watches (the periodic
//! reconcile, one agent's stream, one container's command or back-off).
//! Setting a timer replaces the timer of the same key, so the number of
//! live timers is bounded by the number of things they can watch (see
//! [`TimerTable`] and `Scheduler::occupancy`), however often they are set;
//! quinn-proto's `TimerTable` is the model. Handlers still check, when a
//! timer fires, that what it was set for holds (the command is still
//! pending, the agent still down), so a timer left set after its purpose
//! ended is a no-op rather than a wrong decision.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ids::{AgentId, CommandId};
use crate::time::Instant;
use crate::wire::ContainerId;

/// Why the scheduler wants to be woken.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
    /// An agent's stream has stayed synced long enough for its reconnect
    /// back-off to start again from the shortest delay.
    StreamHealthy {
        /// Whose stream.
        agent: AgentId,
    },
    /// An agent avoided after failing commands may be placed on again.
    Probation {
        /// Which agent.
        agent: AgentId,
    },
    /// A failing task's back-off may have expired.
    TaskBackoff {
        /// Which task.
        container: ContainerId,
    },
    /// Retry a failed registry write.
    PersistRetry,
    /// Look at the running rollouts and drains again: a new task may be
    /// healthy, or a progress deadline passed.
    RolloutCheck,
}

/// What a timer watches: two timers of one key never coexist.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub(crate) enum TimerKey {
    Tick,
    ContinueReconcile,
    /// One container's pending command on one agent: there is at most one.
    /// The container comes first: container IDs rarely tie in the bytes
    /// [`crate::key_text::KeyText`] keeps inline, agent URLs usually do, and
    /// a tie follows a pointer to text out of cache.
    Pending(ContainerId, AgentId),
    Reconnect(AgentId),
    Abandon(AgentId),
    StreamSilence(AgentId),
    StreamHealthy(AgentId),
    Probation(AgentId),
    TaskBackoff(ContainerId),
    PersistRetry,
    RolloutCheck,
}

/// The kinds of [`TimerReason`], by name, in [`TimerReason::kind`] order.
pub const TIMER_KINDS: [&str; 11] = [
    "tick",
    "continue reconcile",
    "pending timeout",
    "reconnect",
    "abandon",
    "stream silence",
    "stream healthy",
    "probation",
    "task back-off",
    "persist retry",
    "rollout check",
];

impl TimerReason {
    /// Which kind of reason this is: its index in [`TIMER_KINDS`].
    pub fn kind(&self) -> usize {
        match self {
            TimerReason::Tick => 0,
            TimerReason::ContinueReconcile => 1,
            TimerReason::PendingTimeout { .. } => 2,
            TimerReason::Reconnect { .. } => 3,
            TimerReason::Abandon { .. } => 4,
            TimerReason::StreamSilence { .. } => 5,
            TimerReason::StreamHealthy { .. } => 6,
            TimerReason::Probation { .. } => 7,
            TimerReason::TaskBackoff { .. } => 8,
            TimerReason::PersistRetry => 9,
            TimerReason::RolloutCheck => 10,
        }
    }

    pub(crate) fn key(&self) -> TimerKey {
        match self {
            TimerReason::Tick => TimerKey::Tick,
            TimerReason::ContinueReconcile => TimerKey::ContinueReconcile,
            TimerReason::PendingTimeout {
                agent, container, ..
            } => TimerKey::Pending(container.clone(), agent.clone()),
            TimerReason::Reconnect { agent } => TimerKey::Reconnect(agent.clone()),
            TimerReason::Abandon { agent } => TimerKey::Abandon(agent.clone()),
            TimerReason::StreamSilence { agent } => TimerKey::StreamSilence(agent.clone()),
            TimerReason::StreamHealthy { agent } => TimerKey::StreamHealthy(agent.clone()),
            TimerReason::Probation { agent } => TimerKey::Probation(agent.clone()),
            TimerReason::TaskBackoff { container } => TimerKey::TaskBackoff(container.clone()),
            TimerReason::PersistRetry => TimerKey::PersistRetry,
            TimerReason::RolloutCheck => TimerKey::RolloutCheck,
        }
    }

    /// The agent the timer watches, if it watches one.
    pub(crate) fn agent(&self) -> Option<&AgentId> {
        match self {
            TimerReason::PendingTimeout { agent, .. }
            | TimerReason::Reconnect { agent }
            | TimerReason::Abandon { agent }
            | TimerReason::StreamSilence { agent }
            | TimerReason::StreamHealthy { agent }
            | TimerReason::Probation { agent } => Some(agent),
            TimerReason::Tick
            | TimerReason::ContinueReconcile
            | TimerReason::TaskBackoff { .. }
            | TimerReason::PersistRetry
            | TimerReason::RolloutCheck => None,
        }
    }
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
            TimerReason::StreamHealthy { agent } => {
                write!(f, "{agent}'s stream stayed synced")
            }
            TimerReason::Probation { agent } => {
                write!(f, "{agent}'s avoidance for placement ends")
            }
            TimerReason::TaskBackoff { container } => write!(f, "back-off of {container} expires"),
            TimerReason::PersistRetry => f.write_str("retry the registry write"),
            TimerReason::RolloutCheck => f.write_str("check the running rollouts and drains"),
        }
    }
}

/// Live timers, one per key, in deadline order; ties broken by the order
/// in which they were set.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct TimerTable {
    #[serde(with = "crate::map_as_pairs")]
    by_key: BTreeMap<TimerKey, (Instant, u64, TimerReason)>,
    by_deadline: BTreeSet<(Instant, u64, TimerKey)>,
    next_sequence: u64,
}

impl TimerTable {
    /// Wakes for `reason` at `deadline`, replacing the timer of the same key.
    pub(crate) fn set(&mut self, deadline: Instant, reason: TimerReason) {
        let key = reason.key();
        self.next_sequence += 1;
        let sequence = self.next_sequence;
        if let Some((at, old, _)) = self
            .by_key
            .insert(key.clone(), (deadline, sequence, reason))
        {
            self.by_deadline.remove(&(at, old, key.clone()));
        }
        self.by_deadline.insert((deadline, sequence, key));
    }

    /// When the timer of `key` is due, if it is set.
    pub(crate) fn deadline(&self, key: &TimerKey) -> Option<Instant> {
        self.by_key.get(key).map(|(at, _, _)| *at)
    }

    /// Cancels the timer of `key`, if set.
    pub(crate) fn cancel(&mut self, key: &TimerKey) {
        if let Some((at, sequence, _)) = self.by_key.remove(key) {
            self.by_deadline.remove(&(at, sequence, key.clone()));
        }
    }

    /// The earliest deadline and its reason.
    pub(crate) fn next(&self) -> Option<(Instant, &TimerReason)> {
        let (_, _, key) = self.by_deadline.first()?;
        self.by_key.get(key).map(|(at, _, reason)| (*at, reason))
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerReason> {
        if self.by_deadline.first()?.0 > now {
            return None;
        }
        let (_, _, key) = self.by_deadline.pop_first()?;
        self.by_key.remove(&key).map(|(_, _, reason)| reason)
    }

    /// Drops every timer that watches `agent` (discovery forgot it).
    pub(crate) fn forget_agent(&mut self, agent: &AgentId) {
        let doomed: Vec<TimerKey> = self
            .by_key
            .iter()
            .filter(|(_, (_, _, reason))| reason.agent() == Some(agent))
            .map(|(key, _)| key.clone())
            .collect();
        for key in doomed {
            self.cancel(&key);
        }
    }

    /// Drops the pending timeouts of commands to `agent` (abandoned: its
    /// records and commands are gone).
    pub(crate) fn forget_pending_of(&mut self, agent: &AgentId) {
        let doomed: Vec<TimerKey> = self
            .by_key
            .keys()
            .filter(|key| matches!(key, TimerKey::Pending(_, to) if to == agent))
            .cloned()
            .collect();
        for key in doomed {
            self.cancel(&key);
        }
    }

    /// How many timers of each kind are live: (pending timeouts, back-offs,
    /// the rest).
    pub(crate) fn count_by_kind(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for key in self.by_key.keys() {
            match key {
                TimerKey::Pending(..) => counts.0 += 1,
                TimerKey::TaskBackoff(_) => counts.1 += 1,
                _ => counts.2 += 1,
            }
        }
        counts
    }

    /// Whether the timer of `key` is set.
    pub(crate) fn is_set(&self, key: &TimerKey) -> bool {
        self.by_key.contains_key(key)
    }

    /// How many timers are live.
    pub(crate) fn len(&self) -> usize {
        debug_assert_eq!(self.by_key.len(), self.by_deadline.len());
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_set_again_replaces_the_one_of_its_key() {
        let mut timers = TimerTable::default();
        let a = AgentId::new("a");
        for at in [5, 3, 9] {
            timers.set(
                Instant::from_millis(at),
                TimerReason::StreamSilence { agent: a.clone() },
            );
        }
        timers.set(Instant::from_millis(7), TimerReason::Tick);
        assert_eq!(timers.len(), 2);
        assert_eq!(
            timers.next().map(|(at, _)| at),
            Some(Instant::from_millis(7))
        );
        assert_eq!(
            timers.pop_due(Instant::from_millis(8)),
            Some(TimerReason::Tick)
        );
        assert_eq!(timers.pop_due(Instant::from_millis(8)), None);
        timers.forget_agent(&a);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn a_pending_timeout_is_keyed_by_agent_and_container_not_command() {
        let mut timers = TimerTable::default();
        let (agent, container) = (AgentId::new("a"), ContainerId::new("c-1"));
        for command in 1..=3 {
            timers.set(
                Instant::from_millis(command),
                TimerReason::PendingTimeout {
                    agent: agent.clone(),
                    container: container.clone(),
                    command: CommandId(command),
                },
            );
        }
        assert_eq!(timers.len(), 1);
        assert!(matches!(
            timers.pop_due(Instant::from_millis(10)),
            Some(TimerReason::PendingTimeout {
                command: CommandId(3),
                ..
            })
        ));
    }
}
