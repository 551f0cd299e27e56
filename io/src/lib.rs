//! IO adapters that run the harpoon core for real.
//!
//! - [`daemon`]: `harpoon-scheduler`, which runs the sans-IO
//!   [`harpoon_core::Scheduler`] with tokio and hyper: the scheduler API,
//!   agent streams and commands, the registry file, discovery.
//! - [`agent`]: `harpoon-agent`, a Harpoon agent (agent API v0) that runs
//!   real processes on the local machine, as a library that can be embedded
//!   in-process (the daemon's `--local-agents` does).
//! - [`ctl`]: `harpoonctl`, the command-line client of the scheduler API.
//! - [`plan_json`]: the JSON of plans and explanations, written by the
//!   daemon and read by `harpoonctl`.
//!
//! - [`request_body`]: bounded request bodies, shared by both servers;
//!   [`connection_slots`]: a connection limit that keeps room for new
//!   clients (used by the agent; the daemon's server can adopt it).
//!
//! `src/bin/` holds the three command-line wrappers.

pub mod agent;
pub mod connection_slots;
pub mod ctl;
pub mod daemon;
pub mod plan_json;
pub mod request_body;
