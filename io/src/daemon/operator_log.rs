//! What the daemon logs for operators, and how much.
//!
//! The core marks the decisions an operator should see
//! ([`harpoon_core::TraceLevel`]); this module writes them so that a
//! misbehaving agent cannot flood the log: agents' state changes at `info`,
//! one line per change but at most [`CHANGES_PER_SUBJECT`] per agent (and
//! [`CHANGES_PER_WINDOW`] in all) per window; failed and unconfirmed
//! commands at `warn`, the first per agent per window at once and the rest
//! as one line per agent with a count when the window ends; tasks placed as
//! one `info` line per window. Nothing is logged per event.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harpoon_core::AgentId;
use tracing::{info, warn};

/// How long a window of counting lasts.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Changes of one subject (an agent, or a container for duplicates) logged
/// one by one per window; the rest are counted. An agent's ordinary bad
/// day (discovered, synced, stream lost, abandoned, synced again) fits;
/// one that flaps (synced, lost, synced, …) does not.
pub const CHANGES_PER_SUBJECT: u32 = 6;

/// Changes logged one by one per window, of every subject together.
pub const CHANGES_PER_WINDOW: u32 = 30;

/// Subjects whose suppressed changes are counted by name per window; more
/// are counted together, so that memory stays bounded.
const SUBJECTS_COUNTED: usize = 256;

/// Subjects named in a window's summary of suppressed changes.
const SUBJECTS_NAMED: usize = 5;

/// Changes of one subject in the current window.
#[derive(Debug, Default)]
struct Changes {
    logged: u32,
    suppressed: u64,
    latest: String,
}

/// Failed or unconfirmed commands of one agent in the current window.
#[derive(Debug, Default)]
struct Failures {
    /// After the first, which is logged at once.
    more: u64,
    latest: String,
}

/// The log's counts for the current window.
#[derive(Debug)]
pub struct OperatorLog {
    window_start: Instant,
    changes_logged: u32,
    changes: BTreeMap<String, Changes>,
    /// Suppressed changes of subjects past [`SUBJECTS_COUNTED`].
    other_changes: u64,
    failures: BTreeMap<AgentId, Failures>,
    placed: BTreeMap<AgentId, u64>,
}

impl OperatorLog {
    /// A log whose first window starts at `now`.
    pub fn new(now: Instant) -> OperatorLog {
        OperatorLog {
            window_start: now,
            changes_logged: 0,
            changes: BTreeMap::new(),
            other_changes: 0,
            failures: BTreeMap::new(),
            placed: BTreeMap::new(),
        }
    }

    /// A state change of `subject`.
    pub fn change(&mut self, now: Instant, subject: &str, message: &str) {
        self.roll(now);
        let counted = self.changes.len() < SUBJECTS_COUNTED || self.changes.contains_key(subject);
        if !counted {
            self.other_changes += 1;
            return;
        }
        let changes = self.changes.entry(subject.to_owned()).or_default();
        if changes.logged < CHANGES_PER_SUBJECT && self.changes_logged < CHANGES_PER_WINDOW {
            changes.logged += 1;
            self.changes_logged += 1;
            info!("{subject}: {message}");
        } else {
            changes.suppressed += 1;
            message.clone_into(&mut changes.latest);
        }
    }

    /// A command to `agent` failed or went unconfirmed; `what` says which
    /// and why.
    pub fn command_failed(&mut self, now: Instant, agent: &AgentId, what: &str) {
        self.roll(now);
        match self.failures.get_mut(agent) {
            Some(failures) => {
                failures.more += 1;
                what.clone_into(&mut failures.latest);
            }
            None => {
                warn!("{agent}: command failed: {what}");
                self.failures.insert(agent.clone(), Failures::default());
            }
        }
    }

    /// A task was placed on `agent` (a create command issued).
    pub fn placed(&mut self, now: Instant, agent: &AgentId) {
        self.roll(now);
        *self.placed.entry(agent.clone()).or_default() += 1;
    }

    /// Ends the window if it is over: writes what was counted in it.
    pub fn roll(&mut self, now: Instant) {
        if now.saturating_duration_since(self.window_start) < WINDOW {
            return;
        }
        // Rolled by the next record or the core task's periodic flush, so a
        // window may have lasted up to twice its length: say how long.
        let seconds = now.saturating_duration_since(self.window_start).as_secs();
        self.window_start = now;
        self.changes_logged = 0;
        let changes = std::mem::take(&mut self.changes);
        let other_changes = std::mem::take(&mut self.other_changes);
        let suppressed: Vec<(String, Changes)> = changes
            .into_iter()
            .filter(|(_, changes)| changes.suppressed > 0)
            .collect();
        let total: u64 = suppressed.iter().map(|(_, c)| c.suppressed).sum::<u64>() + other_changes;
        if total > 0 {
            let mut named: Vec<String> = suppressed
                .iter()
                .take(SUBJECTS_NAMED)
                .map(|(subject, c)| format!("{subject} ×{} (latest: {})", c.suppressed, c.latest))
                .collect();
            let unnamed = suppressed.len().saturating_sub(SUBJECTS_NAMED) as u64 + other_changes;
            if unnamed > 0 {
                named.push(format!("and {unnamed} more"));
            }
            info!(
                "{total} more changes in the last {seconds}s, not logged one by one: {}",
                named.join("; ")
            );
        }
        for (agent, failures) in std::mem::take(&mut self.failures) {
            if failures.more > 0 {
                warn!(
                    "{agent}: {} more commands failed in the last {seconds}s (latest: {})",
                    failures.more, failures.latest
                );
            }
        }
        let placed = std::mem::take(&mut self.placed);
        if !placed.is_empty() {
            let total: u64 = placed.values().sum();
            let per_agent: Vec<String> = placed
                .iter()
                .map(|(agent, count)| format!("{agent} {count}"))
                .collect();
            info!(
                "placed {total} tasks in the last {seconds}s: {}",
                per_agent.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Runs `f` with a subscriber that writes into a buffer; returns its
    /// lines.
    fn logged(f: impl FnOnce()) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(move || Writer(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flapping_agent_gets_a_few_lines_then_one_count_per_window() {
        let start = Instant::now();
        let lines = logged(|| {
            let mut log = OperatorLog::new(start);
            for n in 0..13 {
                log.change(start, "http://a", &format!("change {n}"));
            }
            log.change(start, "http://b", "synced");
            log.roll(start + WINDOW);
            log.change(start + WINDOW, "http://a", "change 13");
        });
        assert_eq!(
            lines,
            [
                " INFO http://a: change 0",
                " INFO http://a: change 1",
                " INFO http://a: change 2",
                " INFO http://a: change 3",
                " INFO http://a: change 4",
                " INFO http://a: change 5",
                " INFO http://b: synced",
                " INFO 7 more changes in the last 10s, not logged one by one: http://a ×7 (latest: change 12)",
                " INFO http://a: change 13",
            ]
        );
    }

    #[test]
    fn repeated_command_failures_are_one_line_then_one_count_per_agent_per_window() {
        let start = Instant::now();
        let a = AgentId::new("http://a");
        let b = AgentId::new("http://b");
        let lines = logged(|| {
            let mut log = OperatorLog::new(start);
            for n in 0..5 {
                log.command_failed(start, &a, &format!("create c{n}: 500"));
            }
            log.command_failed(start, &b, "stop c9: unreachable");
            log.placed(start, &b);
            log.placed(start, &b);
            log.roll(start + Duration::from_secs(1));
            log.roll(start + WINDOW);
            log.roll(start + WINDOW * 2);
        });
        assert_eq!(
            lines,
            [
                " WARN http://a: command failed: create c0: 500",
                " WARN http://b: command failed: stop c9: unreachable",
                " WARN http://a: 4 more commands failed in the last 10s (latest: create c4: 500)",
                " INFO placed 2 tasks in the last 10s: http://b 2",
            ]
        );
    }

    #[test]
    fn a_burst_of_many_subjects_is_capped_per_window() {
        let start = Instant::now();
        let lines = logged(|| {
            let mut log = OperatorLog::new(start);
            for n in 0..1000 {
                log.change(start, &format!("c{n:04}"), "destroy: duplicate");
            }
            log.roll(start + WINDOW);
        });
        assert_eq!(lines.len(), CHANGES_PER_WINDOW as usize + 1);
        let summary = lines.last().unwrap();
        assert!(
            summary.contains("970 more changes") && summary.contains("and 965 more"),
            "{summary}"
        );
    }
}
