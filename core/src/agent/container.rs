//! The per-container state machine of an agent representation.
//!
//! A [`ContainerRecord`] is what the scheduler believes about one container
//! on one agent: its last reported status (or none yet, for a create in
//! flight), and at most one command of ours that is pending. Three kinds of
//! input move it: a status from the event stream, the agent's answer to our
//! command, and the pending timeout. [`ContainerRecord::apply`] is the whole
//! transition function; a snapshot test prints it for every state and input.
//!
//! The event stream is the only authority on what runs. An accepted command
//! only moves a pending command from "in flight" to "accepted"; the stream
//! confirms it: `created` (or any status) confirms a create, `running`,
//! `failed` or `finished` a start, `failed` or `finished` a stop, `deleted`
//! a destroy. The only answers taken as facts are those that say a command
//! *cannot* take effect: a 409 on stop means the container is already
//! stopped, and a 404 on stop or destroy means it is gone.

use std::sync::Arc;

use crate::ids::{CommandId, TaskSlot};
use crate::scheduler::input::CommandError;
use crate::time::Instant;
use crate::wire::{ContainerConfig, ContainerStatus, ProcessState};

/// What a command does, without its payload.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Action {
    /// Create the container.
    Create,
    /// Start its process.
    Start,
    /// Stop its process.
    Stop,
    /// Delete the container.
    Destroy,
}

impl Action {
    /// A lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Destroy => "destroy",
        }
    }

    /// True for stop and destroy, the steps of removing a container.
    pub fn is_removal(self) -> bool {
        matches!(self, Action::Stop | Action::Destroy)
    }
}

/// Whether the agent has answered a pending command yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// Sent, no answer yet.
    InFlight,
    /// Accepted (or its answer lost), awaiting confirmation by the stream.
    Accepted,
}

/// The one command of ours pending on a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The command's id.
    pub command: CommandId,
    /// What it does.
    pub action: Action,
    /// Answered yet or not.
    pub phase: Phase,
    /// When it was issued; the pending timeout counts from here.
    pub issued_at: Instant,
}

/// Consecutive failures of one kind of command on a container, and when the
/// next attempt may be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backoff {
    /// The kind of command that failed.
    pub action: Action,
    /// How many times in a row.
    pub failures: u32,
    /// No new attempt before this.
    pub until: Instant,
}

/// What the scheduler believes about one container on one agent.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContainerRecord {
    /// Last status the stream reported; `None` while a create is unconfirmed.
    pub status: Option<ContainerStatus>,
    /// The config the container runs (shared with the registry when
    /// equal). Private: the agent's aggregates count its resources.
    config: Arc<ContainerConfig>,
    /// Our pending command and back-off, boxed: most records have neither,
    /// and a record is kept per task (a million of them must stay small).
    activity: Option<Box<Activity>>,
    /// The last reported process state, unless it is the usual one for the
    /// status (see [`ContainerRecord::process_state`]).
    process: Option<Box<ProcessState>>,
    /// Where the scheduler's location index keeps this container's task
    /// (see [`TaskSlot`]): its job's number, [`NO_SLOT`] for a container
    /// that is not a task, and the task's index. Two plain fields rather
    /// than an `Option<TaskSlot>`, so that they fill the padding after
    /// `status` and a record stays 32 bytes.
    slot_job: u32,
    slot_index: u16,
}

/// `slot_job` of a record without a task slot.
const NO_SLOT: u32 = u32::MAX;

/// What is going on with a container: our pending command and back-off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Activity {
    pending: Option<Pending>,
    backoff: Option<Backoff>,
}

/// An input to the per-container state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordInput {
    /// The stream reported this status.
    Status(ContainerStatus),
    /// The agent accepted the pending command.
    Accepted,
    /// The agent refused the pending command, or it could not be delivered.
    Refused(CommandError),
    /// The pending command was not confirmed within the pending timeout.
    PendingTimeout,
}

/// What a transition means for the rest of the scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The record is gone: the container no longer exists (or never did).
    pub forget: bool,
    /// The pending command took effect.
    pub confirmed: bool,
    /// The pending command failed; back off before trying it again.
    pub failed: Option<Action>,
}

impl ContainerRecord {
    /// A record for a container the stream reported.
    pub fn reported(status: ContainerStatus, config: Arc<ContainerConfig>) -> ContainerRecord {
        ContainerRecord {
            status: Some(status),
            config,
            activity: None,
            process: None,
            slot_job: NO_SLOT,
            slot_index: 0,
        }
    }

    /// A record for a container we are about to create.
    pub fn creating(config: Arc<ContainerConfig>, pending: Pending) -> ContainerRecord {
        let mut record = ContainerRecord {
            status: None,
            config,
            activity: None,
            process: None,
            slot_job: NO_SLOT,
            slot_index: 0,
        };
        record.set_pending(Some(pending));
        record
    }

    /// The config the container runs.
    pub fn config(&self) -> &Arc<ContainerConfig> {
        &self.config
    }

    /// Replaces the config (the agent filled something in); only the
    /// representation may, as it re-counts the resources around it.
    pub(super) fn replace_config(&mut self, config: Arc<ContainerConfig>) {
        self.config = config;
    }

    /// Where the location index keeps its task, if it is a task.
    pub fn task_slot(&self) -> Option<TaskSlot> {
        (self.slot_job != NO_SLOT).then_some(TaskSlot {
            job: self.slot_job,
            index: self.slot_index,
        })
    }

    /// Records where the location index keeps its task.
    pub fn set_task_slot(&mut self, slot: Option<TaskSlot>) {
        (self.slot_job, self.slot_index) = slot.map_or((NO_SLOT, 0), |slot| (slot.job, slot.index));
    }

    /// Our command pending on it, if any.
    pub fn pending(&self) -> Option<Pending> {
        self.activity.as_ref().and_then(|activity| activity.pending)
    }

    /// Sets or clears our pending command.
    pub fn set_pending(&mut self, pending: Option<Pending>) {
        self.update_activity(|activity| activity.pending = pending);
    }

    /// Back-off after failed commands, if any.
    pub fn backoff(&self) -> Option<Backoff> {
        self.activity.as_ref().and_then(|activity| activity.backoff)
    }

    /// Sets or clears the back-off.
    pub fn set_backoff(&mut self, backoff: Option<Backoff>) {
        self.update_activity(|activity| activity.backoff = backoff);
    }

    fn update_activity(&mut self, change: impl FnOnce(&mut Activity)) {
        let mut activity = self.activity.as_deref().copied().unwrap_or_default();
        change(&mut activity);
        self.activity = (activity != Activity::default()).then(|| Box::new(activity));
    }

    /// The last reported process state.
    pub fn process_state(&self) -> ProcessState {
        match &self.process {
            Some(state) => (**state).clone(),
            None => usual_process_state(self.status),
        }
    }

    /// Records the reported process state; the usual one for the status
    /// (up when running, nothing else to say) is not stored.
    pub fn set_process_state(&mut self, state: ProcessState) {
        self.process = (state != usual_process_state(self.status)).then(|| Box::new(state));
    }

    /// The transition function: applies `input` and says what it meant.
    pub fn apply(&mut self, input: &RecordInput) -> Outcome {
        let mut pending = self.pending();
        let outcome = self.transition(&mut pending, input);
        self.set_pending(pending);
        outcome
    }

    fn transition(&mut self, current: &mut Option<Pending>, input: &RecordInput) -> Outcome {
        use Action::*;
        use ContainerStatus::*;
        let mut outcome = Outcome::default();
        let pending = current.map(|p| p.action);
        match input {
            RecordInput::Status(Deleted) => {
                outcome.forget = true;
                match pending {
                    Some(Destroy) | Some(Stop) => outcome.confirmed = true,
                    Some(action) => outcome.failed = Some(action),
                    None => {}
                }
                *current = None;
            }
            RecordInput::Status(status) => {
                self.status = Some(*status);
                let confirms = match pending {
                    Some(Create) => true,
                    Some(Start) => matches!(status, Running | Failed | Finished),
                    Some(Stop) => status.is_stopped(),
                    Some(Destroy) | None => false,
                };
                if confirms {
                    outcome.confirmed = true;
                    *current = None;
                }
            }
            RecordInput::Accepted => {
                if let Some(p) = current.as_mut() {
                    p.phase = Phase::Accepted;
                }
            }
            RecordInput::Refused(error) => {
                let Some(action) = pending else {
                    return outcome;
                };
                self.refused(current, action, error, &mut outcome);
            }
            RecordInput::PendingTimeout => {
                let Some(action) = pending else {
                    return outcome;
                };
                *current = None;
                outcome.failed = Some(action);
                // A create never seen by the stream did not happen, as far
                // as anyone can tell: forget it so the task can be placed
                // again (a late appearance is resolved as a duplicate).
                outcome.forget = self.status.is_none();
            }
        }
        outcome
    }

    fn refused(
        &mut self,
        current: &mut Option<Pending>,
        action: Action,
        error: &CommandError,
        outcome: &mut Outcome,
    ) {
        use Action::*;
        use CommandError::*;
        match (action, error) {
            // The answer is lost or says the container exists: the stream
            // will tell whether the command took effect.
            (_, TimedOut) | (Create, Conflict(_)) => {
                if let Some(p) = current.as_mut() {
                    p.phase = Phase::Accepted;
                }
                return;
            }
            // Not running: as good as stopped. A container we believed
            // running has exited; one still `created` (its start cancelled
            // by the stop, or never made) stays `created`, as the agent
            // reports it: calling it finished would hide from a job
            // scheduled again that it waits for a start, until a resync.
            (Stop, AlreadyStopped | Conflict(_)) => {
                outcome.confirmed = true;
                if self.status == Some(ContainerStatus::Running) {
                    self.status = Some(ContainerStatus::Finished);
                }
            }
            // The agent does not know the container: it is gone.
            (Stop | Destroy, NotFound) => {
                outcome.confirmed = true;
                outcome.forget = true;
            }
            _ => {
                outcome.failed = Some(action);
                outcome.forget = self.status.is_none();
            }
        }
        *current = None;
    }
}

/// The process state an agent reports for a container in `status` when
/// nothing unusual happened: up when running, nothing else.
fn usual_process_state(status: Option<ContainerStatus>) -> ProcessState {
    ProcessState {
        up: status == Some(ContainerStatus::Running),
        ..ProcessState::default()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;

    use crate::agent::transition::{State, input_name, inputs, state_name, state_of, states};

    fn record_in((status, pending): State) -> ContainerRecord {
        let mut record = ContainerRecord {
            status,
            config: Arc::default(),
            activity: None,
            process: None,
            slot_job: NO_SLOT,
            slot_index: 0,
        };
        record.set_pending(pending.map(|(action, phase)| Pending {
            command: CommandId(1),
            action,
            phase,
            issued_at: Instant::ZERO,
        }));
        record
    }

    fn describe(record: &ContainerRecord) -> String {
        state_name(state_of(record))
    }

    /// The full transition table: every state × every input. A change in
    /// behaviour shows up as a reviewed diff of this snapshot.
    #[test]
    fn transition_table() {
        let mut table = String::new();
        for (status, pending) in states() {
            for input in inputs() {
                let mut record = record_in((status, pending));
                let before = describe(&record);
                let outcome = record.apply(&input);
                let after = if outcome.forget {
                    "forgotten".to_owned()
                } else {
                    describe(&record)
                };
                let mut notes = Vec::new();
                if outcome.confirmed {
                    notes.push("confirmed".to_owned());
                }
                if let Some(action) = outcome.failed {
                    notes.push(format!("{} failed", action.name()));
                }
                writeln!(
                    table,
                    "{before:<24} {:<18} -> {after:<24} {}",
                    input_name(&input),
                    notes.join(", ")
                )
                .unwrap();
            }
        }
        insta::assert_snapshot!(table);
    }

    #[test]
    fn a_stream_status_never_leaves_a_confirmed_command_pending() {
        for (status, pending) in states() {
            for input in inputs() {
                let mut record = record_in((status, pending));
                let outcome = record.apply(&input);
                if outcome.confirmed || outcome.failed.is_some() {
                    assert!(
                        record.pending().is_none() || outcome.forget,
                        "{status:?} {pending:?} {input:?}"
                    );
                }
            }
        }
    }
}
