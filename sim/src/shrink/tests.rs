use super::*;
use crate::swarm;

/// A busy world: many agents, jobs and faults, and one expectation that
/// cannot hold (`commands_at_most = 0`) beside ones that do.
const BUSY: &str = r#"
name = "busy world with an impossible expectation"
seed = 3
duration = "10m"

[network]
latency = "1ms..30ms"
drop = 0.02

[[agent]]
name = "a"
count = 4
cpu = 8.0
mem = 16384
volumes = ["/data/ssd"]

[[agent]]
name = "big"
cpu = 16.0
mem = 32768

[[job]]
name = "web"
scale = 3
cpu = 0.5
mem = 256
restart = "always"

[[job]]
name = "db"
scale = 2
cpu = 1.0
mem = 512
volumes = { "/data" = "/data/ssd" }

[[job]]
name = "batch"
scale = 2
behaviour = "exits 0 after 20s"

[[job]]
name = "flaky"
behaviour = "fails to start"
restart = "on-failure"

[[at]]
time = "0s"
schedule = "web"

[[at]]
time = "1s"
schedule = "db"

[[at]]
time = "2s"
schedule = "batch"

[[at]]
time = "3s"
schedule = "flaky"

[[at]]
time = "20s"
crash = "a1"

[[at]]
time = "40s"
restart = "a1"

[[at]]
time = "50s"
partition = ["a2", "a3"]

[[at]]
time = "70s"
heal = ["a2", "a3"]

[[at]]
time = "80s"
fail_starts = { agent = "a0", for = "30s" }

[[at]]
time = "90s"
slow = { agent = "big", latency = "2s" }

[[at]]
time = "100s"
scheduler_crash = { down = "5s" }

[[at]]
time = "120s"
drop_stream = "a0"

[[at]]
time = "150s"
unschedule = "batch"

[[expect]]
converged_within = "3m"

[[expect]]
commands_at_most = 0

[[expect]]
time = "60s"
placed = { job = "web", count = 3 }
"#;

fn options(max_runs: u64) -> ShrinkOptions {
    ShrinkOptions {
        max_runs,
        seed: None,
        origin: "a test".to_owned(),
    }
}

#[test]
fn an_impossible_expectation_shrinks_to_the_smallest_world_that_breaks_it() {
    let outcome = shrink(BUSY, &options(DEFAULT_MAX_RUNS)).unwrap();
    assert_eq!(outcome.failure.what, "commands_at_most 0");
    assert!(outcome.finished, "{}", outcome.summary());
    assert_eq!(outcome.invalid, 0);
    assert!(outcome.reproduced);
    // One command needs one agent, one job and its schedule; nothing else.
    assert_eq!(
        outcome.after,
        Size {
            agents: 1,
            jobs: 1,
            timeline: 1,
            expectations: 1
        },
        "{}",
        outcome.text
    );
    let scenario = scenario::parse(&outcome.text, "shrunk").unwrap();
    let job = scenario.jobs.values().next().unwrap();
    assert_eq!(job.config.scale, 1, "{}", outcome.text);
    assert!(scenario.duration <= harpoon_core::Duration::from_secs(1));
    assert!(scenario.timeline[0].at == harpoon_core::Duration::ZERO);
    assert!(
        outcome
            .text
            .starts_with("# Shrunk by `harpoon-sim shrink` from a test (seed 3).")
    );
    assert!(outcome.text.contains("# Reproduces: commands_at_most 0\n"));
}

#[test]
fn a_scale_shrinks_to_the_least_that_still_fails() {
    // Two instances of web at once break the limit of one: scale 2 is the
    // least that does, on one agent.
    let source = BUSY.replace(
        "commands_at_most = 0",
        "instances_at_most = { job = \"web\", count = 1 }",
    );
    let outcome = shrink(&source, &options(DEFAULT_MAX_RUNS)).unwrap();
    assert_eq!(
        outcome.failure.what,
        "instances_at_most { job = web, count = 1 }"
    );
    assert_eq!(outcome.after.agents, 1, "{}", outcome.text);
    assert_eq!(outcome.after.jobs, 1, "{}", outcome.text);
    assert_eq!(outcome.after.timeline, 1, "{}", outcome.text);
    let scenario = scenario::parse(&outcome.text, "shrunk").unwrap();
    assert_eq!(scenario.jobs["web"].config.scale, 2, "{}", outcome.text);
}

/// Generated worlds with an expectation added that they cannot meet.
fn failing_worlds() -> Vec<(String, String)> {
    let impossible = [
        "commands_at_most = 2",
        "instances_at_most = { job = \"j0\", count = 0 }",
        "time = \"60s\"\nplaced = { job = \"j0\", count = 99 }",
        "commands_at_least = 100000",
    ];
    (0..4u64)
        .map(|seed| {
            let world = swarm::generate(seed);
            let expectation = impossible[seed as usize % impossible.len()];
            (
                format!("swarm seed {seed}"),
                format!("{world}\n[[expect]]\n{expectation}\n"),
            )
        })
        .collect()
}

#[test]
fn the_result_fails_the_same_way_replayed_from_its_text_and_is_no_larger() {
    for (origin, source) in failing_worlds() {
        let input = Document::parse(&source, &origin).unwrap();
        // A small budget: the property holds wherever the shrink stops.
        let outcome = shrink(&source, &options(150)).unwrap();
        assert!(outcome.runs <= 150 + 4, "{origin}: {} runs", outcome.runs);
        assert!(
            outcome.after.fits_in(&input.size()),
            "{origin}: {}",
            outcome.summary()
        );
        assert_eq!(outcome.before, input.size());
        // Replayed from the written text, exactly as `harpoon-sim run`
        // does: the same failure, with the file's own seed.
        let replayed = scenario::parse(&outcome.text, "the written file").unwrap();
        assert_eq!(replayed.seed, outcome.seed);
        let report = run_checked(&replayed, replayed.seed, false);
        assert!(
            outcome.failure.found_in(&report).is_some(),
            "{origin}: the shrunk file does not fail with {}:\n{}\n{}",
            outcome.failure,
            outcome.text,
            report.render()
        );
    }
}

#[test]
fn a_shrink_is_deterministic() {
    let (origin, source) = failing_worlds().remove(1);
    let first = shrink(&source, &options(60)).unwrap();
    let second = shrink(&source, &options(60)).unwrap();
    assert_eq!(first.text, second.text, "{origin}");
    assert_eq!(first.runs, second.runs);
}

#[test]
fn a_shrink_stops_at_its_run_limit_and_says_so() {
    let outcome = shrink(BUSY, &options(6)).unwrap();
    assert!(!outcome.finished);
    assert!(outcome.runs <= 6 + 2 + 1, "{} runs", outcome.runs);
    assert!(outcome.summary().starts_with("stopped at the run limit"));
    assert!(outcome.text.contains("and stopped at the limit"));
}

#[test]
fn a_world_that_passes_has_nothing_to_shrink() {
    let source = BUSY
        .replace("commands_at_most = 0", "commands_at_most = 100000")
        .replace("[[expect]]\nconverged_within = \"3m\"\n", "")
        .replace(
            "[[expect]]\ntime = \"60s\"\nplaced = { job = \"web\", count = 3 }\n",
            "",
        );
    match shrink(&source, &options(100)) {
        Err(ShrinkError::Passes { seed: 3 }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        shrink("name = 1", &options(100)),
        Err(ShrinkError::Invalid(_))
    ));
}

#[test]
fn a_timed_expectation_keeps_a_run_long_enough_to_be_checked() {
    // Cut before 60s, the expectation would fail as never checked: not the
    // failure being shrunk.
    let source = BUSY
        .replace("[[expect]]\ncommands_at_most = 0\n", "")
        .replace(
            "placed = { job = \"web\", count = 3 }",
            "placed = { job = \"web\", count = 5 }",
        );
    let outcome = shrink(&source, &options(400)).unwrap();
    assert_eq!(
        outcome.failure.what,
        "placed { job = web, count = 5 } at 1m0s"
    );
    let scenario = scenario::parse(&outcome.text, "shrunk").unwrap();
    assert!(
        scenario.duration >= harpoon_core::Duration::from_secs(60),
        "{}",
        outcome.text
    );
    assert!(outcome.message.starts_with("found "), "{}", outcome.message);
}

#[test]
fn a_convergence_failure_keeps_the_run_past_its_deadline() {
    // A task that needs a volume no agent offers is never placed: the world
    // never converges. Cut before the deadline, any world fails to converge.
    let source = r#"
name = "a task that can never be placed"
duration = "10m"

[[agent]]
name = "a"
count = 3
cpu = 4.0
mem = 4096

[[job]]
name = "db"
volumes = { "/data" = "/data/ssd" }

[[job]]
name = "web"
scale = 2

[[at]]
time = "0s"
schedule = "web"

[[at]]
time = "5s"
schedule = "db"

[[at]]
time = "30s"
crash = "a1"

[[at]]
time = "40s"
restart = "a1"

[[expect]]
converged_within = "1m"
"#;
    let outcome = shrink(source, &options(400)).unwrap();
    assert_eq!(outcome.failure.what, "converged_within 1m0s");
    assert_eq!(outcome.failure.cause, Some("missing instance"));
    let scenario = scenario::parse(&outcome.text, "shrunk").unwrap();
    let last = scenario
        .timeline
        .iter()
        .map(|entry| entry.at)
        .max()
        .unwrap();
    assert!(
        scenario.duration >= last + harpoon_core::Duration::from_secs(60),
        "{}",
        outcome.text
    );
    assert_eq!(
        (outcome.after.jobs, outcome.after.timeline),
        (1, 1),
        "{}",
        outcome.text
    );
}
