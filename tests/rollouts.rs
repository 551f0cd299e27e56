//! End-to-end: rollouts through the real daemon and its local agents,
//! driven by `harpoonctl migrate --wait` and the rollout API: one that
//! succeeds, one whose new version exits at once and is reverted, and the
//! API's refusals.

mod support;

use std::time::Duration;

use harpoon_core::wire::JobConfig;
use serde_json::{Value, json};
use support::*;

const SETTLE: Duration = Duration::from_secs(60);

fn hash_of(job: &Value) -> String {
    serde_json::from_value::<JobConfig>(job.clone())
        .unwrap()
        .hash()
        .as_str()
        .to_owned()
}

fn running_of(scheduler: &str, hash: &str) -> usize {
    proxy(scheduler)
        .iter()
        .filter(|(_, id, status)| id.starts_with(&format!("{hash}-")) && status == "running")
        .count()
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
    let path = env.path(name);
    std::fs::write(&path, serde_json::to_vec(job).unwrap()).unwrap();
    path
}

/// `web` at version 1, scheduled and running on the local agents.
fn web_running(env: &TestEnv, scheduler: &str) -> Value {
    let web = env.job("web", 2);
    schedule(scheduler, &web);
    let hash = hash_of(&web);
    wait_for("web running", SETTLE, || {
        (running_of(scheduler, &hash) == 2).then_some(())
    });
    web
}

#[test]
fn a_rollout_replaces_the_old_job_task_by_task_and_succeeds() {
    let env = TestEnv::new("rollout-ok");
    let scheduler = env.scheduler_with_local_agents(2, &[]);
    let url = &scheduler.url;
    let web = web_running(&env, url);
    let mut web2 = web.clone();
    web2["env"] = json!({ "VERSION": "2" });
    let (from, to) = (
        write_job(&env, "web.json", &web),
        write_job(&env, "web2.json", &web2),
    );
    let (ok, out, err) = harpoonctl(
        url,
        &[
            "migrate",
            &from,
            &to,
            "--min-healthy",
            "2s",
            "--progress-deadline",
            "1m",
            "--wait",
        ],
    );
    assert!(ok, "migrate --wait failed:\n{out}\n{err}");
    assert!(out.contains("succeeded"), "{out}");
    assert!(err.contains("step"), "a line per step: {err}");
    let (old, new) = (hash_of(&web), hash_of(&web2));
    let registry = get_json(&format!("{url}/api/v0/registry"));
    let hashes: Vec<&String> = registry.as_object().unwrap().keys().collect();
    assert_eq!(hashes, vec![&new], "only the new job is scheduled");
    wait_for("the old tasks gone, the new ones running", SETTLE, || {
        (running_of(url, &new) == 2 && proxy(url).iter().all(|(_, id, _)| !id.starts_with(&old)))
            .then_some(())
    });
    let rollouts = get_json(&format!("{url}/api/v0/rollouts"));
    assert_eq!(rollouts[0]["status"], "succeeded", "{rollouts}");
    let (ok, table, _) = harpoonctl(url, &["rollouts"]);
    assert!(ok && table.contains("succeeded"), "{table}");
    assert_eq!(metric(url, "harpoon_rollouts_running"), 0);
}

#[test]
fn a_new_version_that_exits_at_once_is_reverted_and_migrate_wait_fails() {
    let env = TestEnv::new("rollout-revert");
    let scheduler = env.scheduler_with_local_agents(2, &[]);
    let url = &scheduler.url;
    let web = web_running(&env, url);
    let mut broken = web.clone();
    broken["command"]["exec"][2] = json!("exit 1");
    let (from, to) = (
        write_job(&env, "web.json", &web),
        write_job(&env, "broken.json", &broken),
    );
    let (ok, out, err) = harpoonctl(
        url,
        &[
            "migrate",
            &from,
            &to,
            "--min-healthy",
            "2s",
            "--progress-deadline",
            "6s",
            "--wait",
        ],
    );
    assert!(!ok, "a reverted rollout exits non-zero:\n{out}\n{err}");
    assert!(err.contains("reverted"), "{err}");
    let old = hash_of(&web);
    let registry = get_json(&format!("{url}/api/v0/registry"));
    let hashes: Vec<&String> = registry.as_object().unwrap().keys().collect();
    assert_eq!(hashes, vec![&old], "the old job alone is scheduled again");
    assert_eq!(
        running_of(url, &old),
        2,
        "the old job kept running at scale"
    );
    wait_for("the new version's tasks gone", SETTLE, || {
        let new = hash_of(&broken);
        proxy(url)
            .iter()
            .all(|(_, id, _)| !id.starts_with(&new))
            .then_some(())
    });
}

#[test]
fn the_rollout_api_refuses_what_it_cannot_do_with_clear_messages() {
    let env = TestEnv::new("rollout-api");
    let scheduler = env.scheduler_with_local_agents(2, &[]);
    let url = &scheduler.url;
    let web = web_running(&env, url);
    let post = |path: &str, body: &Value| {
        let body = serde_json::to_vec(body).unwrap();
        let (status, text) = http("POST", &format!("{url}{path}"), Some(&body), None);
        let reply: Value = serde_json::from_str(&text).unwrap();
        (status, reply["msg"].as_str().unwrap_or_default().to_owned())
    };
    let mut web2 = web.clone();
    web2["env"] = json!({ "VERSION": "2" });
    let (status, msg) = post(
        "/api/v0/migrate",
        &json!({ "from": "web-0000000", "to": web2 }),
    );
    assert_eq!(
        (status, msg.contains("not scheduled")),
        (404, true),
        "{msg}"
    );
    let (status, msg) = post("/api/v0/migrate", &json!({ "from": web, "to": web }));
    assert_eq!((status, msg.contains("same job")), (400, true), "{msg}");
    let (status, msg) = post(
        "/api/v0/migrate",
        &json!({ "from": web, "to": web2, "max_surge": 0, "max_unavailable": 0 }),
    );
    assert_eq!((status, msg.contains("both 0")), (400, true), "{msg}");
    let (status, msg) = post(
        "/api/v0/migrate",
        &json!({ "from": web, "to": web2, "surge": 1 }),
    );
    assert_eq!(
        (status, msg.contains("unknown field")),
        (400, true),
        "{msg}"
    );
    let (status, msg) = post(
        "/api/v0/migrate",
        &json!({ "from": web, "to": web2, "min_healthy": "1m", "progress_deadline": "2m" }),
    );
    assert_eq!(status, 202, "{msg}");
    let mut web3 = web.clone();
    web3["env"] = json!({ "VERSION": "3" });
    let (status, msg) = post("/api/v0/migrate", &json!({ "from": web, "to": web3 }));
    assert_eq!(
        (status, msg.contains("held by rollout")),
        (409, true),
        "{msg}"
    );
    let (status, _) = http(
        "PUT",
        &format!("{url}/api/v0/unschedule/{}", hash_of(&web)),
        None,
        None,
    );
    assert_eq!(status, 409, "a job a rollout holds is not unscheduled");
    let rollouts = get_json(&format!("{url}/api/v0/rollouts"));
    let id = rollouts[0]["id"].as_u64().unwrap();
    let (status, text) = http(
        "GET",
        &format!("{url}/api/v0/rollouts/{}", id + 100),
        None,
        None,
    );
    assert_eq!(status, 404, "{text}");
    let (status, msg) = post(&format!("/api/v0/rollouts/{id}/abort"), &json!({}));
    assert_eq!(status, 202, "{msg}");
    let (status, msg) = post(&format!("/api/v0/rollouts/{id}/abort"), &json!({}));
    assert_eq!(
        (status, msg.contains("aborted already")),
        (409, true),
        "{msg}"
    );
    let one = get_json(&format!("{url}/api/v0/rollouts/{id}"));
    assert_eq!(one["status"], "aborted", "{one}");
    let (status, msg) = post("/api/v0/drain", &json!({ "agent": "" }));
    assert_eq!((status, msg.contains("agent")), (400, true), "{msg}");
}
