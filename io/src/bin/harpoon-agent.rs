//! `harpoon-agent`: a Harpoon agent serving the agent API v0 and running
//! containers as plain processes on this machine (no isolation). A thin
//! command-line wrapper around `harpoon_io::agent`; see `io/AGENT.md`.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use harpoon_core::wire::WireDuration;
use harpoon_io::agent::{Agent, AgentOptions, PortRange};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Runs Harpoon containers as plain processes on this machine, without
/// isolation: processes run as the agent's user; cpu and mem are
/// bookkeeping only.
#[derive(Debug, Parser)]
#[command(name = "harpoon-agent", version)]
struct Cli {
    /// Address to serve the agent API on. Loopback unless told otherwise;
    /// port 0 picks a free port. The bound address is printed on stdout as
    /// `listening on ADDRESS`.
    #[arg(long, default_value = "127.0.0.1:3333")]
    listen: SocketAddr,
    /// Directory for container state, root directories and logs; an agent
    /// started again on it recovers its containers.
    #[arg(long, default_value = "/var/lib/harpoon-agent")]
    data_dir: PathBuf,
    /// Ports handed to containers that ask for port 0.
    #[arg(long, default_value_t = PortRange::DEFAULT)]
    port_range: PortRange,
    /// CPU cores offered to containers [default: this machine's].
    #[arg(long)]
    cpu: Option<f64>,
    /// Memory offered to containers, in MB [default: this machine's].
    #[arg(long)]
    mem: Option<u64>,
    /// A host path containers may ask for as a volume (repeatable).
    #[arg(long = "vol", value_name = "PATH")]
    volumes: Vec<String>,
    /// Time between keep-alive comments on event and log streams.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    keepalive_interval: WireDuration,
    /// First delay before an automatic restart; doubles with each quick exit.
    #[arg(long, default_value = "500ms", value_name = "DURATION")]
    restart_backoff: WireDuration,
    /// Longest delay before an automatic restart.
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    restart_backoff_max: WireDuration,
    /// Largest artifact archive fetched, in MB.
    #[arg(long, default_value_t = 1024)]
    artifact_max_mb: u64,
    /// HTTP connections held at once; past this, the connection waiting
    /// longest on its client is closed to make room for a new one.
    #[arg(long, default_value_t = 512)]
    connections_max: usize,
    /// How long a client may take to send a request head (and how long an
    /// idle connection is kept).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    header_timeout: WireDuration,
    /// How long a client may take to send a request body (then 408).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    body_timeout: WireDuration,
}

impl Cli {
    fn options(&self) -> Result<AgentOptions, String> {
        let mut options = AgentOptions::new(&self.data_dir);
        options.port_range = self.port_range;
        if let Some(cpu) = self.cpu {
            if !(cpu > 0.0 && cpu.is_finite()) {
                return Err(format!(
                    "--cpu {cpu} is invalid: give a number of cores above 0"
                ));
            }
            options.cpu = cpu;
        }
        if let Some(mem) = self.mem {
            options.mem_mb = mem;
        }
        if let Some(relative) = self.volumes.iter().find(|volume| !volume.starts_with('/')) {
            return Err(format!(
                "--vol {relative:?} is invalid: give an absolute host path"
            ));
        }
        options.volumes = self.volumes.clone();
        options.keepalive_interval = to_std(self.keepalive_interval);
        options.restart_backoff_initial = to_std(self.restart_backoff);
        options.restart_backoff_max = to_std(self.restart_backoff_max);
        options.artifact_max_bytes = self.artifact_max_mb.saturating_mul(1024 * 1024);
        if self.connections_max == 0 {
            return Err("--connections-max 0 is invalid: give at least 1".to_owned());
        }
        options.connections_max = self.connections_max;
        for (flag, duration) in [
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
        ] {
            if duration.as_nanos() == 0 {
                return Err(format!("{flag} 0s is invalid: give a duration above 0"));
            }
        }
        options.header_read_timeout = to_std(self.header_timeout);
        options.body_read_timeout = to_std(self.body_timeout);
        Ok(options)
    }
}

fn to_std(duration: WireDuration) -> Duration {
    Duration::from_nanos(duration.as_nanos())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("harpoon-agent: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let options = cli.options()?;
    // Installed before anything else, so that a SIGTERM arriving while the
    // agent starts up shuts it down cleanly instead of killing it.
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", cli.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read the bound address: {error}"))?;
    let (cpu, mem_mb) = (options.cpu, options.mem_mb);
    let agent = Agent::open(options)
        .await
        .map_err(|error| error.to_string())?;
    // The first line on stdout, once requests can be answered, for scripts
    // and tests that start the agent on port 0 and need to know where it is.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {address}").and_then(|()| stdout.flush());
    tracing::info!(%address, data_dir = %cli.data_dir.display(), cpu, mem_mb, "serving the agent API");
    agent
        .serve(listener, shutdown)
        .await
        .map_err(|error| error.to_string())
}

/// A future that completes on SIGINT or SIGTERM.
fn shutdown_signal() -> Result<impl Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| signal(kind).map_err(|error| format!("cannot listen for signals: {error}"));
    let mut interrupt = listen(SignalKind::interrupt())?;
    let mut terminate = listen(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
