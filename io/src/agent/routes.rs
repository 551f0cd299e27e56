//! The agent API v0: every route of the wire doc's agent table, under
//! `/api/v0`, with its status codes and bodies.

use std::sync::Arc;

use bytes::Bytes;
use harpoon_core::wire::ContainerConfig;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::connection_slots::{ConnectionSlot, Phase};

use super::body::{self, ResponseBody};
use super::error::{TooManyStreams, Unavailable};
use super::handle::AgentHandle;
use super::logs::ContainerLog;
use super::options::AgentOptions;
use super::sse::SseBody;
use super::state::Lookup;

/// Log lines sent when `history` is not given (as the original agent).
const DEFAULT_LOG_HISTORY: usize = 10;

/// Messages queued for one log stream.
const LOG_STREAM_QUEUE_LEN: usize = 256;

/// What every handler needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub handle: AgentHandle,
    pub options: Arc<AgentOptions>,
    /// Bounds the number of open log streams.
    pub log_streams: Arc<Semaphore>,
    pub shutdown: CancellationToken,
}

/// Answers one request.
pub(crate) async fn route(
    request: Request<Incoming>,
    context: Arc<Context>,
) -> Response<ResponseBody> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = match path.strip_prefix("/api/v0/") {
        Some(rest) => rest.split('/').collect(),
        None => Vec::new(),
    };
    let handle = &context.handle;
    let response = match (segments.as_slice(), &method) {
        (["containers"], &Method::GET) if wants_stream(&request) => events(&context).await,
        (["containers"], &Method::GET) => answer(handle.list().await, |list| body::json(&list)),
        (["resources"], &Method::GET) => {
            answer(handle.resources().await, |resources| body::json(&resources))
        }
        (["containers", id], &Method::PUT) => create(id, request, &context).await,
        (["containers", id], &Method::GET) => {
            answer(handle.get(id.to_string()).await, |found| match found {
                Lookup::Shown(instance) => body::json(&instance),
                Lookup::Preparing => body::text(
                    StatusCode::NOT_FOUND,
                    format!("container {id} is still being prepared; it appears once created\n"),
                ),
                Lookup::Unknown => not_found(id),
            })
        }
        (["containers", id], &Method::DELETE) => {
            answer(handle.delete(id.to_string()).await, |result| {
                result.map_or_else(
                    |e| body::error(&e),
                    |()| body::text(StatusCode::OK, "destroy OK"),
                )
            })
        }
        (["containers", id, "start"], &Method::POST) => {
            answer(handle.start(id.to_string()).await, |result| {
                result.map_or_else(
                    |e| body::error(&e),
                    |()| body::text(StatusCode::ACCEPTED, "start accepted"),
                )
            })
        }
        (["containers", id, "stop"], &Method::POST) => {
            answer(handle.stop(id.to_string()).await, |result| {
                result.map_or_else(
                    |e| body::error(&e),
                    |()| body::text(StatusCode::ACCEPTED, "stop accepted"),
                )
            })
        }
        (["containers", id, "log"], &Method::GET) => log(id, &request, &context).await,
        (segments, _) => match allowed_methods(segments) {
            Some(allowed) => {
                let mut response = body::text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed on {path}; use {allowed}\n"),
                );
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allowed));
                response
            }
            None => body::text(
                StatusCode::NOT_FOUND,
                format!("no such endpoint: {method} {path}\n"),
            ),
        },
    };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    response
}

/// The answer from the state task's `reply`, or 503 if it is gone.
fn answer<T>(
    reply: Result<T, Unavailable>,
    respond: impl FnOnce(T) -> Response<ResponseBody>,
) -> Response<ResponseBody> {
    reply.map_or_else(|unavailable| body::error(&unavailable), respond)
}

fn not_found(id: &str) -> Response<ResponseBody> {
    body::text(StatusCode::NOT_FOUND, format!("container {id} not found\n"))
}

/// The methods a known path allows, for a 405; `None` for unknown paths.
fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    match segments {
        ["containers"] | ["resources"] | ["containers", _, "log"] => Some("GET"),
        ["containers", _] => Some("GET, PUT, DELETE"),
        ["containers", _, "start" | "stop"] => Some("POST"),
        _ => None,
    }
}

/// Whether the client asked for `text/event-stream`.
fn wants_stream(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let media_type = item.split(';').next().unwrap_or("").trim();
            media_type.eq_ignore_ascii_case("text/event-stream")
        })
}

async fn create(id: &str, request: Request<Incoming>, context: &Context) -> Response<ResponseBody> {
    // While the body arrives the connection waits on its client, and may
    // be closed to make room for others (see `connection_slots`).
    let slot = request.extensions().get::<Arc<ConnectionSlot>>().cloned();
    if let Some(slot) = &slot {
        slot.enter(Phase::ReadingBody);
    }
    let options = &context.options;
    let read = body::read_within(
        request.into_body(),
        options.request_body_max_bytes,
        options.body_read_timeout,
    )
    .await;
    if let Some(slot) = &slot {
        slot.enter(Phase::Answering);
    }
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(error) => return body::error(&error),
    };
    let config: ContainerConfig = match serde_json::from_slice(&bytes) {
        Ok(config) => config,
        Err(error) => {
            let message = format!("request body is not a JSON container config: {error}\n");
            return body::text(StatusCode::BAD_REQUEST, message);
        }
    };
    answer(
        context.handle.create(id.to_owned(), config).await,
        |result| {
            result.map_or_else(
                |e| body::error(&e),
                |()| body::text(StatusCode::CREATED, "created OK"),
            )
        },
    )
}

async fn events(context: &Context) -> Response<ResponseBody> {
    match context.handle.subscribe().await {
        Ok(Ok(queue)) => body::stream(SseBody::new(queue, context.options.keepalive_interval)),
        Ok(Err(too_many)) => body::error(&too_many),
        Err(unavailable) => body::error(&unavailable),
    }
}

async fn log(id: &str, request: &Request<Incoming>, context: &Context) -> Response<ResponseBody> {
    let history = match query_param(request, "history") {
        None => DEFAULT_LOG_HISTORY,
        Some(text) => match text.parse::<usize>() {
            Ok(history) => history,
            Err(_) => {
                let message = format!("history must be a whole number of lines, not {text:?}\n");
                return body::text(StatusCode::BAD_REQUEST, message);
            }
        },
    };
    let log = match context.handle.log(id.to_owned()).await {
        Ok(Some(log)) => log,
        Ok(None) => return not_found(id),
        Err(unavailable) => return body::error(&unavailable),
    };
    if !wants_stream(request) {
        return body::json(&wire_lines(&log.history(history)));
    }
    let Ok(permit) = context.log_streams.clone().try_acquire_owned() else {
        return body::error(&TooManyStreams(context.options.subscribers_max));
    };
    let (sender, queue) = mpsc::channel(LOG_STREAM_QUEUE_LEN);
    let shutdown = context.shutdown.clone();
    tokio::spawn(async move {
        follow_log(log, history, sender, shutdown).await;
        drop(permit);
    });
    body::stream(SseBody::new(queue, context.options.keepalive_interval))
}

fn query_param<'a>(request: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Sends the last `history` lines of `log` as one SSE message (none when
/// there are none, as the original agent), then every new line as a
/// message of its own, until the client, the container or the agent goes.
/// A client too slow for the container's output skips lines, and is told
/// so.
async fn follow_log(
    log: Arc<ContainerLog>,
    history: usize,
    out: mpsc::Sender<Bytes>,
    shutdown: CancellationToken,
) {
    let (lines, mut feed) = log.follow(history);
    // Holding the log would keep its feed open after the container is
    // deleted; without it, the feed closes and so does this stream.
    drop(log);
    let send = |message: Bytes| {
        let out = out.clone();
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                () = shutdown.cancelled() => false,
                result = out.send(message) => result.is_ok(),
            }
        }
    };
    if !lines.is_empty() && !send(message(&lines)).await {
        return;
    }
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            () = out.closed() => return,
            next = feed.recv() => next,
        };
        let text = match next {
            Ok(line) => message(&[line]),
            Err(broadcast::error::RecvError::Lagged(skipped)) => message(&[Arc::from(format!(
                "[harpoon-agent: {skipped} lines skipped: this reader is too slow]"
            ))]),
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !send(text).await {
            return;
        }
    }
}

/// Log lines as the original agent's log endpoint sends them: a JSON
/// array of strings, each line with its newline (the original forwarded
/// lines as its logger sent them, newline included, and the original
/// `harpoonctl agent log` prints each as it comes, adding none).
fn wire_lines(lines: &[Arc<str>]) -> Vec<String> {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Log lines as one SSE message whose data is [`wire_lines`] (JSON holds
/// no raw newline, so the data is one `data:` line).
fn message(lines: &[Arc<str>]) -> Bytes {
    let data = serde_json::to_string(&wire_lines(lines)).expect("strings encode");
    Bytes::from(format!("data: {data}\n\n"))
}
