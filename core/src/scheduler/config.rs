//! The scheduler's settings.

use crate::algorithm::AlgorithmKind;
use crate::time::Duration;

/// Settings of a [`crate::Scheduler`]; [`Default`] gives the daemon's
/// defaults.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerConfig {
    /// The placement algorithm.
    pub algorithm: AlgorithmKind,
    /// How long an agent's stream may stay down before its containers count
    /// as lost and their tasks are placed elsewhere.
    pub abandon_timeout: Duration,
    /// How long a command may stay unconfirmed by the event stream before it
    /// counts as failed and may be reissued.
    pub pending_timeout: Duration,
    /// Reconcile period when nothing else happens.
    pub tick: Duration,
    /// How long an open (or opening) stream may stay silent, without events
    /// or keep-alives, before it counts as broken.
    pub stream_silence_timeout: Duration,
    /// First delay before reopening a broken stream; doubles per failure.
    pub reconnect_backoff_min: Duration,
    /// Longest delay between attempts to reopen a stream.
    pub reconnect_backoff_max: Duration,
    /// How long a stream must stay synced before its reconnect back-off
    /// starts again from the shortest delay: a stream that breaks right
    /// after each first event keeps backing off instead of being reopened
    /// several times a second.
    pub stream_healthy_after: Duration,
    /// First delay before retrying a failed command on a task; doubles per
    /// consecutive failure.
    pub task_backoff_min: Duration,
    /// Longest delay between retries of a failing task.
    pub task_backoff_max: Duration,
    /// After this many commands to one agent failed or went unconfirmed in
    /// a row, placement avoids the agent for a while (see
    /// `agent/health.rs`); 0 never avoids.
    pub avoid_agent_after_failures: u32,
    /// How long an agent is first avoided; doubles (with jitter) each time
    /// it is avoided again before a command of its is confirmed.
    pub avoid_agent_min: Duration,
    /// The longest an agent is avoided at a time.
    pub avoid_agent_max: Duration,
    /// At most this many commands are issued by one reconcile; the rest wait
    /// for the next one, which follows at once.
    pub max_commands_per_reconcile: usize,
    /// At most this many commands are in flight (sent, not yet answered)
    /// to one agent; the core keeps the rest waiting, in order, and their
    /// pending timeouts start only when they are handed out.
    pub max_commands_in_flight_per_agent: usize,
    /// A failed registry write is retried this many times (with backoff)
    /// before the requests it held are answered 500 and rolled back.
    pub max_persist_attempts: u32,
    /// First delay before retrying a failed registry write; doubles per
    /// consecutive failure, with jitter.
    pub persist_backoff_min: Duration,
    /// Longest delay between attempts to write the registry.
    pub persist_backoff_max: Duration,
    /// Whether to emit routine decisions ([`crate::TraceLevel::Detail`])
    /// as [`crate::Output::Trace`] outputs. Changes and failures an
    /// operator should see are emitted either way; they are few. A driver
    /// that writes no routine decisions should turn this off: formatting
    /// them costs more than most decisions do.
    pub trace: bool,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            algorithm: AlgorithmKind::default(),
            abandon_timeout: Duration::from_secs(20),
            pending_timeout: Duration::from_secs(20),
            tick: Duration::from_secs(3),
            stream_silence_timeout: Duration::from_secs(15),
            reconnect_backoff_min: Duration::from_millis(250),
            reconnect_backoff_max: Duration::from_secs(10),
            stream_healthy_after: Duration::from_secs(30),
            task_backoff_min: Duration::from_secs(1),
            task_backoff_max: Duration::from_secs(60),
            avoid_agent_after_failures: 3,
            avoid_agent_min: Duration::from_secs(10),
            avoid_agent_max: Duration::from_secs(300),
            max_commands_per_reconcile: 1000,
            max_commands_in_flight_per_agent: 8,
            max_persist_attempts: 5,
            persist_backoff_min: Duration::from_millis(250),
            persist_backoff_max: Duration::from_secs(5),
            trace: true,
        }
    }
}
