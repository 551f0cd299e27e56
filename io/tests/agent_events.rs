//! End-to-end: the event stream. Its first event holds everything, later
//! ones only what changed; `deleted` announces removal, including after a
//! failed preparation; keep-alive comments flow; a slow subscriber is
//! dropped without holding the agent up.

#[path = "agent_support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::http::Item;
use support::{Agent, SLEEPER, TempDir, artifact, config, wait_until};

/// The IDs of an event's containers, with their statuses.
fn statuses(event: &Value) -> Vec<(String, String)> {
    event["containers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, instance)| (id.clone(), instance["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn pair(id: &str, status: &str) -> (String, String) {
    (id.to_owned(), status.to_owned())
}

#[test]
fn the_stream_starts_with_everything_then_sends_changes() {
    let dir = TempDir::new("events");
    let agent = Agent::start(dir.path(), &[]);
    let url = artifact(dir.path(), "sleeper.tgz", &[("bin/run.sh", SLEEPER)]);

    let mut early = agent.events();
    assert_eq!(early.status, 200);
    let first = early.next_event();
    assert_eq!(statuses(&first), []);
    assert_eq!(
        first["resources"]["cpus"],
        json!({ "total": 4, "reserved": 0 })
    );

    assert_eq!(agent.put("web", &config(&url, &["./run.sh"])).status, 201);
    let created = early.next_event();
    assert_eq!(statuses(&created), [pair("web", "created")]);
    assert_eq!(
        created["resources"]["mem"],
        json!({ "total": 4096, "reserved": 64 })
    );
    assert_eq!(agent.start_container("web").status, 202);
    assert_eq!(statuses(&early.next_event()), [pair("web", "running")]);

    // A second subscriber starts with everything there is now.
    let mut late = agent.events();
    let everything = late.next_event();
    assert_eq!(statuses(&everything), [pair("web", "running")]);
    assert_eq!(everything["containers"]["web"]["process_state"]["up"], true);

    // A PUT of `{}` is accepted, then reported deleted, as real agents do,
    // with every validation problem in `err`.
    let empty = agent.put("empty", &json!({}));
    assert_eq!(empty.status, 201);
    for stream in [&mut early, &mut late] {
        let deleted = stream.next_event();
        assert_eq!(statuses(&deleted), [pair("empty", "deleted")]);
        let err = deleted["containers"]["empty"]["process_state"]["err"]
            .as_str()
            .unwrap();
        assert!(
            err.contains("\"product\" not set") && err.contains("resources.cpu"),
            "{err}"
        );
    }

    assert_eq!(agent.stop_container("web").status, 202);
    assert_eq!(statuses(&late.next_event()), [pair("web", "finished")]);
    assert_eq!(agent.delete("web").status, 200);
    let deleted = late.next_event();
    assert_eq!(statuses(&deleted), [pair("web", "deleted")]);
    assert_eq!(deleted["resources"]["mem"]["reserved"], 0, "freed");

    // Quiet now: keep-alive comments (every 200ms here) show it is alive.
    assert!(matches!(late.next_item(), Item::Comment(text) if text == "keep-alive"));
}

#[test]
fn a_failed_preparation_is_reported_deleted() {
    let dir = TempDir::new("bad-artifact");
    let agent = Agent::start(dir.path(), &[]);
    let mut events = agent.events();
    events.next_event();
    let missing = config("file:///nonexistent/artifact.tgz", &["./run.sh"]);
    assert_eq!(agent.put("lost", &missing).status, 201);
    let deleted = events.next_event();
    assert_eq!(statuses(&deleted), [pair("lost", "deleted")]);
    let err = deleted["containers"]["lost"]["process_state"]["err"]
        .as_str()
        .unwrap();
    assert!(err.contains("/nonexistent/artifact.tgz"), "{err}");
    assert_eq!(deleted["resources"]["cpus"]["reserved"], 0);
    assert_eq!(agent.request("GET", "/containers/lost", None).status, 404);

    let unsupported = config("https://example.com/artifact.tgz", &["./run.sh"]);
    assert_eq!(agent.put("tls", &unsupported).status, 201);
    let deleted = events.next_event();
    let err = deleted["containers"]["tls"]["process_state"]["err"]
        .as_str()
        .unwrap();
    assert!(err.contains("unsupported artifact URL"), "{err}");
}

#[test]
fn a_slow_subscriber_is_dropped_and_the_agent_carries_on() {
    let dir = TempDir::new("slow");
    let agent = Agent::start(dir.path(), &[]);
    let mut slow = agent.events();
    // Never read while the agent produces far more than the subscriber
    // queue and the socket buffers hold: each event carries a 100 KB config.
    let mut bulky = json!({ "env": { "BULK": "x".repeat(100 * 1024) } });
    for i in 0..300 {
        bulky["job"] = json!(format!("job{i}"));
        let answer = agent.put(&format!("bulky-{i}"), &bulky);
        assert_eq!(
            answer.status, 201,
            "the agent must not wait for a slow subscriber"
        );
    }
    // The agent still answers, and new subscribers are served.
    assert_eq!(agent.request("GET", "/resources", None).status, 200);
    let mut fresh = agent.events();
    assert_eq!(statuses(&fresh.next_event()), []);
    // The slow stream was cut: reading it now reaches its end, after the
    // events that were queued before it fell behind.
    let mut events = 0;
    let end = wait_until("the slow stream to end", || match slow.next_item() {
        Item::End => Ok(events),
        Item::Data(_) => {
            events += 1;
            Err(format!("{events} events read"))
        }
        Item::Comment(_) => Err("a keep-alive".to_owned()),
    });
    assert!((1..300).contains(&end), "read {end} events before the end");
    assert!(
        agent
            .log()
            .contains("dropping an event subscriber that does not keep up")
    );
}

#[test]
fn a_container_being_prepared_is_not_shown_yet_but_can_be_started_stopped_and_deleted() {
    let dir = TempDir::new("preparing");
    let agent = Agent::start(dir.path(), &[]);
    // A server that accepts the connection and never answers: the
    // preparation stays under way for as long as the test needs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/slow.tgz", silent.local_addr().unwrap());
    let mut events = agent.events();
    events.next_event();
    assert_eq!(agent.put("slow", &config(&url, &["./run.sh"])).status, 201);
    // Not `created` until prepared, by any way of asking: a client that
    // starts what it sees `created` must find its directory complete.
    let answer = agent.request("GET", "/containers/slow", None);
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(answer.body.contains("being prepared"), "{}", answer.body);
    let listing = agent.request("GET", "/containers", None).json();
    assert_eq!(listing, json!({}), "not listed");
    let mut late = agent.events();
    assert!(
        statuses(&late.next_event()).is_empty(),
        "not in a first event"
    );
    assert_eq!(agent.start_container("slow").status, 202, "kept for later");
    assert_eq!(
        agent.stop_container("slow").status,
        202,
        "the kept start is dropped"
    );
    assert_eq!(
        agent.stop_container("slow").status,
        409,
        "nothing left to stop"
    );
    assert_eq!(agent.delete("slow").status, 200);
    // No `created` before: it was never prepared.
    assert_eq!(statuses(&events.next_event()), [pair("slow", "deleted")]);
    let containers = agent.data_dir.join("containers");
    wait_until("the cancelled preparation's directory to go", || {
        let left = std::fs::read_dir(&containers).unwrap().count();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} left"))
        }
    });
}

#[test]
fn shutting_down_ends_the_streams_and_exits_cleanly() {
    let dir = TempDir::new("shutdown");
    let mut agent = Agent::start(dir.path(), &[]);
    let mut events = agent.events();
    events.next_event();
    assert!(agent.terminate(), "the agent exits successfully");
    wait_until("the stream to end", || match events.next_item() {
        Item::End => Ok(()),
        other => Err(format!("{other:?}")),
    });
    assert!(agent.log().contains("shutting down"));
}
