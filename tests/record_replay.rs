//! End to end: a daemon run with `--record`, replayed by `harpoon-sim
//! replay` on the same core, decision for decision, and written as a
//! scenario that `harpoon-sim run` passes.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const SETTLE: Duration = Duration::from_secs(60);

fn running(scheduler: &str, agent: &str) -> usize {
    proxy(scheduler)
        .iter()
        .filter(|(on, _, status)| on == agent && status == "running")
        .count()
}

fn sim(args: &[&str]) -> (bool, String) {
    let output = Command::new(bin("harpoon-sim"))
        .args(args)
        .output()
        .expect("harpoon-sim runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn a_recorded_run_replays_exactly_and_becomes_a_scenario_that_passes() {
    let env = TestEnv::new("record");
    let mut lost = env.agent("lost", None);
    let record = env.path("record");
    let mut scheduler = Proc::start(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--local-agents",
            "1",
            "--data-dir",
            &env.path("local"),
            "--agent",
            &lost.url,
            "--persist",
            &env.path("registry.redb"),
            "--abandon-timeout",
            "3s",
            "--record",
            &record,
        ],
    );
    let url = scheduler.url.clone();
    let hash = schedule(&url, &env.job("web", 2));
    wait_for("one running instance on each agent", SETTLE, || {
        (running(&url, &lost.url) == 1 && proxy(&url).len() == 2).then_some(())
    });
    let local = proxy(&url)
        .into_iter()
        .map(|(agent, _, _)| agent)
        .find(|agent| *agent != lost.url)
        .expect("the local agent");

    lost.kill9();
    wait_for("both tasks running on the local agent", SETTLE, || {
        (running(&url, &local) == 2).then_some(())
    });
    let (status, text) = http(
        "PUT",
        &format!("{url}/api/v0/unschedule/{hash}"),
        None,
        None,
    );
    assert_eq!(status, 202, "{text}");
    wait_for("nothing left on the local agent", SETTLE, || {
        proxy(&url)
            .iter()
            .all(|(agent, _, _)| *agent != local)
            .then_some(())
    });
    assert!(scheduler.interrupt().success(), "the daemon stops cleanly");

    let (matched, text) = sim(&["replay", &record]);
    assert!(matched, "replay diverged:\n{text}");
    assert!(text.contains("MATCH"), "{text}");
    let (traced, trace) = sim(&["replay", &record, "--trace"]);
    assert!(traced, "{trace}");
    assert!(trace.contains("create web-"), "the trace explains: {trace}");

    let scenario = env.path("replayed.toml");
    let (written, text) = sim(&["replay", &record, "--to-scenario", &scenario]);
    assert!(written, "{text}");
    let source = std::fs::read_to_string(&scenario).expect("written");
    for expected in [
        "[[agent]]",
        "schedule = \"web\"",
        "unschedule = \"web\"",
        "crash = ",
    ] {
        assert!(
            source.contains(expected),
            "{expected} missing from:\n{source}"
        );
    }
    let (passed, text) = sim(&["run", &scenario]);
    assert!(passed, "the written scenario fails:\n{text}\n{source}");
}
