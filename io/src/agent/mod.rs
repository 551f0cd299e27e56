//! A Harpoon agent: serves the agent API v0 (`shared/wire/harpoon-v0.md`)
//! and runs each container as a plain process on this machine.
//!
//! **There is no isolation**: processes run as the agent's user, without
//! namespaces or cgroups; `cpu` and `mem` are bookkeeping only.
//!
//! Layout, from the outside in:
//! - [`serve`], [`Agent`], [`AgentOptions`]: the public entry points.
//! - `server`, `routes`, `body`, `sse`: HTTP (hyper 1) and the routes of the
//!   agent API; handlers talk to the state task through `handle`.
//! - `actor`: the one task that owns `state` — every container, the
//!   ports, the resource ledger, the event subscribers and the timers.
//!   `admission` decides whether a PUT is accepted, `lifecycle` starts,
//!   stops and restarts processes, `recover` rebuilds the state after a
//!   restart of the agent.
//! - Workers the state task spawns and that report back to it: `prepare`
//!   (with `artifact` and `download`), `watch` (process exits) and
//!   `log_tail` (feeding each container's `logs`).
//! - Operating-system parts: `launch` (process start and signals, with
//!   `expand`), `confined` (paths inside a container's root, walked without
//!   following links), `procfs` (identifying processes across restarts),
//!   `persist` (one state file per container) and `writer` (which writes
//!   them off the state task, in groups).
//! - Bookkeeping: `container`, `ports`, `resources`, `backoff`,
//!   `timers`, `events`, `id`.
//!
//! **Architecture Invariant:** only the state task mutates agent state; HTTP
//! handlers and workers send it messages over one bounded channel and never
//! share a lock with it (the log ring buffers are the one shared structure,
//! behind their own small lock).
//!
//! **Architecture Invariant:** every path the agent creates or enters for a
//! container's config is walked from a handle on its root directory without
//! following links (`confined`); none is resolved as text.
//!
//! **Architecture Invariant:** nothing a client does can block the state
//! task: event subscribers have bounded queues and are dropped when full.
//! Nor does the disk: records are written by the writer task, and an
//! answer to a PUT, start, stop or delete is sent only once the state it
//! changed is durable.

mod actor;
mod admission;
mod artifact;
mod backoff;
mod body;
mod confined;
mod container;
mod download;
mod error;
mod events;
mod expand;
mod handle;
mod id;
mod launch;
mod lifecycle;
mod log_tail;
mod logs;
mod options;
mod persist;
mod ports;
mod prepare;
mod procfs;
mod recover;
mod resources;
mod routes;
mod server;
mod sse;
mod state;
mod timers;
mod watch;
mod writer;

pub use error::AgentError;
pub use options::{AgentOptions, PortRange, PortRangeError};
pub use server::{Agent, serve};
