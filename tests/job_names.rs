//! End-to-end: one rule for job names and container IDs. The scheduler
//! refuses the names an agent would refuse as container IDs (so none is
//! accepted and then failed on every agent for ever), and the longest name
//! it accepts runs on a real agent, through every command URL.

mod support;

use std::time::Duration;

use support::*;

const SETTLE: Duration = Duration::from_secs(60);

#[test]
fn names_agents_refuse_are_refused_and_the_longest_accepted_one_runs() {
    let env = TestEnv::new("names");
    let scheduler = Proc::start(
        "harpoon-scheduler",
        &[
            "--listen",
            "127.0.0.1:0",
            "--local-agents",
            "1",
            "--persist",
            &env.path("registry.json"),
            "--data-dir",
            &env.path("agents"),
        ],
    );
    let url = &scheduler.url;
    let schedule_url = format!("{url}/api/v0/schedule");
    for (name, problem) in [
        ("..", "job name \\\"..\\\" may not start with '.'"),
        (".hidden", "job name \\\".hidden\\\" may not start with '.'"),
        (&"x".repeat(300), "is 300 bytes long; the limit is 188"),
        (
            &"y".repeat(100_000),
            "is 100000 bytes long; the limit is 188",
        ),
    ] {
        let body = serde_json::to_vec(&env.job(name, 1)).unwrap();
        let (status, text) = http("PUT", &schedule_url, Some(&body), None);
        assert_eq!(status, 400, "{}…: {text}", &name[..name.len().min(20)]);
        assert!(text.contains(problem), "{text}");
        assert!(
            text.len() < 1000,
            "the answer does not repeat the name whole"
        );
    }
    assert_eq!(
        get_json(&format!("{url}/api/v0/registry")),
        serde_json::json!({}),
        "nothing was scheduled"
    );

    let longest = "n".repeat(harpoon_core::wire::JOB_NAME_MAX_LEN);
    let hash = schedule(url, &env.job(&longest, 2));
    wait_for("both tasks of the longest name running", SETTLE, || {
        let running = proxy(url)
            .iter()
            .filter(|(_, id, status)| id.starts_with(&hash) && status == "running")
            .count();
        (running == 2).then_some(())
    });
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
}
