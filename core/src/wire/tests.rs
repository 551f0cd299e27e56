//! Decoding tests over the captures in `core/fixtures/wire/`, copied from
//! `shared/wire/fixtures/` (a test checks that the copies are current).

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/wire");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}"))
        .unwrap_or_else(|error| panic!("reading fixture {name}: {error}"))
}

/// Decodes `text` as `T`, re-encodes it, and checks that the JSON value is
/// unchanged: no field lost, none added, no number changed.
fn assert_round_trip<T: serde::de::DeserializeOwned + Serialize>(text: &str) -> T {
    let decoded: T = serde_json::from_str(text).expect("fixture decodes");
    let original: serde_json::Value = serde_json::from_str(text).unwrap();
    let reencoded = serde_json::to_value(&decoded).unwrap();
    assert_eq!(reencoded, original, "re-encoding changed the JSON value");
    decoded
}

#[test]
fn fixtures_are_current_copies_of_shared() {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/wire/fixtures");
    let Ok(entries) = std::fs::read_dir(shared) else {
        // A clone without `shared/` beside it: nothing to compare against.
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let ours = std::fs::read(format!("{FIXTURES}/{name}"))
            .unwrap_or_else(|_| panic!("fixture {name} is missing from core/fixtures/wire"));
        assert_eq!(
            ours,
            std::fs::read(&path).unwrap(),
            "fixture {name} differs from shared/"
        );
    }
}

#[test]
fn job_config_fixture_round_trips_and_validates() {
    let job: JobConfig = assert_round_trip(&fixture("scheduler-job-config.json"));
    assert_eq!(job.scale, 1);
    assert_eq!(job.container.job, "web");
    assert_eq!(job.container.resources.cpu, 0.5);
    assert_eq!(
        job.container.resources.fd, None,
        "fd is absent and stays absent"
    );
    assert_eq!(job.container.grace.startup, WireDuration::from_millis(1000));
    assert_eq!(job.validate(), Ok(()));
}

#[test]
fn job_hash_of_the_fixture_is_pinned() {
    // This value is the key under which the fixture job is persisted. If this
    // test fails, persisted registries written by earlier versions no longer
    // match: change the canonical encoding only with a migration.
    let job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    assert_eq!(job.hash().as_str(), "web-7dd3e5c");
    assert_eq!(job.hash().container_id(0).as_str(), "web-7dd3e5c-0");
}

#[test]
fn job_hash_ignores_key_order_and_empty_versus_missing() {
    let job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    let reordered = r#"{"storage":{"volumes":{},"tmp":{}},"env":{},"ports":{},"health_checks":[],
        "restart":"no","grace":{"shutdown":"1s","startup":"1000ms"},
        "resources":{"cpu":0.5,"mem":64,"fd":0},"command":{"exec":["./true"],"working_dir":"/"},
        "artifact_url":"http://127.0.0.1:18080/warhead.tgz","scale":1,"environment":"dev",
        "product":"demo","job":"web"}"#;
    let same: JobConfig = serde_json::from_str(reordered).unwrap();
    assert_eq!(same.hash(), job.hash());
    let sparse = r#"{"job":"web","product":"demo","environment":"dev","scale":1,
        "artifact_url":"http://127.0.0.1:18080/warhead.tgz",
        "command":{"working_dir":"/","exec":["./true"]},"resources":{"mem":64,"cpu":0.5},
        "grace":{"startup":"1s","shutdown":"1s"},"restart":"no"}"#;
    let sparse: JobConfig = serde_json::from_str(sparse).unwrap();
    assert_eq!(sparse.hash(), job.hash());
    let mut scaled = job.clone();
    scaled.scale = 2;
    assert_ne!(scaled.hash(), job.hash(), "scale is part of the job");
}

#[test]
fn container_instance_fixture_round_trips() {
    let instance: ContainerInstance = assert_round_trip(&fixture("agent-container-instance.json"));
    assert_eq!(instance.status, ContainerStatus::Created);
    assert_eq!(instance.config.ports.get().get("HTTP"), Some(&30000));
    assert_eq!(instance.config.resources.fd, Some(100));
}

#[test]
fn resources_fixture_round_trips() {
    let resources: HostResources = assert_round_trip(&fixture("agent-resources.json"));
    assert_eq!(
        resources.mem,
        TotalReserved {
            total: 4096,
            reserved: 64
        }
    );
    assert_eq!(resources.cpus.total, 4.0);
    assert_eq!(resources.cpus.reserved, 0.5);
}

#[test]
fn state_event_fixture_round_trips() {
    let event: StateEvent = assert_round_trip(&fixture("agent-state-event.json"));
    assert_eq!(event.containers.len(), 1);
    assert_eq!(event.containers["c1"].container_id, "c1");
}

#[test]
fn event_stream_fixture_decodes_event_by_event() {
    let stream = fixture("agent-event-stream.sse");
    let mut statuses = Vec::new();
    for line in stream.lines().filter(|line| !line.is_empty()) {
        let data = line
            .strip_prefix("data: ")
            .expect("every line is a data line");
        let event: StateEvent = assert_round_trip(data);
        statuses.extend(
            event
                .containers
                .values()
                .map(|c| (c.container_id.clone(), c.status)),
        );
    }
    use ContainerStatus::*;
    let expected = [
        ("c1", Created),
        ("c1", Failed),
        ("c1", Deleted),
        ("c2", Deleted),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(id, s)| (id.to_string(), *s))
        .collect();
    assert_eq!(statuses, expected);
}

#[test]
fn the_empty_config_from_a_failed_put_round_trips_with_its_nulls() {
    // The agent answers `PUT {}` with 201 and then a `deleted` event whose
    // config is Go's zero value: nil slices and maps written as null.
    let stream = fixture("agent-event-stream.sse");
    let last = stream.lines().rev().find(|l| !l.is_empty()).unwrap();
    let event: StateEvent = assert_round_trip(last.strip_prefix("data: ").unwrap());
    let config = &event.containers["c2"].config;
    assert_eq!(config.ports, Field::Null);
    assert_eq!(config.command.exec, Field::Null);
    assert_eq!(config.restart, RestartPolicy::Other(String::new()));
    let problems = config.validate().unwrap_err().to_string();
    assert!(
        problems.starts_with("\"product\" not set; \"environment\" not set; \"job\" not set"),
        "{problems}"
    );
}

#[test]
fn unknown_fields_are_preserved() {
    let text = r#"{"job":"web","product":"p","environment":"e","scale":2,"future_knob":{"a":1},
        "health_checks":[{"protocol":"TCP","port":"HTTP","initial_delay":"1s","timeout":"1s",
        "interval":"5s","grpc_service":"x"}]}"#;
    let job: JobConfig = serde_json::from_str(text).unwrap();
    assert_eq!(
        job.container.extra["future_knob"],
        serde_json::json!({"a": 1})
    );
    let back = serde_json::to_value(&job).unwrap();
    assert_eq!(back["future_knob"], serde_json::json!({"a": 1}));
    assert_eq!(back["health_checks"][0]["grpc_service"], "x");
    assert_eq!(back["scale"], 2);
    assert!(
        !job.container.extra.contains_key("scale"),
        "scale belongs to the job"
    );
}

#[test]
fn validation_reports_every_problem_at_once() {
    let job: JobConfig = serde_json::from_str(
        r#"{"scale":0,"job":"a b","resources":{"cpu":0},"grace":{"startup":"31s","shutdown":"1s"},
        "restart":"sometimes","health_checks":[{"protocol":"HTTP","port":"P"}]}"#,
    )
    .unwrap();
    let message = job.validate().unwrap_err().to_string();
    insta::assert_snapshot!(message.replace("; ", ";\n"));
}

#[test]
fn decoding_errors_name_the_problem() {
    let error = serde_json::from_str::<JobConfig>(r#"{"grace":{"startup":"soon"}}"#).unwrap_err();
    assert!(
        error.to_string().contains("invalid duration \"soon\""),
        "{error}"
    );
    let error = serde_json::from_str::<JobConfig>(r#"{"scale":"many"}"#).unwrap_err();
    assert!(error.to_string().contains("invalid type"), "{error}");
}

#[test]
fn task_count_clamps_to_the_scale_bounds_as_documented() {
    let mut job = JobConfig::default();
    for (scale, tasks) in [
        (-5, 0),
        (0, 0),
        (3, 3),
        (JobConfig::MAX_SCALE, 1000),
        (JobConfig::MAX_SCALE + 1, 1000),
        (i64::MAX, 1000),
    ] {
        job.scale = scale;
        assert_eq!(job.task_count(), tasks, "scale {scale}");
    }
}
