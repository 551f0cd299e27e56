//! End-to-end: containers running real processes on a real agent, from
//! create to delete, exit codes, restart policies, stop escalation and logs.

#[path = "agent_support/mod.rs"]
mod support;

use serde_json::json;
use support::{Agent, EXITER, SLEEPER, STUBBORN, TempDir, artifact, config, wait_until};

#[test]
fn a_process_goes_from_create_to_delete() {
    let dir = TempDir::new("lifecycle");
    let agent = Agent::start(dir.path(), &[]);
    let url = artifact(dir.path(), "sleeper.tgz", &[("bin/run.sh", SLEEPER)]);
    let mut web = config(&url, &["./run.sh"]);
    web["ports"] = json!({ "http": 0 });

    let created = agent.put("web-1", &web);
    assert_eq!((created.status, created.body.as_str()), (201, "created OK"));
    assert_eq!(agent.put("web-1", &web).status, 409, "the ID exists");
    // A start right after the PUT is kept until the preparation is done.
    assert_eq!(agent.start_container("web-1").status, 202);
    let running = agent.wait_for("web-1", "running", |i| i["process_state"]["up"] == true);

    // The port was picked from the agent's range and exported.
    let port = running["config"]["ports"]["http"].as_u64().unwrap();
    assert!((40_000..60_000).contains(&port), "port {port}");
    assert_eq!(running["config"]["env"]["PORT_HTTP"], port.to_string());
    let log = wait_until("the log lines", || {
        let log = agent.log_text("web-1", "?history=5");
        if log.contains("to stderr") {
            Ok(log)
        } else {
            Err(log)
        }
    });
    assert!(
        log.contains(&format!("started PORT_HTTP={port}\n")),
        "{log}"
    );

    // Streaming the log starts with its history.
    let mut log_stream =
        support::http::EventStream::open(&agent.address, "/api/v0/containers/web-1/log?history=2");
    assert_eq!(log_stream.status, 200);
    assert_eq!(
        log_stream.next_event(),
        json!([format!("started PORT_HTTP={port}\n"), "to stderr\n"])
    );

    let refused = agent.delete("web-1");
    assert_eq!(refused.status, 409);
    assert!(
        refused.body.contains("running; stop it first"),
        "{}",
        refused.body
    );
    assert_eq!(agent.resources()["cpus"]["reserved"], 0.5);

    assert_eq!(agent.stop_container("web-1").status, 202);
    let stopped = agent.wait_for("web-1", "finished", |_| true);
    assert_eq!(
        stopped["process_state"]["container_exit_status"]["signal"],
        15
    );
    assert_eq!(agent.stop_container("web-1").status, 409, "already stopped");

    let deleted = agent.delete("web-1");
    assert_eq!((deleted.status, deleted.body.as_str()), (200, "destroy OK"));
    assert_eq!(agent.request("GET", "/containers/web-1", None).status, 404);
    assert_eq!(agent.resources()["cpus"]["reserved"], 0);
    let containers = agent.data_dir.join("containers");
    wait_until("the container directory to be removed", || {
        let left = std::fs::read_dir(&containers).unwrap().count();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} left"))
        }
    });
    // The port is free again, and the ID can be used anew.
    assert_eq!(agent.put("web-1", &web).status, 201);
}

#[test]
fn exit_codes_become_statuses() {
    let dir = TempDir::new("exit-codes");
    let agent = Agent::start(dir.path(), &[]);
    let url = artifact(dir.path(), "exiter.tgz", &[("bin/exit.sh", EXITER)]);
    for (id, code) in [("zero", "0"), ("three", "3")] {
        assert_eq!(
            agent.put(id, &config(&url, &["./exit.sh", code])).status,
            201
        );
        assert_eq!(agent.start_container(id).status, 202);
    }
    let finished = agent.wait_for("zero", "finished", |_| true);
    assert_eq!(
        finished["process_state"]["container_exit_status"]["exit_status"],
        0
    );
    let failed = agent.wait_for("three", "failed", |_| true);
    assert_eq!(
        failed["process_state"]["container_exit_status"]["exit_status"],
        3
    );
    assert_eq!(failed["process_state"]["up"], false);
    assert_eq!(
        failed["process_state"]["restarts"], 0,
        "restart policy \"no\""
    );
    // A stopped container can be started again.
    assert_eq!(agent.start_container("three").status, 202);
    let log = wait_until("the second run's output", || {
        let log = agent.log_text("three", "");
        if log.matches("exiting with 3").count() == 2 {
            Ok(log)
        } else {
            Err(log)
        }
    });
    assert_eq!(log, "exiting with 3\nexiting with 3\n");
}

#[test]
fn a_failing_start_answers_500_and_reports_failed() {
    let dir = TempDir::new("start-failure");
    let agent = Agent::start(dir.path(), &[]);
    let url = artifact(dir.path(), "empty.tgz", &[("bin/other", "")]);
    assert_eq!(
        agent.put("broken", &config(&url, &["./missing"])).status,
        201
    );
    // Shown `created` once prepared, so the start is carried out at once.
    agent.wait_for("broken", "created", |_| true);
    let start = agent.start_container("broken");
    assert_eq!(start.status, 500);
    assert!(start.body.contains("./missing"), "{}", start.body);
    let failed = agent.wait_for("broken", "failed", |_| true);
    let err = failed["process_state"]["err"].as_str().unwrap();
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(agent.stop_container("broken").status, 409);
    assert_eq!(agent.delete("broken").status, 200);
}

#[test]
fn restart_policies_restart_with_backoff_until_stopped() {
    let dir = TempDir::new("restart");
    let agent = Agent::start(dir.path(), &[]);
    let url = artifact(dir.path(), "exiter.tgz", &[("bin/exit.sh", EXITER)]);
    let mut crashing = config(&url, &["./exit.sh", "1"]);
    crashing["restart"] = json!("on-failure");
    let mut done = config(&url, &["./exit.sh", "0"]);
    done["restart"] = json!("on-failure");
    let mut always = config(&url, &["./exit.sh", "0"]);
    always["restart"] = json!("always");
    for (id, config) in [
        ("crashing", &crashing),
        ("done", &done),
        ("always", &always),
    ] {
        assert_eq!(agent.put(id, config).status, 201);
        assert_eq!(agent.start_container(id).status, 202);
    }
    wait_until("three restarts", || {
        let instance = agent.instance("crashing")?;
        let restarts = instance["process_state"]["restarts"].as_u64().unwrap();
        if restarts >= 3 {
            Ok(())
        } else {
            Err(instance.to_string())
        }
    });
    wait_until("a restart after success", || {
        let instance = agent.instance("always")?;
        let restarts = instance["process_state"]["restarts"].as_u64().unwrap();
        if restarts >= 1 {
            Ok(())
        } else {
            Err(instance.to_string())
        }
    });
    let done = agent.wait_for("done", "finished", |_| true);
    assert_eq!(
        done["process_state"]["restarts"], 0,
        "on-failure does not restart a success"
    );

    for id in ["crashing", "always"] {
        // Stopped while waiting to restart, it keeps the outcome of its last
        // run; stopped while running, it ends by the stop's SIGTERM, which
        // counts as finished. Either way it stays stopped.
        assert_eq!(agent.stop_container(id).status, 202, "{id}");
        let stopped = wait_until(&format!("{id} to stay stopped"), || {
            let instance = agent.instance(id)?;
            let state = &instance["process_state"];
            let stopped = ["failed", "finished"].contains(&instance["status"].as_str().unwrap());
            if stopped && state["restarting"] == false && state["up"] == false {
                Ok(instance)
            } else {
                Err(instance.to_string())
            }
        });
        let restarts = stopped["process_state"]["restarts"].clone();
        assert_eq!(agent.delete(id).status, 200, "{id}: {stopped}");
        assert!(restarts.as_u64().unwrap() >= 1);
    }
}

#[test]
fn stop_kills_the_process_group_after_the_shutdown_grace() {
    let dir = TempDir::new("stubborn");
    let agent = Agent::start(dir.path(), &[]);
    let url = artifact(dir.path(), "stubborn.tgz", &[("bin/stubborn.sh", STUBBORN)]);
    let mut stubborn = config(&url, &["./stubborn.sh"]);
    stubborn["grace"]["shutdown"] = json!("300ms");
    assert_eq!(agent.put("stubborn", &stubborn).status, 201);
    assert_eq!(agent.start_container("stubborn").status, 202);
    wait_until("the trap to be set", || {
        let log = agent.log_text("stubborn", "");
        if log.contains("ready") {
            Ok(())
        } else {
            Err(log)
        }
    });
    assert_eq!(agent.stop_container("stubborn").status, 202);
    let stopped = agent.wait_for("stubborn", "finished", |_| true);
    assert_eq!(
        stopped["process_state"]["container_exit_status"]["signal"],
        9
    );
    assert!(
        agent
            .log()
            .contains("still running after the shutdown grace; killing")
    );
}
