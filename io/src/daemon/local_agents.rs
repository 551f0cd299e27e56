//! `--local-agents N`: agents started in the daemon's own process, so that
//! one command gives a working scheduler with somewhere to run things.
//!
//! Without `--data-dir` they share a temporary data directory that the
//! daemon creates and, when it stops, empties and removes: nothing could
//! adopt those containers later, since no later run can name that
//! directory, so their processes are stopped first.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::agent::{AgentOptions, PortRange};

/// Agents running in this process.
#[derive(Debug)]
pub struct LocalAgents {
    /// Their URLs, for discovery.
    pub urls: Vec<String>,
    /// Where their data is.
    pub data_dir: PathBuf,
    /// Whether this run created `data_dir` and removes it when it stops.
    temporary: bool,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How long stopping the containers of a temporary data directory may take
/// in all (each gets SIGTERM, then SIGKILL after its `grace.shutdown`).
const TEMPORARY_CONTAINERS_STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// How many names [`LocalAgents::start_temporary`] tries before giving up.
const TEMPORARY_NAME_ATTEMPTS: u32 = 100;

/// Why the local agents could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalAgentsError {
    /// Binding a loopback port failed.
    #[error("cannot bind a loopback port for local agent {index}: {source}")]
    Bind {
        /// Which agent.
        index: usize,
        /// The cause.
        source: std::io::Error,
    },
    /// No temporary data directory could be created.
    #[error("cannot create a temporary data directory for the local agents in {dir}: {source}")]
    TemporaryDir {
        /// The parent directory tried.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An agent could not open its data directory.
    #[error("local agent {index} cannot start: {source}")]
    Agent {
        /// Which agent.
        index: usize,
        /// The cause.
        source: crate::agent::AgentError,
    },
}

impl LocalAgents {
    /// Starts `count` agents on loopback ports, with data under `data_dir`
    /// (`agent-0`, `agent-1`, …), the machine's CPUs and memory and the
    /// default port range divided evenly among them.
    pub async fn start(count: usize, data_dir: &Path) -> Result<LocalAgents, LocalAgentsError> {
        LocalAgents::start_in(count, data_dir.to_owned(), false).await
    }

    /// As [`LocalAgents::start`], in a new directory of the system's
    /// temporary directory (`$TMPDIR`), which [`LocalAgents::stop`] removes
    /// with everything in it after stopping the containers.
    pub async fn start_temporary(count: usize) -> Result<LocalAgents, LocalAgentsError> {
        let parent = std::env::temp_dir();
        let pid = std::process::id();
        let mut attempt = 0;
        // `create_dir` fails on an existing name: what we remove later is
        // then certainly ours, never a directory left by someone else.
        let data_dir = loop {
            let candidate = parent.join(format!("harpoon-local-agents-{pid}-{attempt}"));
            match std::fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(error)
                    if error.kind() == std::io::ErrorKind::AlreadyExists
                        && attempt + 1 < TEMPORARY_NAME_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(source) => {
                    return Err(LocalAgentsError::TemporaryDir {
                        dir: parent,
                        source,
                    });
                }
            }
        };
        match LocalAgents::start_in(count, data_dir.clone(), true).await {
            Ok(agents) => Ok(agents),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&data_dir);
                Err(error)
            }
        }
    }

    async fn start_in(
        count: usize,
        data_dir: PathBuf,
        temporary: bool,
    ) -> Result<LocalAgents, LocalAgentsError> {
        let stop = CancellationToken::new();
        let mut urls = Vec::new();
        let mut tasks = Vec::new();
        let machine = AgentOptions::new(PathBuf::new());
        let ports = PortRange::DEFAULT;
        let ports_each = (u32::from(ports.last) - u32::from(ports.first) + 1) / count.max(1) as u32;
        for index in 0..count {
            let mut options = AgentOptions::new(data_dir.join(format!("agent-{index}")));
            options.cpu = machine.cpu / count as f64;
            options.mem_mb = machine.mem_mb / count as u64;
            let first = u32::from(ports.first) + ports_each * index as u32;
            let last = first + ports_each.saturating_sub(1);
            if let Ok(range) = PortRange::new(first as u16, last as u16) {
                options.port_range = range;
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| LocalAgentsError::Bind { index, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| LocalAgentsError::Bind { index, source })?;
            let agent = crate::agent::Agent::open(options)
                .await
                .map_err(|source| LocalAgentsError::Agent { index, source })?;
            let url = format!("http://{addr}");
            info!(%url, index, "local agent started");
            urls.push(url);
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(error) = agent.serve(listener, stop.cancelled_owned()).await {
                    error!(index, %error, "local agent stopped with an error");
                }
            }));
        }
        Ok(LocalAgents {
            urls,
            data_dir,
            temporary,
            stop,
            tasks,
        })
    }

    /// Stops every local agent. With a data directory given, their
    /// containers' processes keep running, to be adopted when the daemon
    /// starts again on the same directory; with a temporary one, the
    /// containers are stopped and deleted and the directory is removed.
    pub async fn stop(self) {
        if self.temporary {
            let urls = self.urls.clone();
            let left = tokio::task::spawn_blocking(move || {
                empty_agents(&urls, TEMPORARY_CONTAINERS_STOP_LIMIT)
            })
            .await
            .unwrap_or_default();
            if !left.is_empty() {
                warn!(containers = ?left, "containers of the local agents still there after {TEMPORARY_CONTAINERS_STOP_LIMIT:?}; removing their directory anyway");
            }
        }
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        if self.temporary {
            match std::fs::remove_dir_all(&self.data_dir) {
                Ok(()) => {
                    info!(dir = %self.data_dir.display(), "removed the local agents' temporary data directory")
                }
                Err(error) => {
                    warn!(dir = %self.data_dir.display(), %error, "cannot remove the local agents' temporary data directory")
                }
            }
        }
    }
}

/// Stops and deletes every container of the agents at `urls` through
/// their API, as any client would, until none is left or `limit` has
/// passed; returns the containers still there.
fn empty_agents(urls: &[String], limit: std::time::Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + limit;
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    let mut stopped = std::collections::BTreeSet::new();
    loop {
        let mut left = Vec::new();
        for url in urls {
            let listing: Option<serde_json::Map<String, serde_json::Value>> = http
                .get(format!("{url}/api/v0/containers"))
                .call()
                .ok()
                .and_then(|mut answer| answer.body_mut().read_to_string().ok())
                .and_then(|text| serde_json::from_str(&text).ok());
            for id in listing.unwrap_or_default().keys() {
                let container = format!("{url}/api/v0/containers/{id}");
                // A stop of a container that is not running answers 409;
                // a delete while its process runs answers 409 too, so it
                // is retried until the stop has taken effect.
                if stopped.insert(container.clone()) {
                    let _ = http.post(format!("{container}/stop")).send_empty();
                }
                let deleted = http
                    .delete(&container)
                    .call()
                    .is_ok_and(|answer| matches!(answer.status().as_u16(), 200 | 204 | 404));
                if !deleted {
                    left.push(container);
                }
            }
        }
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
