//! The agent's log endpoint speaks the original agent's format, which the
//! original `harpoonctl agent log` reads: a JSON array of lines; as a
//! stream, one event holding the history as such an array, then one
//! one-element array per new line.

#[path = "agent_support/mod.rs"]
mod support;

use serde_json::Value;
use support::{Agent, TempDir, config, wait_until};

/// Prints three lines, then one more every 50ms until stopped (no `$`:
/// the agent expands `$NAME` in `exec`).
const TALKER: &str = "echo one; echo 'two <&>'; echo three; \
    exec awk 'BEGIN { for (n = 1; ; n++) { print \"tick \" n; fflush(); system(\"sleep 0.05\") } }'";

/// What the original client does with a stream: decode each event's data
/// as an array of strings and print every line as it is.
fn original_client_prints(events: &[Value]) -> String {
    events
        .iter()
        .flat_map(|event| event.as_array().expect("an array of lines").clone())
        .map(|line| line.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn the_log_is_a_json_array_of_lines_and_streams_as_arrays() {
    let dir = TempDir::new("log-format");
    let agent = Agent::start(dir.path(), &[]);
    let mut talker = config("", &["/bin/sh", "-c", TALKER]);
    talker["command"]["working_dir"] = "/".into();
    assert_eq!(agent.put("talker", &talker).status, 201);
    let started = agent.start_container("talker");
    assert_eq!(started.status, 202, "{}", started.body);
    wait_until("the first ticks", || {
        let log = agent.log_text("talker", "?history=100");
        if log.contains("tick 2\n") {
            Ok(())
        } else {
            Err(log)
        }
    });

    // The last N lines, oldest first, each with its newline.
    let answer = agent.request("GET", "/containers/talker/log?history=100", None);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let lines: Vec<String> = serde_json::from_str(&answer.body).expect("a JSON array");
    assert_eq!(lines[..3], ["one\n", "two <&>\n", "three\n"]);
    assert!(lines.iter().all(|line| line.ends_with('\n')), "{lines:?}");
    let two: Vec<String> = serde_json::from_str(
        &agent
            .request("GET", "/containers/talker/log?history=2", None)
            .body,
    )
    .unwrap();
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|line| line.starts_with("tick ")), "{two:?}");

    // Streamed: the history in one event, then one line per event.
    let mut stream =
        support::http::EventStream::open(&agent.address, "/api/v0/containers/talker/log?history=3");
    assert_eq!(stream.status, 200);
    let history = stream.next_event();
    assert_eq!(history.as_array().map(Vec::len), Some(3), "{history}");
    let mut events = vec![history];
    for _ in 0..3 {
        let event = stream.next_event();
        assert_eq!(event.as_array().map(Vec::len), Some(1), "{event}");
        events.push(event);
    }
    let printed = original_client_prints(&events);
    let printed_lines: Vec<&str> = printed.lines().collect();
    assert_eq!(printed_lines.len(), 6, "{printed}");
    let ticks: Vec<u32> = printed_lines
        .iter()
        .filter_map(|line| line.strip_prefix("tick "))
        .map(|n| n.parse().unwrap())
        .collect();
    // The history ends with at least two ticks; three more were streamed.
    assert!(ticks.len() >= 5, "{printed}");
    assert!(
        ticks.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "consecutive lines, none lost or repeated: {printed}"
    );
    assert_eq!(agent.stop_container("talker").status, 202);
}

#[test]
fn an_empty_log_is_an_empty_array() {
    let dir = TempDir::new("log-empty");
    let agent = Agent::start(dir.path(), &[]);
    assert_eq!(agent.put("quiet", &config("", &["true"])).status, 201);
    let answer = agent.request("GET", "/containers/quiet/log", None);
    assert_eq!((answer.status, answer.body.as_str()), (200, "[]"));
}
