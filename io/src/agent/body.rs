//! Request bodies (read within a limit) and the response shapes of the
//! agent API: text, JSON and event streams.

use std::convert::Infallible;
use std::fmt::Display;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use super::error::HttpStatus;
use super::sse::SseBody;

/// The body type of every response.
pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// A plain-text answer. Error texts end with a newline, as the original
/// agent's (Go's `http.Error`) do.
pub(crate) fn text(status: StatusCode, text: impl Into<String>) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(text.into())).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The answer for an error: its status, and its message as text.
pub(crate) fn error(error: &(impl HttpStatus + Display)) -> Response<ResponseBody> {
    text(error.status(), format!("{error}\n"))
}

/// A 200 answer with `value` as JSON.
pub(crate) fn json(value: &impl Serialize) -> Response<ResponseBody> {
    let Ok(bytes) = serde_json::to_vec(value) else {
        // Our wire types always encode; this would be a bug, not bad input.
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the answer as JSON\n",
        );
    };
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A 200 answer streaming server-sent events.
pub(crate) fn stream(body: SseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body.boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) use crate::request_body::{BodyError, read_within};

impl HttpStatus for BodyError {
    fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }
}
