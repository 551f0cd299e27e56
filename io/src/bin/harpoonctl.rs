//! `harpoonctl`: the command-line client of the harpoon scheduler.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    },
    /// Unschedule a job, given its file or its hash.
    Unschedule {
        /// A job file, or a job hash such as web-9c83741.
        target: String,
    },
    /// List every container: agent, container, job, status, cpu, mem.
    Ps,
    /// List the desired jobs.
    Registry,
    /// List agents with resources used / total.
    Agents,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let client = Client::new(&args.scheduler, args.token.clone());
    let result: Result<String, CtlError> = match &args.command {
        Command::Schedule { file } => client.schedule(file),
        Command::Unschedule { target } => client.unschedule(target),
        Command::Ps => client.ps().map(|table| table.to_string()),
        Command::Registry => client.registry().map(|table| table.to_string()),
        Command::Agents => client.agents().map(|table| table.to_string()),
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
