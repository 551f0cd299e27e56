//! Shrinking: a failing world reduced to a minimal scenario file that fails
//! the same way.
//!
//! # The method: delta debugging over the file, then simplification
//!
//! A shrink keeps one [`Failure`] (the first broken invariant, else the
//! first broken expectation; for a convergence failure also the kind of
//! divergence left at the end) and a fixed seed, and repeats, until nothing
//! changes or the run budget is spent:
//!
//! 1. **ddmin over the world's parts**, one kind at a time: agents, jobs,
//!    timeline entries, expectations. Chunks of parts are removed (halves,
//!    then quarters, …, then single parts, as in Zeller and Hildebrandt's
//!    ddmin, complement steps only) and a removal is kept whenever the
//!    smaller world still fails the same way. Removing an agent or a job
//!    takes everything that names it with it ([`Document::without`]), so a
//!    candidate never refers to something that is gone.
//! 2. **Simplification of each field** that can be smaller or plainer
//!    ([`simplify`]): the duration, entry times, fault lengths and latencies
//!    shorter, loss probabilities and scales smaller, resources smaller,
//!    behaviours `runs`, restart policies `no`, volume lists and partition
//!    groups shorter. Numbers go straight to their floor if that still
//!    fails, else by a few steps of bisection.
//!
//! Why delta debugging rather than shrinking the generator's choice
//! sequence (as Hypothesis does): the input to shrink is often a scenario
//! file a person wrote or saved, which has no choice sequence, and the
//! output must be a scenario file; ddmin works on the file's own structure,
//! so every candidate is a scenario file by construction, and each step is
//! one a person would take by hand (delete this agent, shorten that
//! partition). The price is that a removal changes the random draws of the
//! rest of the run (the seed stays fixed), so a failure that depends on
//! one exact interleaving can vanish; ddmin then simply keeps the part.
//!
//! Every candidate is written as text and goes through the same parser and
//! validator as a file on disk; a candidate the validator refuses (a
//! simplification that breaks a rule tying fields together) is counted and
//! skipped, never run. Candidates found to pass are remembered
//! (by a hash of their text) and not run again.
//!
//! **Bounded:** a shrink stops after `max_runs` simulated runs (a candidate
//! is one run; two for the determinism invariant) and reports how far it
//! got. The result is the smallest world found that fails the same way: it
//! is checked once more exactly as `harpoon-sim run` would run it (twice,
//! comparing trace hashes) before it is written.

mod ddmin;
mod document;
mod failure;
mod simplify;

use std::collections::BTreeSet;

pub use document::{Document, Part, Path, Size};
pub use failure::Failure;

use crate::report::{RunReport, run_caught, run_checked};
use crate::scenario::{self, ScenarioError};
use crate::trace::Fnv1a;
use crate::world::RunOptions;

/// The default of `--max-runs`. Failing swarm worlds (a few agents, a few
/// jobs, a dozen timeline entries) reached their fixpoint in 37 to 152
/// runs, under 0.2 s each in a release build (`docs/planted-bugs.md`);
/// 3,000 runs of full-size swarm worlds take 4.6 s on one core there
/// (`swarm --seeds 1500 --threads 1`, two runs a seed), so even a shrink
/// that spends the whole budget ends within seconds, and its candidates
/// only get smaller.
pub const DEFAULT_MAX_RUNS: u64 = 3_000;

/// How to shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// Stop after this many simulated runs.
    pub max_runs: u64,
    /// The seed to run with (default: the file's `seed`). The result is
    /// written with it.
    pub seed: Option<u64>,
    /// Where the input came from, for the result's header (`swarm seed
    /// 1234`, `scenarios/foo.toml`).
    pub origin: String,
}

/// Why nothing could be shrunk.
#[derive(Clone, Debug)]
pub enum ShrinkError {
    /// The input is not a valid scenario.
    Invalid(ScenarioError),
    /// The input does not fail with this seed: there is nothing to keep.
    Passes {
        /// The seed it was run with.
        seed: u64,
    },
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Invalid(error) => write!(f, "{error}"),
            ShrinkError::Passes { seed } => write!(
                f,
                "the world passes with seed {seed}: every expectation and invariant held, \
                 so there is no failure to shrink"
            ),
        }
    }
}

impl std::error::Error for ShrinkError {}

/// The result of a shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOutcome {
    /// The failure kept.
    pub failure: Failure,
    /// What the shrunk world's run says about it (the verdict's detail).
    pub message: String,
    /// The seed the result runs with.
    pub seed: u64,
    /// The size of the input (agents with `count` expanded).
    pub before: Size,
    /// The size of the result.
    pub after: Size,
    /// Simulated runs used.
    pub runs: u64,
    /// The run budget.
    pub max_runs: u64,
    /// Candidates the validator refused, skipped and never run: a
    /// simplification can break a rule that ties fields together (restart
    /// `no` for a job under `failed_starts_recover`).
    pub invalid: u64,
    /// Why the first refused candidate was refused.
    pub first_invalid: Option<String>,
    /// True when the shrink reached its fixpoint; false when it stopped at
    /// the run budget.
    pub finished: bool,
    /// The shrunk world.
    pub document: Document,
    /// The shrunk world as a scenario file, with a header saying what it
    /// reproduces, from where and how the shrink went.
    pub text: String,
    /// The verdicts of the result's final run, as `harpoon-sim run` gives.
    pub report: RunReport,
    /// Whether that final run failed the same way. Always true unless the
    /// simulator is not deterministic (every candidate kept had failed so).
    pub reproduced: bool,
}

impl ShrinkOutcome {
    /// One line: how far the shrink got.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} → {} in {} runs{}",
            if self.finished {
                "shrunk to a fixpoint"
            } else {
                "stopped at the run limit"
            },
            self.before,
            self.after,
            self.runs,
            if self.finished {
                String::new()
            } else {
                format!(
                    " (--max-runs {}; more runs may shrink further)",
                    self.max_runs
                )
            }
        )
    }
}

/// Shrinks the failing world `source` (a scenario file's text).
pub fn shrink(source: &str, options: &ShrinkOptions) -> Result<ShrinkOutcome, ShrinkError> {
    let mut document = Document::parse(source, &options.origin).map_err(ShrinkError::Invalid)?;
    let seed = options.seed.unwrap_or_else(|| document.seed());
    document.set_seed(seed);
    let original_name = document.name().to_owned();
    let before = document.size();
    let scenario = document
        .scenario(&options.origin)
        .map_err(ShrinkError::Invalid)?;
    let report = run_checked(&scenario, seed, false);
    let Some((failure, _)) = Failure::target(&report) else {
        return Err(ShrinkError::Passes { seed });
    };

    let mut runner = Runner {
        failure: &failure,
        seed,
        max_runs: options.max_runs,
        runs: 2,
        invalid: 0,
        first_invalid: None,
        passed: BTreeSet::new(),
        best: document,
    };
    let mut finished = false;
    while !runner.exhausted() {
        let round_start = runner.best.clone();
        for kind in [
            |part: &Part| matches!(part, Part::Agent(_)),
            |part: &Part| matches!(part, Part::Job(_)),
            |part: &Part| matches!(part, Part::Entry(_)),
            |part: &Part| matches!(part, Part::Expectation(_)),
        ] {
            let parts: Vec<Part> = runner.best.parts().into_iter().filter(kind).collect();
            ddmin::remove_parts(&mut runner, parts);
        }
        simplify::pass(&mut runner);
        // A round that changed nothing, and was not cut short, is the
        // fixpoint.
        if runner.best == round_start && !runner.exhausted() {
            finished = true;
            break;
        }
    }

    let (mut document, invalid) = (runner.best.clone(), runner.invalid);
    let first_invalid = runner.first_invalid.clone();
    let runs = runner.runs;
    document.set_name(format!("{original_name} (shrunk)"));
    let body = document.to_toml();
    let scenario = scenario::parse(&body, "the shrunk world")
        .expect("the shrinker only keeps candidates that validate");
    let report = run_checked(&scenario, seed, false);
    let reproduced = failure.found_in(&report).is_some();
    let message = failure.found_in(&report).map_or_else(
        || "(the final check did not reproduce it: a determinism problem)".to_owned(),
        |verdict| verdict.detail.clone(),
    );
    let after = document.size();
    let outcome_runs = runs + 2;
    let header = header(
        &failure,
        &message,
        &options.origin,
        seed,
        outcome_runs,
        options.max_runs,
        finished,
        before,
        after,
    );
    Ok(ShrinkOutcome {
        failure,
        message,
        seed,
        before,
        after,
        runs: outcome_runs,
        max_runs: options.max_runs,
        invalid,
        first_invalid,
        finished,
        document,
        text: format!("{header}{body}"),
        report,
        reproduced,
    })
}

/// The comment block at the top of a shrunk file.
#[allow(clippy::too_many_arguments)]
fn header(
    failure: &Failure,
    message: &str,
    origin: &str,
    seed: u64,
    runs: u64,
    max_runs: u64,
    finished: bool,
    before: Size,
    after: Size,
) -> String {
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    let mut message = one_line(message);
    if message.len() > 300 {
        message.truncate(message.floor_char_boundary(300));
        message.push('…');
    }
    format!(
        "# Shrunk by `harpoon-sim shrink` from {origin} (seed {seed}).\n\
         # Reproduces: {failure}\n\
         #   {message}\n\
         # The shrink took {runs} runs (limit {max_runs}){how}: {before} → {after}.\n\
         # Replay: harpoon-sim run <this file> --trace\n\n",
        origin = one_line(origin),
        failure = one_line(&failure.to_string()),
        how = if finished {
            ", to a fixpoint"
        } else {
            ", and stopped at the limit"
        },
    )
}

/// Runs candidates against the failure being kept, within the budget.
pub(crate) struct Runner<'f> {
    failure: &'f Failure,
    seed: u64,
    max_runs: u64,
    runs: u64,
    invalid: u64,
    first_invalid: Option<String>,
    /// Hashes of candidates' text that did not fail the same way (or did
    /// not validate): not tried again.
    passed: BTreeSet<u64>,
    /// The smallest world so far that fails the same way.
    pub(crate) best: Document,
}

impl Runner<'_> {
    /// Whether the budget is spent.
    pub(crate) fn exhausted(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Runs `candidate`; when it fails the same way it becomes the best
    /// world so far and this returns true.
    pub(crate) fn try_candidate(&mut self, candidate: Document) -> bool {
        if self.exhausted() || candidate == self.best {
            return false;
        }
        let text = candidate.to_toml();
        let mut hash = Fnv1a::default();
        hash.write(text.as_bytes());
        let key = hash.finish();
        if self.passed.contains(&key) {
            return false;
        }
        let scenario = match scenario::parse(&text, "a shrink candidate") {
            Ok(scenario) => scenario,
            Err(error) => {
                self.invalid += 1;
                self.first_invalid.get_or_insert_with(|| error.to_string());
                self.passed.insert(key);
                return false;
            }
        };
        // A candidate without the expectation being kept cannot fail it.
        if self.failure.is_expectation()
            && !scenario
                .expectations
                .iter()
                .any(|expectation| expectation.kind.to_string() == self.failure.what)
        {
            self.passed.insert(key);
            return false;
        }
        let report = if self.failure.is_determinism() {
            self.runs += 2;
            run_checked(&scenario, self.seed, false)
        } else {
            self.runs += 1;
            run_caught(
                &scenario,
                RunOptions {
                    seed: self.seed,
                    keep_trace: false,
                },
            )
        };
        if self.failure.found_in(&report).is_some() {
            self.best = candidate;
            true
        } else {
            self.passed.insert(key);
            false
        }
    }
}

#[cfg(test)]
mod tests;
