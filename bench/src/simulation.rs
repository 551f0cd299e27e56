//! Part 5, simulation speed: simulated seconds per wall second of the
//! deterministic simulator (`harpoon-sim`) on generated worlds, the real
//! core included.
//!
//! Each world is written as a scenario file and run through the
//! simulator's own parser and run loop (`harpoon_sim::run`), as
//! `harpoon-sim run` does: the figure is what a person waits for. Every
//! world ends with timed expectations that every task runs, so a run that
//! went wrong (and may therefore have been quick for the wrong reason) is
//! flagged in the table instead of being counted as fast.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use harpoon_sim::{RunOptions, RunReport, scenario};

use crate::Size;
use crate::report::{Table, count, human};

/// Each world runs again until it has run this often, or for long enough.
const MAX_REPEATS: usize = 15;

/// One generated world.
#[derive(Clone, Copy, Debug)]
struct WorldShape {
    /// Simulated agents.
    agents: usize,
    /// Jobs; every job has the same scale.
    jobs: usize,
    /// Tasks of each job.
    scale: usize,
    /// Whether the timeline holds faults (crashes, partitions, a wipe,
    /// failing starts, a scheduler crash) and the network loses messages.
    faults: bool,
    /// Simulated time, in seconds.
    duration_secs: u64,
}

impl WorldShape {
    fn tasks(self) -> usize {
        self.jobs * self.scale
    }
}

/// Runs this part.
pub fn run(size: Size) -> Table {
    let worlds = [
        (
            "(a) with faults",
            WorldShape {
                agents: size.pick(100, 10),
                jobs: 10,
                scale: size.pick(100, 10),
                faults: true,
                duration_secs: size.pick(600, 300),
            },
            1_000.0,
        ),
        (
            "(b) no faults",
            WorldShape {
                agents: size.pick(1_000, 100),
                jobs: 10,
                scale: size.pick(1_000, 100),
                faults: false,
                duration_secs: size.pick(600, 300),
            },
            100.0,
        ),
    ];
    let repeat_for = size.pick(Duration::from_secs(2), Duration::from_millis(100));
    let mut table = Table::new("5. Simulation speed (simulated seconds per wall second)");
    for (label, shape, goal) in worlds {
        let text = scenario_text(shape);
        let scenario = scenario::parse(&text, label)
            .unwrap_or_else(|error| panic!("the bench wrote an invalid scenario: {error}\n{text}"));
        // The same seed gives the same run, so repeating it only repeats
        // the measurement: the median of the repeats resists a noisy
        // neighbour on the machine better than one run does.
        let mut walls = Vec::new();
        let mut total = Duration::ZERO;
        let report = loop {
            let started = Instant::now();
            let report = harpoon_sim::run(
                &scenario,
                RunOptions {
                    seed: 1,
                    keep_trace: false,
                },
            );
            let wall = started.elapsed();
            walls.push(wall.as_secs_f64());
            total += wall;
            if total >= repeat_for || walls.len() >= MAX_REPEATS {
                break report;
            }
        };
        walls.sort_by(f64::total_cmp);
        let wall_secs = walls[walls.len() / 2];
        let speed = shape.duration_secs as f64 / wall_secs;
        let held = report.passed();
        table.row(
            format!(
                "{label}: {} agents, {} tasks, {} s simulated",
                count(shape.agents as u64),
                count(shape.tasks() as u64),
                shape.duration_secs
            ),
            speed,
            Some(1.0),
            "×",
            Some((format!("≥ {}×", human(goal)), held && speed >= goal)),
        );
        table
            .notes
            .push(describe_run(label, wall_secs, walls.len(), &report));
    }
    table.notes.push(
        "Baseline: real time (1 simulated second per wall second), so the ratio is the \
         speed-up, from the median of repeated runs of each world (seed 1, trace hashed but \
         not kept, every invariant checked after every step); a goal counts as met only if \
         the run's expectations (every task running at the end) and invariants all held. \
         Each world schedules its ten jobs in the first 20 s (the rollout, where the core \
         works hardest) and then runs on; (a) adds, from 60 s to 250 s, crashes past the \
         abandon timeout, partitions, stream drops, failing starts and a wipe, each on a \
         twentieth of the agents (at least one), a scheduler crash, 1% message loss and \
         random stream breaks."
            .to_owned(),
    );
    table
}

/// One line about a world's runs: median wall time, steps, commands and
/// the verdicts of its last run.
fn describe_run(label: &str, wall_secs: f64, runs: usize, report: &RunReport) -> String {
    let mut note = format!(
        "{label}: median {wall_secs:.3} s wall of {runs} run{}, {} steps ({} steps/s), {} agent \
         commands, {} trace lines",
        if runs == 1 { "" } else { "s" },
        count(report.steps),
        human(report.steps as f64 / wall_secs),
        count(report.commands_issued),
        count(report.trace_lines),
    );
    let failures: Vec<String> = report
        .failures()
        .map(|verdict| format!("{}: {}", verdict.what, verdict.detail))
        .collect();
    if failures.is_empty() {
        note.push_str("; every expectation and invariant held.");
    } else {
        let _ = write!(note, "; FAILED: {}.", failures.join("; "));
    }
    note
}

/// The world as a scenario file (`shared/scenario-format.md`).
fn scenario_text(shape: WorldShape) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "name = \"bench: {} agents, {} tasks{}\"\nseed = 1\nduration = \"{}s\"",
        shape.agents,
        shape.tasks(),
        if shape.faults { ", faults" } else { "" },
        shape.duration_secs
    );
    let _ = writeln!(text, "\n[scheduler]\nalgorithm = \"least-used\"");
    let (drop, stream_drop) = if shape.faults {
        (0.01, 0.001)
    } else {
        (0.0, 0.0)
    };
    let _ = writeln!(
        text,
        "\n[network]\nlatency = \"1ms..20ms\"\ndrop = {drop}\nstream_drop = {stream_drop}"
    );
    // Agents have room for about three times the tasks, so that the tasks
    // of crashed or wiped agents always fit elsewhere.
    let tasks_per_agent = shape.tasks().div_ceil(shape.agents) as u64;
    let cpu = (tasks_per_agent * 3).max(4) as f64 * 0.1;
    let mem = (tasks_per_agent * 3).max(4) * 64;
    let _ = writeln!(
        text,
        "\n[[agent]]\nname = \"a\"\ncount = {}\ncpu = {cpu:.1}\nmem = {mem}\nstart_delay = \"100ms..2s\"",
        shape.agents
    );
    for job in 0..shape.jobs {
        let _ = writeln!(
            text,
            "\n[[job]]\nname = \"j{job}\"\nscale = {}\ncpu = 0.1\nmem = 64\nrestart = \"always\"\nbehaviour = \"runs\"",
            shape.scale
        );
    }
    let mut timeline: Vec<(u64, String)> = (0..shape.jobs)
        .map(|job| (job as u64 * 2, format!("schedule = \"j{job}\"")))
        .collect();
    if shape.faults {
        timeline.extend(faults(shape.agents));
    }
    timeline.sort_by_key(|(at, _)| *at);
    for (at, action) in &timeline {
        let _ = writeln!(text, "\n[[at]]\ntime = \"{at}s\"\n{action}");
    }
    // The faults end by 250 s; every task must run again by the end.
    for job in 0..shape.jobs {
        let _ = writeln!(
            text,
            "\n[[expect]]\ntime = \"{}s\"\nrunning = {{ job = \"j{job}\", count = {} }}",
            shape.duration_secs, shape.scale
        );
    }
    text
}

/// A fixed mix of every fault kind over a twentieth of the agents each,
/// between 60 s and 250 s; agent `a0` is left alone.
fn faults(agents: usize) -> Vec<(u64, String)> {
    let share = (agents / 20).max(1);
    let agent =
        |group: usize, index: usize| format!("a{}", 1 + (group * share + index) % (agents - 1));
    let mut timeline = Vec::new();
    for index in 0..share {
        // Down for longer than the abandon timeout: tasks move, and come
        // back as duplicates when the agent returns.
        let crashed = agent(0, index);
        timeline.push((60, format!("crash = \"{crashed}\"")));
        timeline.push((100, format!("restart = \"{crashed}\"")));
        let partitioned = agent(1, index);
        timeline.push((80, format!("partition = [\"{partitioned}\"]")));
        timeline.push((95, format!("heal = [\"{partitioned}\"]")));
        timeline.push((110, format!("drop_stream = \"{}\"", agent(2, index))));
        timeline.push((
            120,
            format!(
                "fail_starts = {{ agent = \"{}\", for = \"30s\" }}",
                agent(3, index)
            ),
        ));
        let wiped = agent(4, index);
        timeline.push((130, format!("crash = \"{wiped}\"")));
        timeline.push((160, format!("wipe = \"{wiped}\"")));
    }
    timeline.push((200, "scheduler_crash = { down = \"10s\" }".to_owned()));
    timeline.push((250, "drop_stream = \"a0\"".to_owned()));
    timeline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_worlds_are_valid_scenarios() {
        for faults in [false, true] {
            for agents in [2, 10, 100] {
                let shape = WorldShape {
                    agents,
                    jobs: 3,
                    scale: 5,
                    faults,
                    duration_secs: 300,
                };
                let text = scenario_text(shape);
                if let Err(error) = scenario::parse(&text, "test") {
                    panic!("{error}\n{text}");
                }
            }
        }
    }
}
