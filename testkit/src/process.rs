//! Starting the workspace's binaries and cleaning up after them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wait::{wait_for, wait_until};

/// How long a binary may take to say where it listens.
const LISTEN_LIMIT: Duration = Duration::from_secs(30);

/// Lines of each output stream kept (the oldest go first).
const LINES_KEPT: usize = 10_000;

/// The path of a binary of this workspace, next to the running test or
/// benchmark executable (`target/debug/deps/<test>` → `target/debug`).
/// `cargo test --workspace` builds every binary before the tests run.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}

/// What a process printed, line by line.
#[derive(Debug, Default)]
struct Lines {
    stdout: VecDeque<String>,
    stderr: VecDeque<String>,
}

/// A running process whose stdout and stderr are kept; killed (SIGKILL)
/// when dropped, printing its stderr if the test is failing.
#[derive(Debug)]
pub struct Proc {
    /// The process.
    pub child: Child,
    /// `http://` and the address of its first "listening on ADDR" line.
    pub url: String,
    /// Its program's file name, for messages.
    pub name: String,
    lines: Arc<Mutex<Lines>>,
}

impl Proc {
    /// Starts `program` with `args` and `envs` and waits for a line of its
    /// stdout carrying "listening on ADDR" (with or without `http://`).
    /// Panics with its stderr if it exits first.
    pub fn launch(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let name = program
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
        let mut child = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        let lines = Arc::new(Mutex::new(Lines::default()));
        keep_lines(child.stdout.take().expect("piped stdout"), &lines, |l| {
            &mut l.stdout
        });
        keep_lines(child.stderr.take().expect("piped stderr"), &lines, |l| {
            &mut l.stderr
        });
        let mut proc = Proc {
            child,
            url: String::new(),
            name,
            lines,
        };
        let address = wait_until(
            &format!("{} to say where it listens", proc.name),
            LISTEN_LIMIT,
            || {
                let found = proc
                    .stdout()
                    .iter()
                    .find_map(|line| Some(line.split("listening on ").nth(1)?.trim().to_owned()));
                if let Some(address) = found {
                    return Ok(address);
                }
                match proc.child.try_wait() {
                    Ok(Some(status)) => panic!(
                        "{} exited ({status}) before listening:\n{}",
                        proc.name,
                        proc.stderr().join("\n")
                    ),
                    _ => Err(proc.stdout().join("\n")),
                }
            },
        );
        proc.url = if address.contains("://") {
            address
        } else {
            format!("http://{address}")
        };
        proc
    }

    /// Where it listens, without the scheme (`127.0.0.1:PORT`).
    pub fn address(&self) -> &str {
        self.url
            .split_once("://")
            .map_or(&self.url, |(_, rest)| rest)
    }

    /// Every line it printed on stdout so far (the last 10,000).
    pub fn stdout(&self) -> Vec<String> {
        self.lock().stdout.iter().cloned().collect()
    }

    /// Every line it printed on stderr so far (the last 10,000).
    pub fn stderr(&self) -> Vec<String> {
        self.lock().stderr.iter().cloned().collect()
    }

    /// Waits until a line of its stderr satisfies `matches`, and returns
    /// it; panics after `limit` with `what` and the stderr seen.
    pub fn wait_for_stderr(
        &self,
        what: &str,
        limit: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        wait_until(what, limit, || {
            let lines = self.stderr();
            lines
                .iter()
                .find(|line| matches(line))
                .cloned()
                .ok_or_else(|| format!("stderr:\n{}", lines.join("\n")))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (20 s at most) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends SIGINT and waits (20 s at most) for the exit status.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal("INT")
    }

    fn signal(&mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill runs");
        wait_for(
            &format!("{} to exit after SIG{signal}", self.name),
            Duration::from_secs(20),
            || self.child.try_wait().expect("try_wait"),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- {} stderr ---\n{}", self.name, self.stderr().join("\n"));
        }
    }
}

/// Reads `output` line by line on a thread of its own into the buffer
/// `select` picks, keeping the last [`LINES_KEPT`].
fn keep_lines(
    output: impl Read + Send + 'static,
    lines: &Arc<Mutex<Lines>>,
    select: fn(&mut Lines) -> &mut VecDeque<String>,
) {
    let lines = Arc::clone(lines);
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let mut lines = lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let kept = select(&mut lines);
            if kept.len() == LINES_KEPT {
                kept.pop_front();
            }
            kept.push_back(line);
        }
    });
}

/// Kills, when dropped, every process whose command line carries this
/// guard's marker: the tasks of a run's jobs, should the scheduler or the
/// agents not have stopped them (an agent killed with SIGKILL leaves its
/// containers' processes running). Processes are found through `/proc`
/// and killed by process group (each task leads its own), so a task's
/// children go too.
#[derive(Debug)]
pub struct ProcessGuard {
    /// Put it in a job's `exec` (as the shell's `$0`) to have its
    /// processes killed.
    pub marker: String,
}

impl ProcessGuard {
    /// A guard whose marker names `purpose`, this process and the time.
    pub fn new(purpose: &str) -> ProcessGuard {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        ProcessGuard {
            marker: format!("harpoon-{purpose}-{}-{nanos}", std::process::id()),
        }
    }

    /// A job whose processes carry the marker and run until killed. The
    /// shell sleeps 30 s at a time so that a thousand of them cost next
    /// to no CPU.
    pub fn job(&self, name: &str) -> crate::JobJson {
        crate::JobJson::new(name).exec(&[
            "/bin/sh",
            "-c",
            "while :; do sleep 30; done",
            &self.marker,
        ])
    }

    /// Processes whose command line carries the marker.
    pub fn leftovers(&self) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                    cmdline
                        .split(|byte| *byte == 0)
                        .any(|arg| arg == self.marker.as_bytes())
                })
            })
            .collect()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        for pid in self.leftovers() {
            // The group first (the task and its `sleep`), then the process
            // itself in case it does not lead a group.
            for target in [format!("-{pid}"), pid.to_string()] {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &target])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use super::*;

    /// The process group of `pid`, from `/proc` (`None` once it is gone).
    fn process_group(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid pgrp ...`; the command may hold spaces and
        // parentheses, so fields are counted from the last `)`.
        let (_, fields) = stat.rsplit_once(')')?;
        fields.split_whitespace().nth(2)?.parse().ok()
    }

    #[test]
    fn the_guard_kills_the_marked_process_group_and_nothing_else() {
        let guard = ProcessGuard::new("guard-test");
        let mut marked = Command::new("/bin/sh")
            .args(["-c", "while :; do sleep 30; done", &guard.marker])
            .process_group(0)
            .spawn()
            .expect("sh starts");
        let mut unmarked = Command::new("/bin/sh")
            .args(["-c", "while :; do sleep 30; done", "unmarked"])
            .process_group(0)
            .spawn()
            .expect("sh starts");
        // Between fork and exec the child still shows the test's command
        // line: wait until the shell runs. The shell's own child, between
        // its fork and its exec of `sleep`, may carry the marker too: it is
        // in the shell's process group.
        let found = wait_for("the marked shell", Duration::from_secs(10), || {
            Some(guard.leftovers()).filter(|pids| pids.contains(&marked.id()))
        });
        for pid in found {
            assert!(
                pid == marked.id() || process_group(pid).is_none_or(|group| group == marked.id()),
                "{pid} carries the marker outside the marked shell's group"
            );
        }
        drop(guard);
        let status = marked.wait().expect("the marked shell is reaped");
        assert!(!status.success(), "killed, not finished: {status}");
        assert!(
            unmarked.try_wait().expect("try_wait").is_none(),
            "left alone"
        );
        // The unmarked shell is ours: end it and its `sleep` by group.
        let group = format!("-{}", unmarked.id());
        Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .expect("kill runs");
        unmarked.wait().expect("reaped");
    }

    #[test]
    fn a_started_process_says_where_it_listens_and_its_output_is_kept() {
        let mut proc = Proc::launch(
            Path::new("/bin/sh"),
            &[
                "-c",
                "echo \"to stderr $GREETING\" >&2; echo 'listening on 127.0.0.1:9'; exec sleep 30",
            ],
            &[("GREETING", "hello")],
        );
        assert_eq!(proc.url, "http://127.0.0.1:9");
        assert_eq!(proc.address(), "127.0.0.1:9");
        let line = proc.wait_for_stderr("the greeting", Duration::from_secs(10), |line| {
            line.contains("hello")
        });
        assert_eq!(line, "to stderr hello");
        let status = proc.terminate();
        assert!(!status.success(), "ended by SIGTERM: {status}");
    }
}
