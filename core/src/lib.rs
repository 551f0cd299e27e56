//! The sans-IO harpoon scheduler.
//!
//! The public API is the contract and nothing more: the [`Scheduler`]
//! state machine (its contract is on the type), its [`Input`]s and
//! [`Output`]s, [`TimerReason`], [`SchedulerConfig`], [`Metrics`], the
//! read-only views ([`AgentView`], [`ContainerView`], [`Occupancy`]), the
//! ids, [`time`], [`wire`] (the Harpoon v0 wire types, their validation and
//! job hashes), [`algorithm`] (the pluggable placement interface), the
//! opaque [`Checkpoint`] of a scheduler's state and [`record`] (the format
//! of a recording, `harpoon-scheduler --record`). The
//! registry, agent representations, transformer and back-off are private
//! to the crate, so their layout can change without touching a driver.

pub(crate) mod agent;
pub mod algorithm;
pub(crate) mod backoff;
pub mod ids;
mod jobs;
mod key_text;
#[cfg(test)]
mod layers;
mod map_as_pairs;
pub(crate) mod metrics;
pub mod record;
pub(crate) mod registry;
pub mod rollout;
pub(crate) mod scheduler;
pub mod time;
pub(crate) mod transformer;
pub mod wire;

pub use agent::ConnectionState;
pub use ids::{AgentId, CommandId, RequestId};
pub use metrics::Metrics;
pub use registry::{Jobs, RegistryChanges};
pub use scheduler::{
    AgentCommand, AgentView, ChangePlan, Checkpoint, CommandAction, CommandError, ContainerView,
    Coverage, Gauges, Input, InstanceState, JobExplanation, JobTaskCounts, Occupancy, Output,
    PendingCommand, PlanChange, PlannedRemoval, PlannedStep, PlannedTask, ROLLOUT_CHECK, Reply,
    RestoreError, RolloutView, Scheduler, SchedulerConfig, TaskExplanation, TaskOutcome,
    TimerReason, Trace, TraceLevel, TransitionRow, UnscheduleTarget,
};
pub use time::{Duration, Instant};
