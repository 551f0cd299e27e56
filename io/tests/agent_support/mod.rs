//! Shared by the `agent_*` end-to-end tests: starts `harpoon-agent` on an
//! ephemeral port with its own data directory, and drives it over plain
//! HTTP/1.1 on a `TcpStream` (`harpoon_testkit::raw_http`), so that the
//! tests control every byte sent (bodies that are not JSON, oversized ones)
//! and read streams as they come.
//!
//! Each test crate uses a part of this module.
#![allow(dead_code)]

pub use harpoon_testkit::raw_http as http;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use harpoon_testkit::{JobJson, Proc};
use serde_json::Value;

use http::{EventStream, Response};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "harpoon-agent-test-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    /// Removes the directory, unless the test failed: then its data
    /// directory and agent logs are kept for a person to look at.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Packs `files` (path, content; all executable) as a .tar.gz in `dir` and
/// returns its `file://` URL.
pub fn artifact(dir: &Path, name: &str, files: &[(&str, &str)]) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &tar).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, gzip.finish().unwrap()).unwrap();
    format!("file://{}", path.display())
}

/// One entry of a test artifact.
pub enum Entry<'a> {
    /// An executable file with this content.
    File(&'a str, &'a str),
    /// A symbolic link to this target, as a hostile artifact may plant.
    Symlink(&'a str, &'a str),
}

/// Packs `entries` as a .tar.gz in `dir` and returns its `file://` URL.
pub fn artifact_of(dir: &Path, name: &str, entries: &[Entry]) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        match entry {
            Entry::File(path, content) => {
                header.set_size(content.len() as u64);
                header.set_mode(0o755);
                header.set_cksum();
                builder
                    .append_data(&mut header, path, content.as_bytes())
                    .unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    let tar = builder.into_inner().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &tar).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, gzip.finish().unwrap()).unwrap();
    format!("file://{}", path.display())
}

/// Prints its port variable and a line on stderr, then sleeps: a service.
pub const SLEEPER: &str =
    "#!/bin/sh\necho \"started PORT_HTTP=$PORT_HTTP\"\necho 'to stderr' >&2\nexec sleep 20\n";

/// Exits with the code given as its first argument.
pub const EXITER: &str = "#!/bin/sh\necho \"exiting with $1\"\nexit \"$1\"\n";

/// Ignores SIGTERM (and so do its children), so only SIGKILL stops it.
pub const STUBBORN: &str = "#!/bin/sh\ntrap '' TERM\necho ready\nwhile :; do sleep 0.05; done\n";

/// Writes its pid to `$PIDFILE`, then sleeps as that same process.
pub const PIDFILE: &str = "#!/bin/sh\necho $$ > \"$PIDFILE\"\necho 'pid written'\nexec sleep 20\n";

/// A valid container config running `exec` in `/bin` of `artifact_url`.
pub fn config(artifact_url: &str, exec: &[&str]) -> Value {
    JobJson::new("web")
        .product("demo", "test")
        .artifact(artifact_url, "/bin")
        .exec(exec)
        .resources(64, 0.5)
        .container_config()
}

/// Polls `check` until it returns `Ok`, failing the test after
/// [`DEADLINE`] with `what` and the last value seen.
pub fn wait_until<T>(what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    harpoon_testkit::wait_until(what, DEADLINE, check)
}

/// A running `harpoon-agent`, killed when dropped (its log is printed then
/// if the test failed).
pub struct Agent {
    proc: Proc,
    pub address: String,
    pub data_dir: PathBuf,
}

impl Agent {
    /// Starts an agent on `data_dir` with test-friendly flags (4 cpu, 4096
    /// MB, a short keep-alive and back-off) plus `extra` flags.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Agent {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let first_port = 40_000 + (n % 200) * 100;
        let port_range = format!("{first_port}-{}", first_port + 99);
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--port-range",
            &port_range,
            "--keepalive-interval",
            "200ms",
            "--restart-backoff",
            "100ms",
            "--restart-backoff-max",
            "400ms",
        ];
        for (flag, default) in [("--cpu", "4"), ("--mem", "4096")] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend_from_slice(extra);
        let data = data_dir.join("data");
        let data_arg = data.to_string_lossy().into_owned();
        args.extend(["--data-dir", &data_arg]);
        let proc = Proc::launch(Path::new(env!("CARGO_BIN_EXE_harpoon-agent")), &args, &[]);
        Agent {
            address: proc.address().to_owned(),
            proc,
            data_dir: data,
        }
    }

    /// Kills the agent at once (SIGKILL): no shutdown, as in a crash.
    pub fn kill(&mut self) {
        self.proc.kill9();
    }

    /// Asks the agent to shut down (SIGTERM) and waits for it to exit,
    /// returning whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        self.proc.terminate().success()
    }

    /// The agent's log so far, for failure messages.
    pub fn log(&self) -> String {
        self.proc.stderr().join("\n")
    }

    /// A container's log lines as the log endpoint answers them (`query`
    /// e.g. `?history=5`), joined as the original `harpoonctl agent log`
    /// prints them: each line as sent, newline included.
    pub fn log_text(&self, id: &str, query: &str) -> String {
        let answer = self.request("GET", &format!("/containers/{id}/log{query}"), None);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let lines: Vec<String> = serde_json::from_str(&answer.body).unwrap_or_else(|error| {
            panic!(
                "the log is not a JSON array of lines ({error}): {}",
                answer.body
            )
        });
        lines.concat()
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        http::request(&self.address, method, &format!("/api/v0{path}"), &[], body)
    }

    pub fn put(&self, id: &str, config: &Value) -> Response {
        self.request(
            "PUT",
            &format!("/containers/{id}"),
            Some(config.to_string().as_bytes()),
        )
    }

    pub fn start_container(&self, id: &str) -> Response {
        self.request("POST", &format!("/containers/{id}/start"), None)
    }

    pub fn stop_container(&self, id: &str) -> Response {
        self.request("POST", &format!("/containers/{id}/stop"), None)
    }

    pub fn delete(&self, id: &str) -> Response {
        self.request("DELETE", &format!("/containers/{id}"), None)
    }

    /// The container's instance, or the status code if it cannot be read.
    pub fn instance(&self, id: &str) -> Result<Value, String> {
        let response = self.request("GET", &format!("/containers/{id}"), None);
        if response.status != 200 {
            return Err(format!(
                "GET answered {}: {}",
                response.status, response.body
            ));
        }
        Ok(response.json())
    }

    /// Waits until container `id` has `status` and `check` holds for its
    /// instance, and returns the instance.
    pub fn wait_for(&self, id: &str, status: &str, check: impl Fn(&Value) -> bool) -> Value {
        wait_until(&format!("{id} to be {status}"), || {
            let instance = self.instance(id)?;
            if instance["status"] == status && check(&instance) {
                Ok(instance)
            } else {
                Err(instance.to_string())
            }
        })
    }

    pub fn resources(&self) -> Value {
        self.request("GET", "/resources", None).json()
    }

    pub fn events(&self) -> EventStream {
        EventStream::open(&self.address, "/api/v0/containers")
    }
}
