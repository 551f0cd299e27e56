//! Every request head is checked here before hyper reads it, so that the
//! answer to a head the API refuses carries the wire format's
//! `{"status_code", "msg"}` body.
//!
//! hyper answers the heads it cannot parse itself (431 past its buffer or
//! header count, 414 past the `http` crate's URI length, 400 for a
//! malformed line), with an empty body and no way to change it, and closes
//! a connection whose head is late without any answer. So the connection's
//! bytes pass through [`GuardedIo`] first: it follows the requests' framing
//! (heads, `Content-Length` and chunked bodies) and checks each head, with
//! limits tighter than hyper's, so hyper never meets one it would refuse.
//! A refused head is never given to hyper: hyper sees the connection end
//! there, finishes answering the requests before it, and shuts the
//! connection down; the refusal is written then, last, as HTTP/1.1 wants
//! (the server closes after a response to a request it could not read).
//! Bodies pass through unchanged; a body whose chunked framing cannot be
//! followed is left to hyper, which refuses it through the API's own error
//! path and ends the connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use harpoon_core::wire::RpcReply;
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Limits on a request head; each is below hyper's own, so hyper never
/// refuses a head these allow.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Longest request target (path and query), in bytes: 414 past it.
    pub max_target_bytes: usize,
    /// Longest head (request line and header fields), in bytes: 431 past it.
    pub max_head_bytes: usize,
    /// Most header fields: 431 past them (hyper's own limit is 100).
    pub max_headers: usize,
    /// How long a head may take from its first byte: 408 past it.
    pub header_timeout: Duration,
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits {
            max_target_bytes: 8 * 1024,
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Longest chunk-size line or trailer section followed; past it the
/// framing is left to hyper.
const MAX_FRAMING_LINE: usize = 8 * 1024;

/// Where in the request stream the guard is.
#[derive(Debug)]
enum Framing {
    /// Reading a head (held back until it is whole and checked).
    Head,
    /// Inside a body of known length: this many bytes are left.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Framing lost (a malformed chunked body): everything passes, hyper
    /// judges it and ends the connection.
    PassThrough,
}

/// Where in a chunked body.
#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line; the bytes of it seen so far.
    Size(Vec<u8>),
    /// Inside a chunk's data: this many bytes are left.
    Data(u64),
    /// The CRLF after a chunk's data: this many bytes are left.
    DataEnd(u8),
    /// After the last chunk: the trailer section seen so far.
    Trailers(Vec<u8>),
}

/// A connection whose request heads are checked before hyper reads them.
pub struct GuardedIo<T> {
    inner: T,
    limits: HeadLimits,
    peer: SocketAddr,
    framing: Framing,
    /// The head being read, not yet whole.
    head: BytesMut,
    /// Bytes checked, not yet read by hyper.
    ready: BytesMut,
    /// The deadline of the head being read.
    head_deadline: Option<Pin<Box<Sleep>>>,
    /// The answer to a refused head, written when hyper shuts down.
    refusal: Option<BytesMut>,
    /// The connection ended on our side (EOF, or a head refused).
    read_closed: bool,
}

impl<T> GuardedIo<T> {
    /// Guards `inner`, a connection from `peer`.
    pub fn new(inner: T, limits: HeadLimits, peer: SocketAddr) -> GuardedIo<T> {
        GuardedIo {
            inner,
            limits,
            peer,
            framing: Framing::Head,
            head: BytesMut::new(),
            ready: BytesMut::new(),
            head_deadline: None,
            refusal: None,
            read_closed: false,
        }
    }

    /// Follows `data` through the framing: body bytes are ready at once,
    /// head bytes when the head is whole and allowed.
    fn take(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.refusal.is_none() {
            match &mut self.framing {
                Framing::PassThrough => {
                    self.ready.extend_from_slice(data);
                    return;
                }
                Framing::Body(left) => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                    self.ready.extend_from_slice(&data[..n]);
                    *left -= n as u64;
                    if *left == 0 {
                        self.framing = Framing::Head;
                    }
                    data = &data[n..];
                }
                Framing::Chunked(chunk) => {
                    let n = chunk_step(chunk, data);
                    self.ready.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if let Some(next) = chunk_next(chunk) {
                        self.framing = next;
                    }
                }
                Framing::Head => {
                    // Empty lines before a request line are allowed (and
                    // skipped by hyper): they are no head.
                    if self.head.is_empty() {
                        let blank = data
                            .iter()
                            .take_while(|b| matches!(b, b'\r' | b'\n'))
                            .count();
                        self.ready.extend_from_slice(&data[..blank]);
                        data = &data[blank..];
                        if data.is_empty() {
                            return;
                        }
                        self.head_deadline =
                            Some(Box::pin(tokio::time::sleep(self.limits.header_timeout)));
                    }
                    let before = self.head.len();
                    self.head.extend_from_slice(data);
                    match check_head(&self.head, &self.limits) {
                        Checked::Partial => return,
                        Checked::Refused(status, msg) => self.refuse(status, &msg),
                        Checked::Allowed { length, body } => {
                            self.ready.extend_from_slice(&self.head[..length]);
                            self.head.clear();
                            self.head_deadline = None;
                            self.framing = match body {
                                Body::None => Framing::Head,
                                Body::Length(length) => Framing::Body(length),
                                Body::Chunked => Framing::Chunked(Chunk::Size(Vec::new())),
                            };
                            // What followed the head in `data`.
                            data = &data[length - before..];
                        }
                    }
                }
            }
        }
    }

    fn refuse(&mut self, status: StatusCode, msg: &str) {
        tracing::info!(peer = %self.peer, status = status.as_u16(), "request refused: {msg}");
        self.refusal = Some(refusal(status, msg));
        self.head = BytesMut::new();
        self.head_deadline = None;
        self.read_closed = true;
    }
}

/// Advances a chunked body's framing over the start of `data`, a line at
/// most; returns how many bytes it took (all of them body bytes).
fn chunk_step(chunk: &mut Chunk, data: &[u8]) -> usize {
    match chunk {
        Chunk::Size(line) | Chunk::Trailers(line) => {
            let end = data
                .iter()
                .position(|b| *b == b'\n')
                .map_or(data.len(), |i| i + 1);
            line.extend_from_slice(&data[..end]);
            end
        }
        Chunk::Data(left) => {
            let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
            *left -= n as u64;
            n
        }
        Chunk::DataEnd(left) => {
            let n = usize::from(*left).min(data.len());
            *left -= n as u8;
            n
        }
    }
}

/// Moves a chunked body's framing on once a part of it is complete;
/// returns the framing that follows the body, once it has ended (or the
/// pass-through, once it cannot be followed).
fn chunk_next(chunk: &mut Chunk) -> Option<Framing> {
    match chunk {
        Chunk::Size(line) | Chunk::Trailers(line) if line.len() > MAX_FRAMING_LINE => {
            Some(Framing::PassThrough)
        }
        Chunk::Size(line) if line.ends_with(b"\n") => match httparse::parse_chunk_size(line) {
            Ok(httparse::Status::Complete((_, 0))) => {
                *chunk = Chunk::Trailers(Vec::new());
                None
            }
            Ok(httparse::Status::Complete((_, size))) => {
                *chunk = Chunk::Data(size);
                None
            }
            _ => Some(Framing::PassThrough),
        },
        Chunk::Data(0) => {
            *chunk = Chunk::DataEnd(2);
            None
        }
        Chunk::DataEnd(0) => {
            *chunk = Chunk::Size(Vec::new());
            None
        }
        Chunk::Trailers(section) if section == b"\r\n" || section.ends_with(b"\r\n\r\n") => {
            Some(Framing::Head)
        }
        _ => None,
    }
}

/// How the body after an allowed head is framed.
#[derive(Debug, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
}

/// The verdict on a head read so far.
#[derive(Debug, PartialEq, Eq)]
enum Checked {
    /// Not whole yet, and within the limits so far.
    Partial,
    /// Whole and allowed: `length` bytes, followed by this body.
    Allowed { length: usize, body: Body },
    /// Refused with this status and message.
    Refused(StatusCode, String),
}

/// Checks a head read so far against `limits` and the rules hyper
/// enforces, so that hyper accepts every head allowed here.
fn check_head(head: &[u8], limits: &HeadLimits) -> Checked {
    let refused = |status, msg: String| Checked::Refused(status, msg);
    // The request line's target, as soon as it is known to be too long,
    // even before the line ends.
    let line_end = head.iter().position(|b| *b == b'\n');
    let line = &head[..line_end.unwrap_or(head.len())];
    let target_bytes = line.split(|b| *b == b' ').nth(1).map_or(0, <[u8]>::len);
    let method_bytes = line.iter().take_while(|b| **b != b' ').count();
    if target_bytes > limits.max_target_bytes
        || (line_end.is_none() && line.len() > limits.max_target_bytes + method_bytes + 16)
    {
        return refused(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request target is longer than {} bytes",
                limits.max_target_bytes
            ),
        );
    }
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(head) {
        Ok(httparse::Status::Partial) if head.len() > limits.max_head_bytes => {
            return refused(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "the request head is larger than {} bytes",
                    limits.max_head_bytes
                ),
            );
        }
        Ok(httparse::Status::Partial) => return Checked::Partial,
        Ok(httparse::Status::Complete(length)) => length,
        Err(httparse::Error::TooManyHeaders) => {
            return refused(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("more than {} header fields", limits.max_headers),
            );
        }
        // Another version of HTTP, rather than something else entirely.
        Err(httparse::Error::Version)
            if line
                .split(|b| *b == b' ')
                .nth(2)
                .is_some_and(|v| v.starts_with(b"HTTP/")) =>
        {
            return refused(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "only HTTP/1.0 and HTTP/1.1 are served".to_owned(),
            );
        }
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("malformed request head: {error}"),
            );
        }
    };
    if length > limits.max_head_bytes {
        return refused(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request head is larger than {} bytes",
                limits.max_head_bytes
            ),
        );
    }
    let target = request.path.unwrap_or_default();
    if hyper::Uri::try_from(target).is_err() {
        return refused(
            StatusCode::BAD_REQUEST,
            "the request target is not a valid URI".to_owned(),
        );
    }
    let mut content_length: Option<u64> = None;
    let mut codings: Vec<&[u8]> = Vec::new();
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            for value in header.value.split(|b| *b == b',') {
                let value = value.trim_ascii();
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok());
                match (parsed, content_length) {
                    (Some(n), None) => content_length = Some(n),
                    (Some(n), Some(seen)) if n == seen => {}
                    _ => {
                        return refused(
                            StatusCode::BAD_REQUEST,
                            "Content-Length is not one number".to_owned(),
                        );
                    }
                }
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(header.value.split(|b| *b == b',').map(<[u8]>::trim_ascii));
        }
    }
    let body = if codings.is_empty() {
        match content_length {
            Some(0) | None => Body::None,
            Some(length) => Body::Length(length),
        }
    } else if request.version == Some(0) {
        return refused(
            StatusCode::BAD_REQUEST,
            "Transfer-Encoding is not allowed in HTTP/1.0".to_owned(),
        );
    } else if codings
        .last()
        .is_some_and(|last| last.eq_ignore_ascii_case(b"chunked"))
    {
        Body::Chunked
    } else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Transfer-Encoding must end with chunked".to_owned(),
        );
    };
    Checked::Allowed { length, body }
}

/// The whole answer to a refused head: `{"status_code", "msg"}`, and the
/// connection closes.
fn refusal(status: StatusCode, msg: &str) -> BytesMut {
    let body = serde_json::to_vec(&RpcReply {
        status_code: status.as_u16(),
        msg: msg.to_owned(),
    })
    .expect("an RPC reply always encodes");
    let mut answer = BytesMut::from(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&body);
    answer
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.read_closed {
                // A head cut short by the client's EOF goes to hyper as it
                // is: hyper ends such a connection without an answer, as
                // there is no one left to read it.
                if !this.head.is_empty() {
                    let head = std::mem::take(&mut this.head);
                    this.ready = head;
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(deadline) = &mut this.head_deadline
                && deadline.as_mut().poll(cx).is_ready()
            {
                let timeout = this.limits.header_timeout;
                this.refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!("the request head did not arrive within {timeout:?}"),
                );
                continue;
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.read_closed = true;
                continue;
            }
            this.take(read.filled());
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Writes the refusal, if a head was refused, after everything hyper
    /// wrote: hyper shuts down only once its answers are out.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while let Some(refusal) = &mut this.refusal {
            if refusal.is_empty() {
                this.refusal = None;
                break;
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, refusal))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            refusal.advance(n);
        }
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn check(head: &str) -> Checked {
        check_head(head.as_bytes(), &HeadLimits::default())
    }

    #[test]
    fn heads_are_checked_as_hyper_would_with_tighter_limits() {
        assert_eq!(check("GET / HTTP/1.1\r\nhost: x\r\n"), Checked::Partial);
        let allowed = |head: &str, body| {
            let length = head.len();
            assert_eq!(
                check(&format!("{head}the next request")),
                Checked::Allowed { length, body },
                "{head:?}"
            );
        };
        allowed("GET / HTTP/1.1\r\nhost: x\r\n\r\n", Body::None);
        allowed(
            "PUT / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n",
            Body::Length(5),
        );
        allowed(
            "PUT / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n",
            Body::Chunked,
        );
        let refused = |head: &str| match check(head) {
            Checked::Refused(status, _) => status.as_u16(),
            other => panic!("{head:?} is not refused: {other:?}"),
        };
        // A target too long is refused before its line even ends.
        assert_eq!(refused(&format!("GET /{}", "a".repeat(9000))), 414);
        assert_eq!(
            refused(&format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000))),
            414
        );
        assert_eq!(
            refused(&format!("GET / HTTP/1.1\r\nx: {}", "b".repeat(70_000))),
            431
        );
        assert_eq!(
            refused("PUT / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(refused("PUT / HTTP/1.1\r\ncontent-length: +5\r\n\r\n"), 400);
        assert_eq!(refused("GET http://[::1 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused("GET / HTTP/3\r\n\r\n"), 505);
    }

    /// Serves one connection over an in-memory pipe with `limits`;
    /// returns the client's end.
    fn serve(limits: HeadLimits) -> tokio::io::DuplexStream {
        let (client, server) = tokio::io::duplex(1 << 16);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let service = service_fn(|_request| async {
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
        });
        tokio::spawn(
            http1::Builder::new()
                .timer(TokioTimer::new())
                .half_close(true)
                .serve_connection(TokioIo::new(GuardedIo::new(server, limits, peer)), service),
        );
        client
    }

    /// Everything the server writes until it closes (10 s at most).
    async fn read_answer(mut client: tokio::io::DuplexStream) -> String {
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_string(&mut answer))
            .await
            .expect("answered in time")
            .unwrap();
        answer
    }

    #[tokio::test]
    async fn a_late_head_is_answered_408_with_the_rpc_body() {
        let mut client = serve(HeadLimits {
            header_timeout: Duration::from_millis(200),
            ..HeadLimits::default()
        });
        client.write_all(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
        let answer = read_answer(client).await;
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with(
                "{\"status_code\":408,\"msg\":\"the request head did not arrive within 200ms\"}"
            ),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_head_arriving_a_byte_at_a_time_is_served() {
        let mut client = serve(HeadLimits::default());
        for byte in b"\r\nGET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" {
            client.write_all(&[*byte]).await.unwrap();
        }
        let answer = read_answer(client).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("ok"),
            "{answer}"
        );
    }
}
