//! The public face of the agent: [`Agent`] and [`serve`]. Accepts HTTP/1
//! connections, hands requests to the routes, and shuts down cleanly.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use crate::connection_slots::{Admission, AnsweringBody, ConnectionSlots, Phase};
use tokio_util::sync::CancellationToken;

use super::actor;
use super::error::AgentError;
use super::handle::{AgentHandle, Message};
use super::options::AgentOptions;
use super::routes::{self, Context};
use super::state::AgentState;

/// Messages waiting for the state task; senders wait when it is full.
const INBOX_LEN: usize = 256;

/// How long a refused connection is given to take its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Least time between two warnings about refused connections.
const REFUSAL_WARN_EVERY: Duration = Duration::from_secs(10);

/// How long shutdown waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed accept (e.g. out of file descriptors), rather than
/// spinning on the error.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A Harpoon agent whose state has been recovered from its data directory,
/// ready to [`serve`](Agent::serve). Several agents may run in one process,
/// each with its own data directory and port range.
#[derive(Debug)]
pub struct Agent {
    state: AgentState,
    inbox: mpsc::Receiver<Message>,
    handle: AgentHandle,
    options: Arc<AgentOptions>,
}

impl Agent {
    /// Opens (creating if needed) the data directory and recovers the
    /// containers recorded there: running processes are adopted, and those
    /// that ended meanwhile are reported `failed`. Must be called within a
    /// tokio runtime.
    pub async fn open(mut options: AgentOptions) -> Result<Agent, AgentError> {
        let data_dir_error = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| AgentError::DataDir { path, source }
        };
        tokio::fs::create_dir_all(&options.data_dir)
            .await
            .map_err(data_dir_error(&options.data_dir))?;
        // Absolute, so that processes and records do not depend on the
        // directory the agent was started from.
        options.data_dir = tokio::fs::canonicalize(&options.data_dir)
            .await
            .map_err(data_dir_error(&options.data_dir))?;
        let options = Arc::new(options);
        let (sender, inbox) = mpsc::channel(INBOX_LEN);
        let state = AgentState::open(options.clone(), sender.clone())?;
        Ok(Agent {
            state,
            inbox,
            handle: AgentHandle::new(sender),
            options,
        })
    }

    /// Serves the agent API on `listener` until `shutdown` completes. Then
    /// it stops accepting, ends the event and log streams, waits briefly for
    /// open requests, and returns; container processes keep running, for
    /// the next agent on the same data directory to adopt.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), AgentError> {
        let token = CancellationToken::new();
        let mut state_task = tokio::spawn(actor::run(self.state, self.inbox, token.clone()));
        let context = Arc::new(Context {
            handle: self.handle,
            log_streams: Arc::new(Semaphore::new(self.options.subscribers_max)),
            options: self.options,
            shutdown: token.clone(),
        });
        let server = tokio::spawn(accept_loop(listener, context, token.clone()));
        let result = tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down");
                token.cancel();
                (&mut state_task).await
            }
            // The state task only ends on shutdown, so this is a panic.
            result = &mut state_task => {
                token.cancel();
                result
            }
        };
        let _ = server.await;
        result.map_err(|error| AgentError::StateTask(error.to_string()))
    }
}

/// Opens an agent with `options` and serves it on `listener` until
/// `shutdown` completes; see [`Agent::open`] and [`Agent::serve`].
pub async fn serve(
    listener: TcpListener,
    options: AgentOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    Agent::open(options).await?.serve(listener, shutdown).await
}

async fn accept_loop(listener: TcpListener, context: Arc<Context>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let slots = ConnectionSlots::new(context.options.connections_max);
    let mut refusals = RateLimitedWarning::default();
    loop {
        // Never waits for a free slot before accepting: room is made by
        // closing a connection that waits on its client (see
        // `connection_slots`), so new clients are answered at once.
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let slot = match slots.admit() {
            Admission::Admitted { slot, evicted } => {
                if evicted {
                    tracing::debug!(%peer, "closed the connection waiting longest to make room");
                }
                slot
            }
            Admission::Full => {
                refusals.warn(slots.len());
                tokio::spawn(refuse(stream));
                continue;
            }
        };
        let service_context = context.clone();
        let service_slot = slot.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            let context = service_context.clone();
            let slot = service_slot.clone();
            async move {
                slot.enter(Phase::Answering);
                request.extensions_mut().insert(slot.clone());
                let response = routes::route(request, context).await;
                Ok::<_, Infallible>(
                    response.map(|body| AnsweringBody::new(body, slot).boxed_unsync()),
                )
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(context.options.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                result = connection => if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                },
                // Dropping the connection closes it.
                () = slot.closed().cancelled() => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the shutdown grace");
    }
}

/// The whole answer to a connection refused because every slot is busy
/// answering: sent without reading the request, then the connection closes.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 58\r\nConnection: close\r\n\r\n\
    every connection of this agent is busy; try again shortly\n";

async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(REFUSAL)).await;
}

/// Warns about refused connections at most once per [`REFUSAL_WARN_EVERY`].
#[derive(Default)]
struct RateLimitedWarning {
    last: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl RateLimitedWarning {
    fn warn(&mut self, held: usize) {
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < REFUSAL_WARN_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            held,
            refused_since_last_warning = self.suppressed,
            "refusing a connection: every connection is answering a request"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}
