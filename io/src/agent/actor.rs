//! The state task: the one owner of [`AgentState`]. It handles one message
//! at a time, wakes for its timers, and never waits on a client or on the
//! disk (writes go to the state writer, `writer`), so every request is
//! answered promptly whatever the other clients do; an answer that
//! announces a change waits, without holding the task, until the change is
//! durable.

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::handle::Message;
use super::state::AgentState;

/// Runs the state task until `shutdown` is cancelled.
pub(crate) async fn run(
    mut state: AgentState,
    mut inbox: mpsc::Receiver<Message>,
    shutdown: CancellationToken,
) {
    loop {
        // Whatever the last step changed goes to the writer now, or with
        // the next group if one is being written.
        state.writer.kick();
        let deadline = state.timers.next_deadline();
        tokio::select! {
            // Shutdown first, then writes done, then messages, then timers:
            // a burst of messages must not delay shutting down, nor the
            // answers waiting for their writes.
            biased;
            () = shutdown.cancelled() => break,
            written = state.writer.next_report() => state.on_written(written),
            message = inbox.recv() => match message {
                Some(message) => handle(&mut state, message),
                None => break,
            },
            () = sleep_until(deadline) => {
                for timer in state.timers.take_due(Instant::now()) {
                    state.on_timer(timer);
                }
            }
        }
    }
    state.shut_down();
    state.writer.flush().await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends `result` once the changes made so far are durable: an accepted
/// command is answered only when the state it changed is on disk. A
/// refusal changed nothing and is answered at once.
fn answer_when_durable<E: Send + 'static>(
    state: &mut AgentState,
    reply: oneshot::Sender<Result<(), E>>,
    result: Result<(), E>,
) {
    if result.is_err() {
        let _ = reply.send(result);
        return;
    }
    state.when_durable(Box::new(move |_, _| {
        let _ = reply.send(result);
    }));
}

/// Handles one message. A requester that stopped waiting for its reply
/// (its client hung up) is no error: the reply is simply dropped.
fn handle(state: &mut AgentState, message: Message) {
    match message {
        Message::Create { id, config, reply } => match state.create(&id, *config) {
            Ok(()) => state.when_durable(Box::new(move |state, written| {
                let result = match written.failed.get(&id) {
                    Some(reason) => Err(state.on_create_not_recorded(&id, reason)),
                    None => Ok(()),
                };
                let _ = reply.send(result);
            })),
            Err(error) => {
                let _ = reply.send(Err(error));
            }
        },
        Message::Start { id, reply } => {
            let result = state.start(&id);
            answer_when_durable(state, reply, result);
        }
        Message::Stop { id, reply } => {
            let result = state.stop(&id);
            answer_when_durable(state, reply, result);
        }
        Message::Delete { id, reply } => {
            let result = state.delete(&id);
            answer_when_durable(state, reply, result);
        }
        Message::Get { id, reply } => {
            let _ = reply.send(state.get(&id));
        }
        Message::List { reply } => {
            let _ = reply.send(state.instances());
        }
        Message::Resources { reply } => {
            let _ = reply.send(state.resources());
        }
        Message::Subscribe { reply } => {
            let _ = reply.send(state.subscribe());
        }
        Message::Log { id, reply } => {
            let _ = reply.send(state.log(&id));
        }
        Message::Prepared { id, dir, result } => state.on_prepared(&id, dir, result),
        Message::Exited { id, run, exit } => state.on_exit(&id, run, exit),
    }
}
