//! Counters the scheduler keeps as plain numbers; the daemon exports them in
//! the Prometheus format and the simulator checks them.

/// Monotonic counters since the scheduler was constructed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Schedule requests received.
    pub schedule_requests: u64,
    /// Unschedule requests received.
    pub unschedule_requests: u64,
    /// Reconciles run.
    pub reconciles: u64,
    /// Tasks placed (create commands issued for a missing task).
    pub tasks_placed: u64,
    /// Placement attempts that found no agent.
    pub tasks_unplaced: u64,
    /// Agent commands issued.
    pub commands_issued: u64,
    /// Commands that waited behind their agent's limit of commands in
    /// flight before being handed out.
    pub commands_queued: u64,
    /// Commands whose effect the event stream confirmed.
    pub commands_confirmed: u64,
    /// Commands the agent refused, that could not be delivered, or that were
    /// never confirmed within the pending timeout.
    pub commands_failed: u64,
    /// Agent event streams opened.
    pub agent_connections_opened: u64,
    /// Agent event streams lost (closed, failed or silent).
    pub agent_connections_lost: u64,
    /// Agents abandoned: down past the abandon timeout, containers lost.
    pub agents_abandoned: u64,
    /// Events received on agent streams.
    pub events_received: u64,
    /// Registry writes issued.
    pub registry_writes: u64,
    /// Registry writes that failed.
    pub registry_write_failures: u64,
    /// Rollouts accepted.
    pub rollouts_started: u64,
    /// Rollouts that succeeded.
    pub rollouts_succeeded: u64,
    /// Rollouts that failed and were reverted.
    pub rollouts_reverted: u64,
    /// Rollouts that failed without revert.
    pub rollouts_failed: u64,
    /// Rollouts aborted by a user.
    pub rollouts_aborted: u64,
}
