//! IO adapters that run the harpoon core for real.
//!
//! - [`agent`]: `harpoon-agent`, a Harpoon agent (agent API v0) that runs
//!   real processes on the local machine, as a library that can be embedded
//!   in-process; `src/bin/harpoon-agent.rs` is its command-line wrapper.

pub mod agent;
