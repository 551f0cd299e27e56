//! The scheduler API (`/api/v0/...` and `/metrics`), served with hyper;
//! the status page's paths (`/`, `/ui/...`) go to `status_page`.
//!
//! Every RPC-style answer, errors included, has the wire format's body
//! `{"status_code": <HTTP status>, "msg": "<text>"}`. Request bodies are
//! bounded (413 past the limit), slow clients time out, and when a bearer
//! token is configured every request without it is answered 401.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use harpoon_core::wire::{JobConfig, JobHash, RpcReply};
use harpoon_core::{Reply, UnscheduleTarget};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::request_body::BodyError;

use super::messages::{CoreHandle, CoreMessage, Query};
use super::status_page;
use super::{index_query, metrics, plan_api, rollouts_api};

/// Limits and settings of the API server.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send its request head.
    pub header_timeout: Duration,
    /// How long a client may take to send its body.
    pub body_timeout: Duration,
    /// Bearer token every request must carry, if set.
    pub token: Option<String>,
}

impl Default for ApiOptions {
    fn default() -> ApiOptions {
        ApiOptions {
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            token: None,
        }
    }
}

pub(super) type ApiResponse = Response<Full<Bytes>>;

/// Answers one request.
pub async fn handle(
    request: Request<Incoming>,
    core: CoreHandle,
    options: std::sync::Arc<ApiOptions>,
    peer: SocketAddr,
) -> Result<ApiResponse, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = route(request, &core, &options).await;
    tracing::info!(%peer, %method, %path, status = response.status().as_u16(), "request");
    Ok(response)
}

async fn route(request: Request<Incoming>, core: &CoreHandle, options: &ApiOptions) -> ApiResponse {
    // The status page checks the token itself: a browser logs in with a
    // form and a cookie, where the API wants a bearer token.
    if status_page::serves(request.uri().path()) {
        return status_page::route(request, core, options).await;
    }
    if let Some(token) = &options.token {
        let expected = format!("Bearer {token}");
        let given = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return rpc(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (set it with --token or HARPOON_TOKEN)",
            );
        }
    }
    let method = request.method().clone();
    // Routes match without a trailing slash; messages name the path as sent.
    let requested = request.uri().path().to_owned();
    let path = requested.trim_end_matches('/').to_owned();
    let rpc_method = method == Method::PUT || method == Method::POST;
    // Check-and-set (`?index=N`) on the requests that change the registry.
    let index = || index_query::parse(request.uri().query());
    match (path.as_str(), &method) {
        ("/api/v0/schedule", _) if rpc_method => {
            let index = match index() {
                Ok(index) => index,
                Err(problem) => return rpc(StatusCode::BAD_REQUEST, &problem),
            };
            match read_job(request, options).await {
                Ok(job) => forward(core, |reply| CoreMessage::Schedule { job, index, reply }).await,
                Err(response) => response,
            }
        }
        ("/api/v0/unschedule", _) if rpc_method => {
            let index = match index() {
                Ok(index) => index,
                Err(problem) => return rpc(StatusCode::BAD_REQUEST, &problem),
            };
            match read_job(request, options).await {
                Ok(job) => {
                    let target = UnscheduleTarget::Config(job);
                    let make = |reply| CoreMessage::Unschedule {
                        target,
                        index,
                        reply,
                    };
                    forward(core, make).await
                }
                Err(response) => response,
            }
        }
        (path, _) if rpc_method && path.starts_with("/api/v0/unschedule/") => {
            let hash = &path["/api/v0/unschedule/".len()..];
            if hash.is_empty() || hash.contains('/') {
                return rpc(StatusCode::NOT_FOUND, &format!("no such path {requested}"));
            }
            let index = match index() {
                Ok(index) => index,
                Err(problem) => return rpc(StatusCode::BAD_REQUEST, &problem),
            };
            let target = UnscheduleTarget::Hash(JobHash::new(hash));
            let make = |reply| CoreMessage::Unschedule {
                target,
                index,
                reply,
            };
            forward(core, make).await
        }
        ("/api/v0/plan", &Method::POST) => match read_body(request, options).await {
            Ok(body) => plan_api::plan(core, &body).await,
            Err(response) => response,
        },
        (path, &Method::GET) if path.starts_with("/api/v0/why/") => {
            let hash = &path["/api/v0/why/".len()..];
            if hash.is_empty() || hash.contains('/') {
                return rpc(StatusCode::NOT_FOUND, &format!("no such path {requested}"));
            }
            plan_api::why(core, hash).await
        }
        ("/api/v0/migrate", _) if rpc_method => {
            let index = match index() {
                Ok(index) => index,
                Err(problem) => return rpc(StatusCode::BAD_REQUEST, &problem),
            };
            match read_body(request, options).await {
                Ok(bytes) => match rollouts_api::decode_migrate(&bytes) {
                    Ok(migrate) => {
                        let make = |reply| CoreMessage::Migrate {
                            migrate,
                            index,
                            reply,
                        };
                        forward(core, make).await
                    }
                    Err(msg) => rpc(StatusCode::BAD_REQUEST, &msg),
                },
                Err(response) => response,
            }
        }
        ("/api/v0/drain" | "/api/v0/undrain", _) if rpc_method => {
            let drain = path == "/api/v0/drain";
            match read_body(request, options).await {
                Ok(bytes) => match rollouts_api::decode_drain(&bytes) {
                    Ok(agent) => {
                        forward(core, |reply| CoreMessage::Drain {
                            agent,
                            drain,
                            reply,
                        })
                        .await
                    }
                    Err(msg) => rpc(StatusCode::BAD_REQUEST, &msg),
                },
                Err(response) => response,
            }
        }
        ("/api/v0/drains", &Method::GET) => match core.query(Query::Drains).await {
            Ok(drains) => json(StatusCode::OK, &drains),
            Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
        },
        ("/api/v0/rollouts", &Method::GET) => match core.query(Query::Rollouts).await {
            Ok(rollouts) => json(StatusCode::OK, &rollouts),
            Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
        },
        (path, _) if path.starts_with("/api/v0/rollouts/") => {
            let rest = &path["/api/v0/rollouts/".len()..];
            let (number, abort) = match rest.strip_suffix("/abort") {
                Some(number) => (number, true),
                None => (rest, false),
            };
            let id = match rollouts_api::rollout_id(number) {
                Ok(id) => id,
                Err((status, msg)) => return rpc(status, &msg),
            };
            match (abort, &method) {
                (true, _) if rpc_method => {
                    forward(core, |reply| CoreMessage::AbortRollout {
                        rollout: id,
                        reply,
                    })
                    .await
                }
                (false, &Method::GET) => match core.query(Query::Rollouts).await {
                    Ok(rollouts) => match rollouts.into_iter().find(|r| r.id == id) {
                        Some(rollout) => json(StatusCode::OK, &rollout),
                        None => rpc(StatusCode::NOT_FOUND, &format!("no rollout {id}")),
                    },
                    Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
                },
                _ => rpc(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("{method} is not allowed on {path}"),
                ),
            }
        }
        ("/api/v0/registry", &Method::GET) => match core.query(Query::Registry).await {
            Ok(jobs) => json(StatusCode::OK, &*jobs),
            Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
        },
        ("/api/v0/proxy", &Method::GET) => match core.query(Query::Proxy).await {
            Ok(proxy) => json(StatusCode::OK, &proxy),
            Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
        },
        ("/metrics", &Method::GET) => match core.query(Query::Metrics).await {
            Ok(snapshot) => Response::builder()
                .status(StatusCode::OK)
                .header(
                    "content-type",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
                .body(Full::new(Bytes::from(metrics::encode(&snapshot))))
                .expect("static response parts"),
            Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
        },
        (
            "/api/v0/schedule" | "/api/v0/unschedule" | "/api/v0/registry" | "/api/v0/proxy"
            | "/api/v0/plan" | "/metrics" | "/api/v0/migrate" | "/api/v0/drain" | "/api/v0/undrain"
            | "/api/v0/drains" | "/api/v0/rollouts",
            _,
        ) => rpc(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {path}"),
        ),
        _ => rpc(StatusCode::NOT_FOUND, &format!("no such path {requested}")),
    }
}

async fn forward(
    core: &CoreHandle,
    make: impl FnOnce(tokio::sync::oneshot::Sender<Reply>) -> CoreMessage,
) -> ApiResponse {
    match core.request(make).await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status_code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // The wire format's body, with the registry index the answer
            // was made at (our addition; clients of the original ignore it).
            json(
                status,
                &IndexedReply {
                    status_code: status.as_u16(),
                    msg: reply.msg,
                    index: reply.index,
                },
            )
        }
        Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
    }
}

/// Reads and decodes a JobConfig body, or the error response to send.
async fn read_job(
    request: Request<Incoming>,
    options: &ApiOptions,
) -> Result<JobConfig, ApiResponse> {
    let bytes = read_body(request, options).await?;
    serde_json::from_slice(&bytes)
        .map_err(|error| rpc(StatusCode::BAD_REQUEST, &format!("invalid JSON: {error}")))
}

/// Reads a body within the size and time limits, or the error response to
/// send.
async fn read_body(request: Request<Incoming>, options: &ApiOptions) -> Result<Bytes, ApiResponse> {
    let limit = options.max_body_bytes;
    let read = crate::request_body::read_limited(request.into_body(), limit);
    let bytes = match tokio::time::timeout(options.body_timeout, read).await {
        Err(_) => {
            return Err(rpc(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            ));
        }
        Ok(Err(BodyError::TooLarge(_))) => {
            return Err(rpc(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body larger than {limit} bytes"),
            ));
        }
        Ok(Err(error)) => return Err(rpc(StatusCode::BAD_REQUEST, &error.to_string())),
        Ok(Ok(bytes)) => bytes,
    };
    Ok(bytes)
}

/// `{"status_code", "msg", "index"}`: a schedule or unschedule answer.
#[derive(Serialize)]
struct IndexedReply {
    status_code: u16,
    msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
}

/// An RPC-style answer: `{"status_code", "msg"}`.
pub fn rpc(status: StatusCode, msg: &str) -> ApiResponse {
    json(
        status,
        &RpcReply {
            status_code: status.as_u16(),
            msg: msg.to_owned(),
        },
    )
}

pub(super) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> ApiResponse {
    let body = serde_json::to_vec(value).expect("API answers always encode");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}
