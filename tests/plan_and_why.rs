//! End-to-end tests of plans, check-and-set and `why` through the real
//! daemon with two `harpoon-agent`s (4 cpu and 4096 MB each), over HTTP
//! and through `harpoonctl`.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const SETTLE: Duration = Duration::from_secs(60);

struct Cluster {
    scheduler: Proc,
    agents: Vec<Proc>,
}

fn cluster(env: &TestEnv) -> Cluster {
    let agents = vec![env.agent("a", None), env.agent("b", None)];
    let registry = env.path("registry.redb");
    let mut args = vec!["--listen", "127.0.0.1:0", "--persist", registry.as_str()];
    for agent in &agents {
        args.extend(["--agent", agent.url.as_str()]);
    }
    let scheduler = Proc::start("harpoon-scheduler", &args);
    // Placement starts once both agents synced: wait until a plan can
    // place (rather than "waiting").
    let probe = json!({ "schedule": env.job("probe", 1) });
    wait_for("placement to start", SETTLE, || {
        let plan = post_plan(&scheduler.url, &probe).1;
        (plan["tasks"][0]["outcome"] == "place").then_some(())
    });
    Cluster { scheduler, agents }
}

fn post_plan(scheduler: &str, body: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let (status, text) = http(
        "POST",
        &format!("{scheduler}/api/v0/plan"),
        Some(&body),
        None,
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {text}"));
    (status, value)
}

fn schedule_at(scheduler: &str, job: &Value, index: &str) -> (u16, Value) {
    let body = serde_json::to_vec(job).unwrap();
    let url = format!("{scheduler}/api/v0/schedule?index={index}");
    let (status, text) = http("PUT", &url, Some(&body), None);
    (status, serde_json::from_str(&text).unwrap())
}

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

fn write_job(env: &TestEnv, name: &str, job: &Value) -> String {
    let file = env.path(&format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec(job).unwrap()).unwrap();
    file
}

#[test]
fn plan_then_schedule_at_the_planned_index_is_accepted_and_placed_as_planned() {
    let env = TestEnv::new("plan-apply");
    let cluster = cluster(&env);
    let url = &cluster.scheduler.url;
    let web = env.job("web", 2);
    let (status, plan) = post_plan(url, &json!({ "schedule": web }));
    assert_eq!(status, 200, "{plan}");
    let index = plan["index"].as_u64().expect("an index");
    let tasks = plan["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{plan}");
    let agents: Vec<&str> = cluster.agents.iter().map(|a| a.url.as_str()).collect();
    let mut planned: Vec<(String, String)> = Vec::new();
    for task in tasks {
        assert_eq!(task["outcome"], "place", "{plan}");
        let agent = task["agent"].as_str().unwrap();
        assert!(agents.contains(&agent), "{agent} is one of {agents:?}");
        planned.push((
            task["container"].as_str().unwrap().to_owned(),
            agent.to_owned(),
        ));
    }
    // The plan changed nothing.
    assert_eq!(get_json(&format!("{url}/api/v0/registry")), json!({}));
    // harpoonctl shows the same plan and the index to pass on.
    let file = write_job(&env, "web", &web);
    let (ok, out, err) = harpoonctl(url, &["plan", &file]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("--index {index}")), "{out}");
    assert!(out.contains("place"), "{out}");
    let (ok, out, err) = harpoonctl(url, &["schedule", &file, "--index", &index.to_string()]);
    assert!(ok, "harpoonctl schedule --index: {out}{err}");
    wait_for("both tasks running", SETTLE, || {
        let running = proxy(url)
            .into_iter()
            .filter(|(_, _, status)| status == "running")
            .count();
        (running == 2).then_some(())
    });
    // Least-used with nothing else happening: placed exactly as planned.
    let mut placed: Vec<(String, String)> = proxy(url)
        .into_iter()
        .map(|(agent, id, _)| (id, agent))
        .collect();
    placed.sort();
    planned.sort();
    assert_eq!(placed, planned);
}

#[test]
fn a_schedule_at_an_index_overtaken_by_a_concurrent_change_is_refused_409() {
    let env = TestEnv::new("plan-stale");
    let cluster = cluster(&env);
    let url = &cluster.scheduler.url;
    let web = env.job("web", 1);
    let (status, plan) = post_plan(url, &json!({ "schedule": web }));
    assert_eq!(status, 200, "{plan}");
    let index = plan["index"].as_u64().unwrap();
    // Someone else changes the registry meanwhile.
    schedule(url, &env.job("db", 1));
    let (status, reply) = schedule_at(url, &web, &index.to_string());
    assert_eq!(status, 409, "{reply}");
    assert_eq!(reply["status_code"], 409);
    assert_eq!(reply["index"].as_u64(), Some(index + 1), "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("plan again"),
        "{reply}"
    );
    let registry = get_json(&format!("{url}/api/v0/registry"));
    let names: Vec<&str> = registry
        .as_object()
        .unwrap()
        .values()
        .map(|job| job["job"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"web"), "web not scheduled: {names:?}");
    // harpoonctl says so and fails.
    let file = write_job(&env, "web", &web);
    let (ok, _, err) = harpoonctl(url, &["schedule", &file, "--index", &index.to_string()]);
    assert!(!ok);
    assert!(
        err.contains("HTTP 409") && err.contains("plan again"),
        "{err}"
    );
    // An index that is not one is refused where it enters.
    let (status, reply) = schedule_at(url, &web, "abc");
    assert_eq!(status, 400, "{reply}");
    assert!(reply["msg"].as_str().unwrap().contains("index"), "{reply}");
    // At the current index it goes through.
    let current = reply_index(url, &web);
    let (status, reply) = schedule_at(url, &web, &current.to_string());
    assert_eq!(status, 202, "{reply}");
}

/// The index a fresh plan of `job` gives.
fn reply_index(url: &str, job: &Value) -> u64 {
    post_plan(url, &json!({ "schedule": job })).1["index"]
        .as_u64()
        .unwrap()
}

#[test]
fn why_explains_a_job_that_cannot_fit() {
    let env = TestEnv::new("why");
    let cluster = cluster(&env);
    let url = &cluster.scheduler.url;
    // 8192 MB: more than either agent has.
    let huge = env
        .guard
        .job("huge")
        .product("e2e", "test")
        .scale(1)
        .resources(8192, 0.05)
        .json();
    let (status, plan) = post_plan(url, &json!({ "schedule": huge }));
    assert_eq!(status, 200);
    assert_eq!(plan["tasks"][0]["outcome"], "unplaced", "{plan}");
    let hash = schedule(url, &huge);
    let why = wait_for("the task to be explained as unplaced", SETTLE, || {
        let why = get_json(&format!("{url}/api/v0/why/{hash}"));
        (!why["tasks"][0]["unplaced"].is_null()).then_some(why)
    });
    let explanation = &why["tasks"][0]["unplaced"];
    assert_eq!(explanation["evaluated"], 2, "{why}");
    assert_eq!(
        explanation["ruled_out"],
        json!([{ "constraint": "memory", "agents": 2 }]),
        "{why}"
    );
    let text = explanation["text"].as_str().unwrap();
    assert!(
        text.starts_with("2 agents evaluated: 2 lacked memory; closest: http://"),
        "{text}"
    );
    assert!(
        text.ends_with("(needs 8,192 MB memory, 4,096 MB free)"),
        "{text}"
    );
    // harpoonctl, by name.
    let (ok, out, err) = harpoonctl(url, &["why", "huge"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("unplaced: 2 agents evaluated: 2 lacked memory"),
        "{out}"
    );
    // The metric names the reason.
    let (_, metrics) = http("GET", &format!("{url}/metrics"), None, None);
    assert!(
        metrics.contains("harpoon_tasks_unplaced_by_reason{reason=\"memory\"} 1"),
        "{metrics}"
    );
    // An unknown job.
    let (status, _) = http("GET", &format!("{url}/api/v0/why/nope-1234567"), None, None);
    assert_eq!(status, 404);
}

/// The plan of a migrate is its first step; a plan refuses a migrate body
/// as the migrate does; a migrate at the plan's index starts the rollout,
/// whose first new task goes where the plan said.
#[test]
fn plan_a_migrate_then_migrate_at_the_planned_index() {
    let env = TestEnv::new("plan-migrate");
    let cluster = cluster(&env);
    let url = &cluster.scheduler.url;
    let web = env.job("web", 2);
    schedule(url, &web);
    wait_for("both old tasks running", SETTLE, || {
        let running = proxy(url)
            .into_iter()
            .filter(|(_, _, status)| status == "running")
            .count();
        (running == 2).then_some(())
    });
    let mut web2 = web.clone();
    web2["env"] = json!({ "VERSION": "2" });
    let rollout = json!({ "from": web, "to": web2 });
    let (status, plan) = post_plan(url, &json!({ "migrate": rollout }));
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["change"], "migrate", "{plan}");
    let step = &plan["rollout"];
    // Default bounds: one task of surge, none unavailable, so the first
    // step adds one new task and stops no old one.
    assert_eq!(
        (&step["ceiling"], &step["floor"], &step["from_running"]),
        (&json!(3), &json!(2), &json!(2)),
        "{plan}"
    );
    assert_eq!(
        (&step["wanted_from"], &step["wanted_to"]),
        (&json!(2), &json!(1)),
        "{plan}"
    );
    assert_eq!(plan["removals"], json!([]), "{plan}");
    let tasks = plan["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{plan}");
    assert_eq!(tasks[0]["outcome"], "place", "{plan}");
    let planned = (
        tasks[0]["agent"].as_str().unwrap().to_owned(),
        tasks[0]["container"].as_str().unwrap().to_owned(),
    );
    let index = plan["index"].as_u64().unwrap();
    assert!(
        get_json(&format!("{url}/api/v0/rollouts"))
            .as_array()
            .unwrap()
            .is_empty(),
        "the plan changed nothing"
    );
    // Bodies the migrate refuses, the plan refuses alike.
    for bad in [
        json!({ "from": web, "to": web2, "surge": 1 }),
        json!({ "from": web, "to": web }),
        json!({ "from": web, "to": web2, "max_surge": 0, "max_unavailable": 0 }),
        json!({ "from": "web-0000000", "to": web2 }),
        json!({ "from": web, "to": web2, "min_healthy": "soon" }),
    ] {
        let (status, reply) = post_plan(url, &json!({ "migrate": bad }));
        let body = serde_json::to_vec(&bad).unwrap();
        let (migrate_status, text) =
            http("POST", &format!("{url}/api/v0/migrate"), Some(&body), None);
        let migrate_reply: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(status, 202, "{reply}");
        assert_eq!(
            (status, &reply["msg"]),
            (migrate_status, &migrate_reply["msg"]),
            "{bad}"
        );
    }
    // harpoonctl shows the step and the index to pass on.
    let (from, to) = (write_job(&env, "web", &web), write_job(&env, "web2", &web2));
    let (ok, out, err) = harpoonctl(url, &["plan", &from, "--migrate", &to]);
    assert!(ok, "{err}");
    assert!(out.contains("keep 2 old, place 1 new"), "{out}");
    assert!(out.contains(&planned.1), "{out}");
    assert!(out.contains(&format!("--index {index}")), "{out}");
    // A stale index is refused; the planned one starts the rollout.
    let stale = format!("{url}/api/v0/migrate?index={}", index + 7);
    let body = serde_json::to_vec(&rollout).unwrap();
    let (status, text) = http("POST", &stale, Some(&body), None);
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("plan again"), "{text}");
    let (ok, out, err) = harpoonctl(url, &["migrate", &from, &to, "--index", &index.to_string()]);
    assert!(ok, "harpoonctl migrate --index: {out}{err}");
    wait_for("the first new task placed", SETTLE, || {
        proxy(url)
            .into_iter()
            .find(|(_, id, _)| *id == planned.1)
            .map(|(agent, id, _)| assert_eq!((agent, id), planned.clone()))
    });
}
