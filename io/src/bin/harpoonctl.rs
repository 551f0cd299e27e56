//! `harpoonctl`: the command-line client of the harpoon scheduler.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use harpoon_core::wire::WireDuration;
use harpoon_io::ctl::{Client, CtlError};

/// Talks to a harpoon scheduler.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The scheduler's URL.
    #[arg(
        long,
        env = "HARPOON_SCHEDULER",
        default_value = "http://127.0.0.1:4444",
        global = true
    )]
    scheduler: String,
    /// Bearer token, if the scheduler requires one.
    #[arg(long, env = "HARPOON_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Schedule the job in FILE (a JSON job config).
    Schedule {
        /// The job file.
        file: PathBuf,
        /// Only if the registry is still at this index (the one `plan`
        /// printed); else the scheduler refuses with 409 and the index now.
        #[arg(long)]
        index: Option<u64>,
    },
    /// Unschedule a job, given its file or its hash.
    Unschedule {
        /// A job file, or a job hash such as web-9c83741.
        target: String,
        /// Only if the registry is still at this index (see `schedule`).
        #[arg(long)]
        index: Option<u64>,
    },
    /// Show what scheduling the job in FILE would do, changing nothing:
    /// where each task would go or why it cannot, and the registry index
    /// to apply it at (`schedule FILE --index N`).
    Plan {
        /// The job file.
        file: PathBuf,
        /// Plan unscheduling the job instead: what would be stopped and
        /// removed.
        #[arg(long)]
        unschedule: bool,
    },
    /// Show where each task of a job is and why: its instances, what is
    /// pending, and for a task no agent can take, the agents evaluated,
    /// how many each constraint ruled out and the closest one.
    Why {
        /// A job name (every job of that name) or a job hash.
        target: String,
    },
    /// List every container: agent, container, job, status, cpu, mem.
    Ps,
    /// List the desired jobs.
    Registry,
    /// List agents with resources used / total.
    Agents,
    /// Replace the job in FROM by the one in TO: schedule TO, wait until
    /// all its tasks run, then unschedule FROM. If TO's tasks do not all
    /// run in time, TO is unscheduled again and FROM left as it was.
    Migrate {
        /// The job scheduled now.
        from: PathBuf,
        /// The job that replaces it (the same job name).
        to: PathBuf,
        /// How long TO's tasks may take to run, e.g. 30s (default: twice
        /// TO's grace.startup, as the original harpoonctl).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
    },
}

/// A duration in Go's syntax, as on the wire (`250ms`, `30s`, `1m30s`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<WireDuration>()
        .map(|duration| Duration::from_nanos(duration.as_nanos()))
        .map_err(|error| error.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let client = Client::new(&args.scheduler, args.token.clone());
    let result: Result<String, CtlError> = match &args.command {
        Command::Schedule { file, index } => client.schedule(file, *index),
        Command::Unschedule { target, index } => client.unschedule(target, *index),
        Command::Plan { file, unschedule } => client.plan(file, *unschedule),
        Command::Why { target } => client.why(target),
        Command::Ps => client.ps().map(|table| table.to_string()),
        Command::Registry => client.registry().map(|table| table.to_string()),
        Command::Agents => client.agents().map(|table| table.to_string()),
        Command::Migrate { from, to, timeout } => {
            client.migrate(from, to, *timeout, &mut |step| eprintln!("{step}"))
        }
    };
    match result {
        Ok(text) => {
            println!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("harpoonctl: {error}");
            ExitCode::FAILURE
        }
    }
}
