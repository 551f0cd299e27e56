//! The subscribers of the event stream, each with a bounded queue.
//!
//! A subscriber that does not keep up is dropped, never waited for: the
//! state task must not block on a client. Dropping is the correct signal in
//! this protocol: a client whose stream ends reconnects, and the first event
//! of its new stream replaces everything it knew.

use bytes::Bytes;
use harpoon_core::wire::StateEvent;
use tokio::sync::mpsc;

use super::error::TooManyStreams;

/// Open event streams.
#[derive(Debug)]
pub(crate) struct Subscribers {
    queues: Vec<mpsc::Sender<Bytes>>,
    queue_len: usize,
    max: usize,
}

impl Subscribers {
    pub fn new(queue_len: usize, max: usize) -> Subscribers {
        Subscribers {
            queues: Vec::new(),
            queue_len: queue_len.max(1),
            max,
        }
    }

    /// Adds a subscriber whose stream starts with `first` (the event holding
    /// every container). Since the state task adds the subscriber and builds
    /// `first` in one step, no change can fall between the two.
    pub fn subscribe(&mut self, first: Bytes) -> Result<mpsc::Receiver<Bytes>, TooManyStreams> {
        self.queues.retain(|queue| !queue.is_closed());
        if self.queues.len() >= self.max {
            return Err(TooManyStreams(self.max));
        }
        let (sender, receiver) = mpsc::channel(self.queue_len);
        sender
            .try_send(first)
            .expect("a new queue has room for one event");
        self.queues.push(sender);
        Ok(receiver)
    }

    /// Queues `event` for every subscriber, dropping those whose queue is
    /// full or whose client has gone.
    pub fn broadcast(&mut self, event: &StateEvent) {
        if self.queues.is_empty() {
            return;
        }
        let message = encode(event);
        self.queues
            .retain(|queue| match queue.try_send(message.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        queue_len = queue.max_capacity(),
                        "dropping an event subscriber that does not keep up; it will reconnect"
                    );
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    /// Ends every stream (after the events already queued).
    pub fn close_all(&mut self) {
        self.queues.clear();
    }
}

/// One server-sent event: a `data:` line holding the JSON, then a blank
/// line. JSON from serde_json never contains a newline, which would end the
/// `data:` line early.
pub(crate) fn encode(event: &StateEvent) -> Bytes {
    let json = serde_json::to_string(event).expect("a state event always encodes as JSON");
    Bytes::from(format!("data: {json}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_subscriber_only() {
        let mut subscribers = Subscribers::new(2, 10);
        let event = StateEvent::default();
        let mut slow = subscribers.subscribe(encode(&event)).unwrap();
        let mut fast = subscribers.subscribe(encode(&event)).unwrap();
        for _ in 0..3 {
            subscribers.broadcast(&event);
            fast.try_recv().unwrap();
        }
        // The slow one got what fit, then its stream ended.
        assert!(slow.try_recv().is_ok());
        assert!(slow.try_recv().is_ok());
        assert!(matches!(
            slow.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        subscribers.broadcast(&event);
        assert!(fast.try_recv().is_ok());
    }

    #[test]
    fn refuses_past_the_maximum_and_forgets_closed_ones() {
        let mut subscribers = Subscribers::new(1, 1);
        let first = subscribers.subscribe(Bytes::new()).unwrap();
        assert!(subscribers.subscribe(Bytes::new()).is_err());
        drop(first);
        assert!(subscribers.subscribe(Bytes::new()).is_ok());
    }

    #[test]
    fn encodes_one_data_line_and_a_blank_line() {
        let text = encode(&StateEvent::default());
        let text = std::str::from_utf8(&text).unwrap();
        assert!(text.starts_with("data: {\"resources\":"));
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 2);
    }
}
