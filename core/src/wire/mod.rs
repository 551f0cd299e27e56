//! The Harpoon v0 wire types (`shared/wire/harpoon-v0.md`), shared by the
//! core, the daemon, the agent and the simulator.
//!
//! Decoding is lenient and lossless: every field defaults when missing, fields
//! we do not know are kept in `extra` and written back, and collection fields
//! remember whether they were absent or `null` (see [`Field`]). Whether a
//! config makes sense is a separate question, answered by
//! [`JobConfig::validate`] with every problem at once.

mod cpu;
pub mod duration;
mod field;
pub mod go_json;
pub(crate) mod hash;
mod legacy_hash;
mod name;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use cpu::{CPU_MIN_CORES, cpu_millis};
pub use duration::{DurationError, WireDuration};
pub use field::{Field, go_float};
pub use hash::{ContainerId, JobHash};
pub use name::{
    CONTAINER_ID_MAX_LEN, JOB_NAME_MAX_LEN, NameError, validate_container_id, validate_job_name,
};
pub use validate::ValidationErrors;

/// Fields of an object that these types do not know, kept so that they are
/// written back unchanged.
pub type ExtraFields = BTreeMap<String, serde_json::Value>;

/// What one container runs and needs (the agent API's request body).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Product the job belongs to; required.
    #[serde(default)]
    pub product: String,
    /// Environment (e.g. `prod`); required.
    #[serde(default)]
    pub environment: String,
    /// Job name; required, and the prefix of the job hash.
    #[serde(default)]
    pub job: String,
    /// Health checks the agent runs.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub health_checks: Field<Vec<HealthCheck>>,
    /// URL of the root file system archive.
    #[serde(default)]
    pub artifact_url: String,
    /// Named ports; 0 asks the agent to pick one.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub ports: Field<BTreeMap<String, u16>>,
    /// Environment variables of the process.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub env: Field<BTreeMap<String, String>>,
    /// What to run.
    #[serde(default)]
    pub command: Command,
    /// What the container reserves on its agent.
    #[serde(default)]
    pub resources: Resources,
    /// Scratch space and volumes.
    #[serde(default)]
    pub storage: Storage,
    /// Startup and shutdown grace periods.
    #[serde(default)]
    pub grace: Grace,
    /// The agent's restart policy for the process.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Fields this version does not know; kept and written back.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// A job: a container config and how many identical tasks to run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobConfig {
    /// The config every task of the job runs.
    #[serde(flatten)]
    pub container: ContainerConfig,
    /// Number of task instances, valid from 1 to [`JobConfig::MAX_SCALE`].
    /// Signed so that validation, not decoding, reports a negative scale.
    #[serde(default)]
    pub scale: i64,
}

/// The process and working directory of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Directory, inside the container, to run in.
    #[serde(default)]
    pub working_dir: String,
    /// Program and arguments.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub exec: Field<Vec<String>>,
}

/// What a container reserves on its agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory in MB.
    #[serde(default)]
    pub mem: u64,
    /// CPU cores, counted in milli-cores rounded up ([`cpu_millis`]); at
    /// least [`CPU_MIN_CORES`].
    #[serde(default, serialize_with = "go_float::serialize")]
    pub cpu: f64,
    /// File descriptor limit; often left out by clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<u64>,
}

/// Scratch space and host volumes of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Storage {
    /// Scratch directories: path → size in MB, -1 for unlimited.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub tmp: Field<BTreeMap<String, i64>>,
    /// Volumes: container path → host path, which the agent must offer.
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub volumes: Field<BTreeMap<String, String>>,
}

/// Grace periods of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Grace {
    /// How long the process may take to come up (250ms..30s).
    #[serde(default)]
    pub startup: WireDuration,
    /// How long the process may take to exit after SIGTERM (250ms..10s).
    #[serde(default)]
    pub shutdown: WireDuration,
}

/// A health check the agent runs against a container's port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `HTTP` or `TCP`.
    #[serde(default)]
    pub protocol: String,
    /// A key of the config's `ports`.
    #[serde(default)]
    pub port: String,
    /// Delay before the first check (at most 30s).
    #[serde(default)]
    pub initial_delay: WireDuration,
    /// Timeout of one check (at most 3s).
    #[serde(default)]
    pub timeout: WireDuration,
    /// Time between checks (at most 30s).
    #[serde(default)]
    pub interval: WireDuration,
    /// Path of an HTTP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_path: Option<String>,
    /// Status codes an HTTP check accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_acceptable_responses: Option<Vec<i64>>,
    /// Fields this version does not know; kept and written back.
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The agent's restart policy for a container's process. Any other string
/// (including the empty one Go writes for an unset policy) is kept as it
/// was, and validation decides whether it is acceptable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    /// `"no"`: never restart.
    #[default]
    No,
    /// `"on-failure"`: restart when the process exits non-zero.
    OnFailure,
    /// `"always"`: restart whenever the process exits.
    Always,
    /// Any other string, kept verbatim.
    Other(String),
}

impl RestartPolicy {
    /// Whether an agent restarts a process that exited (`succeeded`: with
    /// status 0) under this policy. A process that could not start counts
    /// as failed. The one rule, for the agent and the simulated agents.
    pub fn restarts(&self, succeeded: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !succeeded,
            RestartPolicy::No | RestartPolicy::Other(_) => false,
        }
    }

    /// The policy's wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::Other(text) => text,
        }
    }
}

impl From<&str> for RestartPolicy {
    fn from(text: &str) -> RestartPolicy {
        match text {
            "no" => RestartPolicy::No,
            "on-failure" => RestartPolicy::OnFailure,
            "always" => RestartPolicy::Always,
            other => RestartPolicy::Other(other.to_owned()),
        }
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(RestartPolicy::from(text.as_ref()))
    }
}

/// The status of a container instance on an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Prepared, not started (or not yet).
    Created,
    /// The process runs.
    Running,
    /// The process exited non-zero, or could not start.
    Failed,
    /// The process exited zero.
    Finished,
    /// Meta-status in events only: the agent forgot the container.
    Deleted,
}

impl ContainerStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Failed => "failed",
            ContainerStatus::Finished => "finished",
            ContainerStatus::Deleted => "deleted",
        }
    }

    /// True for `failed` and `finished`: the process is not running.
    pub fn is_stopped(self) -> bool {
        matches!(self, ContainerStatus::Failed | ContainerStatus::Finished)
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One container as an agent reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerInstance {
    /// The container's ID on the agent.
    pub container_id: String,
    /// Its status.
    pub status: ContainerStatus,
    /// The config it was created with (shared: many events repeat it).
    #[serde(default)]
    pub config: Arc<ContainerConfig>,
    /// The process's state.
    #[serde(default)]
    pub process_state: ProcessState,
}

/// The state of a container's process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessState {
    /// Whether the process is up.
    #[serde(default)]
    pub up: bool,
    /// Whether the agent is about to restart it.
    #[serde(default)]
    pub restarting: bool,
    /// Why the process could not start, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// How the process last exited.
    #[serde(default)]
    pub container_exit_status: ExitStatus,
    /// Restarts so far.
    #[serde(default)]
    pub restarts: u64,
    /// Out-of-memory kills so far.
    #[serde(default)]
    pub ooms: u64,
    /// Resource usage.
    #[serde(default)]
    pub container_metrics: ContainerMetrics,
}

/// How a process exited; every field is optional on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Whether it exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<bool>,
    /// Its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// Whether a signal ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signaled: Option<bool>,
    /// The signal that ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Whether it was killed for using too much memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oomed: Option<bool>,
}

/// Resource usage of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    /// CPU time used.
    #[serde(default)]
    pub cpu_time: u64,
    /// Memory in use, in bytes.
    #[serde(default)]
    pub memory_usage: u64,
    /// Memory limit, in bytes.
    #[serde(default)]
    pub memory_limit: u64,
}

/// What an agent has and has promised away.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostResources {
    /// Memory in MB.
    #[serde(default)]
    pub mem: TotalReserved<u64>,
    /// CPU cores (note: `cpus` here, `cpu` in a config).
    #[serde(default)]
    pub cpus: CpuTotalReserved,
    /// Storage in bytes.
    #[serde(default)]
    pub storage: TotalReserved<u64>,
    /// Host paths this agent offers as volumes.
    #[serde(default)]
    pub volumes: Vec<String>,
}

/// A total and how much of it is reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalReserved<T> {
    /// What the host has.
    #[serde(default)]
    pub total: T,
    /// What containers have reserved.
    #[serde(default)]
    pub reserved: T,
}

/// CPU cores in total and reserved, written as Go writes floats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTotalReserved {
    /// Cores the host has.
    #[serde(default, serialize_with = "go_float::serialize")]
    pub total: f64,
    /// Cores containers have reserved.
    #[serde(default, serialize_with = "go_float::serialize")]
    pub reserved: f64,
}

/// One event of an agent's stream: its resources and containers. The first
/// event of a stream lists every container; later ones only those that
/// changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateEvent {
    /// The agent's resources now.
    #[serde(default)]
    pub resources: HostResources,
    /// Containers by ID.
    #[serde(default)]
    pub containers: BTreeMap<String, ContainerInstance>,
}

/// The body of every RPC-style answer of the scheduler API, errors included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcReply {
    /// The same as the HTTP status.
    pub status_code: u16,
    /// What happened, for a person.
    pub msg: String,
}

impl JobConfig {
    /// The largest valid `scale`.
    pub const MAX_SCALE: i64 = 1000;

    /// The job's content hash, `<job>-<7 hex>`: the original Harpoon
    /// scheduler's, exactly.
    pub fn hash(&self) -> JobHash {
        hash::job_hash(self)
    }

    /// The config as the original's Go struct encodes it (`json.Marshal`:
    /// its field order, `scale` first, `fd` always present, unknown fields
    /// left out): the text its hash is a digest of, without `Encode`'s
    /// trailing newline.
    pub fn original_json(&self) -> String {
        let mut text = hash::go_encoding(self);
        text.pop();
        text
    }

    /// The hash earlier versions of this scheduler gave the job (a SHA-256
    /// of another encoding), under which they named its containers and
    /// keyed their registry files. Used only to recognise those.
    pub fn legacy_hash(&self) -> JobHash {
        legacy_hash::legacy_job_hash(self)
    }

    /// The scale as a task count, within `0..=MAX_SCALE`: a negative scale
    /// counts 0 and one above [`JobConfig::MAX_SCALE`] counts `MAX_SCALE`.
    /// Validation refuses both at the API; a job loaded from disk with such
    /// a scale (edited by hand, or written by another program) is kept, as
    /// every accepted job is, and runs at most `MAX_SCALE` tasks, so that
    /// no input can make the core track more tasks per job than the bound
    /// and no over-scaled job silently loses every task it runs.
    pub fn task_count(&self) -> u32 {
        u32::try_from(self.scale.clamp(0, Self::MAX_SCALE)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
