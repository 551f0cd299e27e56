//! `--local-agents N`: agents started in the daemon's own process, so that
//! one command gives a working scheduler with somewhere to run things.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::agent::{AgentOptions, PortRange};

/// Agents running in this process.
#[derive(Debug)]
pub struct LocalAgents {
    /// Their URLs, for discovery.
    pub urls: Vec<String>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

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
        Ok(LocalAgents { urls, stop, tasks })
    }

    /// Stops every local agent; their processes keep running, to be adopted
    /// when the daemon starts again on the same data directory.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
