//! Dev-only helpers shared by the end-to-end tests (`tests/`, `io/tests/`)
//! and the daemon benchmark (`bench/src/daemon.rs`), so that each exists
//! once:
//!
//! - `wait`: poll a condition until it holds or a deadline passes (the one
//!   way tests wait: never a sleep as synchronisation).
//! - `job`: job and container-config JSON built from a few choices.
//! - `process`: start a workspace binary, wait for its `listening on` line,
//!   keep its output; kill what a run's jobs started, by marker.
//! - `http`: a blocking client that reports every status as a value, and
//!   the reading of `/metrics`.
//! - `raw_http`: HTTP/1.1 by hand on a `TcpStream`, for requests a client
//!   library would refuse to send and streams read as they come.
//!
//! Not for production code: it panics on anything unexpected, which is what
//! a test wants.

pub mod http;
pub mod job;
pub mod process;
pub mod raw_http;
pub mod wait;

pub use http::{Client, metric_value};
pub use job::JobJson;
pub use process::{Proc, ProcessGuard, workspace_bin};
pub use wait::{wait_for, wait_until, wait_within};
