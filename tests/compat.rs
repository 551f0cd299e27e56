//! End-to-end: our scheduler replaces the original in place. It reads the
//! original's registry file as it is and adopts the containers the
//! original left running on the agents, under the original's IDs, without
//! a command for any of them.

mod support;

use std::time::Duration;

use harpoon_core::wire::JobConfig;
use serde_json::Value;
use support::*;

const SETTLE: Duration = Duration::from_secs(60);

/// The registry file the original scheduler writes for `jobs`: Go's
/// `json.NewEncoder(f).Encode(map[string]JobConfig)`, compact, keys
/// sorted, each config in its struct's order (`scale` first, `fd`
/// present).
fn original_registry_file(jobs: &[(&str, &JobConfig)]) -> String {
    let mut keyed: Vec<(String, String)> = jobs
        .iter()
        .map(|(hash, job)| ((*hash).to_owned(), job.original_json()))
        .collect();
    keyed.sort();
    let members: Vec<String> = keyed
        .iter()
        .map(|(hash, json)| format!("{}:{json}", Value::from(hash.as_str())))
        .collect();
    format!("{{{}}}\n", members.join(","))
}

/// Creates and starts `id` with `config` directly on an agent, as the
/// original scheduler would have, and waits until it runs.
fn seed(agent: &str, id: &str, config: &Value) {
    let body = serde_json::to_vec(config).unwrap();
    let url = format!("{agent}/api/v0/containers/{id}");
    let (status, text) = http("PUT", &url, Some(&body), None);
    assert_eq!(status, 201, "create {id}: {text}");
    wait_for(&format!("{id} created"), SETTLE, || {
        agent_containers(agent)
            .iter()
            .any(|(each, status)| each == id && status == "created")
            .then_some(())
    });
    let (status, text) = http("POST", &format!("{url}/start"), None, None);
    assert_eq!(status, 202, "start {id}: {text}");
    wait_for(&format!("{id} running"), SETTLE, || {
        agent_containers(agent)
            .iter()
            .any(|(each, status)| each == id && status == "running")
            .then_some(())
    });
}

/// The container config of a job: the job without `scale`.
fn container_config(job: &Value) -> Value {
    let mut config = job.clone();
    config.as_object_mut().unwrap().remove("scale");
    config
}

fn start_scheduler(registry: &str, agents: &[&Proc]) -> Proc {
    let mut args = vec!["--listen", "127.0.0.1:0", "--persist", registry];
    for agent in agents {
        args.extend(["--agent", agent.url.as_str()]);
    }
    Proc::start("harpoon-scheduler", &args)
}

/// Waits until the scheduler has placed and started `job` (a job of one
/// task, scheduled after take-over): by then it has reconciled with every
/// agent synced, so whatever it meant to do about the adopted containers
/// it has done.
fn schedule_and_await_a_probe_job(scheduler: &str, job: &Value) {
    let hash = schedule(scheduler, job);
    wait_for("the probe job running", SETTLE, || {
        proxy(scheduler)
            .iter()
            .any(|(_, id, status)| id.starts_with(&hash) && status == "running")
            .then_some(())
    });
}

/// A job and the hash the original scheduler computed for it, from
/// `shared/wire/job-hashes/` (copied in `core/fixtures/`).
fn original_job(name: &str) -> (JobConfig, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/core/fixtures/job-hashes");
    let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
    let expected = std::fs::read_to_string(format!("{dir}/expected.txt")).unwrap();
    let hash = expected
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} is not in expected.txt"))
        .trim()
        .to_owned();
    (serde_json::from_str(&text).unwrap(), hash)
}

#[test]
fn take_over_from_the_original_adopts_its_running_containers_without_a_command() {
    let env = TestEnv::new("takeover");
    let a = env.agent("a", None);
    let b = env.agent("b", None);
    // A job of scale 3 the original scheduled, under the hash it computed.
    let (job, hash) = original_job("00-base.json");
    assert_eq!(job.scale, 3);
    // The agents run what the original left: its task IDs. (What runs in
    // them is a local stand-in for the job's artifact: the scheduler goes
    // by ID, as the original did.)
    let stand_in = container_config(&env.job("stand-in", 1));
    seed(&a.url, &format!("{hash}-0"), &stand_in);
    seed(&b.url, &format!("{hash}-1"), &stand_in);
    seed(&a.url, &format!("{hash}-2"), &stand_in);
    let registry = env.path("registry.json");
    std::fs::write(&registry, original_registry_file(&[(&hash, &job)])).unwrap();

    let scheduler = start_scheduler(&registry, &[&a, &b]);
    let url = &scheduler.url;
    let listed = get_json(&format!("{url}/api/v0/registry"));
    assert!(listed.get(&hash).is_some(), "{listed}");
    schedule_and_await_a_probe_job(url, &env.job("probe", 1));

    // The probe's create and start are the only commands sent.
    assert_eq!(metric(url, "harpoon_commands_issued_total"), 2);
    assert_eq!(metric(url, "harpoon_tasks_placed_total"), 1);
    let mut taken_over: Vec<(String, String)> = agent_containers(&a.url)
        .into_iter()
        .chain(agent_containers(&b.url))
        .filter(|(id, _)| id.starts_with(&hash))
        .collect();
    taken_over.sort();
    let expected: Vec<(String, String)> = (0..3)
        .map(|i| (format!("{hash}-{i}"), "running".to_owned()))
        .collect();
    assert_eq!(
        taken_over, expected,
        "the original's containers run on, untouched"
    );
}

/// Runs `harpoonctl` against `scheduler`: success, stdout, stderr.
fn harpoonctl(scheduler: &str, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(bin("harpoonctl"))
        .args(["--scheduler", scheduler])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn hash_of(job: &Value) -> String {
    serde_json::from_value::<JobConfig>(job.clone())
        .unwrap()
        .hash()
        .as_str()
        .to_owned()
}

fn registry_hashes(scheduler: &str) -> Vec<String> {
    let registry = get_json(&format!("{scheduler}/api/v0/registry"));
    registry.as_object().unwrap().keys().cloned().collect()
}

fn running_tasks_of(scheduler: &str, hash: &str) -> Vec<String> {
    let mut ids: Vec<String> = proxy(scheduler)
        .into_iter()
        .filter(|(_, id, status)| id.starts_with(&format!("{hash}-")) && status == "running")
        .map(|(_, id, _)| id)
        .collect();
    ids.sort();
    ids
}

/// A scheduler with two local agents, running `from` (written to
/// from.json) and with `to` written to to.json.
fn migration_setup(env: &TestEnv, from: &Value, to: &Value) -> (Proc, String, String) {
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
    let (from_file, to_file) = (env.path("from.json"), env.path("to.json"));
    std::fs::write(&from_file, serde_json::to_vec_pretty(from).unwrap()).unwrap();
    std::fs::write(&to_file, serde_json::to_vec_pretty(to).unwrap()).unwrap();
    let hash = schedule(&scheduler.url, from);
    let scale = from["scale"].as_u64().unwrap() as usize;
    wait_for("the old job running", SETTLE, || {
        (running_tasks_of(&scheduler.url, &hash).len() == scale).then_some(())
    });
    (scheduler, from_file, to_file)
}

#[test]
fn migrate_schedules_the_new_job_waits_for_it_then_unschedules_the_old() {
    let env = TestEnv::new("migrate");
    let from = env.job("web", 2);
    let mut to = from.clone();
    to["scale"] = 3.into();
    let (scheduler, from_file, to_file) = migration_setup(&env, &from, &to);
    let url = &scheduler.url;
    let (ok, out, err) = harpoonctl(url, &["migrate", &from_file, &to_file, "--timeout", "60s"]);
    assert!(ok, "{out}{err}");
    let (old, new) = (hash_of(&from), hash_of(&to));
    assert!(out.contains("migration complete"), "{out}");
    assert!(
        err.contains(&format!("3 task(s) of {new} running")),
        "{err}"
    );
    assert_eq!(registry_hashes(url), std::slice::from_ref(&new));
    let expected: Vec<String> = (0..3).map(|i| format!("{new}-{i}")).collect();
    assert_eq!(running_tasks_of(url, &new), expected);
    assert!(
        proxy(url).iter().all(|(_, id, _)| !id.starts_with(&old)),
        "the old tasks are gone when migrate returns"
    );
}

#[test]
fn migrate_that_times_out_unschedules_the_new_job_and_leaves_the_old() {
    let env = TestEnv::new("migrate-timeout");
    let from = env.job("web", 2);
    let mut to = from.clone();
    // Valid, but no agent can take it: it never runs.
    to["resources"]["cpu"] = 1000.0.into();
    let (scheduler, from_file, to_file) = migration_setup(&env, &from, &to);
    let url = &scheduler.url;
    let old = hash_of(&from);
    let before = running_tasks_of(url, &old);
    let (ok, out, err) = harpoonctl(url, &["migrate", &from_file, &to_file, "--timeout", "2s"]);
    assert!(!ok, "{out}{err}");
    assert!(err.contains("did not all run within 2s"), "{err}");
    assert!(err.contains("unscheduled again"), "{err}");
    assert_eq!(registry_hashes(url), std::slice::from_ref(&old));
    assert_eq!(running_tasks_of(url, &old), before, "the old job runs on");
}

#[test]
fn a_registry_of_an_earlier_version_is_re_keyed_and_its_containers_adopted() {
    let env = TestEnv::new("legacy");
    let a = env.agent("a", None);
    let job_json = env.job("web", 2);
    let job: JobConfig = serde_json::from_value(job_json.clone()).unwrap();
    let (hash, legacy) = (job.hash(), job.legacy_hash());
    assert_ne!(hash, legacy);
    // What an earlier version left: its registry keyed by the SHA-256
    // hash, and the job's tasks running under that hash.
    let config = container_config(&job_json);
    seed(&a.url, &format!("{legacy}-0"), &config);
    seed(&a.url, &format!("{legacy}-1"), &config);
    let registry = env.path("registry.json");
    let earlier = serde_json::json!({ legacy.as_str(): job_json });
    std::fs::write(&registry, serde_json::to_vec_pretty(&earlier).unwrap()).unwrap();

    let scheduler = start_scheduler(&registry, &[&a]);
    let url = &scheduler.url;
    assert_eq!(registry_hashes(url), [hash.as_str()], "re-keyed on load");
    schedule_and_await_a_probe_job(url, &env.job("probe", 1));
    assert_eq!(
        metric(url, "harpoon_commands_issued_total"),
        2,
        "the probe's only"
    );
    let mut adopted: Vec<(String, String)> = agent_containers(&a.url)
        .into_iter()
        .filter(|(id, _)| id.starts_with(legacy.as_str()))
        .collect();
    adopted.sort();
    let expected: Vec<(String, String)> = (0..2)
        .map(|i| (format!("{legacy}-{i}"), "running".to_owned()))
        .collect();
    assert_eq!(adopted, expected, "adopted, not replaced");

    // Unscheduling the job by its new hash removes the adopted containers.
    let (status, text) = http(
        "PUT",
        &format!("{url}/api/v0/unschedule/{hash}"),
        None,
        None,
    );
    assert_eq!(status, 202, "{text}");
    wait_for("the adopted containers gone", SETTLE, || {
        agent_containers(&a.url)
            .iter()
            .all(|(id, _)| !id.starts_with(legacy.as_str()))
            .then_some(())
    });
}
