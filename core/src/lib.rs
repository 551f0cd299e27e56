//! The sans-IO harpoon scheduler.
//!
//! - [`scheduler`]: the [`Scheduler`] state machine, its inputs, outputs and
//!   timers; the contract a driver follows is documented there.
//! - [`registry`]: desired jobs, group-committed persistence and the replies
//!   that wait for it.
//! - [`agent`]: what the scheduler knows about each agent: its stream and a
//!   state machine per container.
//! - [`transformer`]: diffs desired against actual state and plans commands.
//! - [`algorithm`]: placement algorithms.
//! - [`metrics`]: the counters the daemon exports.
//! - [`backoff`]: exponential back-off with seeded jitter, for every retry.
//! - [`wire`]: the Harpoon v0 wire types, their validation and job hashes.
//! - [`time`], [`ids`]: the core's own time and identifier types; the core
//!   reads no clock.

pub mod agent;
pub mod algorithm;
pub mod backoff;
pub mod ids;
mod key_text;
pub mod metrics;
pub mod registry;
pub mod scheduler;
pub mod time;
pub mod transformer;
pub mod wire;

pub use ids::{AgentId, CommandId, RequestId};
pub use metrics::Metrics;
pub use registry::Jobs;
pub use scheduler::{
    AgentCommand, AgentView, CommandAction, CommandError, Input, Output, Reply, Scheduler,
    SchedulerConfig, TimerReason, Trace, TraceLevel, UnscheduleTarget,
};
pub use time::{Duration, Instant};
