//! `harpoon-sim`: run a scenario, check a folder of them, or swarm over
//! generated worlds. See `sim/SIM.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Parser, Subcommand};
use harpoon_sim::shrink::{self, ShrinkOptions};
use harpoon_sim::swarm::{self, SeedOutcome, reproduce_command};
use harpoon_sim::{replay, run_checked, scenario, timeline_chart};

/// Deterministic simulator of the harpoon scheduler.
#[derive(Parser)]
#[command(name = "harpoon-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario file; exit 0 only when every expectation and
    /// invariant held.
    Run {
        /// The scenario file.
        file: PathBuf,
        /// Seed of the run (default: the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Print the trace, one line per event (routine lines left out).
        #[arg(long)]
        trace: bool,
        /// With --trace: print routine lines too (keep-alives, ticks).
        #[arg(long)]
        trace_all: bool,
        /// Also write the run's timeline, one self-contained HTML file.
        #[arg(long, value_name = "OUT.html")]
        timeline: Option<PathBuf>,
    },
    /// Run every scenario in a folder and print a table of results.
    Check {
        /// The folder (default: scenarios/).
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
    },
    /// Generate worlds from seeds, run them with every invariant and
    /// convergence checked, and print each failing seed.
    Swarm {
        /// How many seeds.
        #[arg(long)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Print each seed's world, trace and verdicts (use with few seeds).
        #[arg(long)]
        trace: bool,
        /// Write each failing world as a scenario file into this folder.
        #[arg(long)]
        save: Option<PathBuf>,
        /// Threads to run on (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Shrink each failing world to a minimal scenario file,
        /// `swarm-SEED.min.toml` in the --save folder (default: the current
        /// folder).
        #[arg(long)]
        shrink: bool,
        /// With --shrink: the run budget of each shrink.
        #[arg(long, default_value_t = shrink::DEFAULT_MAX_RUNS)]
        max_runs: u64,
        /// List every transition-table row and timer reason the seeds did
        /// not reach, and how often each reached one was taken (the
        /// summary line is printed either way).
        #[arg(long)]
        coverage: bool,
    },
    /// Replay what `harpoon-scheduler --record DIR` recorded on the same
    /// core and check every decision; exit 0 only when all matched.
    Replay {
        /// The recording's directory.
        dir: PathBuf,
        /// Begin at this file of the directory (default: the oldest kept).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// Print each input and the core's decisions, as a simulated run's
        /// trace (routine lines left out).
        #[arg(long)]
        trace: bool,
        /// With --trace: print routine lines too (keep-alives, time).
        #[arg(long)]
        trace_all: bool,
        /// Instead of checking, write the recorded world as a scenario file.
        #[arg(long, value_name = "FILE")]
        to_scenario: Option<PathBuf>,
    },
    /// Reduce a failing world (a scenario file, or a swarm seed's world) to
    /// a minimal scenario file that fails the same way.
    Shrink {
        /// The scenario file (or use --swarm-seed).
        #[arg(required_unless_present = "swarm_seed", conflicts_with = "swarm_seed")]
        file: Option<PathBuf>,
        /// Shrink the world the swarm generates from this seed.
        #[arg(long)]
        swarm_seed: Option<u64>,
        /// Seed of the runs (default: the file's `seed`).
        #[arg(long, conflicts_with = "swarm_seed")]
        seed: Option<u64>,
        /// Where to write the result (default: NAME.min.toml beside FILE,
        /// or swarm-SEED.min.toml in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stop after this many simulated runs.
        #[arg(long, default_value_t = shrink::DEFAULT_MAX_RUNS)]
        max_runs: u64,
        /// Also write the shrunk world's timeline, one HTML file.
        #[arg(long, value_name = "OUT.html")]
        timeline: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            seed,
            trace,
            trace_all,
            timeline,
        } => run(
            &file,
            seed,
            trace || trace_all,
            trace_all,
            timeline.as_deref(),
        ),
        Command::Check { dir } => check(&dir),
        Command::Swarm {
            seeds,
            start,
            trace,
            save,
            threads,
            shrink,
            max_runs,
            coverage,
        } => {
            let shrink = shrink.then_some(max_runs);
            swarm_command(
                seeds,
                start,
                trace,
                save.as_deref(),
                threads,
                shrink,
                coverage,
            )
        }
        Command::Shrink {
            file,
            swarm_seed,
            seed,
            out,
            max_runs,
            timeline,
        } => shrink_command(
            file.as_deref(),
            swarm_seed,
            seed,
            out,
            max_runs,
            timeline.as_deref(),
        ),
        Command::Replay {
            dir,
            from,
            trace,
            trace_all,
            to_scenario,
        } => replay_command(
            &dir,
            from,
            trace || trace_all,
            trace_all,
            to_scenario.as_deref(),
        ),
    }
}

/// `harpoon-sim replay`: exit 0 when every input matched (or the scenario
/// was written), 1 on a divergence, 2 on bad input or output.
fn replay_command(
    dir: &Path,
    from: Option<PathBuf>,
    trace: bool,
    trace_all: bool,
    to_scenario: Option<&Path>,
) -> ExitCode {
    let recording = match replay::load(dir) {
        Ok(recording) => recording,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(out) = to_scenario {
        let text = match replay::to_scenario::to_scenario(&recording, &dir.display().to_string()) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        };
        if let Err(error) = scenario::parse(&text, &out.display().to_string()) {
            eprintln!("error: the scenario written from the recording does not parse: {error}");
            return ExitCode::from(2);
        }
        if let Err(error) = std::fs::write(out, &text) {
            eprintln!("error: cannot write {}: {error}", out.display());
            return ExitCode::from(2);
        }
        println!("written: {}", out.display());
        println!("run it: harpoon-sim run {}", out.display());
        return ExitCode::SUCCESS;
    }
    let options = replay::ReplayOptions { from, trace };
    let report = match replay::replay(&recording, &options) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if trace {
        for line in &report.trace {
            if trace_all || !line.quiet {
                println!("{}", line.text);
            }
        }
    }
    println!("replay of {}", dir.display());
    print!("{}", report.render());
    if report.matched_all() {
        println!("MATCH");
        ExitCode::SUCCESS
    } else {
        println!("DIVERGED");
        ExitCode::FAILURE
    }
}

/// `harpoon-sim shrink`: exit 0 when a shrunk file was written, 1 when the
/// world does not fail (nothing to shrink) or the written one did not fail
/// again, 2 on bad input or output.
fn shrink_command(
    file: Option<&Path>,
    swarm_seed: Option<u64>,
    seed: Option<u64>,
    out: Option<PathBuf>,
    max_runs: u64,
    timeline: Option<&Path>,
) -> ExitCode {
    let (source, origin, default_out) = match (file, swarm_seed) {
        (_, Some(swarm_seed)) => (
            swarm::generate(swarm_seed),
            format!("swarm seed {swarm_seed}"),
            PathBuf::from(format!("swarm-{swarm_seed}.min.toml")),
        ),
        (Some(file), None) => match std::fs::read_to_string(file) {
            Ok(source) => (source, file.display().to_string(), beside(file)),
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", file.display());
                return ExitCode::from(2);
            }
        },
        (None, None) => unreachable!("clap requires FILE or --swarm-seed"),
    };
    let options = ShrinkOptions {
        max_runs,
        seed,
        origin,
    };
    let out = out.unwrap_or(default_out);
    if let Err(code) = shrink_and_write(&source, &options, &out) {
        return code;
    }
    match timeline {
        Some(timeline) => shrunk_timeline(&out, seed, timeline),
        None => ExitCode::SUCCESS,
    }
}

/// Writes the timeline of the shrunk world written to `shrunk`.
fn shrunk_timeline(shrunk: &Path, seed: Option<u64>, out: &Path) -> ExitCode {
    let scenario = match scenario::load(shrunk) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(scenario.seed);
    match timeline_chart::write_timeline(&scenario, seed, out) {
        Ok(_) => {
            println!("  timeline: {}", out.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// `dir/NAME.toml` → `dir/NAME.min.toml`.
fn beside(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "scenario".into(), |stem| stem.to_string_lossy());
    file.with_file_name(format!("{stem}.min.toml"))
}

/// Shrinks one world, writes the result to `out` and says how it went.
fn shrink_and_write(source: &str, options: &ShrinkOptions, out: &Path) -> Result<(), ExitCode> {
    let outcome = match shrink::shrink(source, options) {
        Ok(outcome) => outcome,
        Err(error @ shrink::ShrinkError::Passes { .. }) => {
            eprintln!("{}: {error}", options.origin);
            return Err(ExitCode::FAILURE);
        }
        Err(error) => {
            eprintln!("error: {error}");
            return Err(ExitCode::from(2));
        }
    };
    println!("  reproduces: {}: {}", outcome.failure, outcome.message);
    println!("  {}", outcome.summary());
    if outcome.invalid > 0 {
        println!(
            "  {} candidates did not validate and were skipped (the first: {})",
            outcome.invalid,
            outcome.first_invalid.as_deref().unwrap_or("?")
        );
    }
    if let Some(dir) = out.parent().filter(|dir| !dir.as_os_str().is_empty())
        && let Err(error) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: cannot create {}: {error}", dir.display());
        return Err(ExitCode::from(2));
    }
    if let Err(error) = std::fs::write(out, &outcome.text) {
        eprintln!("error: cannot write {}: {error}", out.display());
        return Err(ExitCode::from(2));
    }
    println!("  written: {}", out.display());
    println!("  replay: harpoon-sim run {} --trace", out.display());
    if !outcome.reproduced {
        eprintln!(
            "error: run again, the written world did not fail the same way: \
             the simulator is not deterministic here"
        );
        return Err(ExitCode::FAILURE);
    }
    Ok(())
}

fn run(
    file: &Path,
    seed: Option<u64>,
    trace: bool,
    trace_all: bool,
    timeline: Option<&Path>,
) -> ExitCode {
    let scenario = match scenario::load(file) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(scenario.seed);
    let report = run_checked(&scenario, seed, trace);
    if trace {
        print!("{}", report.trace_text(trace_all));
    }
    println!(
        "scenario {:?} ({}, seed {seed})",
        scenario.name,
        file.display()
    );
    print!("{}", report.render());
    if let Some(out) = timeline {
        match timeline_chart::write_timeline(&scenario, seed, out) {
            Ok(_) => println!("timeline: {}", out.display()),
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(2);
            }
        }
    }
    if report.passed() {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!(
            "FAIL; reproduce with: harpoon-sim run {} --seed {seed} --trace",
            file.display()
        );
        ExitCode::FAILURE
    }
}

fn check(dir: &Path) -> ExitCode {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect(),
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", dir.display());
            return ExitCode::from(2);
        }
    };
    files.sort();
    let mut failed = 0;
    println!(
        "{:<6} {:<44} {:<18} scenario",
        "result", "file", "trace hash"
    );
    for file in &files {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match scenario::load(file) {
            Err(error) => {
                failed += 1;
                println!("{:<6} {name:<44} {:<18} {error}", "ERROR", "-");
            }
            Ok(scenario) => {
                let report = run_checked(&scenario, scenario.seed, false);
                let result = if report.passed() { "pass" } else { "FAIL" };
                println!(
                    "{result:<6} {name:<44} {:016x}   {}",
                    report.trace_hash, scenario.name
                );
                if !report.passed() {
                    failed += 1;
                    for verdict in report.failures() {
                        println!("         {}: {}", verdict.what, verdict.detail);
                    }
                    println!(
                        "         reproduce: harpoon-sim run {} --seed {} --trace",
                        file.display(),
                        scenario.seed
                    );
                }
            }
        }
    }
    println!("{} scenarios, {failed} failed", files.len());
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn swarm_command(
    seeds: u64,
    start: u64,
    trace: bool,
    save: Option<&Path>,
    threads: Option<usize>,
    shrink_runs: Option<u64>,
    list_coverage: bool,
) -> ExitCode {
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    let progress = progress::Progress::new(seeds);
    let outcomes = swarm::run_seeds(start, seeds, threads, trace, &|outcome: &SeedOutcome| {
        progress.seed_done(outcome.report.passed());
    });
    progress.finish();
    let mut failing = 0;
    let mut coverage = harpoon_core::Coverage::default();
    for outcome in &outcomes {
        coverage.merge(&outcome.report.coverage);
        if trace {
            println!("== seed {}: world\n{}", outcome.seed, outcome.world);
            println!("== seed {}: trace", outcome.seed);
            print!("{}", outcome.report.trace_text(false));
            println!("== seed {}: verdicts", outcome.seed);
            print!("{}", outcome.report.render());
        }
        if outcome.report.passed() {
            continue;
        }
        failing += 1;
        let first = outcome
            .report
            .failures()
            .next()
            .map_or_else(String::new, |verdict| {
                format!("{}: {}", verdict.what, verdict.detail)
            });
        println!("seed {} FAILED: {first}", outcome.seed);
        println!("  reproduce: {}", reproduce_command(outcome.seed));
        if let Some(dir) = save {
            let path = dir.join(format!("swarm-seed-{}.toml", outcome.seed));
            let written =
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &outcome.world));
            match written {
                Ok(()) => println!("  saved: {}", path.display()),
                Err(error) => eprintln!("error: cannot write {}: {error}", path.display()),
            }
        }
        if let Some(max_runs) = shrink_runs {
            let options = ShrinkOptions {
                max_runs,
                seed: None,
                origin: format!("swarm seed {}", outcome.seed),
            };
            let out = save
                .unwrap_or(Path::new(""))
                .join(format!("swarm-{}.min.toml", outcome.seed));
            // A failure to shrink one seed is reported and the next goes on.
            let _ = shrink_and_write(&outcome.world, &options, &out);
        }
    }
    print!(
        "{}",
        harpoon_sim::coverage::render(&coverage, list_coverage)
    );
    println!(
        "swarm: {seeds} seeds from {start}, {failing} failing{}",
        progress.rate_summary()
    );
    if failing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The swarm's progress display and throughput figure.
///
/// This is the one place that reads the wall clock: to show seeds per
/// minute to a person. Nothing here reaches a simulated output: runs take
/// their time from the event queue and report only through their own
/// outcomes, which this module merely counts.
mod progress {
    #![allow(clippy::disallowed_types, clippy::disallowed_methods)]

    use std::io::IsTerminal as _;

    use super::{AtomicU64, Ordering};

    pub struct Progress {
        total: u64,
        done: AtomicU64,
        failed: AtomicU64,
        started: std::time::Instant,
        show: bool,
    }

    impl Progress {
        pub fn new(total: u64) -> Progress {
            Progress {
                total,
                done: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                started: std::time::Instant::now(),
                show: std::io::stderr().is_terminal(),
            }
        }

        pub fn seed_done(&self, passed: bool) {
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            if !passed {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            if self.show {
                eprint!(
                    "\r{done}/{} seeds, {} failing, {:.0} seeds/minute   ",
                    self.total,
                    self.failed.load(Ordering::Relaxed),
                    self.per_minute(done)
                );
            }
        }

        pub fn finish(&self) {
            if self.show {
                eprintln!();
            }
        }

        fn per_minute(&self, done: u64) -> f64 {
            let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
            done as f64 * 60.0 / seconds
        }

        pub fn rate_summary(&self) -> String {
            let done = self.done.load(Ordering::Relaxed);
            format!(
                " ({:.0} seeds/minute over {:.1}s)",
                self.per_minute(done),
                self.started.elapsed().as_secs_f64()
            )
        }
    }
}
