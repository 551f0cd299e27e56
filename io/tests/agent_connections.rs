//! End-to-end: stalled clients cannot silence the agent. With room for N
//! connections, N + 3 clients holding unfinished PUT bodies, or N + 3 idle
//! clients, do not keep a new client from being answered: the connection
//! that waited longest on its client is closed to make room. Each request
//! phase has its deadline: a late body is answered 408, a late head closes
//! the connection.
//!
//! The agent's own phase deadlines are set far beyond the test client's read
//! timeout (15 s), so an answer proves that room was made, not that a
//! deadline passed.

#[path = "agent_support/mod.rs"]
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Agent, TempDir, wait_until};

const ROOM: usize = 8;
const STALLED: usize = ROOM + 3;

fn start_agent(dir: &TempDir, extra: &[&str]) -> Agent {
    let room = ROOM.to_string();
    let mut args = vec!["--connections-max", room.as_str()];
    args.extend_from_slice(extra);
    Agent::start(dir.path(), &args)
}

/// Connects and sends `first_bytes` (possibly nothing), leaving the request
/// unfinished.
fn stall(address: &str, first_bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(first_bytes.as_bytes()).unwrap();
    stream
}

/// Whether the agent has closed `stream` (without waiting for it to).
fn is_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let closed = match (&*stream).read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

/// Checks that a new client is answered while `STALLED` connections stall,
/// and that exactly the connections beyond the room were closed for it.
fn a_new_client_is_answered_despite(agent: &Agent, stalled: &[TcpStream]) {
    let answer = agent.request("GET", "/resources", None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let made_room_for = STALLED + 1 - ROOM;
    let closed = wait_until("room to be made", || {
        let closed = stalled.iter().filter(|stream| is_closed(stream)).count();
        if closed >= made_room_for {
            Ok(closed)
        } else {
            Err(format!("{closed} closed"))
        }
    });
    assert_eq!(closed, made_room_for, "only as many as needed were closed");
}

#[test]
fn unfinished_bodies_do_not_lock_new_clients_out() {
    let dir = TempDir::new("stalled-bodies");
    let agent = start_agent(&dir, &["--header-timeout", "5m", "--body-timeout", "5m"]);
    let stalled: Vec<TcpStream> = (0..STALLED)
        .map(|i| {
            let head = format!(
                "PUT /api/v0/containers/c{i} HTTP/1.1\r\nHost: agent\r\nContent-Length: 1000\r\n\r\n{{"
            );
            stall(&agent.address, &head)
        })
        .collect();
    a_new_client_is_answered_despite(&agent, &stalled);
}

#[test]
fn idle_connections_do_not_lock_new_clients_out() {
    let dir = TempDir::new("idle");
    let agent = start_agent(&dir, &["--header-timeout", "5m", "--body-timeout", "5m"]);
    let stalled: Vec<TcpStream> = (0..STALLED).map(|_| stall(&agent.address, "")).collect();
    a_new_client_is_answered_despite(&agent, &stalled);
    // Accepted in the order they connected, so the first ones waited longest.
    for (index, stream) in stalled.iter().enumerate() {
        assert_eq!(
            is_closed(stream),
            index < STALLED + 1 - ROOM,
            "connection {index}"
        );
    }
}

#[test]
fn a_late_body_is_answered_408_and_a_late_head_is_cut_off() {
    let dir = TempDir::new("deadlines");
    let agent = start_agent(
        &dir,
        &["--header-timeout", "300ms", "--body-timeout", "300ms"],
    );
    let slow_body = stall(
        &agent.address,
        "PUT /api/v0/containers/c1 HTTP/1.1\r\nHost: agent\r\nContent-Length: 1000\r\n\r\n{",
    );
    let answer = support::http::read_answer(slow_body);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(
        answer.body,
        "the request body did not arrive within 300ms\n"
    );

    let slow_head = stall(&agent.address, "GET /api/v0/resources HTTP/1.1\r\nHost: a");
    slow_head
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut rest = Vec::new();
    // Ends (EOF) when the agent gives up on the head, long before the
    // test's own read timeout.
    let _ = (&slow_head).read_to_end(&mut rest);
    assert!(is_closed(&slow_head));
    assert_eq!(agent.request("GET", "/containers/c1", None).status, 404);
}
