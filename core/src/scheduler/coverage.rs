//! Which parts of its state machines a scheduler has exercised: the rows
//! of the container transition table it took and the timer reasons that
//! fired, counted as they happen.
//!
//! For the simulator, which reports what a swarm reached (and so what it
//! never tests); a driver that does not ask pays one array increment per
//! transition and per timer fired.

use std::fmt;

use super::timer::TIMER_KINDS;
use crate::agent::Phase;
use crate::agent::transition::{self, ROWS};
use crate::scheduler::TimerReason;
use crate::wire::ContainerStatus;

/// One row of the container transition table: a state and an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionRow {
    /// The status last reported; `None` for a container not seen yet.
    pub status: Option<ContainerStatus>,
    /// The command of ours pending (`create`, `start`, `stop`,
    /// `destroy`) and whether the agent has accepted it yet.
    pub pending: Option<(&'static str, bool)>,
    /// The input, as the table's snapshot names it (`event running`,
    /// `answer ok`, `answer 404`, `pending timeout`).
    pub input: String,
    /// How often the row was taken.
    pub count: u64,
}

impl fmt::Display for TransitionRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or("unseen", |s| s.as_str());
        match self.pending {
            None => write!(f, "{status} × {}", self.input),
            Some((action, accepted)) => {
                let phase = if accepted { "accepted" } else { "sent" };
                write!(f, "{status}+{action}/{phase} × {}", self.input)
            }
        }
    }
}

/// Counts of transition-table rows taken and timer reasons fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    rows: Box<[u64; ROWS]>,
    timers: [u64; TIMER_KINDS.len()],
}

impl Default for Coverage {
    fn default() -> Coverage {
        Coverage {
            rows: Box::new([0; ROWS]),
            timers: [0; TIMER_KINDS.len()],
        }
    }
}

impl Coverage {
    pub(crate) fn transition(&mut self, row: usize) {
        self.rows[row] += 1;
    }

    pub(crate) fn timer(&mut self, reason: &TimerReason) {
        self.timers[reason.kind()] += 1;
    }

    /// Every row of the transition table with how often it was taken, in
    /// table order; displayed as the table's snapshot names it
    /// (`created+start/sent × answer 409`).
    pub fn transitions(&self) -> impl Iterator<Item = TransitionRow> + '_ {
        let inputs: Vec<String> = transition::inputs()
            .iter()
            .map(transition::input_name)
            .collect();
        let states = transition::states();
        self.rows.iter().enumerate().map(move |(row, &count)| {
            let (status, pending) = states[row / inputs.len()];
            TransitionRow {
                status,
                pending: pending.map(|(action, phase)| (action.name(), phase == Phase::Accepted)),
                input: inputs[row % inputs.len()].clone(),
                count,
            }
        })
    }

    /// Every kind of timer reason, with how often one fired.
    pub fn timers(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        TIMER_KINDS.iter().copied().zip(self.timers.iter().copied())
    }

    /// Adds `other`'s counts to these (over restarts, over seeds).
    pub fn merge(&mut self, other: &Coverage) {
        for (mine, theirs) in self.rows.iter_mut().zip(other.rows.iter()) {
            *mine += theirs;
        }
        for (mine, theirs) in self.timers.iter_mut().zip(other.timers) {
            *mine += theirs;
        }
    }
}
