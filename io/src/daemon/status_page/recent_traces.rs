//! The most recent decisions of the core, for the status page: a bounded
//! ring of its trace lines, the oldest dropped first.

use std::collections::VecDeque;

use harpoon_core::Instant;

/// How many trace lines the ring keeps.
pub const RECENT_TRACES_KEPT: usize = 256;

/// The longest message kept, in bytes: a trace may quote user input (a
/// command's error), and the page must stay small.
const MESSAGE_BYTES_KEPT: usize = 400;

/// One decision as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentTrace {
    /// When the core made it (time since the daemon started).
    pub at: Instant,
    /// What it is about: an agent, a container, a job or `registry`.
    pub subject: String,
    /// What happened and why.
    pub message: String,
}

/// The last [`RECENT_TRACES_KEPT`] trace lines.
#[derive(Clone, Debug)]
pub struct RecentTraces {
    lines: VecDeque<RecentTrace>,
    capacity: usize,
}

impl Default for RecentTraces {
    fn default() -> RecentTraces {
        RecentTraces::with_capacity(RECENT_TRACES_KEPT)
    }
}

impl RecentTraces {
    /// A ring keeping at most `capacity` lines (at least one).
    pub fn with_capacity(capacity: usize) -> RecentTraces {
        let capacity = capacity.max(1);
        RecentTraces {
            lines: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Keeps one line, dropping the oldest when full; long messages are
    /// cut (on a character boundary) and marked with `…`.
    pub fn push(&mut self, at: Instant, subject: &str, message: &str) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back(RecentTrace {
            at,
            subject: cut(subject),
            message: cut(message),
        });
    }

    /// The kept lines, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &RecentTrace> {
        self.lines.iter().rev()
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn cut(text: &str) -> String {
    if text.len() <= MESSAGE_BYTES_KEPT {
        return text.to_owned();
    }
    let mut end = MESSAGE_BYTES_KEPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_newest_first_and_drops_the_oldest() {
        let mut ring = RecentTraces::with_capacity(3);
        for second in 0..5 {
            ring.push(
                Instant::from_millis(second * 1000),
                "a",
                &format!("line {second}"),
            );
        }
        let kept: Vec<&str> = ring.newest_first().map(|l| l.message.as_str()).collect();
        assert_eq!(kept, ["line 4", "line 3", "line 2"]);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let mut ring = RecentTraces::default();
        let long = "é".repeat(MESSAGE_BYTES_KEPT);
        ring.push(Instant::ZERO, "job", &long);
        let kept = &ring.newest_first().next().expect("one line").message;
        assert!(kept.len() <= MESSAGE_BYTES_KEPT + '…'.len_utf8());
        assert!(kept.ends_with('…'));
    }
}
