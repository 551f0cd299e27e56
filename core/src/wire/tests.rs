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
fn job_hash_of_the_fixture_is_the_wire_docs_example() {
    // The wire doc names this job `web-9c83741`, the original's hash of it.
    let job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    assert_eq!(job.hash().as_str(), "web-9c83741");
    assert_eq!(job.hash().container_id(0).as_str(), "web-9c83741-0");
}

#[test]
fn legacy_hash_of_the_fixture_is_pinned() {
    // Earlier versions keyed registries and named containers with this:
    // adopting their containers depends on it never changing.
    let job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    assert_eq!(job.legacy_hash().as_str(), "web-7dd3e5c");
}

const JOB_HASHES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/job-hashes");

#[test]
fn job_hash_fixtures_are_current_copies_of_shared() {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/wire/job-hashes");
    let Ok(entries) = std::fs::read_dir(shared) else {
        // A clone without `shared/` beside it: nothing to compare against.
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let ours = std::fs::read(format!("{JOB_HASHES}/{name}"))
            .unwrap_or_else(|_| panic!("{name} is missing from core/fixtures/job-hashes"));
        assert_eq!(
            ours,
            std::fs::read(&path).unwrap(),
            "{name} differs from shared/"
        );
    }
}

#[test]
fn every_job_hash_fixture_hashes_as_the_original_does() {
    let expected = std::fs::read_to_string(format!("{JOB_HASHES}/expected.txt")).unwrap();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in expected.lines().filter(|line| !line.trim().is_empty()) {
        let (name, hash) = line.split_once(' ').expect("`<file> <hash>` lines");
        let text = std::fs::read_to_string(format!("{JOB_HASHES}/{name}")).unwrap();
        let job: JobConfig = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{name} does not decode: {error}"));
        if job.hash().as_str() != hash.trim() {
            mismatches.push(format!(
                "{name}: ours {}, the original's {hash}; we hashed {}",
                job.hash(),
                hash::go_encoding(&job)
            ));
        }
        checked += 1;
    }
    let configs = std::fs::read_dir(JOB_HASHES)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "json")
        })
        .count();
    assert_eq!(checked, configs, "expected.txt names every config");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn job_hash_ignores_key_order_and_unknown_fields_but_not_empty_versus_missing() {
    let job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    let reordered = r#"{"storage":{"volumes":{},"tmp":{}},"env":{},"ports":{},"health_checks":[],
        "restart":"no","grace":{"shutdown":"1s","startup":"1000ms"},"later":true,
        "resources":{"cpu":0.5,"mem":64,"fd":0},"command":{"exec":["./true"],"working_dir":"/"},
        "artifact_url":"http://127.0.0.1:18080/warhead.tgz","scale":1,"environment":"dev",
        "product":"demo","job":"web"}"#;
    let same: JobConfig = serde_json::from_str(reordered).unwrap();
    assert_eq!(same.hash(), job.hash());
    // Go decodes an absent or `null` collection as nil, written `null`;
    // an empty one is written `{}` or `[]`: another hash, as the
    // original's.
    let sparse = r#"{"job":"web","product":"demo","environment":"dev","scale":1,
        "artifact_url":"http://127.0.0.1:18080/warhead.tgz",
        "command":{"working_dir":"/","exec":["./true"]},"resources":{"mem":64,"cpu":0.5},
        "grace":{"startup":"1s","shutdown":"1s"},"restart":"no"}"#;
    let sparse: JobConfig = serde_json::from_str(sparse).unwrap();
    assert_ne!(sparse.hash(), job.hash());
    let mut nulls: serde_json::Value =
        serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    let mut absent = nulls.clone();
    for field in ["ports", "env", "health_checks"] {
        nulls[field] = serde_json::Value::Null;
        absent.as_object_mut().unwrap().remove(field);
    }
    let nulls: JobConfig = serde_json::from_value(nulls).unwrap();
    let absent: JobConfig = serde_json::from_value(absent).unwrap();
    assert_eq!(nulls.hash(), absent.hash());
    assert_ne!(nulls.hash(), job.hash());
    let mut scaled = job.clone();
    scaled.scale = 2;
    assert_ne!(scaled.hash(), job.hash(), "scale is part of the job");
}

#[test]
fn the_hashed_encoding_is_gos_with_fields_in_the_original_struct_order() {
    let job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    assert_eq!(
        hash::go_encoding(&job),
        concat!(
            r#"{"scale":1,"product":"demo","environment":"dev","job":"web","health_checks":[],"#,
            r#""artifact_url":"http://127.0.0.1:18080/warhead.tgz","ports":{},"env":{},"#,
            r#""command":{"working_dir":"/","exec":["./true"]},"resources":{"mem":64,"cpu":0.5,"fd":0},"#,
            r#""storage":{"tmp":{},"volumes":{}},"grace":{"startup":"1s","shutdown":"1s"},"#,
            r#""restart":"no"}"#,
            "\n"
        )
    );
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
fn the_example_job_hashes_as_the_original_hashes_it() {
    // The issue that brought in the original's hash quotes this value.
    let text = include_str!("../../../examples/hello.json");
    let job: JobConfig = serde_json::from_str(text).unwrap();
    assert_eq!(job.hash().as_str(), "hello-8d4dadf");
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

/// The problems validation finds in the fixture job changed by `change`.
fn problems_with(change: impl FnOnce(&mut JobConfig)) -> Vec<String> {
    let mut job: JobConfig = serde_json::from_str(&fixture("scheduler-job-config.json")).unwrap();
    change(&mut job);
    job.validate()
        .err()
        .map(|errors| errors.0)
        .unwrap_or_default()
}

#[test]
fn job_names_follow_the_agents_rule() {
    for (name, problem) in [
        ("..", "job name \"..\" may not start with '.'"),
        (".hidden", "job name \".hidden\" may not start with '.'"),
        (
            "a/b",
            "job name \"a/b\" may only contain letters, digits, '-', '_' and '.'",
        ),
    ] {
        assert_eq!(
            problems_with(|job| job.container.job = name.to_owned()),
            [problem]
        );
    }
    let long = "x".repeat(300);
    assert_eq!(
        problems_with(|job| job.container.job = long.clone()),
        [format!(
            "job name \"{}\"… is 300 bytes long; the limit is 188",
            "x".repeat(64)
        )]
    );
    let huge = problems_with(|job| job.container.job = "y".repeat(100_000));
    assert!(
        huge[0].len() < 200,
        "the problem does not repeat the name whole"
    );
    assert_eq!(
        problems_with(|job| job.container.job = "n".repeat(JOB_NAME_MAX_LEN)),
        Vec::<String>::new()
    );
}

#[test]
fn cpu_below_one_milli_core_is_refused() {
    let problem = "resources.cpu of 0.0004 is invalid (must be at least 0.001: cpu is counted \
                   in whole milli-cores, rounded up)";
    assert_eq!(
        problems_with(|job| job.container.resources.cpu = 0.0004),
        [problem]
    );
    for fine in [0.001, 0.0015, 64.0] {
        assert_eq!(
            problems_with(|job| job.container.resources.cpu = fine),
            Vec::<String>::new(),
            "{fine}"
        );
    }
    assert_eq!(
        problems_with(|job| job.container.resources.cpu = f64::NAN).len(),
        1
    );
}

#[test]
fn generated_configs_hash_as_go_hashes_them() {
    // `fixtures/go-hashes.jsonl`: 403 generated configs (strings with
    // `<`, `>`, `&`, U+2028/2029, quotes, backslashes, control characters
    // and non-ASCII; floats of every magnitude, halfway cases included;
    // nil, empty and filled maps and slices; health checks with and
    // without their omitempty fields; unknown fields; odd durations), each
    // with the hash a Go 1.19 program computed for it from the original's
    // structs and `Hash` method (the same program reproduces every hash of
    // `shared/wire/job-hashes/`). Backspace and form feed are left out:
    // Go 1.22 changed their escapes, and we follow the later releases.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/go-hashes.jsonl"
    ))
    .unwrap();
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let job: JobConfig = serde_json::from_value(case["config"].clone()).unwrap();
        if job.hash().as_str() != case["hash"].as_str().unwrap() {
            mismatches.push(format!(
                "Go {}, ours {}: {}",
                case["hash"],
                job.hash(),
                hash::go_encoding(&job)
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 403);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
