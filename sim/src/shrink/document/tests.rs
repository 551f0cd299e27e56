use std::path::Path as FsPath;

use super::*;
use crate::swarm;
use crate::world::{RunOptions, run};

/// Everything a scenario says, without where it was written (line numbers
/// change when a document is written out again).
fn world_of(scenario: &Scenario) -> String {
    let timeline: Vec<String> = scenario
        .timeline
        .iter()
        .map(|entry| format!("{:?} {:?}", entry.at, entry.action))
        .collect();
    let expectations: Vec<String> = scenario
        .expectations
        .iter()
        .map(|expectation| format!("{:?}", expectation.kind))
        .collect();
    format!(
        "{:?}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{timeline:?}\n{expectations:?}",
        scenario.name,
        scenario.seed,
        scenario.duration,
        scenario.scheduler,
        scenario.network,
        scenario.agents,
        scenario.jobs,
    )
}

fn sources() -> Vec<(String, String)> {
    let dir = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut sources: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.display().to_string(), text)
        })
        .collect();
    sources.sort();
    sources.extend((0..40).map(|seed| (format!("swarm seed {seed}"), swarm::generate(seed))));
    sources
}

#[test]
fn a_written_document_parses_back_to_the_same_world() {
    for (origin, source) in sources() {
        let original = scenario::parse(&source, &origin).unwrap();
        let written = Document::parse(&source, &origin).unwrap().to_toml();
        let again = scenario::parse(&written, "written")
            .unwrap_or_else(|error| panic!("{origin}: {error}\n{written}"));
        assert_eq!(
            world_of(&again),
            world_of(&original),
            "{origin}:\n{written}"
        );
        // Written once more, the text is the same: the writer is stable.
        assert_eq!(
            Document::parse(&written, "written").unwrap().to_toml(),
            written
        );
    }
}

#[test]
fn a_written_document_runs_exactly_as_the_original() {
    for (origin, source) in sources().into_iter().step_by(4) {
        let original = scenario::parse(&source, &origin).unwrap();
        let written = Document::parse(&source, &origin)
            .unwrap()
            .scenario("written")
            .unwrap();
        let options = RunOptions {
            seed: original.seed,
            keep_trace: false,
        };
        assert_eq!(
            run(&written, options).trace_hash,
            run(&original, options).trace_hash,
            "{origin}"
        );
    }
}

const WORLD: &str = r#"
name = "references"
duration = "5m"

[[agent]]
name = "a"
count = 3
cpu = 4.0
mem = 4096

[[job]]
name = "web"
scale = 2

[[job]]
name = "db"

[[at]]
time = "0s"
schedule = "web"

[[at]]
time = "0s"
schedule = "db"

[[at]]
time = "10s"
partition = ["a0", "a1"]

[[at]]
time = "20s"
heal = ["a1"]

[[at]]
time = "30s"
crash = "a1"

[[at]]
time = "35s"
fail_starts = { agent = "a1", for = "10s" }

[[at]]
time = "36s"
fail_commands = { agent = "a1", for = "10s" }

[[at]]
time = "37s"
never_confirm = { agent = "a1", for = "10s" }

[[at]]
time = "38s"
flap_stream = { agent = "a1", for = "10s" }

[[at]]
time = "39s"
report_stray = "a1"

[[at]]
time = "40s"
add_agent = { name = "b0", cpu = 4.0, mem = 4096 }

[[at]]
time = "50s"
drop_stream = "b0"

[[expect]]
time = "1m"
placed_on = { agent = "a1", count = 1 }

[[expect]]
time = "1m"
running = { job = "db", count = 1 }

[[expect]]
agent_commands_at_most = { agent = "a1", count = 10 }

[[expect]]
converged_within = "2m"
"#;

#[test]
fn agents_with_a_count_become_one_entry_each() {
    let document = Document::parse(WORLD, "world").unwrap();
    assert_eq!(document.agent_names(), ["a0", "a1", "a2", "b0"]);
    assert_eq!(
        document.size(),
        Size {
            agents: 4,
            jobs: 2,
            timeline: 12,
            expectations: 4
        }
    );
}

#[test]
fn removing_an_agent_removes_what_names_it_and_nothing_else() {
    let document = Document::parse(WORLD, "world").unwrap();
    let smaller = document.without(&[Part::Agent("a1".to_owned())]);
    let scenario = smaller.scenario("smaller").unwrap();
    let actions: Vec<String> = scenario
        .timeline
        .iter()
        .map(|entry| entry.action.to_string())
        .collect();
    // The partition loses a1; the heal of a1 alone, the crash and the
    // faults of a1 go; so do the expectations about a1.
    assert_eq!(
        actions,
        [
            "schedule web",
            "schedule db",
            "partition a0",
            "add agent b0 (4 cpu, 4096 MB)",
            "drop the stream of b0"
        ]
    );
    assert_eq!(smaller.agent_names(), ["a0", "a2", "b0"]);
    assert_eq!(smaller.size().expectations, 2);

    // An added agent goes with its `add_agent` entry and what names it.
    let without_b0 = document.without(&[Part::Agent("b0".to_owned())]);
    assert_eq!(without_b0.size().timeline, 10);
    assert!(without_b0.scenario("without b0").is_ok());
}

#[test]
fn removing_a_job_removes_its_requests_and_expectations() {
    let document = Document::parse(WORLD, "world").unwrap();
    let smaller = document.without(&[Part::Job("db".to_owned())]);
    let scenario = smaller.scenario("smaller").unwrap();
    assert_eq!(scenario.jobs.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(smaller.size().timeline, 11);
    assert_eq!(smaller.size().expectations, 3);
}

#[test]
fn every_part_of_a_generated_world_can_go_and_leave_a_valid_scenario() {
    for seed in 0..40 {
        let document = Document::parse(&swarm::generate(seed), "generated").unwrap();
        for part in document.parts() {
            let smaller = document.without(std::slice::from_ref(&part));
            assert!(smaller.size().fits_in(&document.size()));
            if let Err(error) = smaller.scenario("smaller") {
                panic!(
                    "seed {seed} without {part:?}: {error}\n{}",
                    smaller.to_toml()
                );
            }
        }
    }
}
