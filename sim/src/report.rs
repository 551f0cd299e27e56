//! The outcome of a run: a verdict per expectation and invariant, the trace
//! hash, and the trace itself when it was kept.

use std::fmt::Write as _;

use harpoon_core::Coverage;

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
    /// The transition-table rows and timer reasons the core went through,
    /// over every scheduler process of the run.
    pub coverage: Coverage,
    /// The trace, when kept.
    pub trace: Option<Vec<TraceLine>>,
}

impl RunReport {
    /// True when an assertion of the core or the simulator ended the run.
    pub fn ended_by_assertion(&self) -> bool {
        self.verdicts
            .iter()
            .any(|verdict| verdict.cause == Some(ASSERTION))
    }

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
    // An assertion of the core (or of the simulator) that fails is a
    // failing run like any other: it is reported with its seed, and the
    // other seeds of a swarm go on.
    let mut report = run_caught(scenario, RunOptions { seed, keep_trace });
    if report.ended_by_assertion() {
        return report;
    }
    let again = run_caught(
        scenario,
        RunOptions {
            seed,
            keep_trace: false,
        },
    );
    if again.ended_by_assertion() {
        return again;
    }
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

/// The cause of a verdict that an assertion ended the run.
const ASSERTION: &str = "assertion";

/// Runs `scenario` once; an assertion that fails (a panic in the core or
/// the simulator) gives a report with one failing verdict naming it.
pub fn run_caught(scenario: &Scenario, options: RunOptions) -> RunReport {
    let seed = options.seed;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(scenario, options)))
        .unwrap_or_else(|panic| panicked(scenario, seed, panic.as_ref()))
}

/// The report of a run that an assertion ended: one failing verdict
/// naming the assertion's message.
fn panicked(scenario: &Scenario, seed: u64, panic: &(dyn std::any::Any + Send)) -> RunReport {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        verdicts: vec![Verdict {
            what: "invariant: the core's and the simulator's assertions hold".to_owned(),
            cause: Some(ASSERTION),
            line: None,
            held: false,
            detail: message,
        }],
        trace_hash: 0,
        trace_lines: 0,
        steps: 0,
        commands_issued: 0,
        coverage: Coverage::default(),
        trace: None,
    }
}
