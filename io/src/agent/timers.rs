//! The state task's timers: a closed set of reasons to wake up, kept in
//! deadline order. The state task sleeps until the earliest one, so no task
//! is spawned per timer and a timer that no longer applies (the run it was
//! for has ended) is simply ignored when it fires.

use std::collections::BTreeMap;

use tokio::time::Instant;

/// Why the state task will wake up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The shutdown grace of run `run` of container `id` is over: SIGKILL
    /// its process group if it is still running.
    Kill { id: String, run: u64 },
    /// The back-off after run `run` of container `id` is over: start it.
    Restart { id: String, run: u64 },
}

/// Pending timers, earliest first; equal deadlines fire in the order they
/// were set.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    queue: BTreeMap<(Instant, u64), Timer>,
    sequence: u64,
}

impl Timers {
    pub fn set(&mut self, at: Instant, timer: Timer) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence), timer);
    }

    /// The earliest deadline, if any timer is set.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns the timers due at `now`, in order.
    pub fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_then_insertion_order() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let later = start + Duration::from_secs(2);
        let sooner = start + Duration::from_secs(1);
        let kill = |run| Timer::Kill {
            id: "c".into(),
            run,
        };
        timers.set(later, kill(3));
        timers.set(sooner, kill(1));
        timers.set(sooner, kill(2));
        assert_eq!(timers.next_deadline(), Some(sooner));
        assert_eq!(timers.take_due(start), vec![]);
        assert_eq!(timers.take_due(sooner), vec![kill(1), kill(2)]);
        assert_eq!(timers.take_due(later), vec![kill(3)]);
        assert_eq!(timers.next_deadline(), None);
    }
}
