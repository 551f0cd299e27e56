//! Helpers for the end-to-end tests of this package, on top of
//! `harpoon-testkit`: start the real binaries on loopback ports, talk HTTP
//! to them, clean up.

#![allow(dead_code, unused_imports)] // Each test file uses its own subset.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

pub use harpoon_testkit::raw_http;
pub use harpoon_testkit::{Proc, ProcessGuard, wait_for, wait_until};

/// The path of a workspace binary, which `cargo test --workspace` builds.
pub fn bin(name: &str) -> PathBuf {
    harpoon_testkit::workspace_bin(name)
}

/// Starting the workspace's binaries the way these tests do.
pub trait Start {
    /// Starts the workspace binary `program` with `args`, logging warnings
    /// only, and waits for its "listening on ADDR" line.
    fn start(program: &str, args: &[&str]) -> Self;
    /// As [`Start::start`], with the log filter `log` (`info`, `debug`, …).
    fn start_logging(program: &str, args: &[&str], log: &str) -> Self;
}

impl Start for Proc {
    fn start(program: &str, args: &[&str]) -> Proc {
        Proc::start_logging(program, args, "warn")
    }

    fn start_logging(program: &str, args: &[&str], log: &str) -> Proc {
        Proc::launch(
            &bin(program),
            args,
            &[("HARPOON_LOG", log), ("RUST_LOG", log)],
        )
    }
}

fn client() -> harpoon_testkit::Client {
    harpoon_testkit::Client::new(Duration::from_secs(30))
}

/// `harpoon-scheduler registry export --persist PATH`, parsed.
pub fn export_registry(persist: &str) -> Value {
    let output = Command::new(bin("harpoon-scheduler"))
        .args(["registry", "export", "--persist", persist])
        .output()
        .expect("harpoon-scheduler registry export runs");
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the export is JSON")
}

/// Like [`http`], but a connection that fails (a scheduler just killed,
/// not yet restarted) is an `Err` rather than a panic.
pub fn try_http(
    method: &str,
    url: &str,
    body: Option<&[u8]>,
) -> Result<(u16, String), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.unwrap_or_default().to_vec())
        .expect("request");
    let mut response = agent.run(request)?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, text))
}

/// An HTTP client that reports every status as a value.
pub fn http(method: &str, url: &str, body: Option<&[u8]>, token: Option<&str>) -> (u16, String) {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|value| ("authorization", value.as_str()))
        .collect();
    client().request(method, url, body, &headers)
}

pub fn get_json(url: &str) -> Value {
    client().get_json(url)
}

/// The value of one unlabelled metric in the scheduler's `/metrics`.
pub fn metric(scheduler: &str, name: &str) -> u64 {
    client()
        .metric(scheduler, name)
        .unwrap_or_else(|| panic!("no metric {name} at {scheduler}/metrics"))
}

/// Per test: a temporary directory and a marker in every job's command line,
/// so that the processes the test's jobs started are killed at the end even
/// when agents were killed with SIGKILL.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub guard: ProcessGuard,
}

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("temporary directory");
        TestEnv {
            dir,
            guard: ProcessGuard::new(&format!("e2e-{name}")),
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// A job whose tasks run until killed.
    pub fn job(&self, name: &str, scale: u64) -> Value {
        self.guard
            .job(name)
            .product("e2e", "test")
            .scale(scale)
            .resources(16, 0.05)
            .json()
    }

    /// A harpoon-scheduler on an ephemeral loopback port running `agents`
    /// local agents, its registry and the agents' data in this test's
    /// directory, with `extra` arguments after those.
    pub fn scheduler_with_local_agents(&self, agents: u32, extra: &[&str]) -> Proc {
        let (registry, data, count) = (
            self.path("registry.redb"),
            self.path("agents"),
            agents.to_string(),
        );
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--local-agents",
            &count,
            "--persist",
            &registry,
            "--data-dir",
            &data,
        ];
        args.extend_from_slice(extra);
        Proc::start("harpoon-scheduler", &args)
    }

    /// A harpoon-agent with its own data directory and a fixed share of
    /// resources, on an ephemeral loopback port or on `listen`.
    pub fn agent(&self, name: &str, listen: Option<&str>) -> Proc {
        let data = self.path(&format!("agent-{name}"));
        let listen = listen.unwrap_or("127.0.0.1:0").to_owned();
        Proc::start(
            "harpoon-agent",
            &[
                "--listen",
                &listen,
                "--data-dir",
                &data,
                "--cpu",
                "4",
                "--mem",
                "4096",
            ],
        )
    }
}

/// Containers by agent, as the scheduler's `/proxy` shows them:
/// `(agent, container id, status)`.
pub fn proxy(scheduler: &str) -> Vec<(String, String, String)> {
    let proxy = get_json(&format!("{scheduler}/api/v0/proxy"));
    let mut out = Vec::new();
    for (agent, event) in proxy.as_object().expect("object") {
        for (id, instance) in event["containers"].as_object().expect("containers") {
            out.push((
                agent.clone(),
                id.clone(),
                instance["status"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

/// Containers an agent itself lists: `(id, status)`.
pub fn agent_containers(agent: &str) -> Vec<(String, String)> {
    let listing = get_json(&format!("{agent}/api/v0/containers"));
    listing
        .as_object()
        .expect("object")
        .iter()
        .map(|(id, c)| (id.clone(), c["status"].as_str().unwrap_or("").to_owned()))
        .collect()
}

/// Schedules `job`, expecting 202; returns the job hash from the reply.
pub fn schedule(scheduler: &str, job: &Value) -> String {
    let body = serde_json::to_vec(job).unwrap();
    let (status, text) = http(
        "PUT",
        &format!("{scheduler}/api/v0/schedule"),
        Some(&body),
        None,
    );
    assert_eq!(status, 202, "schedule: {text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["status_code"], 202);
    let msg = reply["msg"].as_str().unwrap();
    msg.split('(')
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("hash in the reply")
        .to_owned()
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
