//! Helpers for end-to-end tests: start the real binaries on loopback ports,
//! talk HTTP to them, wait on conditions with deadlines, clean up.

#![allow(dead_code)] // Each test file uses its own subset.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The directory cargo put this workspace's binaries in (`target/debug`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> → target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_owned()
}

/// The path of a workspace binary, which `cargo test --workspace` builds.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}

/// A running process, killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    /// The first line it printed that contained "listening on".
    pub url: String,
    pub name: String,
}

impl Proc {
    /// Starts `program` with `args` and waits for its "listening on ADDR"
    /// line (the address may or may not carry `http://`).
    pub fn start(program: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(bin(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("HARPOON_LOG", "warn")
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, listening) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.split("listening on ").nth(1)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(address.trim().to_owned());
                }
            }
        });
        let address = listening
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{program} did not say where it listens within 30s"));
        let url = if address.contains("://") {
            address
        } else {
            format!("http://{address}")
        };
        Proc {
            child,
            url,
            name: program.to_owned(),
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        wait_for(
            "the process to exit after SIGTERM",
            Duration::from_secs(20),
            || self.child.try_wait().expect("try_wait"),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `check` until it returns `Some`, or panics after `limit` naming
/// `what` was awaited.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(body.unwrap_or_default().to_vec())
        .expect("request");
    let mut response = agent
        .run(request)
        .unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

pub fn get_json(url: &str) -> Value {
    let (status, text) = http("GET", url, None, None);
    assert_eq!(status, 200, "GET {url}: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("GET {url} is not JSON ({error}): {text}"))
}

/// The value of one unlabelled metric in the scheduler's `/metrics`.
pub fn metric(scheduler: &str, name: &str) -> u64 {
    let (status, text) = http("GET", &format!("{scheduler}/metrics"), None, None);
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
}

/// Per test: a temporary directory and a marker in every job's command line,
/// so that the processes the test's jobs started are killed at the end even
/// when agents were killed with SIGKILL.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub marker: String,
}

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("temporary directory");
        let marker = format!("harpoon-e2e-{name}-{}", std::process::id());
        TestEnv { dir, marker }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// A job whose tasks run until killed.
    pub fn job(&self, name: &str, scale: u32) -> Value {
        serde_json::json!({
            "job": name, "product": "e2e", "environment": "test", "scale": scale,
            "artifact_url": "",
            "command": { "working_dir": "/", "exec": ["/bin/sh", "-c", "while :; do sleep 1; done", self.marker] },
            "resources": { "mem": 16, "cpu": 0.05 },
            "grace": { "startup": "1s", "shutdown": "1s" },
            "restart": "no", "health_checks": [], "ports": {}, "env": {},
            "storage": { "tmp": {}, "volumes": {} }
        })
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

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", &self.marker])
            .status();
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
