//! A picture of one simulated run: one self-contained HTML file with an
//! SVG timeline (`harpoon-sim run FILE --timeline OUT.html`).
//!
//! - `recording`: what the chart shows, recorded as the run runs (the
//!   world calls [`World::record_step`](crate::world) after every step of
//!   a recorded run) and from the scenario's timeline.
//! - `layout`: every shape's position, computed from times.
//! - `html`: the HTML and SVG.
//!
//! A recorded run is the same run as an unrecorded one, event for event:
//! recording only reads the world.

mod html;
mod layout;
mod recording;

pub use html::render;
pub use layout::{Layout, Shape, layout, x_of};
pub(crate) use recording::Recorder;
pub use recording::{
    Band, BarStatus, ContainerLife, FaultKind, FaultSpan, Marker, Recording, Segment,
};

use crate::scenario::Scenario;
use crate::world::{RunOptions, run_recorded};

/// Runs `scenario` with `seed`, recording it, and writes its chart to
/// `out`; returns the run's report. This is the one entry point the
/// commands (`run`, `shrink`, and `replay` to come) call.
pub fn write_timeline(
    scenario: &Scenario,
    seed: u64,
    out: &std::path::Path,
) -> Result<crate::RunReport, TimelineError> {
    let options = RunOptions {
        seed,
        keep_trace: false,
    };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_recorded(scenario, options)
    }));
    let (report, recording) = run.map_err(|_| TimelineError::Assertion)?;
    std::fs::write(out, render(&recording)).map_err(|source| TimelineError::Write {
        path: out.display().to_string(),
        source,
    })?;
    Ok(report)
}

/// Why no chart was written.
#[derive(Debug)]
pub enum TimelineError {
    /// An assertion of the core or the simulator ended the run.
    Assertion,
    /// The file could not be written.
    Write {
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Display for TimelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimelineError::Assertion => f.write_str(
                "an assertion ended the run, so there is no timeline; run it with --trace",
            ),
            TimelineError::Write { path, source } => write!(f, "cannot write {path}: {source}"),
        }
    }
}

impl std::error::Error for TimelineError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::run;
    use harpoon_core::Instant;

    fn scenario(source: &str) -> Scenario {
        crate::scenario::parse(source, "test").expect("the scenario parses")
    }

    #[test]
    fn a_recorded_run_is_the_same_run_and_records_bars_faults_and_actions() {
        let scenario = scenario(include_str!(
            "../../../scenarios/10-agent-crash-past-abandon.toml"
        ));
        let options = RunOptions {
            seed: scenario.seed,
            keep_trace: false,
        };
        let plain = run(&scenario, options);
        let (recorded, recording) = run_recorded(&scenario, options);
        assert_eq!(
            plain.trace_hash, recorded.trace_hash,
            "recording only reads"
        );
        assert_eq!(plain.verdicts, recorded.verdicts);
        assert_eq!(recording.agents, ["a0", "a1"]);
        assert_eq!(recording.end, Instant::from_millis(240_000));
        let crash = &recording.faults[0];
        assert_eq!(
            (crash.agent.as_str(), crash.kind, crash.from, crash.to),
            (
                "a0",
                FaultKind::Crash,
                Instant::from_millis(30_000),
                Instant::from_millis(120_000)
            )
        );
        assert_eq!(recording.actions.len(), 1, "schedule web");
        // Two tasks on a0 and two on a1 from the start, then a0's two
        // placed again on a1 after the abandon timeout and removed once a0
        // is back: six lives, each running at some point.
        assert_eq!(recording.lives.len(), 6);
        assert!(recording.lives.iter().all(|life| {
            life.segments
                .iter()
                .any(|segment| segment.status == BarStatus::Running)
        }));
        assert_eq!(
            recording.lives.iter().filter(|life| life.removed).count(),
            2
        );
        assert!(recording.failures.is_empty());
    }

    #[test]
    fn a_failed_expectation_and_a_scheduler_crash_are_marked_at_their_moments() {
        let scenario = scenario(
            r#"
name = "fails on purpose"
seed = 1
duration = "1m"

[[agent]]
name = "a0"
cpu = 4.0
mem = 4096

[[job]]
name = "web"
scale = 1
cpu = 0.5
mem = 64

[[at]]
time = "0s"
schedule = "web"

[[at]]
time = "20s"
scheduler_crash = { down = "10s" }

[[expect]]
time = "40s"
running = { job = "web", count = 3 }
"#,
        );
        let options = RunOptions {
            seed: 1,
            keep_trace: false,
        };
        let (report, recording) = run_recorded(&scenario, options);
        assert!(!report.passed());
        assert_eq!(recording.failures.len(), 1, "{:?}", recording.failures);
        assert_eq!(recording.failures[0].at, Instant::from_millis(40_000));
        assert!(recording.failures[0].label.contains("line"));
        let down = &recording.bands[0];
        assert!(down.scheduler_down);
        assert_eq!(down.from, Instant::from_millis(20_000));
        assert_eq!(down.to, Instant::from_millis(30_000));
    }
}
