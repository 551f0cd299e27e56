//! The sans-IO harpoon scheduler.
//!
//! - [`wire`]: the Harpoon v0 wire types, their validation and job hashes.
//! - [`time`]: the core's own `Instant` and `Duration`; the core reads no clock.

pub mod time;
pub mod wire;

pub use time::{Duration, Instant};
