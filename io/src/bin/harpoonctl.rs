//! `harpoonctl`: the command-line client of the harpoon scheduler.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use harpoon_core::wire::WireDuration;
use harpoon_io::ctl::{Client, CtlError, RolloutOptions};

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
    /// to apply it at (`schedule FILE --index N`). With --migrate TO, the
    /// first step of a rollout from FILE to TO instead (`migrate FILE TO
    /// --index N`).
    Plan {
        /// The job file.
        file: PathBuf,
        /// Plan unscheduling the job instead: what would be stopped and
        /// removed.
        #[arg(long, conflicts_with = "migrate")]
        unschedule: bool,
        /// Plan a rollout from FILE to the job in this file: the new tasks
        /// its first step places, the old ones it stops, its bounds.
        #[arg(long, value_name = "TO")]
        migrate: Option<PathBuf>,
        /// As for `migrate` (with --migrate).
        #[arg(long, requires = "migrate")]
        max_surge: Option<u32>,
        /// As for `migrate` (with --migrate).
        #[arg(long, requires = "migrate")]
        max_unavailable: Option<u32>,
        /// As for `migrate` (with --migrate).
        #[arg(long, requires = "migrate", value_parser = check_duration)]
        min_healthy: Option<String>,
        /// As for `migrate` (with --migrate).
        #[arg(long, requires = "migrate", value_parser = check_duration)]
        progress_deadline: Option<String>,
        /// As for `migrate` (with --migrate).
        #[arg(long, requires = "migrate")]
        no_revert: bool,
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
    /// Replace the job in FROM by the one in TO with a rollout the
    /// scheduler carries out: task by task within the bounds, each new task
    /// healthy before an old one stops, reverted if it makes no progress.
    /// With --timeout, the original harpoonctl's client-side migration
    /// instead: schedule TO, wait until all its tasks run, then unschedule
    /// FROM (TO unscheduled again if they do not run in time).
    Migrate {
        /// The job scheduled now.
        from: PathBuf,
        /// The job that replaces it.
        to: PathBuf,
        /// At most this many tasks above the larger scale at once (default 1).
        #[arg(long)]
        max_surge: Option<u32>,
        /// At most this many tasks below the smaller scale not running
        /// (default 0).
        #[arg(long)]
        max_unavailable: Option<u32>,
        /// A new task is healthy once it ran this long without a restart
        /// (default 10s).
        #[arg(long, value_parser = check_duration)]
        min_healthy: Option<String>,
        /// The rollout fails after this long without progress (default 5m).
        #[arg(long, value_parser = check_duration)]
        progress_deadline: Option<String>,
        /// Leave a failed rollout as it is instead of reverting it.
        #[arg(long)]
        no_revert: bool,
        /// Follow the rollout to its end, a line per change; exit non-zero
        /// unless it succeeds.
        #[arg(long)]
        wait: bool,
        /// Only if the registry is still at this index (the one `plan FROM
        /// --migrate TO` printed); else 409 with the index now.
        #[arg(long)]
        index: Option<u64>,
        /// The original client-side migration, TO's tasks given this long
        /// to run, e.g. 30s.
        #[arg(long, value_parser = parse_duration, conflicts_with_all = ["max_surge", "max_unavailable", "min_healthy", "progress_deadline", "no_revert", "wait", "index"])]
        timeout: Option<Duration>,
    },
    /// List the rollouts: status, step, each side's tasks, and why one waits.
    Rollouts,
    /// Drain an agent: nothing new is placed there and its tasks move
    /// elsewhere, each replacement healthy before the original stops.
    Drain {
        /// The agent's URL, as discovery lists it.
        agent: String,
        /// Wait until the agent holds no task (at most --wait-timeout).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, value_parser = parse_duration, default_value = "10m")]
        wait_timeout: Duration,
    },
    /// End an agent's drain.
    Undrain {
        /// The agent's URL.
        agent: String,
    },
}

/// A duration in Go's syntax, checked here and sent as written.
fn check_duration(text: &str) -> Result<String, String> {
    parse_duration(text).map(|_| text.to_owned())
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
        Command::Plan {
            file,
            migrate: Some(to),
            max_surge,
            max_unavailable,
            min_healthy,
            progress_deadline,
            no_revert,
            ..
        } => {
            let options = RolloutOptions {
                max_surge: *max_surge,
                max_unavailable: *max_unavailable,
                min_healthy: min_healthy.clone(),
                progress_deadline: progress_deadline.clone(),
                no_revert: *no_revert,
            };
            client.plan_migrate(file, to, &options)
        }
        Command::Plan {
            file, unschedule, ..
        } => client.plan(file, *unschedule),
        Command::Why { target } => client.why(target),
        Command::Ps => client.ps().map(|table| table.to_string()),
        Command::Registry => client.registry().map(|table| table.to_string()),
        Command::Agents => client.agents().map(|table| table.to_string()),
        Command::Migrate {
            from,
            to,
            timeout: Some(timeout),
            ..
        } => client.migrate(from, to, Some(*timeout), &mut |step| eprintln!("{step}")),
        Command::Migrate {
            from,
            to,
            max_surge,
            max_unavailable,
            min_healthy,
            progress_deadline,
            no_revert,
            wait,
            index,
            timeout: None,
        } => {
            let options = RolloutOptions {
                max_surge: *max_surge,
                max_unavailable: *max_unavailable,
                min_healthy: min_healthy.clone(),
                progress_deadline: progress_deadline.clone(),
                no_revert: *no_revert,
            };
            client.start_rollout_at(from, to, &options, *index, *wait, &mut |step| {
                eprintln!("{step}")
            })
        }
        Command::Rollouts => client.rollouts().map(|table| table.to_string()),
        Command::Drain {
            agent,
            wait,
            wait_timeout,
        } => client.drain(agent, true, wait.then_some(*wait_timeout), &mut |step| {
            eprintln!("{step}")
        }),
        Command::Undrain { agent } => client.drain(agent, false, None, &mut |_| {}),
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
