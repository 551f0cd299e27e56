//! Reading request bodies within a limit, for both servers in this crate.
//!
//! A body past the limit is refused with 413, but the refusal only reaches
//! the client if the client can finish sending: HTTP/1.1 clients write the
//! whole body before they read, and a server that closes the connection on
//! unread bytes makes the kernel answer with a reset, so the client sees
//! "broken pipe" instead of our message. So past the limit we keep reading
//! and discarding, up to a second bound ([`DRAIN_FACTOR`] times the limit),
//! the way production servers linger before closing. A body larger than
//! that is cut off without the courtesy: we do not read gigabytes to be
//! polite. Memory stays bounded by the limit either way.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// How many times the limit a refused body may be drained before the
/// connection is closed on it.
pub const DRAIN_FACTOR: usize = 8;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit (the limit is given).
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The connection failed while the body was being read.
    #[error("cannot read the request body: {0}")]
    Read(String),
    /// The body did not arrive in time (the limit is given).
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(std::time::Duration),
}

/// [`read_limited`] within `timeout`: a client that stalls in the middle of
/// its body holds its connection no longer than that.
pub async fn read_within(
    body: Incoming,
    max_bytes: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, BodyError> {
    tokio::time::timeout(timeout, read_limited(body, max_bytes))
        .await
        .unwrap_or(Err(BodyError::TimedOut(timeout)))
}

/// Reads a body of at most `max_bytes`, whether its length is declared or
/// it is chunked. Past the limit the rest is read and dropped (up to
/// [`DRAIN_FACTOR`] × the limit) so the client can read the 413 we answer.
pub async fn read_limited(mut body: Incoming, max_bytes: usize) -> Result<Bytes, BodyError> {
    use hyper::body::Body as _;
    let drain_bound = max_bytes.saturating_mul(DRAIN_FACTOR);
    let declared = body.size_hint().exact();
    if declared.is_some_and(|length| length > drain_bound as u64) {
        return Err(BodyError::TooLarge(max_bytes));
    }
    let mut kept = BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BodyError::Read(error.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we use
        };
        seen = seen.saturating_add(data.len());
        if seen <= max_bytes {
            kept.extend_from_slice(&data);
        } else {
            kept = BytesMut::new();
            if seen > drain_bound {
                break;
            }
        }
    }
    if seen > max_bytes {
        return Err(BodyError::TooLarge(max_bytes));
    }
    Ok(kept.freeze())
}
