//! The body of a server-sent-event stream: messages from a bounded queue,
//! and a keep-alive comment whenever the stream has been quiet for an
//! interval, so that clients and proxies can tell quiet from dead.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

/// An SSE comment line; clients ignore it.
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

/// A stream of preformatted SSE messages. It ends when every sender of its
/// queue is gone: when the agent drops a slow subscriber, or shuts down.
#[derive(Debug)]
pub(crate) struct SseBody {
    messages: mpsc::Receiver<Bytes>,
    keepalive: Interval,
}

impl SseBody {
    pub fn new(messages: mpsc::Receiver<Bytes>, keepalive_interval: Duration) -> SseBody {
        let period = keepalive_interval.max(Duration::from_millis(1));
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        SseBody {
            messages,
            keepalive,
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.messages.poll_recv(cx) {
            Poll::Ready(Some(message)) => {
                // A message counts as a sign of life: restart the interval.
                this.keepalive.reset();
                return Poll::Ready(Some(Ok(Frame::data(message))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        match this.keepalive.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEPALIVE))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn interleaves_keepalives_and_ends_with_its_queue() {
        let (sender, receiver) = mpsc::channel(4);
        let mut body = SseBody::new(receiver, Duration::from_millis(20));
        sender
            .send(Bytes::from_static(b"data: 1\n\n"))
            .await
            .unwrap();
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "data: 1\n\n");
        // Nothing queued: after the interval, a keep-alive comment.
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), KEEPALIVE);
        drop(sender);
        assert!(body.frame().await.is_none());
    }
}
