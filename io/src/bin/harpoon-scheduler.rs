//! `harpoon-scheduler`: the scheduler daemon. See `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use harpoon_core::SchedulerConfig;
use harpoon_core::algorithm::AlgorithmKind;
use harpoon_core::wire::WireDuration;
use harpoon_io::daemon::{self, ApiOptions, DaemonOptions, Discovery, LocalAgents, RecordOptions};

/// The harpoon scheduler: keeps the registry of jobs, watches agents and
/// places tasks on them. Speaks the Harpoon v0 scheduler API.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to serve the scheduler API on.
    #[arg(long, default_value = daemon::DEFAULT_LISTEN)]
    listen: String,
    /// An agent's URL (repeatable), e.g. http://10.0.0.7:3333.
    #[arg(long = "agent", value_name = "URL")]
    agents: Vec<String>,
    /// A file listing agent URLs, one a line; re-read on SIGHUP.
    #[arg(long, value_name = "PATH")]
    agents_file: Option<PathBuf>,
    /// Where the registry lives: a store (an embedded database; created if
    /// missing) or a JSON registry (ours or the original Harpoon's), which
    /// is imported once into the store PATH.redb beside it and never
    /// modified. Default: ./harpoon-registry.redb (taking over
    /// ./harpoon-registry.json, the former default, if only it exists).
    #[arg(long = "persist", value_name = "PATH")]
    persist: Option<PathBuf>,
    /// Start this many agents in this process, on loopback ports, sharing
    /// the machine's resources.
    #[arg(long, default_value_t = 0, value_name = "N")]
    local_agents: usize,
    /// Where local agents keep their containers (default: a new temporary
    /// directory, removed with its containers when the daemon stops).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
    /// Placement algorithm: random-fit, least-used, bin-pack or spread.
    #[arg(long, default_value = "least-used")]
    algorithm: AlgorithmKind,
    /// How long an agent may be unreachable before its tasks move.
    #[arg(long, default_value = "20s")]
    abandon_timeout: WireDuration,
    /// How long a command may stay unconfirmed before it may be reissued.
    #[arg(long, default_value = "20s")]
    pending_timeout: WireDuration,
    /// Bearer token every API request must carry.
    #[arg(long, env = "HARPOON_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Record every input the core is handed into this directory, for
    /// `harpoon-sim replay DIR` (files rotate by size; each begins with a
    /// checkpoint replay can start at).
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// With --record: begin a new file once the inputs of one reach this
    /// many MiB (each file holds a checkpoint of the core besides).
    #[arg(long, default_value_t = 64, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    record_file_mib: u64,
    /// With --record: keep only the newest this many files.
    #[arg(long, default_value_t = 8, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=10000))]
    record_keep: u64,
    /// Log filter, e.g. info, debug, harpoon::core=debug.
    #[arg(long, default_value = "info", env = "HARPOON_LOG")]
    log_level: String,
}

/// Commands other than running the daemon.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Work on the registry's store.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, clap::Subcommand)]
enum RegistryCommand {
    /// Write the registry in the original Harpoon's JSON format (an object
    /// of job configs by hash), e.g. to go back to it. The scheduler using
    /// the store must be stopped (a running one answers the same on
    /// GET /api/v0/registry).
    Export {
        /// The registry, as the daemon's --persist names it.
        #[arg(long = "persist", value_name = "PATH")]
        persist: Option<PathBuf>,
        /// Write to this file (replaced atomically) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The registry path `--persist` names, or the default: the default store,
/// or the former default JSON registry when only that exists (it is then
/// imported into `harpoon-registry.json.redb`, by the store's rules).
fn registry_path(persist: Option<PathBuf>) -> PathBuf {
    persist.unwrap_or_else(|| {
        let store = PathBuf::from(daemon::DEFAULT_REGISTRY);
        let former = PathBuf::from(daemon::FORMER_DEFAULT_REGISTRY);
        if !store.exists() && former.exists() {
            former
        } else {
            store
        }
    })
}

fn export(persist: Option<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    let path = registry_path(persist);
    let written = daemon::store::export(&path).and_then(|bytes| match &out {
        Some(out) => daemon::store::replace_file(out, &bytes),
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .map_err(|error| daemon::StoreError::Write {
                    path: PathBuf::from("-"),
                    reason: error.to_string(),
                })
        }
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harpoon-scheduler: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Registry(RegistryCommand::Export { persist, out })) = args.command {
        return export(persist, out);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log_level)
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("harpoon-scheduler: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harpoon-scheduler: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (listener, addr) = daemon::bind(&args.listen).await?;
    let mut fixed: Vec<String> = args
        .agents
        .iter()
        .map(|url| daemon::normalize_agent_url(url))
        .collect();
    let local = if args.local_agents > 0 {
        let local = match &args.data_dir {
            Some(dir) => LocalAgents::start(args.local_agents, dir).await?,
            None => LocalAgents::start_temporary(args.local_agents).await?,
        };
        for url in &local.urls {
            println!("local agent {url} (data in {})", local.data_dir.display());
        }
        fixed.extend(local.urls.iter().cloned());
        Some(local)
    } else {
        None
    };
    let options = DaemonOptions {
        scheduler: SchedulerConfig {
            algorithm: args.algorithm,
            abandon_timeout: args.abandon_timeout.to_duration(),
            pending_timeout: args.pending_timeout.to_duration(),
            ..SchedulerConfig::default()
        },
        // Jitter should differ between scheduler processes; determinism is
        // the simulator's business, not the daemon's.
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()),
        registry_path: registry_path(args.persist.clone()),
        discovery: Discovery {
            fixed,
            agents_file: args.agents_file.clone(),
        },
        api: ApiOptions {
            token: args.token.clone(),
            ..ApiOptions::default()
        },
        record: args.record.clone().map(|dir| RecordOptions {
            max_file_bytes: args.record_file_mib << 20,
            keep_files: usize::try_from(args.record_keep).unwrap_or(usize::MAX),
            ..RecordOptions::new(dir)
        }),
        ..DaemonOptions::default()
    };
    // The registry opens before the daemon announces itself, so that a
    // store that cannot be opened stops it before anyone is told to come.
    let result = match daemon::open_registry(&options).await {
        Ok(registry) => {
            println!("harpoon-scheduler listening on http://{addr}");
            daemon::serve_opened(listener, options, registry, Box::pin(shutdown_signal())).await
        }
        Err(error) => Err(error),
    };
    if let Some(local) = local {
        local.stop().await;
    }
    result?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for SIGINT/SIGTERM; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT"),
        _ = terminate.recv() => tracing::info!("SIGTERM"),
    }
}
