//! The simulated clock's event queue: virtual time jumps from one event to
//! the next.
//!
//! Events are ordered by time, then by [`Order`], then by the sequence
//! number they were pushed with, so that two events at the same instant
//! always happen in the same order on every machine.

use std::collections::BTreeMap;

use harpoon_core::Instant;

/// Where an event falls among events of the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Order {
    /// Things that happen: messages, timers, timeline entries.
    Happening,
    /// Observations (expectation checks): they see the state at the end of
    /// their instant, after everything that happens then.
    Observation,
}

/// A queue of future events in a deterministic order.
#[derive(Debug)]
pub struct EventQueue<E> {
    entries: BTreeMap<(Instant, Order, u64), E>,
    next_sequence: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            entries: BTreeMap::new(),
            next_sequence: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Adds an event that happens at `at`.
    pub fn push(&mut self, at: Instant, event: E) {
        self.push_ordered(at, Order::Happening, event);
    }

    /// Adds an event at `at` with an explicit order among equals.
    pub fn push_ordered(&mut self, at: Instant, order: Order, event: E) {
        self.next_sequence += 1;
        self.entries.insert((at, order, self.next_sequence), event);
    }

    /// When the next event happens, and its order.
    pub fn peek(&self) -> Option<(Instant, Order)> {
        self.entries
            .keys()
            .next()
            .map(|(at, order, _)| (*at, *order))
    }

    /// Removes and returns the next event.
    pub fn pop(&mut self) -> Option<(Instant, E)> {
        self.entries
            .pop_first()
            .map(|((at, _, _), event)| (at, event))
    }

    /// Number of events waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_order_then_insertion() {
        let mut queue = EventQueue::default();
        let t = Instant::from_millis(5);
        queue.push_ordered(t, Order::Observation, "observe");
        queue.push(t, "first");
        queue.push(Instant::from_millis(1), "earliest");
        queue.push(t, "second");
        let order: Vec<&str> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["earliest", "first", "second", "observe"]);
    }
}
