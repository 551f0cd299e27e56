//! Waiting for a container's process to end.
//!
//! A process the agent started is its child and is waited for. A process
//! adopted after an agent restart is not (it was the previous agent's
//! child), so it is polled in `/proc`, and how it ended cannot be known.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use harpoon_core::wire::ExitStatus;
use tokio::time::MissedTickBehavior;

use super::procfs;

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It exited with this code.
    Code(i32),
    /// This signal ended it.
    Signal(i32),
    /// It ended, and how is unknown; the text says why.
    Unknown(String),
}

impl Exit {
    /// The wire form (every field optional).
    pub fn to_wire(&self) -> ExitStatus {
        match self {
            Exit::Code(code) => ExitStatus {
                exited: Some(true),
                exit_status: Some(*code),
                signaled: Some(false),
                ..ExitStatus::default()
            },
            Exit::Signal(signal) => ExitStatus {
                exited: Some(false),
                signaled: Some(true),
                signal: Some(*signal),
                ..ExitStatus::default()
            },
            Exit::Unknown(_) => ExitStatus::default(),
        }
    }
}

/// Waits for a child process of the agent.
pub(crate) async fn child(mut child: tokio::process::Child) -> Exit {
    match child.wait().await {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Unknown(format!("the process ended with {status}")),
        },
        Err(error) => Exit::Unknown(format!("cannot wait for the process: {error}")),
    }
}

/// Polls until the recorded process `pid` (started at `start_time_ticks`)
/// is gone.
pub(crate) async fn adopted(pid: i32, start_time_ticks: u64, poll: Duration) -> Exit {
    let mut interval = tokio::time::interval(poll);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if !procfs::is_alive(pid, start_time_ticks) {
            return Exit::Unknown(
                "the process ended after an agent restart, when it was no longer the agent's \
                 child; its exit status is unknown"
                    .to_owned(),
            );
        }
    }
}
