//! The simulated network between the scheduler and each agent.
//!
//! Every agent has its own link with a latency and a partition flag.
//! Commands and their answers are single request/response exchanges: each
//! may be lost (with the scenario's `drop` probability, or always while the
//! link is partitioned), and the driver then only sees a timeout. Stream
//! messages ride one TCP connection: they are never lost or reordered while
//! the connection lives, and a partition holds them back until it heals (as
//! TCP retransmission would), by which time the scheduler may long have
//! given up on the stream.

use std::collections::BTreeMap;

use harpoon_core::AgentId;
use harpoon_core::wire::StateEvent;
use harpoon_core::{Duration, Instant};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::range::TimeRange;
use crate::scenario::NetworkSettings;

/// What travels on an agent's event stream.
#[derive(Clone, Debug)]
pub enum StreamPayload {
    /// The HTTP answer that opens the stream.
    Opened,
    /// A state event (the first one full, later ones deltas).
    Event(StateEvent),
    /// An SSE comment that only says the agent is alive.
    KeepAlive,
    /// The connection ended, and why.
    Closed(String),
}

impl StreamPayload {
    /// A short description for the trace.
    pub fn describe(&self) -> String {
        match self {
            StreamPayload::Opened => "stream opened".to_owned(),
            StreamPayload::Event(event) => {
                let containers: Vec<String> = event
                    .containers
                    .iter()
                    .map(|(id, instance)| format!("{id}={}", instance.status))
                    .collect();
                if containers.is_empty() {
                    "event: no containers".to_owned()
                } else {
                    format!("event: {}", containers.join(" "))
                }
            }
            StreamPayload::KeepAlive => "keep-alive".to_owned(),
            StreamPayload::Closed(reason) => format!("stream closed: {reason}"),
        }
    }
}

/// One scheduler-agent link.
#[derive(Clone, Debug)]
struct Link {
    latency: TimeRange,
    partitioned: bool,
    /// Stream messages held back by a partition: (session, payload).
    held: Vec<(u64, StreamPayload)>,
    /// When the last stream message sent on this link arrives; later ones
    /// arrive no earlier, which keeps the stream in order.
    stream_clock: Instant,
}

/// Every link, and the probabilities shared by all of them.
#[derive(Clone, Debug)]
pub struct Network {
    default_latency: TimeRange,
    drop: f64,
    stream_drop: f64,
    links: BTreeMap<AgentId, Link>,
}

impl Network {
    /// A network whose links behave as `settings` says.
    pub fn new(settings: &NetworkSettings) -> Network {
        Network {
            default_latency: settings.latency,
            drop: settings.drop,
            stream_drop: settings.stream_drop,
            links: BTreeMap::new(),
        }
    }

    fn link(&mut self, agent: &AgentId) -> &mut Link {
        let latency = self.default_latency;
        self.links.entry(agent.clone()).or_insert_with(|| Link {
            latency,
            partitioned: false,
            held: Vec::new(),
            stream_clock: Instant::ZERO,
        })
    }

    /// Whether the link to `agent` drops everything.
    pub fn is_partitioned(&self, agent: &AgentId) -> bool {
        self.links.get(agent).is_some_and(|link| link.partitioned)
    }

    /// A one-way delay on the link to `agent`.
    pub fn latency(&mut self, agent: &AgentId, rng: &mut ChaCha8Rng) -> Duration {
        self.link(agent).latency.draw(rng)
    }

    /// Whether a command or answer is lost to random loss. Draws nothing
    /// when loss is off, so that turning it off does not shift other draws.
    pub fn randomly_lost(&self, rng: &mut ChaCha8Rng) -> bool {
        self.drop > 0.0 && rng.random_bool(self.drop)
    }

    /// When a stream message sent now on the link to `agent` arrives.
    pub fn stream_arrival(
        &mut self,
        agent: &AgentId,
        now: Instant,
        rng: &mut ChaCha8Rng,
    ) -> Instant {
        let latency = self.latency(agent, rng);
        let link = self.link(agent);
        let at = (now + latency).max(link.stream_clock);
        link.stream_clock = at;
        at
    }

    /// Keeps a stream message until the partition heals.
    pub fn hold(&mut self, agent: &AgentId, session: u64, payload: StreamPayload) {
        self.link(agent).held.push((session, payload));
    }

    /// Cuts the link.
    pub fn partition(&mut self, agent: &AgentId) {
        self.link(agent).partitioned = true;
    }

    /// Restores the link and returns the stream messages it held, in order.
    pub fn heal(&mut self, agent: &AgentId) -> Vec<(u64, StreamPayload)> {
        let link = self.link(agent);
        link.partitioned = false;
        std::mem::take(&mut link.held)
    }

    /// Sets the link's latency from now on.
    pub fn set_latency(&mut self, agent: &AgentId, latency: TimeRange) {
        self.link(agent).latency = latency;
    }

    /// When the agent's stream breaks next by chance, if streams break at
    /// all: `stream_drop` is a chance per simulated second, drawn second by
    /// second. (Sampling the geometric distribution directly would need
    /// `f64::ln`, whose last bits may differ between platforms' maths
    /// libraries, and the same seed must give the same run everywhere.)
    pub fn next_stream_break(&self, now: Instant, rng: &mut ChaCha8Rng) -> Option<Instant> {
        /// Beyond this, the break is too far away to matter to any run.
        const HORIZON_SECS: u64 = 100_000;
        if self.stream_drop <= 0.0 {
            return None;
        }
        (1..=HORIZON_SECS)
            .find(|_| rng.random_bool(self.stream_drop.min(1.0)))
            .map(|seconds| now + Duration::from_secs(seconds))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn network() -> Network {
        Network::new(&NetworkSettings {
            latency: TimeRange::parse("1ms..50ms").unwrap(),
            drop: 0.0,
            stream_drop: 0.5,
            request_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
        })
    }

    #[test]
    fn stream_messages_never_overtake_each_other() {
        let mut network = network();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let agent = AgentId::new("a0");
        let mut last = Instant::ZERO;
        for step in 0..200 {
            let at = network.stream_arrival(&agent, Instant::from_millis(step), &mut rng);
            assert!(at >= last);
            last = at;
        }
    }

    #[test]
    fn a_partition_holds_stream_messages_until_it_heals() {
        let mut network = network();
        let agent = AgentId::new("a0");
        network.partition(&agent);
        assert!(network.is_partitioned(&agent));
        network.hold(&agent, 3, StreamPayload::KeepAlive);
        let held = network.heal(&agent);
        assert_eq!(held.len(), 1);
        assert!(!network.is_partitioned(&agent));
    }

    #[test]
    fn stream_breaks_come_after_now() {
        let network = network();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let now = Instant::from_millis(10_000);
        assert!(network.next_stream_break(now, &mut rng).unwrap() > now);
    }
}
