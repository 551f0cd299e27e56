//! A container's recent log lines: a ring buffer bounded in lines and in
//! bytes, and a live feed for followers.
//!
//! This is the one structure shared outside the state task, behind its own
//! lock: the tailer appends while HTTP handlers read, and routing every line
//! through the state task would make a chatty container slow everyone down.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

/// Lines a follower may fall behind before it skips ahead.
const FOLLOWER_QUEUE_LEN: usize = 1024;

/// The recent output (stdout and stderr, interleaved) of one container.
#[derive(Debug)]
pub(crate) struct ContainerLog {
    ring: Mutex<Ring>,
    lines_max: usize,
    line_max_bytes: usize,
    bytes_max: usize,
    live: broadcast::Sender<Arc<str>>,
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<Arc<str>>,
    bytes: usize,
}

impl ContainerLog {
    pub fn new(lines_max: usize, line_max_bytes: usize, bytes_max: usize) -> Arc<ContainerLog> {
        Arc::new(ContainerLog {
            ring: Mutex::new(Ring::default()),
            lines_max: lines_max.max(1),
            line_max_bytes: line_max_bytes.max(1),
            bytes_max,
            live: broadcast::channel(FOLLOWER_QUEUE_LEN).0,
        })
    }

    /// Appends one line (without its newline), evicting the oldest lines
    /// past either bound (the newest line always stays), and hands it to
    /// the followers.
    pub fn push(&self, line: &str) {
        let line: Arc<str> = Arc::from(cut(line, self.line_max_bytes));
        let mut ring = self.lock();
        ring.bytes += line.len();
        ring.lines.push_back(line.clone());
        while ring.lines.len() > self.lines_max
            || (ring.bytes > self.bytes_max && ring.lines.len() > 1)
        {
            let evicted = ring.lines.pop_front().map_or(0, |line| line.len());
            ring.bytes -= evicted;
        }
        // Sent under the lock so that `follow` sees each line exactly once,
        // either in the history or on the feed. No follower is not an error.
        let _ = self.live.send(line);
    }

    /// The last `count` lines, oldest first.
    pub fn history(&self, count: usize) -> Vec<Arc<str>> {
        self.lock().last(count)
    }

    /// The last `count` lines and a feed of every line after them.
    pub fn follow(&self, count: usize) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let ring = self.lock();
        (ring.last(count), self.live.subscribe())
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // No code that holds the lock can panic halfway through an update,
        // so a poisoned lock still guards consistent data.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ring {
    fn last(&self, count: usize) -> Vec<Arc<str>> {
        let skip = self.lines.len().saturating_sub(count);
        self.lines.iter().skip(skip).cloned().collect()
    }
}

/// `line` cut to at most `max` bytes, at a character boundary.
fn cut(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: Vec<Arc<str>>) -> Vec<String> {
        lines.iter().map(|line| line.to_string()).collect()
    }

    #[test]
    fn keeps_the_last_lines_and_cuts_long_ones() {
        let log = ContainerLog::new(3, 4, 100);
        for line in ["one", "two", "three", "four", "héllo"] {
            log.push(line);
        }
        assert_eq!(texts(log.history(10)), ["thre", "four", "hél"]);
        assert_eq!(texts(log.history(1)), ["hél"]);
    }

    #[test]
    fn keeps_within_its_byte_budget_but_always_the_newest_line() {
        let log = ContainerLog::new(100, 100, 10);
        for line in ["aaaa", "bbbb", "cccc", "a line longer than the budget"] {
            log.push(line);
        }
        assert_eq!(texts(log.history(10)), ["a line longer than the budget"]);
        log.push("dd");
        log.push("ee");
        assert_eq!(texts(log.history(10)), ["dd", "ee"]);
    }

    #[test]
    fn followers_see_every_line_after_their_history_once() {
        let log = ContainerLog::new(10, 100, 1000);
        log.push("old");
        let (history, mut feed) = log.follow(5);
        log.push("new");
        assert_eq!(texts(history), ["old"]);
        assert_eq!(&*feed.try_recv().unwrap(), "new");
        assert!(feed.try_recv().is_err());
    }
}
