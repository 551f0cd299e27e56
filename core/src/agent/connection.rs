//! The state of the scheduler's connection to one agent's event stream.

use crate::time::{Duration, Instant};

/// Where a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Link {
    /// Asked the driver to open it; no answer yet.
    Connecting,
    /// Open; `synced` once its first event (the full state) arrived.
    Open {
        /// Whether the first event arrived.
        synced: bool,
    },
    /// Closed or failed; reopen at `retry_at`.
    Down {
        /// When to try again.
        retry_at: Instant,
    },
}

/// The connection to one agent, as a representation tracks it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    /// Where the stream is.
    pub link: Link,
    /// The session of the stream last asked for (see
    /// `Output::OpenStream`): inputs of any other session are stale.
    pub session: u64,
    /// Since when the scheduler's knowledge of the agent is not current:
    /// the stream broke, or it has not synced since the scheduler started.
    /// `None` while synced.
    pub unsynced_since: Option<Instant>,
    /// Last time anything arrived on the stream (or it was asked to open).
    pub last_heard: Instant,
    /// Failed attempts to (re)open the stream, or streams that broke
    /// before staying healthy for a while, in a row: the reconnect
    /// back-off grows with it.
    pub failures: u32,
    /// The agent was down past the abandon timeout: its containers count as
    /// lost. Cleared when it syncs again.
    pub abandoned: bool,
}

/// The connection state as reported to the scheduler's users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnectionState {
    /// Opening the stream.
    Connecting,
    /// Open, first event still to come.
    Open,
    /// Open and current: commands go to this agent.
    Synced,
    /// Down, containers still counted until the abandon timeout.
    Down,
    /// Down past the abandon timeout: containers counted as lost.
    Abandoned,
}

impl Connection {
    /// A connection about to be opened for the first time.
    pub fn connecting(now: Instant) -> Connection {
        Connection {
            link: Link::Connecting,
            session: 0,
            unsynced_since: Some(now),
            last_heard: now,
            failures: 0,
            abandoned: false,
        }
    }

    /// Whether commands may go to the agent and its state is current.
    pub fn is_synced(&self) -> bool {
        matches!(self.link, Link::Open { synced: true })
    }

    /// The state, for users.
    pub fn state(&self) -> ConnectionState {
        match self.link {
            Link::Open { synced: true } => ConnectionState::Synced,
            _ if self.abandoned => ConnectionState::Abandoned,
            Link::Connecting => ConnectionState::Connecting,
            Link::Open { synced: false } => ConnectionState::Open,
            Link::Down { .. } => ConnectionState::Down,
        }
    }

    /// Whether the stream is open or opening (and so can go silent).
    pub fn is_live(&self) -> bool {
        !matches!(self.link, Link::Down { .. })
    }

    /// When the abandon timeout expires, if it is running.
    pub fn abandon_deadline(&self, abandon_timeout: Duration) -> Option<Instant> {
        match self.unsynced_since {
            Some(since) if !self.abandoned => Some(since + abandon_timeout),
            _ => None,
        }
    }
}
