//! The outcome of a run: a verdict per expectation and invariant, the trace
//! hash, and the trace itself when it was kept.

use std::fmt::Write as _;

use crate::invariants::Invariant;
use crate::scenario::Scenario;
use crate::trace::TraceLine;
use crate::world::{RunOptions, run};

/// Whether one expectation or invariant held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What was checked.
    pub what: String,
    /// For some failures, a short name of the kind of failure that stays
    /// the same whatever the names and numbers in `detail` (a convergence
    /// failure says which kind of divergence remained): two runs fail the
    /// same way when `what` and `cause` agree.
    pub cause: Option<&'static str>,
    /// Where the expectation is written; `None` for invariants.
    pub line: Option<usize>,
    /// Whether it held.
    pub held: bool,
    /// What was found.
    pub detail: String,
}

/// The outcome of one run.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed it ran with.
    pub seed: u64,
    /// Every expectation, then every invariant.
    pub verdicts: Vec<Verdict>,
    /// FNV-1a over every trace line.
    pub trace_hash: u64,
    /// How many trace lines there were.
    pub trace_lines: u64,
    /// How many steps the run took.
    pub steps: u64,
    /// Agent commands the scheduler issued.
    pub commands_issued: u64,
    /// The trace, when kept.
    pub trace: Option<Vec<TraceLine>>,
}

impl RunReport {
    /// True when every expectation and invariant held.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|verdict| verdict.held)
    }

    /// The verdicts that did not hold.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|verdict| !verdict.held)
    }

    /// The verdicts and the trace hash, one line each.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for verdict in &self.verdicts {
            let mark = if verdict.held { "ok  " } else { "FAIL" };
            let line = verdict
                .line
                .map_or_else(String::new, |line| format!(" (line {line})"));
            let _ = write!(text, "  {mark} {}{line}", verdict.what);
            if !verdict.detail.is_empty() {
                let _ = write!(text, ": {}", verdict.detail);
            }
            text.push('\n');
        }
        let _ = writeln!(
            text,
            "  trace hash {:016x} ({} lines, {} steps, {} commands)",
            self.trace_hash, self.trace_lines, self.steps, self.commands_issued
        );
        text
    }

    /// The trace lines a person reads by default (routine lines left out),
    /// or every line with `all`.
    pub fn trace_text(&self, all: bool) -> String {
        let mut text = String::new();
        for line in self.trace.iter().flatten() {
            if all || !line.quiet {
                text.push_str(&line.text);
                text.push('\n');
            }
        }
        text
    }
}

/// Runs `scenario` with `seed` twice and adds the determinism verdict: both
/// runs must give the same trace hash.
pub fn run_checked(scenario: &Scenario, seed: u64, keep_trace: bool) -> RunReport {
    let mut report = run(scenario, RunOptions { seed, keep_trace });
    let again = run(
        scenario,
        RunOptions {
            seed,
            keep_trace: false,
        },
    );
    let held = again.trace_hash == report.trace_hash;
    report.verdicts.push(Verdict {
        what: format!("invariant: {}", Invariant::Determinism.describe()),
        cause: None,
        line: None,
        held,
        detail: if held {
            String::new()
        } else {
            format!(
                "second run gave {:016x} instead of {:016x}",
                again.trace_hash, report.trace_hash
            )
        },
    });
    report
}
