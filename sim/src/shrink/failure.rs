//! What "fails the same way" means: the same invariant or expectation is
//! broken, and for a convergence failure the same kind of divergence is
//! left at the end.
//!
//! The kind matters for convergence: a world that stops converging because
//! the shrinker removed the `restart` that ended a crash fails
//! `converged_within` too, but it is not the bug being shrunk.

use crate::invariants::Invariant;
use crate::report::{RunReport, Verdict};

/// A failure a shrink must keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The verdict's `what`: `invariant: …`, or the expectation as written
    /// (the shrinker never edits the expectation it keeps).
    pub what: String,
    /// The verdict's `cause`, when it has one.
    pub cause: Option<&'static str>,
}

impl Failure {
    /// The failure of `report` that a shrink keeps: the first broken
    /// invariant (invariants are the more specific verdict: a broken one
    /// often makes convergence fail as well), else the first broken
    /// expectation; with the verdict's detail.
    pub fn target(report: &RunReport) -> Option<(Failure, String)> {
        let invariant = report.failures().find(|verdict| verdict.line.is_none());
        let verdict = invariant.or_else(|| report.failures().next())?;
        Some((Failure::of(verdict), verdict.detail.clone()))
    }

    fn of(verdict: &Verdict) -> Failure {
        Failure {
            what: verdict.what.clone(),
            cause: verdict.cause,
        }
    }

    /// The verdict of `report` that fails this way, if one does.
    pub fn found_in<'r>(&self, report: &'r RunReport) -> Option<&'r Verdict> {
        report
            .failures()
            .find(|verdict| verdict.what == self.what && verdict.cause == self.cause)
    }

    /// Whether this is the determinism invariant, which only a pair of runs
    /// can break.
    pub fn is_determinism(&self) -> bool {
        self.what == format!("invariant: {}", Invariant::Determinism.describe())
    }

    /// Whether this is an expectation (rather than an invariant).
    pub fn is_expectation(&self) -> bool {
        !self.what.starts_with("invariant: ")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)?;
        if let Some(cause) = self.cause {
            write!(f, " ({cause})")?;
        }
        Ok(())
    }
}
