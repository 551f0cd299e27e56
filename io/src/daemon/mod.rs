//! `harpoon-scheduler`: runs the [`harpoon_core::Scheduler`] for real.
//!
//! - `core_task`: the one task that owns the core; everything else talks to
//!   it over a bounded channel (`messages`).
//! - `http`: the scheduler API; `metrics`: `/metrics`; `head_guard`: checks
//!   every request head before hyper reads it.
//! - `agent_client`: commands to agents and their event streams, parsed by
//!   `sse`.
//! - `store`: the registry's store (an embedded database by default),
//!   import of a JSON registry and export to one.
//! - `registry_file`: the JSON registry file's format, ours or the
//!   original's (`parse`, `encode_original`), for import and export.
//! - `operator_log`: what operators see of the core's decisions, rate
//!   limited.
//! - `status_page`: `GET /`, the cluster at a glance in HTML, with the
//!   ring of the core's recent decisions it shows.
//! - `record`: `--record DIR`, every input the core is handed, for
//!   `harpoon-sim replay`.
//! - `discovery`: which agents there are; `local_agents`: agents run in
//!   the daemon's own process (`--local-agents`).
//!
//! **Architecture Invariant:** the core is owned by one task; no
//! `Arc<Mutex<Scheduler>>`. Channels into it are bounded.
//!
//! **Architecture Invariant:** every answer of the API, refusals included,
//! has the `{"status_code","msg"}` body: hyper never reads a request head
//! it would refuse itself (with an empty body), because `head_guard`
//! refuses it first, with tighter limits.

mod agent_client;
mod core_task;
mod discovery;
mod head_guard;
mod http;
mod index_query;
mod local_agents;
mod messages;
mod metrics;
mod operator_log;
mod plan_api;
pub mod record;
pub mod registry_file;
pub mod rollouts_api;
mod sse;
pub mod status_page;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use harpoon_core::{Input, Scheduler, SchedulerConfig};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

pub use agent_client::ClientLimits;
pub use discovery::{Discovery, normalize as normalize_agent_url};
pub use http::ApiOptions;
pub use local_agents::{LocalAgents, LocalAgentsError};
pub use messages::CoreHandle;
pub use record::RecordOptions;
pub use sse::{SseError, SseItem, SseParser};
pub use store::{RegistryStore, StoreError, StoreKind, StoredRegistry};

use agent_client::AgentClient;
use core_task::CoreTask;
use messages::CoreMessage;

/// Everything the daemon needs to run.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The scheduler's settings. `trace` is honoured only if the log
    /// writes the core's routine decisions (`harpoon::core` at `debug`).
    pub scheduler: SchedulerConfig,
    /// Seed of the core's random generator.
    pub seed: u64,
    /// Where the registry lives (`--persist`; see [`store`] for what the
    /// path may name).
    pub registry_path: PathBuf,
    /// Which kind of store keeps it.
    pub store: StoreKind,
    /// Where agents come from.
    pub discovery: Discovery,
    /// The API server's limits and token.
    pub api: ApiOptions,
    /// The agent client's limits.
    pub client: ClientLimits,
    /// Capacity of the channel into the core task.
    pub core_queue: usize,
    /// Record every input the core is handed (`--record`; see [`record`]).
    pub record: Option<RecordOptions>,
}

impl Default for DaemonOptions {
    fn default() -> DaemonOptions {
        DaemonOptions {
            scheduler: SchedulerConfig {
                trace: true,
                ..SchedulerConfig::default()
            },
            seed: 0,
            registry_path: PathBuf::from(DEFAULT_REGISTRY),
            store: StoreKind::Embedded,
            discovery: Discovery::default(),
            api: ApiOptions::default(),
            client: ClientLimits::default(),
            core_queue: 4096,
            record: None,
        }
    }
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The registry's store could not be opened or read.
    #[error(transparent)]
    Registry(#[from] StoreError),
    /// The agents file could not be read.
    #[error(transparent)]
    Discovery(#[from] discovery::AgentsFileError),
    /// The recording could not be started.
    #[error(transparent)]
    Record(#[from] record::RecordError),
    /// The listening socket failed.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running daemon's shutdown trigger: resolve the future to stop.
pub type Shutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Serves the scheduler API on `listener` until `shutdown` resolves; then
/// stops accepting, lets requests in progress finish (briefly), finishes
/// the registry write under way and returns.
pub async fn serve(
    listener: TcpListener,
    options: DaemonOptions,
    shutdown: Shutdown,
) -> Result<(), DaemonError> {
    let registry = open_registry(&options).await?;
    serve_opened(listener, options, registry, shutdown).await
}

/// The registry's store, opened, and what it holds.
#[derive(Debug)]
pub struct OpenedRegistry {
    store: RegistryStore,
    stored: StoredRegistry,
}

impl OpenedRegistry {
    /// How many jobs it holds.
    pub fn jobs(&self) -> usize {
        self.stored.jobs.len()
    }
}

/// Opens the registry's store `options` name (importing a JSON registry,
/// removing temporaries a killed process left): the first step of
/// [`serve`], for a caller that wants to fail before it announces itself.
pub async fn open_registry(options: &DaemonOptions) -> Result<OpenedRegistry, DaemonError> {
    let (path, kind) = (options.registry_path.clone(), options.store);
    let (store, stored) = tokio::task::spawn_blocking(move || RegistryStore::open(&path, kind))
        .await
        .expect("opening the store does not panic")?;
    Ok(OpenedRegistry { store, stored })
}

/// [`serve`] with the registry already opened by [`open_registry`].
pub async fn serve_opened(
    listener: TcpListener,
    options: DaemonOptions,
    registry: OpenedRegistry,
    shutdown: Shutdown,
) -> Result<(), DaemonError> {
    let OpenedRegistry { store, stored } = registry;
    let agents = options.discovery.list()?;
    info!(jobs = stored.jobs.len(), sequence = stored.sequence, agents = agents.len(), registry = %store.path().display(), "starting");
    let (sender, receiver) = mpsc::channel(options.core_queue);
    let mut config = options.scheduler.clone();
    config.trace &= routine_decisions_logged();
    let scheduler = Scheduler::new(config, options.seed, harpoon_core::Instant::ZERO);
    let recorder = match &options.record {
        Some(record) => Some(record::Recorder::start(record, options.seed, &scheduler)?),
        None => None,
    };
    let core = CoreTask {
        scheduler,
        recorder,
        epoch: tokio::time::Instant::now(),
        receiver,
        sender: sender.clone(),
        client: AgentClient::new(options.client.clone()),
        store: Arc::new(std::sync::Mutex::new(store)),
    };
    let core_task = tokio::spawn(core.run(stored));
    // The core task holds a sender of its own for its workers, so the
    // channel never closes by itself: it is told to stop with `Shutdown`.
    sender
        .send(CoreMessage::Input(Input::AgentsDiscovered { agents }))
        .await
        .expect("the core task is running");
    let discovery_task = tokio::spawn(rediscover_on_sighup(
        options.discovery.clone(),
        sender.clone(),
    ));
    let handle = CoreHandle {
        sender: sender.clone(),
    };
    let api = Arc::new(options.api.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = shutdown;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        let api = Arc::clone(&api);
        let service = service_fn(move |request| {
            http::handle(request, handle.clone(), Arc::clone(&api), peer)
        });
        let limits = head_guard::HeadLimits {
            header_timeout: options.api.header_timeout,
            ..head_guard::HeadLimits::default()
        };
        let stream = head_guard::GuardedIo::new(stream, limits, peer);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            // The guard answers a late head (408) from its first byte;
            // hyper's own timer, which runs from the moment a connection
            // goes idle, only closes idle connections, at twice that.
            .header_read_timeout(options.api.header_timeout * 2)
            // The guard ends the read side where it refuses a head: hyper
            // must still answer the requests before it.
            .half_close(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    info!("shutting down: no longer accepting requests");
    drop(listener);
    if tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        warn!("some requests were still in progress after 5s");
    }
    discovery_task.abort();
    drop(handle);
    let _ = sender.send(CoreMessage::Shutdown).await;
    if let Err(error) = core_task.await {
        error!(%error, "the core task failed");
    }
    Ok(())
}

/// Whether the log writes the core's routine decisions (target
/// `harpoon::core` at `debug`). Tracing is turned off in the core unless
/// it does: formatting a line per decision costs more than most decisions,
/// and the lines operators see are emitted either way.
fn routine_decisions_logged() -> bool {
    tracing::enabled!(target: "harpoon::core", tracing::Level::DEBUG)
}

/// Re-reads discovery on SIGHUP and tells the core.
async fn rediscover_on_sighup(discovery: Discovery, sender: mpsc::Sender<CoreMessage>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        warn!("cannot listen for SIGHUP: the agents file will not be re-read");
        return;
    };
    while hangups.recv().await.is_some() {
        match discovery.list() {
            Ok(agents) => {
                info!(agents = agents.len(), "SIGHUP: agents re-read");
                if sender
                    .send(CoreMessage::Input(Input::AgentsDiscovered { agents }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => error!(%error, "SIGHUP: keeping the agents known so far"),
        }
    }
}

/// Where the registry lives by default: an embedded store in the working
/// directory.
pub const DEFAULT_REGISTRY: &str = "./harpoon-registry.redb";

/// The JSON registry earlier versions kept by default; taken over (imported
/// into the default store) when only it exists and `--persist` is not
/// given.
pub const FORMER_DEFAULT_REGISTRY: &str = "./harpoon-registry.json";

/// The address the daemon serves on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4444";

/// Binds the API's listening socket.
pub async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), DaemonError> {
    let fail = |source| DaemonError::Listen {
        addr: addr.to_owned(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(fail)?;
    let local = listener.local_addr().map_err(fail)?;
    Ok((listener, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged_with(filter: &str) -> bool {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, routine_decisions_logged)
    }

    #[test]
    fn the_core_traces_routine_decisions_only_when_the_log_writes_them() {
        assert!(!logged_with("info"));
        assert!(!logged_with("warn,harpoon_io=debug"));
        assert!(logged_with("debug"));
        assert!(logged_with("info,harpoon::core=debug"));
    }
}
