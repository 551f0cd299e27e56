//! End-to-end: an agent killed and started again on its data directory
//! recovers every container: a process that still runs is adopted (and can
//! be stopped), one that ended meanwhile is reported failed, and the rest
//! come back as they were.

#[path = "agent_support/mod.rs"]
mod support;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::json;
use support::{Agent, EXITER, PIDFILE, TempDir, artifact, config, wait_until};

fn read_pid(path: &std::path::Path) -> i32 {
    wait_until("the pid file", || {
        let text = std::fs::read_to_string(path).map_err(|error| error.to_string())?;
        text.trim().parse().map_err(|_| text)
    })
}

/// Whether process `pid` has ended. An orphan may stay a zombie until its
/// new parent reaps it, which counts as ended.
fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

/// The status and phase in container `id`'s state file (replaced
/// atomically, so never read half-written).
fn recorded(data_dir: &std::path::Path, id: &str) -> Result<(String, String), String> {
    let path = data_dir.join(format!("state/{id}.json"));
    let text = std::fs::read_to_string(&path).map_err(|error| error.to_string())?;
    let record: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| error.to_string())?;
    let field = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    Ok((
        field(&record["instance"]["status"]),
        field(&record["phase"]["phase"]),
    ))
}

#[test]
fn a_restarted_agent_adopts_or_reports_its_containers() {
    let dir = TempDir::new("recovery");
    let url = artifact(
        dir.path(),
        "scripts.tgz",
        &[("bin/pidfile.sh", PIDFILE), ("bin/exit.sh", EXITER)],
    );
    let mut first = Agent::start(dir.path(), &[]);
    let with_pidfile = |name: &str| {
        let mut config = config(&url, &["./pidfile.sh"]);
        config["env"] = json!({ "PIDFILE": dir.path().join(name).display().to_string() });
        config
    };
    assert_eq!(
        first.put("survivor", &with_pidfile("survivor.pid")).status,
        201
    );
    assert_eq!(first.put("victim", &with_pidfile("victim.pid")).status, 201);
    assert_eq!(
        first.put("done", &config(&url, &["./exit.sh", "0"])).status,
        201
    );
    assert_eq!(
        first.put("idle", &config(&url, &["./exit.sh", "0"])).status,
        201
    );
    for id in ["survivor", "victim", "done"] {
        assert_eq!(first.start_container(id).status, 202);
    }
    let survivor_port_free = first.resources();
    first.wait_for("survivor", "running", |_| true);
    first.wait_for("victim", "running", |_| true);
    first.wait_for("done", "finished", |_| true);
    first.wait_for("idle", "created", |_| true);
    let survivor_pid = read_pid(&dir.path().join("survivor.pid"));
    let victim_pid = read_pid(&dir.path().join("victim.pid"));
    wait_until("the survivor's log line", || {
        let log = first.log_text("survivor", "");
        if log.contains("pid written") {
            Ok(())
        } else {
            Err(log)
        }
    });

    // What a client sees is written to disk a moment later (off the state
    // task): a crash before that would rightly lose it, so the crash comes
    // once every container's record holds what was seen.
    for (id, status, phase) in [
        ("survivor", "running", "running"),
        ("victim", "running", "running"),
        ("done", "finished", "idle"),
        ("idle", "created", "idle"),
    ] {
        wait_until(&format!("{id}'s record to say {status}"), || {
            let recorded = recorded(&first.data_dir, id)?;
            if recorded == (status.to_owned(), phase.to_owned()) {
                Ok(())
            } else {
                Err(format!("{recorded:?}"))
            }
        });
    }

    // A crash of the agent, during which one container's process dies.
    first.kill();
    killpg(Pid::from_raw(victim_pid), Signal::SIGKILL).unwrap();
    // A signal is delivered asynchronously: make sure the victim is gone
    // before the new agent looks for it.
    wait_until("the victim to die", || {
        if is_gone(victim_pid) {
            Ok(())
        } else {
            Err(format!("pid {victim_pid} still runs"))
        }
    });
    let second = Agent::start(dir.path(), &[]);

    let mut events = second.events();
    let everything = events.next_event();
    let statuses: Vec<(&str, &str)> = ["done", "idle", "survivor", "victim"]
        .iter()
        .map(|id| {
            (
                *id,
                everything["containers"][id]["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("done", "finished"),
            ("idle", "created"),
            ("survivor", "running"),
            ("victim", "failed")
        ]
    );
    assert_eq!(
        everything["resources"], survivor_port_free,
        "every reservation is back"
    );
    let err = everything["containers"]["victim"]["process_state"]["err"]
        .as_str()
        .unwrap();
    assert!(
        err.contains("ended while the agent was not running"),
        "{err}"
    );
    let survivor = &everything["containers"]["survivor"];
    assert_eq!(survivor["process_state"]["up"], true);
    // Its log history survives the restart, read back from its file.
    let log = second.log_text("survivor", "");
    assert!(log.contains("pid written"), "{log}");

    // The adopted process is not the new agent's child, yet stop works.
    assert_eq!(second.delete("survivor").status, 409);
    assert_eq!(second.stop_container("survivor").status, 202);
    second.wait_for("survivor", "finished", |_| true);
    assert!(is_gone(survivor_pid), "the adopted process is gone");
    for id in ["survivor", "victim", "done", "idle"] {
        assert_eq!(second.delete(id).status, 200, "{id}");
    }
    // And a third agent finds nothing left.
    drop(second);
    let third = Agent::start(dir.path(), &[]);
    assert_eq!(third.request("GET", "/containers", None).body, "{}");
}
