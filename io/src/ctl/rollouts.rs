//! `harpoonctl migrate` (a server-side rollout), `rollouts`, `drain` and
//! `undrain`: the rollout API's client. Waiting polls the scheduler once a
//! second and prints a line per change; a waited-for rollout that does not
//! succeed is an error (non-zero exit).

use std::path::Path;
use std::time::{Duration, Instant};

use harpoon_core::wire::{JobConfig, RpcReply};

use super::{Client, CtlError, Table, read_job_file};
use crate::daemon::rollouts_api::{DrainJson, RolloutJson};

/// What `harpoonctl migrate` asks of a rollout beyond its two jobs; `None`
/// leaves the scheduler's default.
#[derive(Clone, Debug, Default)]
pub struct RolloutOptions {
    /// `--max-surge`.
    pub max_surge: Option<u32>,
    /// `--max-unavailable`.
    pub max_unavailable: Option<u32>,
    /// `--min-healthy`, in the wire syntax.
    pub min_healthy: Option<String>,
    /// `--progress-deadline`, in the wire syntax.
    pub progress_deadline: Option<String>,
    /// `--no-revert`.
    pub no_revert: bool,
}

/// How often waiting asks the scheduler.
const POLL: Duration = Duration::from_secs(1);

impl Client {
    fn post(&self, path: &str, body: &[u8]) -> Result<String, CtlError> {
        let (status, text) = self.call("POST", path, Some(body))?;
        let reply: RpcReply = serde_json::from_str(&text)
            .map_err(|_| CtlError::BadAnswer(format!("HTTP {status}: {}", text.trim())))?;
        if (200..300).contains(&status) {
            Ok(reply.msg)
        } else {
            Err(CtlError::Refused {
                status,
                msg: reply.msg,
            })
        }
    }

    /// `migrate FROM TO`: asks for a rollout; with `wait`, follows it to
    /// its end, telling `progress` each change, and fails unless it
    /// succeeded.
    pub fn start_rollout(
        &self,
        from: &Path,
        to: &Path,
        options: &RolloutOptions,
        wait: bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, CtlError> {
        self.start_rollout_at(from, to, options, None, wait, progress)
    }

    /// [`Client::start_rollout`], only if the registry is still at `index`
    /// when given (the index `plan FROM --migrate TO` printed).
    pub fn start_rollout_at(
        &self,
        from: &Path,
        to: &Path,
        options: &RolloutOptions,
        index: Option<u64>,
        wait: bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, CtlError> {
        let to_bytes = read_job_file(to)?;
        let body = migrate_body(from, to, options)?;
        let path = match index {
            Some(index) => format!("/api/v0/migrate?index={index}"),
            None => "/api/v0/migrate".to_owned(),
        };
        let accepted = self.post(&path, &serde_json::to_vec(&body).expect("JSON"))?;
        if !wait {
            return Ok(accepted);
        }
        progress(&accepted);
        let to_hash = serde_json::from_slice::<JobConfig>(&to_bytes)
            .map_err(|error| CtlError::File(error.to_string()))?
            .hash()
            .to_string();
        let rollouts: Vec<RolloutJson> = self.get("/api/v0/rollouts")?;
        let id = rollouts
            .iter()
            .filter(|rollout| rollout.to.hash == to_hash)
            .map(|rollout| rollout.id)
            .max()
            .ok_or_else(|| CtlError::BadAnswer(format!("no rollout to {to_hash} is listed")))?;
        self.wait_rollout(id, progress)
    }

    /// Follows rollout `id` until it ends; `Ok` only if it succeeded.
    pub fn wait_rollout(
        &self,
        id: u64,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, CtlError> {
        let mut last = String::new();
        loop {
            let rollout: RolloutJson = self.get(&format!("/api/v0/rollouts/{id}"))?;
            let line = progress_line(&rollout);
            if line != last {
                progress(&line);
                last = line;
            }
            match rollout.status.as_str() {
                "running" => std::thread::sleep(POLL),
                "succeeded" => {
                    return Ok(format!(
                        "rollout {id} succeeded: {} replaced by {}",
                        rollout.from.hash, rollout.to.hash
                    ));
                }
                other => {
                    return Err(CtlError::Migration(format!(
                        "rollout {id} {other}: {}",
                        rollout.outcome.unwrap_or_default()
                    )));
                }
            }
        }
    }

    /// `rollouts`: every rollout as a table.
    pub fn rollouts(&self) -> Result<Table, CtlError> {
        let rollouts: Vec<RolloutJson> = self.get("/api/v0/rollouts")?;
        let mut table = Table::new(&["ID", "STATUS", "STEP", "FROM", "TO", "WHY"]);
        for rollout in rollouts {
            let healthy = rollout
                .to
                .healthy
                .map_or(String::new(), |h| format!(", {h} healthy"));
            table.row(vec![
                rollout.id.to_string(),
                rollout.status.clone(),
                rollout.step.to_string(),
                format!(
                    "{} {}/{} running",
                    rollout.from.hash, rollout.from.running, rollout.from.wanted
                ),
                format!(
                    "{} {}/{} running{healthy} (scale {})",
                    rollout.to.hash, rollout.to.running, rollout.to.wanted, rollout.to.scale
                ),
                rollout.waiting.or(rollout.outcome).unwrap_or_default(),
            ]);
        }
        Ok(table)
    }

    /// `drain URL` (or `undrain URL`); with `wait`, until the agent holds
    /// no desired task, or `timeout` passes.
    pub fn drain(
        &self,
        agent: &str,
        drain: bool,
        wait: Option<Duration>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, CtlError> {
        let path = if drain {
            "/api/v0/drain"
        } else {
            "/api/v0/undrain"
        };
        let body = serde_json::to_vec(&serde_json::json!({ "agent": agent })).expect("JSON");
        let accepted = self.post(path, &body)?;
        let Some(timeout) = wait.filter(|_| drain) else {
            return Ok(accepted);
        };
        progress(&accepted);
        let began = Instant::now();
        let mut last = None;
        loop {
            let drains: Vec<DrainJson> = self.get("/api/v0/drains")?;
            let remaining = drains
                .iter()
                .find(|entry| entry.agent.trim_end_matches('/') == normalized(agent))
                .map_or(0, |entry| entry.remaining);
            if last != Some(remaining) {
                progress(&format!("{remaining} task(s) left on {agent}"));
                last = Some(remaining);
            }
            if remaining == 0 {
                return Ok(format!("{agent} is drained"));
            }
            if began.elapsed() >= timeout {
                return Err(CtlError::Migration(format!(
                    "{agent} still holds {remaining} task(s) after {timeout:?} (the drain goes on)"
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

/// An agent URL as discovery and the scheduler name it.
fn normalized(url: &str) -> String {
    crate::daemon::normalize_agent_url(url)
}

/// One line of a rollout's progress.
fn progress_line(rollout: &RolloutJson) -> String {
    let healthy = rollout
        .to
        .healthy
        .map_or(String::new(), |h| format!(", {h} healthy"));
    let mut line = format!(
        "rollout {} {} step {}: {} {}/{} running, {} {}/{} running{healthy}",
        rollout.id,
        rollout.status,
        rollout.step,
        rollout.from.job,
        rollout.from.running,
        rollout.from.wanted,
        rollout.to.job,
        rollout.to.running,
        rollout.to.wanted,
    );
    if let Some(why) = rollout.waiting.as_ref().or(rollout.outcome.as_ref()) {
        line.push_str(&format!(" ({why})"));
    }
    line
}

/// The body of `POST /api/v0/migrate` (and of a plan's `migrate`) for the
/// jobs in files `from` and `to` and the options given.
pub fn migrate_body(
    from: &Path,
    to: &Path,
    options: &RolloutOptions,
) -> Result<serde_json::Value, CtlError> {
    let (from_bytes, to_bytes) = (read_job_file(from)?, read_job_file(to)?);
    let decode = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|error| CtlError::File(error.to_string()))
    };
    let mut body = serde_json::json!({
        "from": decode(&from_bytes)?,
        "to": decode(&to_bytes)?,
    });
    let fields = body.as_object_mut().expect("an object");
    if let Some(n) = options.max_surge {
        fields.insert("max_surge".into(), n.into());
    }
    if let Some(n) = options.max_unavailable {
        fields.insert("max_unavailable".into(), n.into());
    }
    if let Some(d) = &options.min_healthy {
        fields.insert("min_healthy".into(), d.clone().into());
    }
    if let Some(d) = &options.progress_deadline {
        fields.insert("progress_deadline".into(), d.clone().into());
    }
    if options.no_revert {
        fields.insert("auto_revert".into(), false.into());
    }
    Ok(body)
}
