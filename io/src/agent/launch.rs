//! Starting a container's process, and signalling its process group.
//!
//! The process runs in `command.working_dir` taken inside the container's
//! root directory, with only the config's env (plus `PATH`, so that
//! programs can be found), stdin from `/dev/null` and stdout and stderr
//! appended to the container's log file. It leads a new process group, so
//! that a stop reaches the children it started too.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use harpoon_core::wire::ContainerConfig;
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::confined::{self, Root};
use super::expand::expand;
use super::procfs;

/// `PATH` for processes when neither the config nor the agent has one.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A process that was started.
#[derive(Debug)]
pub(crate) struct Launched {
    pub child: tokio::process::Child,
    pub pid: i32,
    pub start_time_ticks: u64,
}

/// Starts the process of `config` in the container rooted at `root`,
/// appending its output to `log_path`. The error says what was wrong.
pub(crate) fn launch(
    root: &Path,
    log_path: &Path,
    config: &ContainerConfig,
) -> Result<Launched, String> {
    let env = process_env(config);
    let exec: Vec<String> = config
        .command
        .exec
        .get()
        .iter()
        .map(|arg| expand(arg, &env))
        .collect();
    let Some(program) = exec.first() else {
        return Err("\"command.exec\" is empty".to_owned());
    };
    let working_dir_path = &config.command.working_dir;
    // Entered through its open handle: a link planted after the check
    // cannot send the process elsewhere.
    let working_dir = Root::open(root)
        .and_then(|root| root.open_dir(working_dir_path))
        .map_err(|error| format!("working_dir {working_dir_path:?}: {error}"))?;
    let working_dir_text = inside(root, working_dir_path)
        .ok_or_else(|| format!("working_dir {working_dir_path:?} leaves the container"))?;
    let program_path = resolve(root, &working_dir_text, program, &env)?;
    // Not through a link: the log file sits beside the root directory,
    // where a container's process could plant one.
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(log_path)
    };
    let (stdout, stderr) = open_log()
        .and_then(|file| Ok((file.try_clone()?, file)))
        .map_err(|error| format!("cannot open log file {}: {error}", log_path.display()))?;
    let child = tokio::process::Command::new(&program_path)
        .args(&exec[1..])
        .current_dir(confined::proc_path(&working_dir))
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        // The process must outlive the agent, to be adopted after a restart.
        .kill_on_drop(false)
        .spawn()
        .map_err(|error| {
            format!(
                "cannot execute {program:?} ({}): {error}",
                program_path.display()
            )
        })?;
    let pid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .ok_or_else(|| format!("{program:?} exited before its pid could be read"))?;
    // Read at once: until the agent waits for it, the process (at worst a
    // zombie) keeps its pid, so this is the process that was started.
    let start_time_ticks = procfs::stat(pid)
        .map_err(|error| format!("cannot read the start time of pid {pid}: {error}"))?
        .start_time_ticks;
    Ok(Launched {
        child,
        pid,
        start_time_ticks,
    })
}

/// Sends `signal` to the process group led by `pid`, if `pid` is still the
/// process recorded (pids are reused). Returns false if it is gone.
pub(crate) fn signal_group(pid: i32, start_time_ticks: u64, signal: Signal) -> bool {
    if !procfs::is_alive(pid, start_time_ticks) {
        return false;
    }
    match killpg(Pid::from_raw(pid), signal) {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(pid, ?signal, %error, "cannot signal process group");
            false
        }
    }
}

/// The env of the process: the config's, plus the agent's `PATH` unless
/// the config sets one.
fn process_env(config: &ContainerConfig) -> BTreeMap<String, String> {
    let mut env = config.env.get().into_owned();
    if !env.contains_key("PATH") {
        let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
        env.insert("PATH".to_owned(), path);
    }
    env
}

/// `path` (absolute or relative, as in the container) inside `root` as
/// text, or `None` if it climbs out with `..`. Only for finding the program
/// to execute (which may be the host's anyway, there being no isolation);
/// paths the agent creates or enters are walked by `confined` instead.
fn inside(root: &Path, path: &str) -> Option<PathBuf> {
    let mut joined = root.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(joined)
}

/// Finds the program to run. With a `/` in it, it is a path: relative ones
/// are taken from the working directory, absolute ones inside the container
/// if it has them and on the host otherwise (there is no isolation, so
/// `/bin/sh` is the host's). Without, it is looked up on `PATH`.
fn resolve(
    root: &Path,
    working_dir: &Path,
    program: &str,
    env: &BTreeMap<String, String>,
) -> Result<PathBuf, String> {
    if program.starts_with('/') {
        return Ok(inside(root, program)
            .filter(|path| path.is_file())
            .unwrap_or_else(|| PathBuf::from(program)));
    }
    if program.contains('/') {
        return Ok(working_dir.join(program));
    }
    let path = env.get("PATH").map_or(DEFAULT_PATH, String::as_str);
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("{program:?} not found on PATH ({path})"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/data/c1/root");
        assert_eq!(inside(root, "/bin"), Some(root.join("bin")));
        assert_eq!(inside(root, "./a/./b"), Some(root.join("a/b")));
        assert_eq!(inside(root, "/"), Some(root.to_path_buf()));
        assert_eq!(inside(root, "/bin/../../etc"), None);
    }

    #[test]
    fn programs_resolve_by_their_shape() {
        let root = Path::new("/nonexistent-root");
        let work = root.join("bin");
        let env = BTreeMap::from([("PATH".to_owned(), "/nonexistent:/bin:/usr/bin".to_owned())]);
        assert_eq!(resolve(root, &work, "./run", &env), Ok(work.join("./run")));
        assert_eq!(
            resolve(root, &work, "sub/run", &env),
            Ok(work.join("sub/run"))
        );
        assert_eq!(
            resolve(root, &work, "/bin/sh", &env),
            Ok(PathBuf::from("/bin/sh"))
        );
        assert!(resolve(root, &work, "sh", &env).unwrap().ends_with("sh"));
        let error = resolve(root, &work, "no-such-program", &env).unwrap_err();
        assert!(error.contains("not found on PATH"), "{error}");
    }
}
