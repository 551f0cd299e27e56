//! Expectations that judge whole runs, tried on worlds where they must hold
//! and on worlds where they cannot.

use harpoon_sim::{run_checked, scenario};

/// One agent, one job with restart `RESTART` and behaviour `BEHAVIOUR`,
/// starts failing on the agent for the first minute.
const WORLD: &str = r#"
name = "starts fail for a minute"
duration = "5m"

[[agent]]
name = "a0"
cpu = 4.0
mem = 4096

[[job]]
name = "web"
restart = "RESTART"
behaviour = "BEHAVIOUR"

[[at]]
time = "0s"
fail_starts = { agent = "a0", for = "1m" }

[[at]]
time = "1s"
schedule = "web"

[[expect]]
failed_starts_recover = "web"
"#;

fn verdict(restart: &str, behaviour: &str) -> (bool, String) {
    let source = WORLD
        .replace("RESTART", restart)
        .replace("BEHAVIOUR", behaviour);
    let scenario = scenario::parse(&source, "world").unwrap();
    let report = run_checked(&scenario, scenario.seed, false);
    let verdict = report
        .verdicts
        .iter()
        .find(|verdict| verdict.what == "failed_starts_recover web")
        .expect("the expectation has a verdict");
    (verdict.held, verdict.detail.clone())
}

#[test]
fn a_start_that_failed_in_a_window_of_failures_is_retried_by_the_agent() {
    for restart in ["always", "on-failure"] {
        let (held, detail) = verdict(restart, "runs");
        assert!(held, "restart {restart}: {detail}");
    }
}

#[test]
fn a_start_that_can_never_succeed_keeps_a_retry_pending() {
    // The agent retries for ever, backing off; what must never be seen is a
    // failed start it gave up on.
    let (held, detail) = verdict("always", "fails to start");
    assert!(held, "{detail}");
    assert_eq!(
        detail,
        "every failed start recovered or has a retry pending"
    );
}

#[test]
fn the_verdict_does_not_depend_on_how_long_the_run_is() {
    // Cut short while the agent still backs off, the world still holds: a
    // shrunk world cannot make it fail by ending the run early.
    let source = WORLD
        .replace("RESTART", "always")
        .replace("BEHAVIOUR", "runs")
        .replace("duration = \"5m\"", "duration = \"2s\"");
    let scenario = scenario::parse(&source, "world").unwrap();
    let report = run_checked(&scenario, scenario.seed, false);
    assert!(report.passed(), "{}", report.render());
}
