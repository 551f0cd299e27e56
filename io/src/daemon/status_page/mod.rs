//! The status page: `GET /` serves the cluster at a glance as one
//! server-rendered HTML page (agents with their committed resources and
//! containers and whether they are drained, jobs with their running,
//! pending and unplaced tasks and the core's explanation of the unplaced,
//! rollouts in progress and recently finished, the core's recent
//! decisions), embedded in the daemon: no script, no file
//! fetched from elsewhere, a meta refresh.
//!
//! - `snapshot`: what the page shows, copied out of the core by the core
//!   task (bounded: a page of agents and of jobs).
//! - `recent_traces`: the ring of the core's latest trace lines.
//! - `rollouts`: the running and latest finished rollouts, in the rollout
//!   API's view.
//! - `render`: the HTML (maud; every value escaped).
//! - `login`: with `--token`, a login form that sets an HttpOnly cookie.

mod login;
mod recent_traces;
mod render;
mod rollouts;
mod snapshot;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

pub use recent_traces::{RECENT_TRACES_KEPT, RecentTrace, RecentTraces};
pub use render::{REFRESH_SECONDS, login_page, status_page};
pub use rollouts::{FINISHED_ROLLOUTS_SHOWN, RUNNING_ROLLOUTS_SHOWN, RolloutsShown};
pub use snapshot::{
    AGENTS_PER_PAGE, AgentRow, ContainerCounts, DECISIONS_SHOWN, JOBS_PER_PAGE, JobRow,
    PageRequest, StatusSnapshot, unplaced_explanation,
};

use super::http::{ApiOptions, rpc};
use super::messages::{CoreHandle, Query};

/// The largest login form accepted: a token and a field name.
const LOGIN_BODY_BYTES: usize = 8 * 1024;

/// Whether `path` is the status page's (`/` and `/ui/…`) rather than the
/// API's.
pub(super) fn serves(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// Answers a request for one of the page's paths.
pub(super) async fn route(
    request: Request<Incoming>,
    core: &CoreHandle,
    options: &ApiOptions,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let token = options.token.as_deref();
    match (path.as_str(), &method) {
        ("/", &Method::GET | &Method::HEAD) => {
            if let Some(token) = token
                && !login::is_authorised(request.headers(), token)
            {
                return html(StatusCode::UNAUTHORIZED, login_page(None));
            }
            let page = PageRequest::from_query(request.uri().query());
            match core.query(|reply| Query::Status(page, reply)).await {
                Ok(snapshot) => html(StatusCode::OK, status_page(&snapshot, token.is_some())),
                Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
            }
        }
        ("/ui/login", &Method::GET) => match token {
            Some(_) => html(StatusCode::OK, login_page(None)),
            None => see_other(None),
        },
        ("/ui/login", &Method::POST) => {
            let Some(token) = token else {
                return see_other(None);
            };
            let read = crate::request_body::read_limited(request.into_body(), LOGIN_BODY_BYTES);
            let given = match tokio::time::timeout(options.body_timeout, read).await {
                Ok(Ok(body)) => login::token_from_form(&body),
                Ok(Err(_)) | Err(_) => None,
            };
            match given {
                Some(given) if given == token => see_other(Some(login::login_cookie(token))),
                Some(_) => html(
                    StatusCode::UNAUTHORIZED,
                    login_page(Some("That is not the token.")),
                ),
                None => html(
                    StatusCode::BAD_REQUEST,
                    login_page(Some("The form had no token field.")),
                ),
            }
        }
        ("/ui/logout", &Method::POST) => see_other(Some(login::logout_cookie())),
        ("/" | "/ui/login" | "/ui/logout", _) => rpc(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {path}"),
        ),
        _ => rpc(StatusCode::NOT_FOUND, &format!("no such path {path}")),
    }
}

/// An HTML answer with headers that keep it to itself: no script, style
/// only its own, no framing, not cached, no referrer.
fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    secured(Response::builder().status(status))
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

/// A redirect to the page, setting `cookie` if given.
fn see_other(cookie: Option<String>) -> Response<Full<Bytes>> {
    let mut response =
        secured(Response::builder().status(StatusCode::SEE_OTHER)).header("location", "/");
    if let Some(cookie) = cookie {
        response = response.header("set-cookie", cookie);
    }
    response
        .body(Full::new(Bytes::new()))
        .expect("static response parts")
}

fn secured(builder: hyper::http::response::Builder) -> hyper::http::response::Builder {
    builder
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        )
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
}
