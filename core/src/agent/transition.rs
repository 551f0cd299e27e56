//! The rows of the per-container state machine's transition table: one
//! per (state, input) pair, numbered, and named as the transition-table
//! snapshot prints them.
//!
//! A state is what [`ContainerRecord::apply`] looks at: the last reported
//! status (or none yet) and the pending command with its phase. An input
//! is a [`RecordInput`], with the command errors told apart as the
//! transition function tells them apart. The scheduler counts the row of
//! every transition it makes (`Scheduler::coverage`), so that the
//! simulator can say which rows its runs reached.
//!
//! [`ContainerRecord::apply`]: super::ContainerRecord::apply

use super::container::{Action, ContainerRecord, Phase, RecordInput};
use crate::scheduler::input::CommandError;
use crate::wire::ContainerStatus;

/// Statuses a record can hold, in table order; `None` is "not seen yet".
const STATUSES: [Option<ContainerStatus>; 5] = [
    None,
    Some(ContainerStatus::Created),
    Some(ContainerStatus::Running),
    Some(ContainerStatus::Failed),
    Some(ContainerStatus::Finished),
];

const ACTIONS: [Action; 4] = [Action::Create, Action::Start, Action::Stop, Action::Destroy];

/// Pending commands: none, or each action in each phase.
const PENDINGS: usize = 1 + ACTIONS.len() * 2;

/// Inputs, in table order: five statuses, the accepted answer, six kinds
/// of refusal, the pending timeout.
const INPUTS: usize = 13;

/// How many rows the table has.
pub const ROWS: usize = STATUSES.len() * PENDINGS * INPUTS;

/// A record's state as the transition function sees it.
pub type State = (Option<ContainerStatus>, Option<(Action, Phase)>);

/// Every state, in table order.
pub fn states() -> Vec<State> {
    let mut states = Vec::with_capacity(STATUSES.len() * PENDINGS);
    for status in STATUSES {
        states.push((status, None));
        for action in ACTIONS {
            for phase in [Phase::InFlight, Phase::Accepted] {
                states.push((status, Some((action, phase))));
            }
        }
    }
    states
}

/// One input of each kind, in table order.
pub fn inputs() -> Vec<RecordInput> {
    use ContainerStatus::*;
    let mut inputs: Vec<_> = [Created, Running, Failed, Finished, Deleted]
        .into_iter()
        .map(RecordInput::Status)
        .collect();
    inputs.push(RecordInput::Accepted);
    for error in [
        CommandError::NotFound,
        CommandError::Conflict("exists".into()),
        CommandError::AlreadyStopped,
        CommandError::ServerError("boom".into()),
        CommandError::Unreachable("refused".into()),
        CommandError::TimedOut,
    ] {
        inputs.push(RecordInput::Refused(error));
    }
    inputs.push(RecordInput::PendingTimeout);
    debug_assert_eq!(inputs.len(), INPUTS);
    inputs
}

fn state_index((status, pending): State) -> usize {
    let status = STATUSES
        .iter()
        .position(|s| *s == status)
        .expect("every status is in the table");
    let pending = match pending {
        None => 0,
        Some((action, phase)) => {
            let action = ACTIONS
                .iter()
                .position(|a| *a == action)
                .expect("every action");
            1 + action * 2 + usize::from(phase == Phase::Accepted)
        }
    };
    status * PENDINGS + pending
}

fn input_index(input: &RecordInput) -> usize {
    use ContainerStatus::*;
    match input {
        RecordInput::Status(Created) => 0,
        RecordInput::Status(Running) => 1,
        RecordInput::Status(Failed) => 2,
        RecordInput::Status(Finished) => 3,
        RecordInput::Status(Deleted) => 4,
        RecordInput::Accepted => 5,
        RecordInput::Refused(CommandError::NotFound) => 6,
        RecordInput::Refused(CommandError::Conflict(_)) => 7,
        RecordInput::Refused(CommandError::AlreadyStopped) => 8,
        RecordInput::Refused(CommandError::ServerError(_)) => 9,
        RecordInput::Refused(CommandError::Unreachable(_)) => 10,
        RecordInput::Refused(CommandError::TimedOut) => 11,
        RecordInput::PendingTimeout => 12,
    }
}

/// The state `record` is in.
pub fn state_of(record: &ContainerRecord) -> State {
    (
        record.status,
        record
            .pending()
            .map(|pending| (pending.action, pending.phase)),
    )
}

/// The row `input` takes from `record`'s state.
pub fn row(record: &ContainerRecord, input: &RecordInput) -> usize {
    state_index(state_of(record)) * INPUTS + input_index(input)
}

/// A state's name: its status, and its pending command if any
/// (`created+start/sent`), as the transition-table snapshot prints it.
#[cfg(test)]
pub fn state_name((status, pending): State) -> String {
    let status = status.map_or("unseen", |s| s.as_str());
    match pending {
        None => status.to_owned(),
        Some((action, phase)) => format!(
            "{status}+{}/{}",
            action.name(),
            match phase {
                Phase::InFlight => "sent",
                Phase::Accepted => "accepted",
            }
        ),
    }
}

/// An input's name (`event running`, `answer 409`).
pub fn input_name(input: &RecordInput) -> String {
    match input {
        RecordInput::Status(status) => format!("event {status}"),
        RecordInput::Accepted => "answer ok".to_owned(),
        RecordInput::Refused(error) => format!(
            "answer {}",
            match error {
                CommandError::NotFound => "404",
                CommandError::Conflict(_) => "409",
                CommandError::AlreadyStopped => "409-stopped",
                CommandError::ServerError(_) => "500",
                CommandError::Unreachable(_) => "unreachable",
                CommandError::TimedOut => "timeout",
            }
        ),
        RecordInput::PendingTimeout => "pending timeout".to_owned(),
    }
}

/// Row `index`'s state and input, named (`created+start/sent × answer 409`).
#[cfg(test)]
pub fn row_name(index: usize) -> String {
    let (states, inputs) = (states(), inputs());
    let (state, input) = (states[index / INPUTS], &inputs[index % INPUTS]);
    format!("{} × {}", state_name(state), input_name(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_in_table_order_and_named_once_each() {
        let mut names = std::collections::BTreeSet::new();
        for (s, state) in states().into_iter().enumerate() {
            assert_eq!(state_index(state), s);
            for (i, input) in inputs().iter().enumerate() {
                assert_eq!(input_index(input), i);
                assert!(names.insert(row_name(s * INPUTS + i)));
            }
        }
        assert_eq!(names.len(), ROWS);
    }
}
