//! The state task: the one owner of [`AgentState`]. It handles one message
//! at a time, wakes for its timers, and never waits on a client, so every
//! request is answered promptly whatever the other clients do.

use tokio::sync::mpsc;
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
        let deadline = state.timers.next_deadline();
        tokio::select! {
            // Shutdown first, then messages, then timers: a burst of
            // messages must not delay shutting down.
            biased;
            () = shutdown.cancelled() => break,
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
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Handles one message. A requester that stopped waiting for its reply
/// (its client hung up) is no error: the reply is simply dropped.
fn handle(state: &mut AgentState, message: Message) {
    match message {
        Message::Create { id, config, reply } => {
            let _ = reply.send(state.create(&id, *config));
        }
        Message::Start { id, reply } => {
            let _ = reply.send(state.start(&id));
        }
        Message::Stop { id, reply } => {
            let _ = reply.send(state.stop(&id));
        }
        Message::Delete { id, reply } => {
            let _ = reply.send(state.delete(&id));
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
