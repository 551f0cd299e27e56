//! Scenario files (`shared/scenario-format.md`): parsing, validation, and
//! errors that name the key and the line.
//!
//! Parsing happens in two layers. `Raw*` types mirror the file and are
//! decoded by `toml` with `deny_unknown_fields`, so a misspelt key is an
//! error at its line; values that need checking beyond their TOML type
//! (durations, names that must refer to something) are kept
//! [`Spanned`] so that the second layer, which builds a [`Scenario`], can
//! still say where they were written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use harpoon_core::wire::JobConfig;
use harpoon_core::{Duration, SchedulerConfig};
use serde::Deserialize;
use toml::Spanned;

use crate::behaviour::Behaviour;
use crate::range::{TimeRange, parse_duration};

mod rollouts;
pub use rollouts::MigrateSpec;

/// A scenario file that cannot be used: where, which key, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (or other origin) the text came from.
    pub origin: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// The key, e.g. `network.latency` or `at.crash`.
    pub key: String,
    /// What is wrong and, where possible, what would be right.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}",
            self.origin, self.line, self.key, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What the scenario tests, in a sentence.
    pub name: String,
    /// The default seed; the command line may override it.
    pub seed: u64,
    /// Simulated time after which the run stops.
    pub duration: Duration,
    /// The scheduler's settings and its simulated disk.
    pub scheduler: SchedulerSettings,
    /// Defaults of every scheduler-agent link.
    pub network: NetworkSettings,
    /// Agents present from the start, with `count` expanded.
    pub agents: Vec<AgentSpec>,
    /// Jobs the timeline may schedule, by name.
    pub jobs: BTreeMap<String, JobSpec>,
    /// User actions and faults, in time order (file order among equals).
    pub timeline: Vec<TimedAction>,
    /// What must hold.
    pub expectations: Vec<Expectation>,
}

/// The scheduler's configuration and how its disk behaves.
#[derive(Clone, Debug)]
pub struct SchedulerSettings {
    /// Passed to the core as it is.
    pub config: SchedulerConfig,
    /// How long a registry write takes.
    pub persist_latency: TimeRange,
    /// Probability that a registry write fails.
    pub persist_fail: f64,
}

/// How scheduler-agent links behave unless a timeline entry changes it.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    /// One-way delay of commands, answers and stream messages.
    pub latency: TimeRange,
    /// Probability that a command, or its answer, is lost.
    pub drop: f64,
    /// Chance per simulated second that an open stream breaks.
    pub stream_drop: f64,
    /// How long the driver waits for an answer before reporting a timeout.
    pub request_timeout: Duration,
    /// How often agents send a keep-alive on their streams.
    pub keep_alive: Duration,
}

/// One simulated agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSpec {
    /// Its name, which is also its agent id.
    pub name: String,
    /// CPU cores.
    pub cpu: f64,
    /// Memory in MB.
    pub mem_mb: u64,
    /// Host paths it offers as volumes.
    pub volumes: Vec<String>,
    /// Time from create to `created`, from start to `running`, and from
    /// stop to stopped.
    pub start_delay: TimeRange,
}

/// A job the timeline may schedule.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The name scenario entries use (also the config's `job`).
    pub name: String,
    /// The config sent to the scheduler.
    pub config: JobConfig,
    /// What its processes do on the simulated agents.
    pub behaviour: Behaviour,
}

/// A timeline entry.
#[derive(Clone, Debug)]
pub struct TimedAction {
    /// When, from the start of the run.
    pub at: Duration,
    /// What happens.
    pub action: Action,
    /// Where it was written.
    pub line: usize,
}

/// A user action or a fault.
#[derive(Clone, Debug)]
pub enum Action {
    /// A user schedules the named job.
    Schedule(String),
    /// A user unschedules the named job.
    Unschedule(String),
    /// Users schedule each named job at once, each with the registry
    /// index a plan made just before gives (check-and-set): of several,
    /// at most one is accepted. An extra key, see `scenarios/README.md`.
    ScheduleChecked(Vec<String>),
    /// The agent stops answering; its containers keep running.
    Crash(String),
    /// The agent answers again, with the containers it had.
    Restart(String),
    /// The agent answers again with no containers.
    Wipe(String),
    /// The links to these agents drop everything.
    Partition(Vec<String>),
    /// The links to these agents work again.
    Heal(Vec<String>),
    /// The agent's event stream breaks; the agent is fine.
    DropStream(String),
    /// The link to the agent has this latency from now on.
    Slow {
        /// Which agent.
        agent: String,
        /// Its new one-way latency.
        latency: TimeRange,
    },
    /// Starts on the agent fail for a while.
    FailStarts {
        /// Which agent.
        agent: String,
        /// For how long.
        duration: Duration,
    },
    /// The agent answers 500 to every command, doing nothing, for a while.
    /// An extra key.
    FailCommands {
        /// Which agent.
        agent: String,
        /// For how long.
        duration: Duration,
    },
    /// The agent accepts every command and does nothing (its stream never
    /// confirms them) for a while. An extra key.
    NeverConfirm {
        /// Which agent.
        agent: String,
        /// For how long.
        duration: Duration,
    },
    /// The agent's stream breaks right after each first event for a while.
    /// An extra key.
    FlapStream {
        /// Which agent.
        agent: String,
        /// For how long.
        duration: Duration,
    },
    /// The agent reports a running container nobody scheduled. An extra
    /// key.
    ReportStray(String),
    /// Every registry write fails for a while.
    DiskFail {
        /// For how long.
        duration: Duration,
    },
    /// The agent restarts with this much cpu and memory, less than its
    /// containers may reserve; they keep running. An extra key.
    ShrinkAgent {
        /// Which agent.
        agent: String,
        /// Its cpu from now on, in cores.
        cpu: f64,
        /// Its memory from now on, in MB.
        mem_mb: u64,
    },
    /// The agent loses `count` of its containers (never all of them)
    /// behind the scheduler's back. An extra key.
    LoseContainers {
        /// Which agent.
        agent: String,
        /// How many, at most.
        count: u64,
    },
    /// For a while, the agent's stream delivers its first event twice
    /// after every (re)connect. An extra key.
    RepeatFirstEvent {
        /// Which agent.
        agent: String,
        /// For how long.
        duration: Duration,
    },
    /// Registry writes take `latency` for a while. An extra key.
    SlowDisk {
        /// How long a write begun meanwhile takes.
        latency: TimeRange,
        /// For how long.
        duration: Duration,
    },
    /// The scheduler dies and comes back after `down`.
    SchedulerCrash {
        /// How long it stays down.
        down: Duration,
    },
    /// Discovery lists a new agent.
    AddAgent(AgentSpec),
    /// Discovery stops listing the agent.
    RemoveAgent(String),
    /// A user rolls out from one job to another.
    Migrate(MigrateSpec),
    /// A user aborts the rollout towards the named job.
    AbortRollout(String),
    /// A user drains the agent.
    Drain(String),
    /// A user ends the agent's drain.
    Undrain(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Schedule(job) => write!(f, "schedule {job}"),
            Action::Unschedule(job) => write!(f, "unschedule {job}"),
            Action::ScheduleChecked(jobs) => {
                write!(f, "schedule {} at the planned index", jobs.join(", "))
            }
            Action::Crash(agent) => write!(f, "crash {agent}"),
            Action::Restart(agent) => write!(f, "restart {agent}"),
            Action::Wipe(agent) => write!(f, "wipe {agent}"),
            Action::Partition(agents) => write!(f, "partition {}", agents.join(", ")),
            Action::Heal(agents) => write!(f, "heal {}", agents.join(", ")),
            Action::DropStream(agent) => write!(f, "drop the stream of {agent}"),
            Action::Slow { agent, latency } => write!(f, "slow {agent} to {latency}"),
            Action::FailStarts { agent, duration } => {
                write!(f, "starts fail on {agent} for {duration}")
            }
            Action::FailCommands { agent, duration } => {
                write!(f, "every command to {agent} fails for {duration}")
            }
            Action::NeverConfirm { agent, duration } => {
                write!(
                    f,
                    "{agent} accepts and never confirms commands for {duration}"
                )
            }
            Action::FlapStream { agent, duration } => {
                write!(
                    f,
                    "{agent}'s stream breaks after each first event for {duration}"
                )
            }
            Action::ReportStray(agent) => {
                write!(f, "{agent} reports a container nobody scheduled")
            }
            Action::DiskFail { duration } => {
                write!(f, "every registry write fails for {duration}")
            }
            Action::ShrinkAgent { agent, cpu, mem_mb } => {
                write!(f, "{agent} restarts with {cpu} cpu, {mem_mb} MB")
            }
            Action::LoseContainers { agent, count } => {
                write!(f, "{agent} loses {count} of its containers")
            }
            Action::RepeatFirstEvent { agent, duration } => {
                write!(f, "{agent}'s stream repeats its first event for {duration}")
            }
            Action::SlowDisk { latency, duration } => {
                write!(f, "registry writes take {latency} for {duration}")
            }
            Action::SchedulerCrash { down } => write!(f, "scheduler crashes for {down}"),
            Action::AddAgent(spec) => write!(
                f,
                "add agent {} ({} cpu, {} MB)",
                spec.name, spec.cpu, spec.mem_mb
            ),
            Action::RemoveAgent(agent) => write!(f, "remove agent {agent}"),
            Action::Migrate(spec) => write!(f, "migrate {} to {}", spec.from, spec.to),
            Action::AbortRollout(job) => write!(f, "abort the rollout to {job}"),
            Action::Drain(agent) => write!(f, "drain {agent}"),
            Action::Undrain(agent) => write!(f, "undrain {agent}"),
        }
    }
}

/// One `[[expect]]` entry.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// What must hold.
    pub kind: ExpectationKind,
    /// Where it was written.
    pub line: usize,
}

/// What an expectation checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectationKind {
    /// Exactly `count` instances of `job` are `running` at `at`.
    Running {
        /// When.
        at: Duration,
        /// Which job.
        job: String,
        /// How many.
        count: u64,
    },
    /// Exactly `count` instances of `job` exist, in any status, at `at`.
    Placed {
        /// When.
        at: Duration,
        /// Which job.
        job: String,
        /// How many.
        count: u64,
    },
    /// The scheduler reports exactly `count` tasks of `job` unplaced at `at`.
    Unplaced {
        /// When.
        at: Duration,
        /// Which job.
        job: String,
        /// How many.
        count: u64,
    },
    /// The scheduler's `why` of `job` explains exactly `count` tasks as
    /// unplaced at `at`, each explanation's counts adding up to the agents
    /// discovery lists. An extra key, see `scenarios/README.md`.
    Explained {
        /// When.
        at: Duration,
        /// Which job.
        job: String,
        /// How many.
        count: u64,
    },
    /// Exactly `count` instances (of `job`, or of any job) exist on `agent`
    /// at `at`. An extra key, see `scenarios/README.md`.
    PlacedOn {
        /// When.
        at: Duration,
        /// Which agent.
        agent: String,
        /// Which job; every job when absent.
        job: Option<String>,
        /// How many.
        count: u64,
    },
    /// The latest rollout towards job `to` has `status` at `at`.
    Rollout {
        /// When.
        at: Duration,
        /// The new job's name.
        to: String,
        /// The status it must have.
        status: harpoon_core::rollout::RolloutStatus,
    },
    /// At every step from `from` to `to`, at least `count` instances of
    /// `jobs` together are `running`.
    MinRunning {
        /// Which jobs.
        jobs: Vec<String>,
        /// The fewest running.
        count: u64,
        /// The window's start.
        from: Duration,
        /// The window's end.
        to: Duration,
    },
    /// The world converges within this long after the last timeline entry
    /// and stays converged to the end.
    ConvergedWithin(Duration),
    /// The scheduler issued at most this many agent commands in the run.
    CommandsAtMost(u64),
    /// The scheduler issued at most `count` commands to `agent` in the run
    /// (a back-off budget for a broken agent). An extra key.
    AgentCommandsAtMost {
        /// Which agent.
        agent: String,
        /// The most commands allowed.
        count: u64,
    },
    /// The scheduler issued at least this many agent commands in the run
    /// (shows that retries happened). An extra key.
    CommandsAtLeast(u64),
    /// At no moment do more than `count` instances of `job` exist. An extra
    /// key.
    InstancesAtMost {
        /// Which job.
        job: String,
        /// The most instances allowed at once.
        count: u64,
    },
    /// At the end of the run, no instance of the job on the listed agents
    /// is `failed` by a start that could not happen with no retry pending
    /// (its restart policy has the agent retry it). An extra key.
    FailedStartsRecover {
        /// Which job.
        job: String,
    },
}

impl fmt::Display for ExpectationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectationKind::Running { at, job, count } => {
                write!(f, "running {{ job = {job}, count = {count} }} at {at}")
            }
            ExpectationKind::Placed { at, job, count } => {
                write!(f, "placed {{ job = {job}, count = {count} }} at {at}")
            }
            ExpectationKind::Unplaced { at, job, count } => {
                write!(f, "unplaced {{ job = {job}, count = {count} }} at {at}")
            }
            ExpectationKind::Explained { at, job, count } => {
                write!(f, "explained {{ job = {job}, count = {count} }} at {at}")
            }
            ExpectationKind::PlacedOn {
                at,
                agent,
                job,
                count,
            } => match job {
                Some(job) => write!(
                    f,
                    "placed_on {{ agent = {agent}, job = {job}, count = {count} }} at {at}"
                ),
                None => write!(
                    f,
                    "placed_on {{ agent = {agent}, count = {count} }} at {at}"
                ),
            },
            ExpectationKind::Rollout { at, to, status } => {
                write!(
                    f,
                    "rollout {{ to = {to}, status = {} }} at {at}",
                    status.as_str()
                )
            }
            ExpectationKind::MinRunning {
                jobs,
                count,
                from,
                to,
            } => write!(
                f,
                "min_running {{ jobs = [{}], count = {count} }} from {from} to {to}",
                jobs.join(", ")
            ),
            ExpectationKind::ConvergedWithin(within) => write!(f, "converged_within {within}"),
            ExpectationKind::CommandsAtMost(count) => write!(f, "commands_at_most {count}"),
            ExpectationKind::AgentCommandsAtMost { agent, count } => {
                write!(
                    f,
                    "agent_commands_at_most {{ agent = {agent}, count = {count} }}"
                )
            }
            ExpectationKind::CommandsAtLeast(count) => write!(f, "commands_at_least {count}"),
            ExpectationKind::InstancesAtMost { job, count } => {
                write!(f, "instances_at_most {{ job = {job}, count = {count} }}")
            }
            ExpectationKind::FailedStartsRecover { job } => {
                write!(f, "failed_starts_recover {job}")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The raw layer: what the file says, as `toml` decodes it.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    seed: Option<u64>,
    duration: Spanned<String>,
    #[serde(default)]
    scheduler: RawScheduler,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default, rename = "agent")]
    agents: Vec<Spanned<RawAgent>>,
    #[serde(default, rename = "job")]
    jobs: Vec<Spanned<RawJob>>,
    #[serde(default, rename = "at")]
    timeline: Vec<Spanned<RawAt>>,
    #[serde(default, rename = "expect")]
    expectations: Vec<Spanned<RawExpect>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduler {
    algorithm: Option<Spanned<String>>,
    abandon_timeout: Option<Spanned<String>>,
    pending_timeout: Option<Spanned<String>>,
    tick: Option<Spanned<String>>,
    stream_silence_timeout: Option<Spanned<String>>,
    persist_latency: Option<Spanned<String>>,
    persist_fail: Option<Spanned<f64>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency: Option<Spanned<String>>,
    drop: Option<Spanned<f64>>,
    stream_drop: Option<Spanned<f64>>,
    request_timeout: Option<Spanned<String>>,
    keep_alive: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: Spanned<String>,
    count: Option<Spanned<u32>>,
    cpu: Spanned<f64>,
    mem: u64,
    #[serde(default)]
    volumes: Vec<String>,
    start_delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    #[serde(default = "one")]
    scale: i64,
    cpu: Option<f64>,
    mem: Option<u64>,
    volumes: Option<BTreeMap<String, String>>,
    restart: Option<String>,
    behaviour: Option<Spanned<String>>,
    // Any other ContainerConfig field, written as in the wire format.
    product: Option<String>,
    environment: Option<String>,
    artifact_url: Option<String>,
    ports: Option<BTreeMap<String, u16>>,
    env: Option<BTreeMap<String, String>>,
    command: Option<toml::Value>,
    health_checks: Option<toml::Value>,
    grace: Option<toml::Value>,
    storage: Option<toml::Value>,
    resources: Option<toml::Value>,
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAt {
    time: Spanned<String>,
    schedule: Option<Spanned<String>>,
    unschedule: Option<Spanned<String>>,
    schedule_checked: Option<Spanned<Vec<String>>>,
    crash: Option<Spanned<String>>,
    restart: Option<Spanned<String>>,
    wipe: Option<Spanned<String>>,
    partition: Option<Spanned<Vec<String>>>,
    heal: Option<Spanned<Vec<String>>>,
    drop_stream: Option<Spanned<String>>,
    slow: Option<Spanned<RawSlow>>,
    fail_starts: Option<Spanned<RawFailStarts>>,
    fail_commands: Option<Spanned<RawFailStarts>>,
    never_confirm: Option<Spanned<RawFailStarts>>,
    flap_stream: Option<Spanned<RawFailStarts>>,
    report_stray: Option<Spanned<String>>,
    scheduler_crash: Option<Spanned<RawSchedulerCrash>>,
    disk_fail: Option<Spanned<RawDiskFail>>,
    shrink_agent: Option<Spanned<RawShrinkAgent>>,
    lose_containers: Option<Spanned<RawLoseContainers>>,
    repeat_first_event: Option<Spanned<RawFailStarts>>,
    slow_disk: Option<Spanned<RawSlowDisk>>,
    add_agent: Option<Spanned<RawAddAgent>>,
    remove_agent: Option<Spanned<String>>,
    migrate: Option<Spanned<rollouts::RawMigrate>>,
    abort_rollout: Option<Spanned<String>>,
    drain: Option<Spanned<String>>,
    undrain: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlow {
    agent: String,
    latency: String,
}

/// An agent fault that lasts a while: `{ agent, for }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailStarts {
    agent: String,
    #[serde(rename = "for")]
    duration: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedulerCrash {
    down: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiskFail {
    #[serde(rename = "for")]
    duration: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShrinkAgent {
    agent: String,
    cpu: f64,
    mem: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoseContainers {
    agent: String,
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlowDisk {
    latency: String,
    #[serde(rename = "for")]
    duration: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddAgent {
    name: String,
    cpu: f64,
    mem: u64,
    #[serde(default)]
    volumes: Vec<String>,
    start_delay: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    time: Option<Spanned<String>>,
    running: Option<Spanned<RawJobCount>>,
    placed: Option<Spanned<RawJobCount>>,
    unplaced: Option<Spanned<RawJobCount>>,
    explained: Option<Spanned<RawJobCount>>,
    placed_on: Option<Spanned<RawPlacedOn>>,
    converged_within: Option<Spanned<String>>,
    commands_at_most: Option<u64>,
    commands_at_least: Option<u64>,
    agent_commands_at_most: Option<Spanned<RawAgentCount>>,
    instances_at_most: Option<Spanned<RawJobCount>>,
    failed_starts_recover: Option<Spanned<String>>,
    rollout: Option<Spanned<rollouts::RawRolloutExpect>>,
    min_running: Option<Spanned<rollouts::RawMinRunning>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobCount {
    job: String,
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgentCount {
    agent: String,
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacedOn {
    agent: String,
    job: Option<String>,
    count: u64,
}

// ---------------------------------------------------------------------------
// The validating layer.

/// The default of `start_delay`.
const DEFAULT_START_DELAY: &str = "100ms..2s";

/// Parses and validates a scenario. `origin` (usually the file's path)
/// prefixes every error.
pub fn parse(source: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    let parser = Parser { source, origin };
    let raw: RawScenario = toml::from_str(source).map_err(|error| parser.toml_error(&error))?;
    parser.build(raw)
}

/// Reads and parses a scenario file.
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|error| ScenarioError {
        origin: origin.clone(),
        line: 0,
        key: "(file)".to_owned(),
        message: format!("cannot read the file: {error}"),
    })?;
    parse(&source, &origin)
}

struct Parser<'a> {
    source: &'a str,
    origin: &'a str,
}

impl Parser<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.source.len());
        self.source[..end].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            origin: self.origin.to_owned(),
            line: self.line_of(span.start),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// Turns a decoding error into one that names the key: `toml`'s span
    /// points at the offending key (unknown field) or value (wrong type),
    /// so the text under it names what is wrong.
    fn toml_error(&self, error: &toml::de::Error) -> ScenarioError {
        let span = error.span().unwrap_or(0..0);
        let under = self.source.get(span.clone()).unwrap_or("");
        let first_line = under.lines().next().unwrap_or("").trim();
        let key = if first_line.is_empty() {
            "(document)".to_owned()
        } else if first_line.len() > 60 {
            format!("{}…", &first_line[..first_line.floor_char_boundary(60)])
        } else {
            first_line.to_owned()
        };
        self.error(span, &key, error.message().trim().to_owned())
    }

    fn duration(&self, value: &Spanned<String>, key: &str) -> Result<Duration, ScenarioError> {
        parse_duration(value.get_ref()).map_err(|message| self.error(value.span(), key, message))
    }

    fn range(&self, value: &Spanned<String>, key: &str) -> Result<TimeRange, ScenarioError> {
        TimeRange::parse(value.get_ref()).map_err(|message| self.error(value.span(), key, message))
    }

    fn probability(&self, value: &Spanned<f64>, key: &str) -> Result<f64, ScenarioError> {
        let p = *value.get_ref();
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(self.error(
                value.span(),
                key,
                format!("{p} is not a probability (use a number from 0.0 to 1.0)"),
            ))
        }
    }

    fn build(&self, raw: RawScenario) -> Result<Scenario, ScenarioError> {
        let duration = self.duration(&raw.duration, "duration")?;
        let scheduler = self.scheduler(&raw.scheduler)?;
        let network = self.network(&raw.network)?;

        let mut agents = Vec::new();
        let mut names = BTreeSet::new();
        for agent in &raw.agents {
            for spec in self.agent(agent)? {
                if !names.insert(spec.name.clone()) {
                    return Err(self.error(
                        agent.get_ref().name.span(),
                        "agent.name",
                        format!("agent {:?} is defined twice", spec.name),
                    ));
                }
                agents.push(spec);
            }
        }

        let mut jobs = BTreeMap::new();
        for job in &raw.jobs {
            let spec = self.job(job)?;
            if jobs.contains_key(&spec.name) {
                return Err(self.error(
                    job.get_ref().name.span(),
                    "job.name",
                    format!("job {:?} is defined twice", spec.name),
                ));
            }
            jobs.insert(spec.name.clone(), spec);
        }

        let mut timeline = Vec::new();
        for entry in &raw.timeline {
            timeline.push(self.timed_action(entry)?);
        }
        // Agents added by the timeline may be named by any entry: the check
        // is that a name refers to some agent of the run, not when.
        for entry in &timeline {
            if let Action::AddAgent(spec) = &entry.action
                && !names.insert(spec.name.clone())
            {
                return Err(ScenarioError {
                    origin: self.origin.to_owned(),
                    line: entry.line,
                    key: "at.add_agent.name".to_owned(),
                    message: format!("agent {:?} already exists", spec.name),
                });
            }
        }
        for entry in &timeline {
            self.check_references(entry, &names, &jobs)?;
        }
        // A stable sort keeps file order among entries at the same time.
        timeline.sort_by_key(|entry| entry.at);

        let mut expectations = Vec::new();
        for entry in &raw.expectations {
            let expectation = self.expectation(entry)?;
            self.check_expectation_references(&expectation, &names, &jobs)?;
            expectations.push(expectation);
        }

        Ok(Scenario {
            name: raw.name,
            seed: raw.seed.unwrap_or(1),
            duration,
            scheduler,
            network,
            agents,
            jobs,
            timeline,
            expectations,
        })
    }

    fn scheduler(&self, raw: &RawScheduler) -> Result<SchedulerSettings, ScenarioError> {
        let mut config = SchedulerConfig::default();
        if let Some(algorithm) = &raw.algorithm {
            config.algorithm = algorithm.get_ref().parse().map_err(|message: String| {
                self.error(algorithm.span(), "scheduler.algorithm", message)
            })?;
        }
        if let Some(value) = &raw.abandon_timeout {
            config.abandon_timeout = self.duration(value, "scheduler.abandon_timeout")?;
        }
        if let Some(value) = &raw.pending_timeout {
            config.pending_timeout = self.duration(value, "scheduler.pending_timeout")?;
        }
        if let Some(value) = &raw.tick {
            config.tick = self.duration(value, "scheduler.tick")?;
            if config.tick == Duration::ZERO {
                return Err(self.error(
                    value.span(),
                    "scheduler.tick",
                    "the tick must be longer than 0",
                ));
            }
        }
        if let Some(value) = &raw.stream_silence_timeout {
            config.stream_silence_timeout =
                self.duration(value, "scheduler.stream_silence_timeout")?;
        }
        let persist_latency = match &raw.persist_latency {
            Some(value) => self.range(value, "scheduler.persist_latency")?,
            None => TimeRange::parse("1ms..20ms").expect("the default range parses"),
        };
        let persist_fail = match &raw.persist_fail {
            Some(value) => self.probability(value, "scheduler.persist_fail")?,
            None => 0.0,
        };
        Ok(SchedulerSettings {
            config,
            persist_latency,
            persist_fail,
        })
    }

    fn network(&self, raw: &RawNetwork) -> Result<NetworkSettings, ScenarioError> {
        let latency = match &raw.latency {
            Some(value) => self.range(value, "network.latency")?,
            None => TimeRange::parse("1ms..20ms").expect("the default range parses"),
        };
        let drop = match &raw.drop {
            Some(value) => self.probability(value, "network.drop")?,
            None => 0.0,
        };
        let stream_drop = match &raw.stream_drop {
            Some(value) => self.probability(value, "network.stream_drop")?,
            None => 0.0,
        };
        let request_timeout = match &raw.request_timeout {
            Some(value) => self.duration(value, "network.request_timeout")?,
            None => Duration::from_secs(10),
        };
        let keep_alive = match &raw.keep_alive {
            Some(value) => {
                let every = self.duration(value, "network.keep_alive")?;
                if every == Duration::ZERO {
                    return Err(self.error(
                        value.span(),
                        "network.keep_alive",
                        "must be longer than 0",
                    ));
                }
                every
            }
            None => Duration::from_secs(5),
        };
        Ok(NetworkSettings {
            latency,
            drop,
            stream_drop,
            request_timeout,
            keep_alive,
        })
    }

    fn agent(&self, raw: &Spanned<RawAgent>) -> Result<Vec<AgentSpec>, ScenarioError> {
        let agent = raw.get_ref();
        let name = agent.name.get_ref();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(self.error(
                agent.name.span(),
                "agent.name",
                format!("agent name {name:?} must be non-empty letters, digits, '-', '_' or '.'"),
            ));
        }
        if !(*agent.cpu.get_ref() > 0.0 && agent.cpu.get_ref().is_finite()) {
            return Err(self.error(agent.cpu.span(), "agent.cpu", "must be greater than 0"));
        }
        let start_delay = match &agent.start_delay {
            Some(value) => self.range(value, "agent.start_delay")?,
            None => TimeRange::parse(DEFAULT_START_DELAY).expect("the default range parses"),
        };
        let spec = |name: String| AgentSpec {
            name,
            cpu: *agent.cpu.get_ref(),
            mem_mb: agent.mem,
            volumes: agent.volumes.clone(),
            start_delay,
        };
        match &agent.count {
            None => Ok(vec![spec(name.clone())]),
            Some(count) if *count.get_ref() == 0 || *count.get_ref() > 1000 => {
                Err(self.error(count.span(), "agent.count", "must be from 1 to 1000"))
            }
            Some(count) => Ok((0..*count.get_ref())
                .map(|i| spec(format!("{name}{i}")))
                .collect()),
        }
    }

    fn job(&self, raw: &Spanned<RawJob>) -> Result<JobSpec, ScenarioError> {
        let job = raw.get_ref();
        let name = job.name.get_ref().clone();
        let behaviour = match &job.behaviour {
            Some(value) => value
                .get_ref()
                .parse()
                .map_err(|message: String| self.error(value.span(), "job.behaviour", message))?,
            None => Behaviour::Runs,
        };
        let config = build_job_config(job)
            .map_err(|message| self.error(raw.span(), &format!("job {name:?}"), message))?;
        if let Err(problems) = config.validate() {
            return Err(self.error(
                raw.span(),
                &format!("job {name:?}"),
                format!("the job config is invalid: {problems}"),
            ));
        }
        Ok(JobSpec {
            name,
            config,
            behaviour,
        })
    }

    fn timed_action(&self, raw: &Spanned<RawAt>) -> Result<TimedAction, ScenarioError> {
        let entry = raw.get_ref();
        let at = self.duration(&entry.time, "at.time")?;
        let mut actions: Vec<(Range<usize>, Action)> = Vec::new();
        let mut single = |value: &Option<Spanned<String>>, make: fn(String) -> Action| {
            if let Some(value) = value {
                actions.push((value.span(), make(value.get_ref().clone())));
            }
        };
        single(&entry.schedule, Action::Schedule);
        single(&entry.unschedule, Action::Unschedule);
        single(&entry.crash, Action::Crash);
        single(&entry.restart, Action::Restart);
        single(&entry.wipe, Action::Wipe);
        single(&entry.drop_stream, Action::DropStream);
        single(&entry.remove_agent, Action::RemoveAgent);
        single(&entry.report_stray, Action::ReportStray);
        single(&entry.abort_rollout, Action::AbortRollout);
        single(&entry.drain, Action::Drain);
        single(&entry.undrain, Action::Undrain);
        if let Some(value) = &entry.schedule_checked {
            let jobs = value.get_ref().clone();
            actions.push((value.span(), Action::ScheduleChecked(jobs)));
        }
        if let Some(value) = &entry.migrate {
            actions.push((value.span(), Action::Migrate(self.migrate(value)?)));
        }
        if let Some(value) = &entry.partition {
            actions.push((value.span(), Action::Partition(value.get_ref().clone())));
        }
        if let Some(value) = &entry.heal {
            actions.push((value.span(), Action::Heal(value.get_ref().clone())));
        }
        if let Some(value) = &entry.slow {
            let latency = TimeRange::parse(&value.get_ref().latency)
                .map_err(|message| self.error(value.span(), "at.slow.latency", message))?;
            actions.push((
                value.span(),
                Action::Slow {
                    agent: value.get_ref().agent.clone(),
                    latency,
                },
            ));
        }
        if let Some(value) = &entry.fail_starts {
            let duration = parse_duration(&value.get_ref().duration)
                .map_err(|message| self.error(value.span(), "at.fail_starts.for", message))?;
            actions.push((
                value.span(),
                Action::FailStarts {
                    agent: value.get_ref().agent.clone(),
                    duration,
                },
            ));
        }
        type Fault = fn(String, Duration) -> Action;
        let faults: [(&Option<Spanned<RawFailStarts>>, &str, Fault); 4] = [
            (
                &entry.fail_commands,
                "at.fail_commands.for",
                |agent, duration| Action::FailCommands { agent, duration },
            ),
            (
                &entry.never_confirm,
                "at.never_confirm.for",
                |agent, duration| Action::NeverConfirm { agent, duration },
            ),
            (
                &entry.flap_stream,
                "at.flap_stream.for",
                |agent, duration| Action::FlapStream { agent, duration },
            ),
            (
                &entry.repeat_first_event,
                "at.repeat_first_event.for",
                |agent, duration| Action::RepeatFirstEvent { agent, duration },
            ),
        ];
        for (value, key, make) in faults {
            if let Some(value) = value {
                let duration = parse_duration(&value.get_ref().duration)
                    .map_err(|message| self.error(value.span(), key, message))?;
                actions.push((value.span(), make(value.get_ref().agent.clone(), duration)));
            }
        }
        if let Some(value) = &entry.scheduler_crash {
            let down = parse_duration(&value.get_ref().down)
                .map_err(|message| self.error(value.span(), "at.scheduler_crash.down", message))?;
            actions.push((value.span(), Action::SchedulerCrash { down }));
        }
        if let Some(value) = &entry.disk_fail {
            let duration = parse_duration(&value.get_ref().duration)
                .map_err(|message| self.error(value.span(), "at.disk_fail.for", message))?;
            actions.push((value.span(), Action::DiskFail { duration }));
        }
        if let Some(value) = &entry.shrink_agent {
            let shrink = value.get_ref();
            if !(shrink.cpu > 0.0 && shrink.cpu.is_finite()) {
                return Err(self.error(
                    value.span(),
                    "at.shrink_agent.cpu",
                    "must be greater than 0",
                ));
            }
            if shrink.mem == 0 {
                return Err(self.error(
                    value.span(),
                    "at.shrink_agent.mem",
                    "must be greater than 0",
                ));
            }
            actions.push((
                value.span(),
                Action::ShrinkAgent {
                    agent: shrink.agent.clone(),
                    cpu: shrink.cpu,
                    mem_mb: shrink.mem,
                },
            ));
        }
        if let Some(value) = &entry.lose_containers {
            let lose = value.get_ref();
            if lose.count == 0 {
                return Err(self.error(
                    value.span(),
                    "at.lose_containers.count",
                    "must be at least 1 (a loss of nothing is no fault)",
                ));
            }
            actions.push((
                value.span(),
                Action::LoseContainers {
                    agent: lose.agent.clone(),
                    count: lose.count,
                },
            ));
        }
        if let Some(value) = &entry.slow_disk {
            let slow = value.get_ref();
            let latency = TimeRange::parse(&slow.latency)
                .map_err(|message| self.error(value.span(), "at.slow_disk.latency", message))?;
            let duration = parse_duration(&slow.duration)
                .map_err(|message| self.error(value.span(), "at.slow_disk.for", message))?;
            actions.push((value.span(), Action::SlowDisk { latency, duration }));
        }
        if let Some(value) = &entry.add_agent {
            let add = value.get_ref();
            if !(add.cpu > 0.0 && add.cpu.is_finite()) {
                return Err(self.error(value.span(), "at.add_agent.cpu", "must be greater than 0"));
            }
            let start_delay =
                TimeRange::parse(add.start_delay.as_deref().unwrap_or(DEFAULT_START_DELAY))
                    .map_err(|message| {
                        self.error(value.span(), "at.add_agent.start_delay", message)
                    })?;
            actions.push((
                value.span(),
                Action::AddAgent(AgentSpec {
                    name: add.name.clone(),
                    cpu: add.cpu,
                    mem_mb: add.mem,
                    volumes: add.volumes.clone(),
                    start_delay,
                }),
            ));
        }
        match actions.len() {
            1 => {
                let (span, action) = actions.pop().expect("one action");
                // Errors found later (an unknown agent) point at the action.
                let line = self.line_of(span.start);
                Ok(TimedAction { at, action, line })
            }
            0 => Err(self.error(
                raw.span(),
                "at",
                "this timeline entry has a time but no action (add e.g. `schedule = \"web\"`)",
            )),
            _ => Err(self.error(
                actions[1].0.clone(),
                "at",
                "a timeline entry holds exactly one action: split it into several [[at]] entries",
            )),
        }
    }

    fn check_references(
        &self,
        entry: &TimedAction,
        agents: &BTreeSet<String>,
        jobs: &BTreeMap<String, JobSpec>,
    ) -> Result<(), ScenarioError> {
        let fail = |key: &str, message: String| ScenarioError {
            origin: self.origin.to_owned(),
            line: entry.line,
            key: key.to_owned(),
            message,
        };
        let agent = |key: &str, name: &str| {
            if agents.contains(name) {
                Ok(())
            } else {
                Err(fail(
                    key,
                    format!(
                        "no agent is named {name:?} (agents: {})",
                        join(agents.iter())
                    ),
                ))
            }
        };
        let job = |key: &str, name: &str| {
            if jobs.contains_key(name) {
                Ok(())
            } else {
                Err(fail(
                    key,
                    format!("no job is named {name:?} (jobs: {})", join(jobs.keys())),
                ))
            }
        };
        match &entry.action {
            Action::Schedule(name) => job("at.schedule", name),
            Action::Unschedule(name) => job("at.unschedule", name),
            Action::ScheduleChecked(names) => names
                .iter()
                .try_for_each(|name| job("at.schedule_checked", name)),
            Action::Crash(name) => agent("at.crash", name),
            Action::Restart(name) => agent("at.restart", name),
            Action::Wipe(name) => agent("at.wipe", name),
            Action::DropStream(name) => agent("at.drop_stream", name),
            Action::RemoveAgent(name) => agent("at.remove_agent", name),
            Action::Slow { agent: name, .. } => agent("at.slow.agent", name),
            Action::FailStarts { agent: name, .. } => agent("at.fail_starts.agent", name),
            Action::FailCommands { agent: name, .. } => agent("at.fail_commands.agent", name),
            Action::NeverConfirm { agent: name, .. } => agent("at.never_confirm.agent", name),
            Action::FlapStream { agent: name, .. } => agent("at.flap_stream.agent", name),
            Action::ReportStray(name) => agent("at.report_stray", name),
            Action::ShrinkAgent { agent: name, .. } => agent("at.shrink_agent.agent", name),
            Action::LoseContainers { agent: name, .. } => agent("at.lose_containers.agent", name),
            Action::RepeatFirstEvent { agent: name, .. } => {
                agent("at.repeat_first_event.agent", name)
            }
            Action::Partition(names) => names
                .iter()
                .try_for_each(|name| agent("at.partition", name)),
            Action::Heal(names) => names.iter().try_for_each(|name| agent("at.heal", name)),
            Action::Migrate(spec) => {
                job("at.migrate.from", &spec.from)?;
                job("at.migrate.to", &spec.to)?;
                if spec.from == spec.to {
                    return Err(fail(
                        "at.migrate.to",
                        "from and to name the same job: nothing to roll out".to_owned(),
                    ));
                }
                Ok(())
            }
            Action::AbortRollout(name) => job("at.abort_rollout", name),
            Action::Drain(name) => agent("at.drain", name),
            Action::Undrain(name) => agent("at.undrain", name),
            Action::SchedulerCrash { .. }
            | Action::DiskFail { .. }
            | Action::SlowDisk { .. }
            | Action::AddAgent(_) => Ok(()),
        }
    }

    fn expectation(&self, raw: &Spanned<RawExpect>) -> Result<Expectation, ScenarioError> {
        let entry = raw.get_ref();
        let line = self.line_of(raw.span().start);
        let at = match &entry.time {
            Some(time) => Some((time.span(), self.duration(time, "expect.time")?)),
            None => None,
        };
        let mut kinds: Vec<(Range<usize>, &str, ExpectationKind)> = Vec::new();
        let timed = |key: &str, span: Range<usize>| {
            at.as_ref().map(|(_, at)| *at).ok_or_else(|| {
                self.error(
                    span,
                    &format!("expect.{key}"),
                    format!("`{key}` needs a `time` in the same [[expect]] entry"),
                )
            })
        };
        for (key, value) in [
            ("running", &entry.running),
            ("placed", &entry.placed),
            ("unplaced", &entry.unplaced),
            ("explained", &entry.explained),
        ] {
            if let Some(value) = value {
                let at = timed(key, value.span())?;
                let job = value.get_ref().job.clone();
                let count = value.get_ref().count;
                let kind = match key {
                    "running" => ExpectationKind::Running { at, job, count },
                    "placed" => ExpectationKind::Placed { at, job, count },
                    "explained" => ExpectationKind::Explained { at, job, count },
                    _ => ExpectationKind::Unplaced { at, job, count },
                };
                kinds.push((value.span(), key, kind));
            }
        }
        if let Some(value) = &entry.placed_on {
            let at = timed("placed_on", value.span())?;
            let placed_on = value.get_ref();
            kinds.push((
                value.span(),
                "placed_on",
                ExpectationKind::PlacedOn {
                    at,
                    agent: placed_on.agent.clone(),
                    job: placed_on.job.clone(),
                    count: placed_on.count,
                },
            ));
        }
        if let Some(value) = &entry.rollout {
            let at = timed("rollout", value.span())?;
            kinds.push((
                value.span(),
                "rollout",
                self.rollout_expectation(value, at)?,
            ));
        }
        if let Some(value) = &entry.min_running {
            kinds.push((value.span(), "min_running", self.min_running(value)?));
        }
        if let Some(value) = &entry.converged_within {
            let within = self.duration(value, "expect.converged_within")?;
            kinds.push((
                value.span(),
                "converged_within",
                ExpectationKind::ConvergedWithin(within),
            ));
        }
        if let Some(count) = entry.commands_at_most {
            kinds.push((
                raw.span(),
                "commands_at_most",
                ExpectationKind::CommandsAtMost(count),
            ));
        }
        if let Some(count) = entry.commands_at_least {
            kinds.push((
                raw.span(),
                "commands_at_least",
                ExpectationKind::CommandsAtLeast(count),
            ));
        }
        if let Some(value) = &entry.agent_commands_at_most {
            kinds.push((
                value.span(),
                "agent_commands_at_most",
                ExpectationKind::AgentCommandsAtMost {
                    agent: value.get_ref().agent.clone(),
                    count: value.get_ref().count,
                },
            ));
        }
        if let Some(value) = &entry.instances_at_most {
            kinds.push((
                value.span(),
                "instances_at_most",
                ExpectationKind::InstancesAtMost {
                    job: value.get_ref().job.clone(),
                    count: value.get_ref().count,
                },
            ));
        }
        if let Some(value) = &entry.failed_starts_recover {
            kinds.push((
                value.span(),
                "failed_starts_recover",
                ExpectationKind::FailedStartsRecover {
                    job: value.get_ref().clone(),
                },
            ));
        }
        if kinds.len() > 1 {
            return Err(self.error(
                kinds[1].0.clone(),
                &format!("expect.{}", kinds[1].1),
                "an [[expect]] entry holds exactly one expectation: split it into several entries",
            ));
        }
        let Some((_, key, kind)) = kinds.pop() else {
            return Err(self.error(
                raw.span(),
                "expect",
                "this [[expect]] entry states nothing (add e.g. `running = { job = \"web\", count = 3 }`)",
            ));
        };
        if let Some((span, _)) = at
            && !matches!(
                kind,
                ExpectationKind::Running { .. }
                    | ExpectationKind::Placed { .. }
                    | ExpectationKind::Unplaced { .. }
                    | ExpectationKind::Explained { .. }
                    | ExpectationKind::PlacedOn { .. }
                    | ExpectationKind::Rollout { .. }
            )
        {
            return Err(self.error(
                span,
                "expect.time",
                format!("`{key}` is checked over the whole run and takes no `time`"),
            ));
        }
        Ok(Expectation { kind, line })
    }

    fn check_expectation_references(
        &self,
        expectation: &Expectation,
        agents: &BTreeSet<String>,
        jobs: &BTreeMap<String, JobSpec>,
    ) -> Result<(), ScenarioError> {
        let fail = |key: &str, message: String| ScenarioError {
            origin: self.origin.to_owned(),
            line: expectation.line,
            key: key.to_owned(),
            message,
        };
        let job_name = match &expectation.kind {
            ExpectationKind::Running { job, .. }
            | ExpectationKind::Placed { job, .. }
            | ExpectationKind::Unplaced { job, .. }
            | ExpectationKind::Explained { job, .. }
            | ExpectationKind::InstancesAtMost { job, .. }
            | ExpectationKind::FailedStartsRecover { job }
            | ExpectationKind::Rollout { to: job, .. } => Some(job),
            ExpectationKind::MinRunning { jobs: names, .. } => {
                if let Some(job) = names.iter().find(|job| !jobs.contains_key(*job)) {
                    return Err(fail(
                        "expect.min_running.jobs",
                        format!("no job is named {job:?} (jobs: {})", join(jobs.keys())),
                    ));
                }
                None
            }
            ExpectationKind::PlacedOn { agent, job, .. } => {
                if !agents.contains(agent) {
                    return Err(fail(
                        "expect.placed_on.agent",
                        format!(
                            "no agent is named {agent:?} (agents: {})",
                            join(agents.iter())
                        ),
                    ));
                }
                job.as_ref()
            }
            ExpectationKind::AgentCommandsAtMost { agent, .. } => {
                if !agents.contains(agent) {
                    return Err(fail(
                        "expect.agent_commands_at_most.agent",
                        format!(
                            "no agent is named {agent:?} (agents: {})",
                            join(agents.iter())
                        ),
                    ));
                }
                None
            }
            _ => None,
        };
        match job_name {
            Some(job) if !jobs.contains_key(job) => Err(fail(
                "expect.job",
                format!("no job is named {job:?} (jobs: {})", join(jobs.keys())),
            )),
            _ => {
                // Only an agent whose restart policy restarts failures
                // retries a failed start; under `no` it stays failed, as it
                // should, and the expectation would test nothing.
                if let ExpectationKind::FailedStartsRecover { job } = &expectation.kind {
                    use harpoon_core::wire::RestartPolicy;
                    let restart = &jobs[job].config.container.restart;
                    if !matches!(restart, RestartPolicy::OnFailure | RestartPolicy::Always) {
                        return Err(fail(
                            "expect.failed_starts_recover",
                            format!(
                                "job {job:?} has restart {:?}: only `on-failure` or `always` \
                                 has the agent retry a failed start",
                                restart.as_str()
                            ),
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Builds the wire config of a scenario job: sensible defaults, then the
/// fields the file sets, decoded by the wire types themselves.
fn build_job_config(job: &RawJob) -> Result<JobConfig, String> {
    use serde_json::{Value, json};
    let name = job.name.get_ref();
    let mut config = json!({
        "product": "sim",
        "environment": "test",
        "job": name,
        "artifact_url": format!("http://artifacts.sim/{name}.tgz"),
        "command": { "working_dir": "/", "exec": [format!("./{name}")] },
        "resources": { "cpu": 0.1, "mem": 64 },
        "grace": { "startup": "1s", "shutdown": "1s" },
        "restart": "no",
        "health_checks": [],
        "ports": {},
        "env": {},
        "storage": { "tmp": {}, "volumes": {} },
        "scale": job.scale,
    });
    let object = config.as_object_mut().expect("a JSON object");
    let to_json = |value: &toml::Value| serde_json::to_value(value).map_err(|e| e.to_string());
    let set = |object: &mut serde_json::Map<String, Value>, key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    if let Some(value) = &job.product {
        set(object, "product", json!(value));
    }
    if let Some(value) = &job.environment {
        set(object, "environment", json!(value));
    }
    if let Some(value) = &job.artifact_url {
        set(object, "artifact_url", json!(value));
    }
    if let Some(value) = &job.ports {
        set(object, "ports", json!(value));
    }
    if let Some(value) = &job.env {
        set(object, "env", json!(value));
    }
    if let Some(value) = &job.restart {
        set(object, "restart", json!(value));
    }
    for (key, value) in [
        ("command", &job.command),
        ("health_checks", &job.health_checks),
        ("grace", &job.grace),
        ("storage", &job.storage),
        ("resources", &job.resources),
    ] {
        if let Some(value) = value {
            set(object, key, to_json(value)?);
        }
    }
    // The shorthand keys win over the same fields in a full table.
    let resources = object
        .entry("resources")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("`resources` must be a table")?;
    if let Some(cpu) = job.cpu {
        resources.insert("cpu".to_owned(), json!(cpu));
    }
    if let Some(mem) = job.mem {
        resources.insert("mem".to_owned(), json!(mem));
    }
    if let Some(volumes) = &job.volumes {
        let storage = object
            .entry("storage")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("`storage` must be a table")?;
        storage.insert("volumes".to_owned(), json!(volumes));
    }
    serde_json::from_value(config).map_err(|error| format!("not a valid job config: {error}"))
}

#[cfg(test)]
mod tests;
