//! End-to-end tests of `harpoon-scheduler` with real agents on loopback:
//! local agents in the daemon's process, or separate `harpoon-agent`s.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;

const SETTLE: Duration = Duration::from_secs(60);

fn running_count(scheduler: &str) -> usize {
    proxy(scheduler)
        .iter()
        .filter(|(_, _, status)| status == "running")
        .count()
}

#[test]
fn a_job_of_scale_six_spreads_over_three_local_agents_and_unschedules() {
    let env = TestEnv::new("spread");
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--local-agents",
            "3",
            "--algorithm",
            "spread",
            "--persist",
            &env.path("registry.json"),
            "--data-dir",
            &env.path("agents"),
        ],
    );
    let url = &scheduler.url;
    let hash = schedule(url, &env.job("web", 6));
    wait_for("six running instances", SETTLE, || {
        (running_count(url) == 6).then_some(())
    });
    let mut per_agent: BTreeMap<String, usize> = BTreeMap::new();
    for (agent, id, _) in proxy(url) {
        assert!(id.starts_with(&hash), "{id} belongs to {hash}");
        *per_agent.entry(agent).or_default() += 1;
    }
    assert_eq!(
        per_agent.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2],
        "spread: {per_agent:?}"
    );
    let (status, text) = http(
        "PUT",
        &format!("{url}/api/v0/unschedule/{hash}"),
        None,
        None,
    );
    assert_eq!(status, 202, "{text}");
    wait_for("every instance gone", SETTLE, || {
        proxy(url).is_empty().then_some(())
    });
    let registry = get_json(&format!("{url}/api/v0/registry"));
    assert_eq!(registry, serde_json::json!({}));
}

#[test]
fn after_kill_9_every_acknowledged_job_survives_and_nothing_is_placed_twice() {
    let env = TestEnv::new("kill9");
    let agents = [env.agent("a", None), env.agent("b", None)];
    let registry = env.path("registry.json");
    let start = || {
        let mut args = vec!["--listen", "127.0.0.1:0", "--persist", registry.as_str()];
        for agent in &agents {
            args.extend(["--agent", agent.url.as_str()]);
        }
        Proc::start("harpoon-scheduler", &args)
    };
    let mut scheduler = start();
    let hashes: Vec<String> = (0..5)
        .map(|i| schedule(&scheduler.url, &env.job(&format!("job{i}"), 2)))
        .collect();
    scheduler.kill9();

    let scheduler = start();
    let registry = get_json(&format!("{}/api/v0/registry", scheduler.url));
    for hash in &hashes {
        assert!(
            registry.get(hash).is_some(),
            "acknowledged job {hash} lost: {registry}"
        );
    }
    // Settled: every task running and no command of the scheduler pending,
    // so a duplicate placement would already be on an agent.
    wait_for("ten running instances and nothing pending", SETTLE, || {
        let settled = running_count(&scheduler.url) == 10
            && metric(&scheduler.url, "harpoon_tasks_pending") == 0;
        settled.then_some(())
    });
    let mut ids: Vec<String> = agents
        .iter()
        .flat_map(|a| agent_containers(&a.url))
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        (before, ids.len()),
        (10, 10),
        "each task exactly once: {ids:?}"
    );
}

#[test]
fn a_killed_agents_tasks_move_and_its_duplicates_go_when_it_returns() {
    let env = TestEnv::new("agentloss");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut lost = env.agent("lost", Some(&listen));
    let survivor = env.agent("survivor", None);
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--persist",
            &env.path("registry.json"),
            "--agent",
            &lost.url,
            "--agent",
            &survivor.url,
            "--abandon-timeout",
            "3s",
        ],
    );
    let url = &scheduler.url;
    schedule(url, &env.job("web", 2));
    wait_for("two running instances", SETTLE, || {
        (running_count(url) == 2).then_some(())
    });
    let on_lost: Vec<String> = agent_containers(&lost.url)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(on_lost.len(), 1, "least-used puts one on each agent");

    lost.kill9();
    wait_for("both tasks running on the survivor", SETTLE, || {
        let running = agent_containers(&survivor.url)
            .iter()
            .filter(|(_, s)| s == "running")
            .count();
        (running == 2).then_some(())
    });

    // The agent comes back with the container it ran (its process was
    // adopted): one of the two instances of that task is removed.
    let lost = env.agent("lost", Some(&listen));
    wait_for("one instance per task across both agents", SETTLE, || {
        let mut ids: Vec<String> = agent_containers(&lost.url)
            .into_iter()
            .chain(agent_containers(&survivor.url))
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        let all = ids.len();
        ids.dedup();
        (all == 2 && ids.len() == 2).then_some(())
    });
    assert_eq!(running_count(url), 2);
}

#[test]
fn bad_input_gets_the_rpc_body_and_the_daemon_keeps_serving() {
    let env = TestEnv::new("badinput");
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--persist",
            &env.path("registry.json"),
            "--token",
            "s3cret",
        ],
    );
    let schedule_url = format!("{}/api/v0/schedule", scheduler.url);
    let token = Some("s3cret");
    let expect = |(status, text): (u16, String), want: u16, says: &str| {
        assert_eq!(status, want, "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON body");
        assert_eq!(body["status_code"], want);
        assert!(body["msg"].as_str().unwrap().contains(says), "{text}");
    };
    expect(
        http("PUT", &schedule_url, Some(b"{}"), None),
        401,
        "bearer token",
    );
    expect(
        http("PUT", &schedule_url, Some(b"{}"), Some("wrong")),
        401,
        "bearer token",
    );
    expect(
        http("PUT", &schedule_url, Some(b"{not json"), token),
        400,
        "invalid JSON",
    );
    expect(
        http("POST", &schedule_url, Some(b"{}"), token),
        400,
        "scale of 0 is invalid; \"product\" not set",
    );
    expect(
        http("PUT", &schedule_url, Some(&vec![b' '; 2 << 20]), token),
        413,
        "larger than",
    );
    expect(
        http(
            "GET",
            &format!("{}/api/v0/nothing", scheduler.url),
            None,
            token,
        ),
        404,
        "no such path",
    );
    let job = serde_json::to_vec(&env.job("web", 1)).unwrap();
    expect(
        http("PUT", &schedule_url, Some(&job), token),
        202,
        "has been accepted",
    );
    expect(
        http("PUT", &schedule_url, Some(&job), token),
        409,
        "already scheduled",
    );
    let unknown = format!("{}/api/v0/unschedule/nope-0000000", scheduler.url);
    expect(http("PUT", &unknown, None, token), 404, "not scheduled");
}

#[test]
fn sigterm_finishes_and_exits_zero() {
    let env = TestEnv::new("sigterm");
    let mut scheduler = Proc::start(
        "harpoon-scheduler",
        &["--listen", "127.0.0.1:0", "--persist", &env.path("r.redb")],
    );
    schedule(&scheduler.url, &env.job("web", 1));
    let status = scheduler.terminate();
    assert!(status.success(), "{status}");
    let persisted = export_registry(&env.path("r.redb"));
    assert_eq!(persisted.as_object().unwrap().len(), 1);
}

#[test]
fn a_corrupt_registry_stops_the_daemon_and_is_left_untouched() {
    let env = TestEnv::new("corrupt");
    let path = env.path("registry.json");
    std::fs::write(&path, "{ not a registry").unwrap();
    let output = std::process::Command::new(bin("harpoon-scheduler"))
        .args(["--listen", "127.0.0.1:0", "--persist", &path])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("corrupt") && stderr.contains("registry.json"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not a registry");
}

#[test]
fn harpoonctl_schedules_lists_and_unschedules() {
    let env = TestEnv::new("ctl");
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--local-agents",
            "2",
            "--persist",
            &env.path("r.json"),
            "--data-dir",
            &env.path("agents"),
        ],
    );
    let file = env.path("job.json");
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(&env.job("ctl", 2)).unwrap(),
    )
    .unwrap();
    let ctl = |args: &[&str]| {
        let output = std::process::Command::new(bin("harpoonctl"))
            .args(["--scheduler", &scheduler.url])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = ctl(&["schedule", &file]);
    assert!(ok && out.contains("has been accepted"), "{out}{err}");
    wait_for("two running instances in ps", SETTLE, || {
        let (_, out, _) = ctl(&["ps"]);
        (out.lines()
            .filter(|line| line.contains(" running "))
            .count()
            == 2)
            .then_some(())
    });
    let (ok, out, _) = ctl(&["registry"]);
    assert!(ok && out.contains("ctl-") && out.contains("SCALE"), "{out}");
    let (ok, out, _) = ctl(&["agents"]);
    assert!(ok && out.lines().count() == 3, "{out}");
    let (ok, out, err) = ctl(&["unschedule", &file]);
    assert!(ok && out.contains("unschedule"), "{out}{err}");
    let (ok, _, err) = ctl(&["unschedule", &file]);
    assert!(!ok && err.contains("not scheduled"), "{err}");
    let output = std::process::Command::new(bin("harpoonctl"))
        .args(["--scheduler", "http://127.0.0.1:1", "ps"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && err.contains("cannot reach the scheduler"),
        "{err}"
    );
}

#[test]
fn requests_are_checked_as_the_original_checks_them() {
    let env = TestEnv::new("parity");
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &["--listen", "127.0.0.1:0", "--persist", &env.path("r.json")],
    );
    let url = &scheduler.url;
    let expect = |(status, text): (u16, String), want: u16, says: &str| {
        assert_eq!(status, want, "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON body");
        assert_eq!(body["status_code"], want);
        assert!(body["msg"].as_str().unwrap().contains(says), "{text}");
    };
    // An unschedule by config checks the config first, as a schedule does.
    let unschedule = format!("{url}/api/v0/unschedule");
    expect(
        http("PUT", &unschedule, Some(b"{}"), None),
        400,
        "scale of 0 is invalid; \"product\" not set",
    );
    let job = env.job("web", 1);
    let body = serde_json::to_vec(&job).unwrap();
    expect(
        http("PUT", &unschedule, Some(&body), None),
        404,
        "not scheduled",
    );
    // Unknown paths are named (the root is the status page).
    expect(
        http("GET", &format!("{url}/nothing"), None, None),
        404,
        "no such path /nothing",
    );
    expect(
        http("GET", &format!("{url}/api/v0/nothing/"), None, None),
        404,
        "no such path /api/v0/nothing/",
    );
    // A config without `restart` is taken as "no" (the original refuses it).
    let mut job = job;
    job.as_object_mut().unwrap().remove("restart");
    let hash = schedule(url, &job);
    let registry = get_json(&format!("{url}/api/v0/registry"));
    assert_eq!(registry[&hash]["restart"], "no", "{registry}");
}

#[test]
fn without_a_data_dir_the_local_agents_temporary_directory_and_containers_go_at_sigint() {
    let env = TestEnv::new("tempdir");
    // The daemon makes its temporary directory in $TMPDIR: this test's own.
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut scheduler = Proc::launch(
        &bin("harpoon-scheduler"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--local-agents",
            "2",
            "--persist",
            &env.path("r.json"),
        ],
        &[("TMPDIR", tmp.as_str()), ("HARPOON_LOG", "warn")],
    );
    let data_dir = wait_for("the local agents' data directory", SETTLE, || {
        scheduler.stdout().iter().find_map(|line| {
            let dir = line.split("(data in ").nth(1)?.strip_suffix(')')?;
            Some(std::path::PathBuf::from(dir))
        })
    });
    assert!(
        data_dir.starts_with(&tmp) && data_dir.is_dir(),
        "{data_dir:?}"
    );
    schedule(&scheduler.url, &env.job("web", 2));
    wait_for("two running instances", SETTLE, || {
        (running_count(&scheduler.url) == 2).then_some(())
    });
    assert!(!env.guard.leftovers().is_empty(), "the tasks run");
    let status = scheduler.interrupt();
    assert!(status.success(), "{status}");
    assert!(!data_dir.exists(), "{data_dir:?} is left on disk");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "nothing else is left in $TMPDIR"
    );
    assert!(
        env.guard.leftovers().is_empty(),
        "the tasks of a directory no run can adopt again are stopped"
    );
}

/// A fake agent whose event stream sends one event that is not JSON on
/// every connection.
fn garbage_agent() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n\
                  data: this is not an event\n\n",
            );
        }
    });
    url
}

#[test]
fn agents_state_changes_are_logged_at_info_once_each_and_nothing_per_event() {
    let env = TestEnv::new("logs");
    let mut lost = env.agent("lost", None);
    let survivor = env.agent("survivor", None);
    let garbage = garbage_agent();
    let scheduler = Proc::start_logging(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--persist",
            &env.path("registry.json"),
            "--agent",
            &lost.url,
            "--agent",
            &survivor.url,
            "--agent",
            &garbage,
            "--abandon-timeout",
            "3s",
        ],
        "info",
    );
    let logged = |what: &str, agent: &str, text: &str| {
        let wanted = format!("{agent}: {text}");
        scheduler.wait_for_stderr(what, SETTLE, |line| {
            line.contains(" INFO ") && line.contains(&wanted)
        })
    };
    logged("the survivor synced", &survivor.url, "synced");
    logged("the lost agent synced", &lost.url, "synced");
    logged("the garbage", &garbage, "stream down (bad event");
    logged(
        "the garbage agent abandoned",
        &garbage,
        "abandoned after 3s",
    );
    schedule(&scheduler.url, &env.job("web", 2));
    wait_for("two running instances", SETTLE, || {
        (running_count(&scheduler.url) == 2).then_some(())
    });

    lost.kill9();
    logged("the lost stream", &lost.url, "stream down (");
    logged(
        "the lost agent abandoned",
        &lost.url,
        "abandoned after 3s unsynced: 1 containers count as lost",
    );
    // Placements are counted per window: two at first, one more when
    // the lost agent's task is placed again, in one line or two.
    wait_until("its task placed again", SETTLE, || {
        let placed: u64 = scheduler
            .stderr()
            .iter()
            .filter_map(|line| {
                let count = line.split(" INFO ").nth(1)?.split("placed ").nth(1)?;
                count.split(' ').next()?.parse::<u64>().ok()
            })
            .sum();
        (placed == 3)
            .then_some(())
            .ok_or(format!("{placed} placed"))
    });

    // Reconnect attempts to the garbage agent and to the lost one, and
    // the survivor's keep-alives, are events: none of them is a line.
    let stderr = scheduler.stderr();
    let about = |agent: &str| -> Vec<&String> {
        stderr
            .iter()
            .filter(|line| line.contains(&format!("{agent}: ")))
            .collect()
    };
    assert_eq!(
        about(&survivor.url).len(),
        2,
        "discovered, synced: {stderr:#?}"
    );
    assert_eq!(
        about(&garbage).len(),
        3,
        "discovered, stream down, abandoned: {stderr:#?}"
    );
    assert!(
        about(&lost.url).len() <= 5,
        "discovered, synced, stream down, abandoned (and maybe the first failed reconnect): {stderr:#?}"
    );
}

/// The answers on `stream` until the daemon closes it: `(status, body)`.
fn answers(stream: std::net::TcpStream) -> Vec<(u16, String)> {
    raw_http::read_answers(stream)
        .into_iter()
        .map(|answer| (answer.status, answer.body))
        .collect()
}

#[test]
fn every_refusal_of_the_http_layer_carries_the_rpc_body() {
    let env = TestEnv::new("headers");
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &["--listen", "127.0.0.1:0", "--persist", &env.path("r.json")],
    );
    let address = scheduler.address().to_owned();
    let long_hash = "a".repeat(100_000);
    let many_headers: String = (0..150).map(|n| format!("x-field-{n}: {n}\r\n")).collect();
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("PUT /api/v0/unschedule/{long_hash} HTTP/1.1\r\nhost: x\r\n\r\n"),
            414,
            "request target is longer than",
        ),
        (
            format!(
                "GET /api/v0/registry HTTP/1.1\r\nx-big: {}\r\n\r\n",
                "b".repeat(200_000)
            ),
            431,
            "request head is larger than",
        ),
        (
            format!("GET /api/v0/registry HTTP/1.1\r\n{many_headers}\r\n"),
            431,
            "more than 100 header fields",
        ),
        (
            "NOT HTTP AT ALL\r\n\r\n".to_owned(),
            400,
            "malformed request head",
        ),
        (
            "GET /api/v0/registry HTTP/1.1\r\nno colon here\r\n\r\n".to_owned(),
            400,
            "malformed request head",
        ),
        (
            "PUT /api/v0/schedule HTTP/1.1\r\ncontent-length: ten\r\n\r\n".to_owned(),
            400,
            "Content-Length",
        ),
        (
            "PUT /api/v0/schedule HTTP/1.1\r\ncontent-length: 1, 2\r\n\r\n".to_owned(),
            400,
            "Content-Length",
        ),
        (
            "PUT /api/v0/schedule HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n".to_owned(),
            400,
            "Transfer-Encoding",
        ),
        (
            "GET /api/v0/registry HTTP/2.0\r\n\r\n".to_owned(),
            505,
            "HTTP/1.0 and HTTP/1.1",
        ),
    ];
    for (request, status, says) in cases {
        let shown = &request[..request.len().min(60)];
        let answer = raw_http::exchange(&address, request.as_bytes());
        assert_eq!(answer.status, status, "{shown:?}: {answer:?}");
        let body = answer.json();
        assert_eq!(body["status_code"], status, "{shown:?}: {answer:?}");
        let msg = body["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{shown:?}: {msg}");
    }

    // A refused request after good ones on the same connection: the good
    // ones are answered first, in order, then the refusal, then the end.
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    let pipelined = format!(
        "GET /api/v0/registry HTTP/1.1\r\nhost: x\r\n\r\n\
         PUT /api/v0/schedule HTTP/1.1\r\ncontent-length: 8\r\n\r\n{{\"no\":1}}\
         PUT /api/v0/unschedule/{long_hash} HTTP/1.1\r\nhost: x\r\n\r\n\
         GET /api/v0/registry HTTP/1.1\r\nhost: x\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, pipelined.as_bytes()).unwrap();
    let got = answers(stream);
    let statuses: Vec<u16> = got.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 400, 414], "{got:?}");
    assert!(got[2].1.contains("\"status_code\":414"), "{got:?}");

    // A chunked body is followed too: the request after it is checked.
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    let chunked = format!(
        "PUT /api/v0/schedule HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\
         3\r\n{{\"a\r\n4;ext=1\r\n\":1}}\r\n0\r\nx-trailer: 1\r\n\r\n\
         GET /api/v0/{long_hash} HTTP/1.1\r\n\r\n"
    );
    std::io::Write::write_all(&mut stream, chunked.as_bytes()).unwrap();
    let got = answers(stream);
    let statuses: Vec<u16> = got.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [400, 414], "{got:?}");
    assert!(got[0].1.contains("not set"), "{got:?}");

    // And the daemon goes on serving.
    let (status, text) = http(
        "GET",
        &format!("{}/api/v0/registry", scheduler.url),
        None,
        None,
    );
    assert_eq!((status, text.as_str()), (200, "{}"));
}
