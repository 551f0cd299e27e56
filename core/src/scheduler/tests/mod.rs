//! Scripted tests that drive the [`Scheduler`] directly through races, with
//! a small hand-driven harness in place of agents and disk.

mod check_and_set;
mod checkpoint;
mod harness;
mod job_tasks;
mod legacy;
mod notices;
mod plan;
mod plan_migrate;
mod races;
mod requests;
mod rollouts;
