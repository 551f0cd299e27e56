//! The deterministic harpoon simulator: it drives the real
//! [`harpoon_core::Scheduler`] (through the same API the daemon uses)
//! against simulated agents, network, disk and time.
//!
//! - [`scenario`]: scenario files, parsed and validated with errors that
//!   name the key and the line; [`range`] and [`behaviour`] for their values.
//! - [`world`]: the run loop over virtual time; `driver` and `timeline`
//!   (private) carry out the scheduler's outputs and the timeline's actions.
//! - [`agent`]: a simulated harpoon agent; [`network`]: links, loss,
//!   partitions and streams; [`queue`]: the ordered event queue.
//! - [`invariants`], `expectations` (private), [`report`]: what must hold
//!   and the verdicts; [`trace`]: the trace and its hash.
//! - [`swarm`]: generated worlds from seeds, run on every core.
//! - [`timeline_chart`]: a run drawn as one HTML file (lanes per agent,
//!   container bars, faults, failures).
//! - [`replay`]: a daemon's recording (`--record`) replayed on the core,
//!   every decision checked, and written as a scenario.
//! - [`shrink`]: a failing world reduced to a minimal scenario file that
//!   fails the same way.
//!
//! **Determinism:** the simulator reads no clock, keeps no state in hash
//! maps, and draws every random choice from one seeded ChaCha generator.

pub mod agent;
pub mod behaviour;
pub mod coverage;
mod driver;
mod expectations;
pub mod invariants;
pub mod network;
pub mod queue;
pub mod range;
pub mod replay;
pub mod report;
mod rollouts;
pub mod scenario;
pub mod shrink;
pub mod swarm;
mod timeline;
pub mod timeline_chart;
pub mod trace;
pub mod world;

pub use report::{RunReport, Verdict, run_checked};
pub use scenario::{Scenario, ScenarioError};
pub use world::{RunOptions, run, run_recorded};
