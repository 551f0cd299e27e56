//! End-to-end: every kind of bad request gets the right status and a
//! message naming the problem, and the agent carries on.

#[path = "agent_support/mod.rs"]
mod support;

use serde_json::json;
use support::{Agent, TempDir, config, wait_until};

#[test]
fn bodies_that_are_not_configs_or_too_large_are_refused() {
    let dir = TempDir::new("bodies");
    let agent = Agent::start(dir.path(), &[]);
    for body in [&b"not json"[..], b"", b"[1,2]", br#"{"ports":"eighty"}"#] {
        let answer = agent.request("PUT", "/containers/c1", Some(body));
        assert_eq!(answer.status, 400, "{body:?}: {}", answer.body);
        assert!(
            answer
                .body
                .starts_with("request body is not a JSON container config: "),
            "{}",
            answer.body
        );
    }
    let oversized = vec![b' '; 1024 * 1024 + 1];
    let answer = agent.request("PUT", "/containers/c1", Some(&oversized));
    assert_eq!(answer.status, 413);
    assert!(
        answer
            .body
            .contains("larger than the limit of 1048576 bytes"),
        "{}",
        answer.body
    );
    // Exactly at the limit is fine (and then it is just not JSON).
    let at_limit = vec![b' '; 1024 * 1024];
    assert_eq!(
        agent
            .request("PUT", "/containers/c1", Some(&at_limit))
            .status,
        400
    );
    assert_eq!(
        agent.request("GET", "/containers", None).body,
        "{}",
        "nothing was created"
    );
}

#[test]
fn unknown_ids_paths_and_methods() {
    let dir = TempDir::new("unknown");
    let agent = Agent::start(dir.path(), &[]);
    for (method, path) in [
        ("GET", "/containers/nope"),
        ("DELETE", "/containers/nope"),
        ("POST", "/containers/nope/start"),
        ("POST", "/containers/nope/stop"),
        ("GET", "/containers/nope/log"),
    ] {
        let answer = agent.request(method, path, None);
        assert_eq!(answer.status, 404, "{method} {path}");
        assert!(
            answer.body.contains("container nope not found"),
            "{method} {path}: {}",
            answer.body
        );
    }
    let answer = agent.request("GET", "/nothing/here", None);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (404, "no such endpoint: GET /api/v0/nothing/here\n")
    );
    let answer = agent.request("POST", "/containers/c1", None);
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, PUT, DELETE"));
    let answer = agent.request("PUT", "/containers/..", Some(b"{}"));
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("invalid container ID"),
        "{}",
        answer.body
    );
}

#[test]
fn resources_that_do_not_fit_are_refused_naming_them() {
    let dir = TempDir::new("fit");
    let volume = dir.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let volume = volume.display().to_string();
    let agent = Agent::start(
        dir.path(),
        &["--cpu", "1", "--mem", "100", "--vol", &volume],
    );
    assert_eq!(agent.resources()["volumes"], json!([volume]));

    let mut fits = config("", &["true"]);
    fits["resources"] = json!({ "cpu": 0.5, "mem": 60 });
    fits["storage"]["volumes"] = json!({ "/data": volume });
    assert_eq!(agent.put("fits", &fits).status, 201);
    assert_eq!(agent.resources()["cpus"]["reserved"], 0.5);

    let mut greedy = config("", &["true"]);
    greedy["resources"] = json!({ "cpu": 2, "mem": 60 });
    greedy["storage"]["volumes"] = json!({ "/data": "/not/offered" });
    let answer = agent.put("greedy", &greedy);
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.body,
        format!(
            "container greedy does not fit on this agent: needs 2 cpu; 0.5 of 1 free; \
             needs 60 MB mem; 40 of 100 MB free; volume \"/not/offered\" (for \"/data\") \
             is not offered by this agent (offered: {volume})\n"
        )
    );
    assert_eq!(agent.request("GET", "/containers/greedy", None).status, 404);
    assert_eq!(
        agent.resources()["mem"]["reserved"],
        60,
        "nothing reserved for a refusal"
    );

    // The volume shows up inside the container at the path it asked for.
    std::fs::write(dir.path().join("volume/hello"), "from the host").unwrap();
    agent.wait_for("fits", "created", |_| true);
    let mut reader = config("", &["cat", "../data/hello"]);
    reader["resources"] = json!({ "cpu": 0.5, "mem": 40 });
    reader["storage"]["volumes"] = json!({ "/data": volume });
    reader["command"]["working_dir"] = json!("/work");
    reader["storage"]["tmp"] = json!({ "/work": -1 });
    assert_eq!(agent.put("reader", &reader).status, 201);
    assert_eq!(agent.start_container("reader").status, 202);
    agent.wait_for("reader", "finished", |_| true);
    wait_until("the file read through the volume", || {
        let log = agent.log_text("reader", "");
        if log == "from the host\n" {
            Ok(())
        } else {
            Err(log)
        }
    });
}

#[test]
fn a_bad_log_history_is_refused() {
    let dir = TempDir::new("history");
    let agent = Agent::start(dir.path(), &[]);
    assert_eq!(agent.put("c1", &config("", &["true"])).status, 201);
    let answer = agent.request("GET", "/containers/c1/log?history=lots", None);
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "history must be a whole number of lines, not \"lots\"\n"
    );
    assert_eq!(
        agent
            .request("GET", "/containers/c1/log?history=3", None)
            .status,
        200
    );
}

/// CPU is counted as the scheduler counts it (milli-cores, rounded up): on
/// an agent offering 0.003 cpu, a 0.0015-cpu container counts 2 milli-cores,
/// so exactly one fits, as the scheduler's placement says, and the second
/// is refused rather than admitted on a sum of floats.
#[test]
fn cpu_fits_exactly_where_the_scheduler_says() {
    use harpoon_core::wire::cpu_millis;
    let dir = TempDir::new("milli-cores");
    let agent = Agent::start(dir.path(), &["--cpu", "0.003"]);
    let fits_by_the_core = cpu_millis(0.003) / cpu_millis(0.0015);
    assert_eq!(fits_by_the_core, 1);
    let mut small = config("", &["true"]);
    small["resources"] = json!({ "cpu": 0.0015, "mem": 1 });
    assert_eq!(agent.put("first", &small).status, 201);
    assert_eq!(agent.resources()["cpus"]["reserved"], 0.002);
    let answer = agent.put("second", &small);
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(
        answer.body,
        "container second does not fit on this agent: needs 0.002 cpu; 0.001 of 0.003 free\n"
    );
    let mut tiny = config("", &["true"]);
    tiny["resources"] = json!({ "cpu": 0.001, "mem": 1 });
    assert_eq!(
        agent.put("third", &tiny).status,
        201,
        "the last milli-core fits"
    );
}
