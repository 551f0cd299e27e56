//! End-to-end: an artifact that plants a symbolic link out of its root
//! directory (`esc -> <a directory outside the data directory>`) cannot make
//! the agent create, replace or enter anything there, by any of the paths a
//! config names (storage.tmp, a volume's mount point, working_dir). The
//! container fails with an error naming the path, and deleting it leaves
//! the outside directory as it was.

#[path = "agent_support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use support::http::{EventStream, Item};
use support::{Agent, Entry, TempDir, artifact_of, config};

/// The names in `dir`, sorted, with `/` after directories and `@` after
/// symbolic links, to compare before and after.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            let suffix = if kind.is_symlink() {
                "@"
            } else if kind.is_dir() {
                "/"
            } else {
                ""
            };
            format!("{}{suffix}", entry.file_name().to_string_lossy())
        })
        .collect();
    names.sort();
    names
}

/// Reads events until one reports `id` with `status`, and returns its
/// instance; fails the test after the deadline (keep-alives keep the
/// stream itself from timing out).
fn wait_for_event(stream: &mut EventStream, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + support::DEADLINE;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        match stream.next_item() {
            Item::Data(data) => {
                let event: Value = serde_json::from_str(&data).unwrap();
                let instance = &event["containers"][id];
                if instance["status"] == status {
                    return instance.clone();
                }
                if !instance.is_null() {
                    last = instance.clone();
                }
            }
            Item::Comment(_) => {}
            Item::End => panic!("the event stream ended"),
        }
    }
    panic!("timed out waiting for {id} to be {status}; last: {last}");
}

/// An artifact with a link `esc` to `outside`, and a program in `/bin`.
fn hostile_artifact(dir: &Path, outside: &Path) -> String {
    let outside = outside.display().to_string();
    artifact_of(
        dir,
        "hostile.tgz",
        &[
            Entry::File("bin/run.sh", "#!/bin/sh\ntouch entered\n"),
            Entry::Symlink("esc", &outside),
        ],
    )
}

/// A directory outside the data directory, with an empty directory `x` in
/// it (a volume's mount point the agent would like to replace).
fn outside_dir(dir: &Path) -> std::path::PathBuf {
    let outside = dir.join("outside");
    std::fs::create_dir_all(outside.join("x")).unwrap();
    std::fs::write(outside.join("keep"), "precious").unwrap();
    outside
}

fn assert_untouched(outside: &Path) {
    assert_eq!(listing(outside), ["keep", "x/"], "outside changed");
    assert_eq!(listing(&outside.join("x")), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(outside.join("keep")).unwrap(),
        "precious"
    );
}

#[test]
fn storage_tmp_through_a_planted_link_fails_and_creates_nothing_outside() {
    let dir = TempDir::new("escape-tmp");
    let outside = outside_dir(dir.path());
    let agent = Agent::start(dir.path(), &[]);
    let mut events = agent.events();
    let mut hostile = config(&hostile_artifact(dir.path(), &outside), &["./run.sh"]);
    hostile["storage"]["tmp"] = json!({ "/esc/x/y": -1 });
    assert_eq!(agent.put("tmp", &hostile).status, 201);
    let deleted = wait_for_event(&mut events, "tmp", "deleted");
    let err = deleted["process_state"]["err"].as_str().unwrap();
    assert!(
        err.contains("storage.tmp path \"/esc/x/y\"") && err.contains("\"/esc\""),
        "{err}"
    );
    assert_untouched(&outside);
}

#[test]
fn a_volume_through_a_planted_link_fails_and_replaces_nothing_outside() {
    let dir = TempDir::new("escape-volume");
    let outside = outside_dir(dir.path());
    let volume = dir.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let volume = volume.display().to_string();
    let agent = Agent::start(dir.path(), &["--vol", &volume]);
    let mut events = agent.events();
    let mut hostile = config(&hostile_artifact(dir.path(), &outside), &["./run.sh"]);
    hostile["storage"]["volumes"] = json!({ "/esc/x": volume });
    assert_eq!(agent.put("vol", &hostile).status, 201);
    let deleted = wait_for_event(&mut events, "vol", "deleted");
    let err = deleted["process_state"]["err"].as_str().unwrap();
    assert!(
        err.contains("volume path \"/esc/x\"") && err.contains("\"/esc\""),
        "{err}"
    );
    assert_untouched(&outside);
}

#[test]
fn a_working_dir_through_a_planted_link_is_not_entered() {
    let dir = TempDir::new("escape-workdir");
    let outside = outside_dir(dir.path());
    let agent = Agent::start(dir.path(), &[]);
    let mut hostile = config(
        &hostile_artifact(dir.path(), &outside),
        &["/bin/sh", "-c", "touch entered"],
    );
    hostile["command"]["working_dir"] = json!("/esc/x");
    assert_eq!(agent.put("work", &hostile).status, 201);
    agent.wait_for("work", "created", |_| true);
    let answer = agent.start_container("work");
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(
        answer.body.contains("working_dir \"/esc/x\"") && answer.body.contains("\"/esc\""),
        "{}",
        answer.body
    );
    let failed = agent.wait_for("work", "failed", |_| true);
    let err = failed["process_state"]["err"].as_str().unwrap();
    assert!(err.contains("working_dir \"/esc/x\""), "{err}");
    assert_untouched(&outside);

    // Deleting the container removes its link, not what the link points to.
    assert_eq!(agent.delete("work").status, 200);
    support::wait_until("the container directory to go", || {
        let containers = agent.data_dir.join("containers");
        let left = listing(&containers);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    assert_untouched(&outside);
}
