//! A bound on the HTTP connections a server holds, that keeps room for new
//! clients.
//!
//! A plain cap (a semaphore taken before `accept`) lets a few hundred
//! stalled clients, idle or holding an unfinished body, silence a server
//! for as long as they stay. Here a new connection is always accepted; when
//! that puts the server over its limit, the connection that has spent the
//! longest time *waiting on its client* (for a request head, between
//! requests, or for a request body) is closed to make room. Connections
//! whose request is being answered (a handler running, a response or an
//! event stream being sent) are never closed this way; if every connection
//! is such, the new one is refused. Together with per-phase deadlines
//! (header and body timeouts) this bounds both how many connections a
//! server holds and how long a stalled one can hold a slot.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::{Body, Frame, SizeHint};
use tokio_util::sync::CancellationToken;

/// What a connection is doing, as far as making room is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a request head: a new connection, or one kept alive
    /// between requests. Closed first when room is needed.
    Waiting,
    /// Reading a request body from the client. May be closed for room.
    ReadingBody,
    /// Answering: a handler runs or a response is being sent. Never closed
    /// for room.
    Answering,
}

#[derive(Debug)]
struct Slot {
    phase: Phase,
    since: Instant,
    close: CancellationToken,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    slots: BTreeMap<u64, Slot>,
}

/// The connections of one server.
#[derive(Clone, Debug)]
pub struct ConnectionSlots {
    table: Arc<Mutex<Table>>,
    max: usize,
}

/// One admitted connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    id: u64,
    table: Arc<Mutex<Table>>,
    close: CancellationToken,
}

/// What [`ConnectionSlots::admit`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Serve the connection; `evicted` says whether another was closed to
    /// make room.
    Admitted {
        /// The new connection's slot.
        slot: Arc<ConnectionSlot>,
        /// Whether another connection was closed for it.
        evicted: bool,
    },
    /// Every slot is answering a request: refuse the new connection.
    Full,
}

impl ConnectionSlots {
    /// Room for `max` connections (at least one).
    pub fn new(max: usize) -> ConnectionSlots {
        ConnectionSlots {
            table: Arc::default(),
            max: max.max(1),
        }
    }

    /// Takes a slot for a new connection, closing the one that has waited
    /// on its client the longest if the limit is reached.
    pub fn admit(&self) -> Admission {
        let mut table = lock(&self.table);
        let mut evicted = false;
        if table.slots.len() >= self.max {
            let oldest = table
                .slots
                .iter()
                .filter(|(_, slot)| slot.phase != Phase::Answering && !slot.close.is_cancelled())
                .min_by_key(|(id, slot)| (slot.since, **id))
                .map(|(id, _)| *id);
            let Some(oldest) = oldest else {
                return Admission::Full;
            };
            // Out of the table at once, so that the room is there even
            // before its task has noticed and closed the socket.
            if let Some(slot) = table.slots.remove(&oldest) {
                slot.close.cancel();
            }
            evicted = true;
        }
        let id = table.next_id;
        table.next_id += 1;
        let close = CancellationToken::new();
        table.slots.insert(
            id,
            Slot {
                phase: Phase::Waiting,
                since: Instant::now(),
                close: close.clone(),
            },
        );
        Admission::Admitted {
            slot: Arc::new(ConnectionSlot {
                id,
                table: self.table.clone(),
                close,
            }),
            evicted,
        }
    }

    /// Connections held now.
    pub fn len(&self) -> usize {
        lock(&self.table).slots.len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ConnectionSlot {
    /// Records that the connection entered `phase`.
    pub fn enter(&self, phase: Phase) {
        if let Some(slot) = lock(&self.table).slots.get_mut(&self.id) {
            slot.phase = phase;
            slot.since = Instant::now();
        }
    }

    /// Cancelled when the connection is to be closed to make room.
    pub fn closed(&self) -> &CancellationToken {
        &self.close
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        lock(&self.table).slots.remove(&self.id);
    }
}

fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    // The table holds no invariant a panic elsewhere could break halfway.
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A response body that puts its connection back to [`Phase::Waiting`]
/// once it has been sent (or dropped), so that an idle kept-alive
/// connection can make room again while a long event stream cannot.
#[derive(Debug)]
pub struct AnsweringBody<B> {
    inner: B,
    slot: Arc<ConnectionSlot>,
}

impl<B> AnsweringBody<B> {
    /// Wraps `inner`, the body of a response on the connection of `slot`.
    pub fn new(inner: B, slot: Arc<ConnectionSlot>) -> AnsweringBody<B> {
        AnsweringBody { inner, slot }
    }
}

impl<B> Drop for AnsweringBody<B> {
    fn drop(&mut self) {
        self.slot.enter(Phase::Waiting);
    }
}

impl<B: Body + Unpin> Body for AnsweringBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(slots: &ConnectionSlots) -> (Arc<ConnectionSlot>, bool) {
        match slots.admit() {
            Admission::Admitted { slot, evicted } => (slot, evicted),
            Admission::Full => panic!("refused"),
        }
    }

    #[test]
    fn room_is_made_by_closing_the_longest_waiting_never_an_answering_one() {
        let slots = ConnectionSlots::new(3);
        let (answering, _) = admitted(&slots);
        answering.enter(Phase::Answering);
        let (idle, _) = admitted(&slots);
        let (body, _) = admitted(&slots);
        body.enter(Phase::ReadingBody);
        let (fourth, evicted) = admitted(&slots);
        assert!(evicted);
        assert!(
            idle.closed().is_cancelled(),
            "the longest waiting goes first"
        );
        assert!(!answering.closed().is_cancelled());
        assert_eq!(slots.len(), 3);
        let (_fifth, evicted) = admitted(&slots);
        assert!(evicted && body.closed().is_cancelled());
        fourth.enter(Phase::Answering);
        let (sixth, _) = admitted(&slots);
        assert!(!fourth.closed().is_cancelled());
        sixth.enter(Phase::Answering);
        assert!(matches!(slots.admit(), Admission::Full));
        drop(sixth);
        assert_eq!(slots.len(), 2);
        admitted(&slots);
    }
}
