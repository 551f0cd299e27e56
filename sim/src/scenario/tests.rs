//! Scenario parsing: every key accepted, every mistake named by key and line.

use super::*;

const FULL: &str = r#"
name = "agent lost: its tasks move after the abandon timeout"
seed = 1
duration = "10m"

[scheduler]
algorithm = "least-used"
abandon_timeout = "20s"
pending_timeout = "20s"
tick = "3s"

[network]
latency = "1ms..20ms"
drop = 0.0
stream_drop = 0.0

[[agent]]
name = "a"
count = 3
cpu = 8.0
mem = 16384
volumes = ["/data/ssd"]
start_delay = "100ms..2s"

[[job]]
name = "web"
scale = 3
cpu = 1.0
mem = 512
volumes = {}
restart = "always"
behaviour = "runs"

[[at]]
time = "0s"
schedule = "web"

[[at]]
time = "1m"
crash = "a0"

[[at]]
time = "1m30s"
restart = "a0"

[[expect]]
time = "30s"
running = { job = "web", count = 3 }

[[expect]]
converged_within = "90s"

[[expect]]
commands_at_most = 40
"#;

fn error_of(source: &str) -> ScenarioError {
    parse(source, "test.toml").expect_err("the scenario should be refused")
}

#[test]
fn the_format_documents_example_parses() {
    let scenario = parse(FULL, "test.toml").unwrap();
    assert_eq!(scenario.agents.len(), 3);
    assert_eq!(scenario.agents[2].name, "a2");
    assert_eq!(scenario.jobs["web"].config.scale, 3);
    assert_eq!(scenario.jobs["web"].config.container.resources.mem, 512);
    assert_eq!(scenario.timeline.len(), 3);
    assert_eq!(scenario.expectations.len(), 3);
    assert_eq!(scenario.duration, Duration::from_secs(600));
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let source = FULL.replace("stream_drop = 0.0", "stream_drop = 0.0\nlatencyy = \"1ms\"");
    let error = error_of(&source);
    assert_eq!(error.key, "latencyy");
    assert_eq!(error.line, 16);
    assert!(error.message.contains("unknown field"), "{error}");
}

#[test]
fn a_bad_duration_is_named_with_its_line() {
    let error = error_of(&FULL.replace("time = \"1m\"", "time = \"1 minute\""));
    assert_eq!((error.key.as_str(), error.line), ("at.time", 39));
    assert!(error.message.contains("invalid duration"), "{error}");
}

#[test]
fn an_unknown_agent_in_the_timeline_is_named_with_its_line() {
    let error = error_of(&FULL.replace("crash = \"a0\"", "crash = \"a7\""));
    assert_eq!((error.key.as_str(), error.line), ("at.crash", 40));
    assert!(error.message.contains("a7"), "{error}");
}

#[test]
fn an_unknown_algorithm_is_named_with_its_line() {
    let error = error_of(&FULL.replace("least-used", "most-used"));
    assert_eq!((error.key.as_str(), error.line), ("scheduler.algorithm", 7));
}

#[test]
fn expectations_need_a_time_exactly_when_they_are_timed() {
    let error = error_of(&FULL.replace("time = \"30s\"\n", ""));
    assert_eq!(error.key, "expect.running");
    let error = error_of(&FULL.replace(
        "converged_within = \"90s\"",
        "time = \"1s\"\nconverged_within = \"90s\"",
    ));
    assert_eq!(error.key, "expect.time");
}

#[test]
fn two_actions_in_one_entry_are_refused() {
    let error = error_of(&FULL.replace("crash = \"a0\"", "crash = \"a0\"\nwipe = \"a1\""));
    assert_eq!(error.key, "at");
    assert!(error.message.contains("exactly one action"), "{error}");
}

#[test]
fn an_invalid_job_config_reports_every_problem() {
    let error = error_of(&FULL.replace("cpu = 1.0", "cpu = 0.0\nproduct = \"\""));
    assert_eq!(error.key, "job \"web\"");
    assert!(error.message.contains("resources.cpu"), "{error}");
    assert!(error.message.contains("\"product\" not set"), "{error}");
}

#[test]
fn wire_fields_of_a_job_reach_its_config() {
    let source = FULL.replace(
        "behaviour = \"runs\"",
        "behaviour = \"exits 1 after 5s\"\nenv = { MODE = \"test\" }\ngrace = { startup = \"2s\", shutdown = \"1s\" }",
    );
    let scenario = parse(&source, "test.toml").unwrap();
    let web = &scenario.jobs["web"];
    assert_eq!(web.config.container.env.get()["MODE"], "test");
    assert_eq!(web.config.container.grace.startup.to_string(), "2s");
    assert_eq!(web.behaviour.to_string(), "exits 1 after 5s");
}

#[test]
fn every_action_key_parses() {
    let source = format!(
        "{FULL}\n{}",
        r#"
[[at]]
time = "2m"
wipe = "a1"
[[at]]
time = "2m"
partition = ["a1", "a2"]
[[at]]
time = "2m1s"
heal = ["a1", "a2"]
[[at]]
time = "2m2s"
drop_stream = "a2"
[[at]]
time = "2m3s"
slow = { agent = "a2", latency = "5s" }
[[at]]
time = "2m4s"
fail_starts = { agent = "a2", for = "2m" }
[[at]]
time = "2m5s"
scheduler_crash = { down = "10s" }
[[at]]
time = "2m6s"
add_agent = { name = "b0", cpu = 4.0, mem = 8192 }
[[at]]
time = "2m7s"
remove_agent = "b0"
[[at]]
time = "2m8s"
unschedule = "web"
[[at]]
time = "2m9s"
fail_commands = { agent = "a2", for = "1m" }
[[at]]
time = "2m9s"
never_confirm = { agent = "a2", for = "1m" }
[[at]]
time = "2m9s"
flap_stream = { agent = "a2", for = "1m" }
[[at]]
time = "2m9s"
report_stray = "a2"
[[expect]]
agent_commands_at_most = { agent = "a2", count = 9 }
[[expect]]
time = "3m"
placed = { job = "web", count = 0 }
[[expect]]
time = "3m"
unplaced = { job = "web", count = 0 }
[[expect]]
time = "3m"
placed_on = { agent = "b0", count = 0 }
[[expect]]
instances_at_most = { job = "web", count = 3 }
[[expect]]
commands_at_least = 1
"#
    );
    let scenario = parse(&source, "test.toml").unwrap();
    assert_eq!(scenario.timeline.len(), 17);
    assert_eq!(scenario.expectations.len(), 9);
}

#[test]
fn broken_peer_keys_name_a_listed_agent() {
    for (entry, key) in [
        (
            "fail_commands = { agent = \"zz\", for = \"1m\" }",
            "at.fail_commands.agent",
        ),
        (
            "never_confirm = { agent = \"zz\", for = \"1m\" }",
            "at.never_confirm.agent",
        ),
        (
            "flap_stream = { agent = \"zz\", for = \"1m\" }",
            "at.flap_stream.agent",
        ),
        ("report_stray = \"zz\"", "at.report_stray"),
    ] {
        let error = error_of(&format!("{FULL}\n[[at]]\ntime = \"1s\"\n{entry}\n"));
        assert_eq!(error.key, key, "{error}");
        assert!(error.message.contains("\"zz\""), "{error}");
    }
    let error = error_of(&format!(
        "{FULL}\n[[at]]\ntime = \"1s\"\nflap_stream = {{ agent = \"a2\", for = \"soon\" }}\n"
    ));
    assert_eq!(error.key, "at.flap_stream.for", "{error}");
    let error = error_of(&format!(
        "{FULL}\n[[expect]]\nagent_commands_at_most = {{ agent = \"zz\", count = 1 }}\n"
    ));
    assert_eq!(error.key, "expect.agent_commands_at_most.agent", "{error}");
}

#[test]
fn failed_starts_recover_needs_a_restart_policy_that_retries() {
    let with = |restart: &str| {
        FULL.replace("restart = \"always\"", &format!("restart = \"{restart}\""))
            + "\n[[expect]]\nfailed_starts_recover = \"web\"\n"
    };
    for restart in ["always", "on-failure"] {
        let scenario = parse(&with(restart), "test.toml").unwrap();
        assert_eq!(
            scenario.expectations[3].kind,
            ExpectationKind::FailedStartsRecover {
                job: "web".to_owned()
            }
        );
    }
    let error = error_of(&with("no"));
    assert_eq!(error.key, "expect.failed_starts_recover");
    assert!(error.message.contains("on-failure"), "{error}");
    let error = error_of(&(FULL.to_owned() + "\n[[expect]]\nfailed_starts_recover = \"db\"\n"));
    assert_eq!(error.key, "expect.job");
}

#[test]
fn the_later_fault_keys_parse_and_name_a_listed_agent() {
    let source = format!(
        "{FULL}
[[at]]
time = \"1s\"
shrink_agent = {{ agent = \"a2\", cpu = 0.5, mem = 128 }}
[[at]]
time = \"2s\"
lose_containers = {{ agent = \"a2\", count = 2 }}
[[at]]
time = \"3s\"
repeat_first_event = {{ agent = \"a2\", for = \"1m\" }}
[[at]]
time = \"4s\"
slow_disk = {{ latency = \"5s\", for = \"1m\" }}
"
    );
    let scenario = parse(&source, "test.toml").unwrap();
    let added: Vec<String> = scenario
        .timeline
        .iter()
        .filter(|entry| {
            matches!(
                entry.action,
                Action::ShrinkAgent { .. }
                    | Action::LoseContainers { .. }
                    | Action::RepeatFirstEvent { .. }
                    | Action::SlowDisk { .. }
            )
        })
        .map(|entry| entry.action.to_string())
        .collect();
    assert_eq!(
        added,
        [
            "a2 restarts with 0.5 cpu, 128 MB",
            "a2 loses 2 of its containers",
            "a2's stream repeats its first event for 1m0s",
            "registry writes take 5s for 1m0s",
        ]
    );
    for (entry, key) in [
        (
            "shrink_agent = { agent = \"zz\", cpu = 0.5, mem = 128 }",
            "at.shrink_agent.agent",
        ),
        (
            "lose_containers = { agent = \"zz\", count = 1 }",
            "at.lose_containers.agent",
        ),
        (
            "repeat_first_event = { agent = \"zz\", for = \"1m\" }",
            "at.repeat_first_event.agent",
        ),
    ] {
        let error = error_of(&format!("{FULL}\n[[at]]\ntime = \"1s\"\n{entry}\n"));
        assert_eq!(error.key, key, "{error}");
        assert!(error.message.contains("\"zz\""), "{error}");
    }
    for (entry, key) in [
        (
            "shrink_agent = { agent = \"a2\", cpu = 0.0, mem = 128 }",
            "at.shrink_agent.cpu",
        ),
        (
            "shrink_agent = { agent = \"a2\", cpu = 1.0, mem = 0 }",
            "at.shrink_agent.mem",
        ),
        (
            "lose_containers = { agent = \"a2\", count = 0 }",
            "at.lose_containers.count",
        ),
        (
            "repeat_first_event = { agent = \"a2\", for = \"soon\" }",
            "at.repeat_first_event.for",
        ),
        (
            "slow_disk = { latency = \"fast\", for = \"1m\" }",
            "at.slow_disk.latency",
        ),
        (
            "slow_disk = { latency = \"5s\", for = \"soon\" }",
            "at.slow_disk.for",
        ),
    ] {
        let error = error_of(&format!("{FULL}\n[[at]]\ntime = \"1s\"\n{entry}\n"));
        assert_eq!(error.key, key, "{error}");
    }
}
