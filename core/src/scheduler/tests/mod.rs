//! Scripted tests that drive the [`Scheduler`] directly through races, with
//! a small hand-driven harness in place of agents and disk.

mod harness;
mod legacy;
mod notices;
mod races;
mod requests;
mod rollouts;
