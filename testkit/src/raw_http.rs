//! A minimal HTTP/1.1 client on `std::net::TcpStream`, so that a test
//! controls every byte sent (bodies that are not JSON, oversized heads,
//! requests no client library would send), with the chunked decoding
//! needed to read server-sent-event streams as they arrive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// Longest a read may block before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// A complete answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded if chunked.
    pub body: String,
}

impl Response {
    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| {
            panic!(
                "answer is not JSON ({error}): {} {}",
                self.status, self.body
            )
        })
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one request on a new connection and reads the whole answer.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut stream = connect(address);
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The agent may answer (413) before reading everything; a failed write
    // is then expected, and the answer is still there to read.
    let _ = stream.write_all(body);
    read_response(&mut BufReader::new(stream))
}

/// Sends `bytes` as they are on a new connection (a request no client
/// library would send) and reads the one answer.
pub fn exchange(address: &str, bytes: &[u8]) -> Response {
    let mut stream = connect(address);
    // The server may answer and close before reading everything; a failed
    // write is then expected, and the answer is still there to read.
    let _ = stream.write_all(bytes);
    read_response(&mut BufReader::new(stream))
}

/// Reads the one answer on `stream` (15 s at most per read).
pub fn read_answer(stream: TcpStream) -> Response {
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    read_response(&mut BufReader::new(stream))
}

/// Reads answers on `stream` until the server closes it (15 s at most per
/// read): what a server sends to pipelined requests.
pub fn read_answers(stream: TcpStream) -> Vec<Response> {
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut reader = BufReader::new(stream);
    let mut answers = Vec::new();
    while !reader.fill_buf().unwrap_or_default().is_empty() {
        answers.push(read_response(&mut reader));
    }
    answers
}

/// Reads one answer: its body is as long as its `content-length` says,
/// chunked, or what comes until the connection closes.
fn read_response(reader: &mut BufReader<TcpStream>) -> Response {
    let (status, headers) = read_head(reader);
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.clone())
    };
    let mut bytes = Vec::new();
    if header("transfer-encoding").is_some_and(|value| value.contains("chunked")) {
        Chunked::new(reader).read_to_end(&mut bytes).unwrap();
    } else if let Some(length) = header("content-length").and_then(|value| value.parse().ok()) {
        bytes.resize(length, 0);
        reader.read_exact(&mut bytes).unwrap();
    } else {
        reader.read_to_end(&mut bytes).unwrap();
    }
    Response {
        status,
        headers,
        body: String::from_utf8(bytes).unwrap(),
    }
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address)
        .unwrap_or_else(|error| panic!("connecting to {address}: {error}"));
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream
}

fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            return (status, headers);
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
}

/// Decodes a chunked body; ends at the last (empty) chunk.
struct Chunked<R> {
    inner: R,
    left_in_chunk: usize,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            left_in_chunk: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left_in_chunk == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                self.done = true;
                return Ok(0);
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left_in_chunk = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if self.left_in_chunk == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let wanted = buf.len().min(self.left_in_chunk);
        let read = self.inner.read(&mut buf[..wanted])?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left_in_chunk -= read;
        if self.left_in_chunk == 0 {
            let mut crlf = [0u8; 2];
            self.inner.read_exact(&mut crlf)?;
        }
        Ok(read)
    }
}

/// One thing read from an event stream.
#[derive(Debug)]
pub enum Item {
    /// The `data:` of one event.
    Data(String),
    /// A comment line (keep-alive).
    Comment(String),
    /// The stream ended.
    End,
}

/// An open server-sent-event stream.
pub struct EventStream {
    reader: BufReader<Chunked<BufReader<TcpStream>>>,
    /// The status the stream was answered with.
    pub status: u16,
}

impl EventStream {
    /// Opens `GET path` as an event stream.
    pub fn open(address: &str, path: &str) -> EventStream {
        let mut stream = connect(address);
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let (status, _) = read_head(&mut reader);
        EventStream {
            reader: BufReader::new(Chunked::new(reader)),
            status,
        }
    }

    /// The next event's data or comment (blank lines skipped).
    pub fn next_item(&mut self) -> Item {
        let mut data = Vec::new();
        loop {
            let mut line = String::new();
            let read = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|error| panic!("reading the event stream: {error}"));
            if read == 0 {
                return Item::End;
            }
            let line = line.trim_end_matches('\n');
            if let Some(comment) = line.strip_prefix(':') {
                return Item::Comment(comment.trim().to_owned());
            }
            if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            } else if line.is_empty() && !data.is_empty() {
                return Item::Data(data.join("\n"));
            }
        }
    }

    /// The next event (skipping keep-alives), as JSON.
    pub fn next_event(&mut self) -> Value {
        loop {
            match self.next_item() {
                Item::Data(data) => {
                    return serde_json::from_str(&data).expect("event data is JSON");
                }
                Item::Comment(_) => continue,
                Item::End => panic!("the event stream ended"),
            }
        }
    }

    /// The next event's data as text (skipping keep-alives).
    pub fn next_data(&mut self) -> String {
        loop {
            match self.next_item() {
                Item::Data(data) => return data,
                Item::Comment(_) => continue,
                Item::End => panic!("the stream ended"),
            }
        }
    }
}
