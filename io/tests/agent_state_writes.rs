//! End-to-end: the agent's state task does not wait on the disk. A write of
//! a container's record that cannot finish (its temporary file is made a
//! FIFO, which blocks whoever opens it for writing until a reader comes)
//! holds back only the answer that depends on it: the agent keeps answering
//! GETs and event streams meanwhile, and the PUT is answered only once its
//! record's fate is known (here: it cannot be flushed, so 500, and the
//! container is gone). A record that can be written is on disk when the
//! PUT is answered.

#[path = "agent_support/mod.rs"]
mod support;

use std::io::Read;

use nix::sys::stat::Mode;
use support::{Agent, TempDir, config, http, wait_until};

#[test]
fn a_stuck_write_holds_back_only_its_own_answer() {
    let dir = TempDir::new("stuck-write");
    let agent = Agent::start(dir.path(), &[]);
    let fifo = agent.data_dir.join("state/.stuck.json.tmp");
    nix::unistd::mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();

    let address = agent.address.clone();
    let body = config("", &["true"]).to_string();
    let put = std::thread::spawn(move || {
        http::request(
            &address,
            "PUT",
            "/api/v0/containers/stuck",
            &[],
            Some(body.as_bytes()),
        )
    });
    // The agent has taken the container in and is writing its record...
    wait_until("the stuck container to be listed", || {
        let listing = agent.request("GET", "/containers", None);
        if listing.json().get("stuck").is_some() {
            Ok(())
        } else {
            Err(listing.body)
        }
    });
    // ...and keeps serving while that write cannot finish.
    assert_eq!(agent.request("GET", "/containers/stuck", None).status, 200);
    assert_eq!(agent.resources()["mem"]["reserved"], 64);
    let mut events = agent.events();
    assert_eq!(events.status, 200);
    assert!(events.next_event()["containers"]["stuck"].is_object());
    assert!(
        !put.is_finished(),
        "the PUT is not answered before its record is written"
    );

    // Let the write go on: the record cannot be flushed to a FIFO, so the
    // PUT is refused and the container is removed again.
    let mut written = String::new();
    std::fs::File::open(&fifo)
        .unwrap()
        .read_to_string(&mut written)
        .unwrap();
    assert!(written.contains("\"container_id\": \"stuck\""), "{written}");
    let answer = put.join().unwrap();
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(
        answer.body.starts_with("cannot record container stuck: "),
        "{}",
        answer.body
    );
    assert_eq!(agent.request("GET", "/containers/stuck", None).status, 404);
    assert_eq!(agent.resources()["mem"]["reserved"], 0);

    // A record that can be written is on disk by the time of the answer.
    assert_eq!(agent.put("fine", &config("", &["true"])).status, 201);
    let record = std::fs::read_to_string(agent.data_dir.join("state/fine.json")).unwrap();
    assert!(record.contains("\"container_id\": \"fine\""), "{record}");
}
