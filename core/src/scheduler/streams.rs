//! Agents' event streams: opening them (each in a new session), their
//! events and keep-alives, and what happens when they break, go silent or
//! stay down past the abandon timeout.
//!
//! Every stream has a session number, given in `Output::OpenStream` and
//! named by every input the stream causes. Only the agent's latest session
//! counts: inputs of an earlier one (a stream since replaced, still
//! delivering what was in flight) are ignored here, the one place that
//! rule lives, so that drivers need no filter of their own.

use super::timer::TimerKey;
use super::{Output, Scheduler, TimerReason, TraceLevel};
use crate::agent::Link;
use crate::ids::AgentId;
use crate::wire::StateEvent;

impl Scheduler {
    /// Asks the driver to open `id`'s stream in a new session.
    pub(super) fn open_stream(&mut self, id: &AgentId) {
        self.next_session += 1;
        let session = self.next_session;
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        let connection = rep.connection_mut();
        connection.link = Link::Connecting;
        connection.session = session;
        connection.last_heard = self.now;
        drop(rep);
        self.timers.cancel(&TimerKey::Reconnect(id.clone()));
        self.outputs.push_back(Output::OpenStream {
            agent: id.clone(),
            session,
        });
        self.timers.set(
            self.now + self.config.stream_silence_timeout,
            TimerReason::StreamSilence { agent: id.clone() },
        );
    }

    /// Whether `session` is `id`'s latest stream.
    fn is_current(&self, id: &AgentId, session: u64) -> bool {
        self.agents
            .get(id)
            .is_some_and(|rep| rep.connection.session == session)
    }

    pub(super) fn on_stream_opened(&mut self, id: &AgentId, session: u64) {
        if !self.is_current(id, session) {
            return;
        }
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        if rep.connection.link != Link::Connecting {
            return;
        }
        let connection = rep.connection_mut();
        connection.link = Link::Open { synced: false };
        connection.last_heard = self.now;
        drop(rep);
        self.metrics.agent_connections_opened += 1;
        self.trace(id.as_str(), || {
            "stream open; waiting for its first event".to_owned()
        });
    }

    pub(super) fn on_keep_alive(&mut self, id: &AgentId, session: u64) {
        if !self.is_current(id, session) {
            return;
        }
        if let Some(mut rep) = self.agents.get_mut(id)
            && rep.connection.is_live()
        {
            rep.connection_mut().last_heard = self.now;
        }
    }

    pub(super) fn on_stream_event(&mut self, id: &AgentId, session: u64, event: StateEvent) {
        if !self.is_current(id, session) {
            return;
        }
        let Some(Link::Open { synced }) = self.agents.get(id).map(|rep| rep.connection.link) else {
            return;
        };
        self.metrics.events_received += 1;
        let transformer = &self.transformer;
        let changes = self
            .agents
            .apply_event(id, event, !synced, |container, config| {
                transformer
                    .shared_config(container, &config)
                    .unwrap_or(config)
            });
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        rep.connection_mut().last_heard = self.now;
        let mut synced_now = None;
        if !synced {
            let connection = rep.connection_mut();
            let was_abandoned = connection.abandoned;
            connection.link = Link::Open { synced: true };
            connection.unsynced_since = None;
            connection.abandoned = false;
            synced_now = Some((rep.containers().len(), was_abandoned));
        }
        drop(rep);
        if let Some((count, was_abandoned)) = synced_now {
            if let Some(rep) = self.agents.get(id) {
                self.transformer.capacity_appeared_on(rep);
            }
            self.timers.cancel(&TimerKey::Abandon(id.clone()));
            // The reconnect back-off starts again from the shortest delay
            // only once this stream has stayed healthy for a while.
            self.timers.set(
                self.now + self.config.stream_healthy_after,
                TimerReason::StreamHealthy { agent: id.clone() },
            );
            let note = if was_abandoned {
                " (it had been abandoned)"
            } else {
                ""
            };
            self.notice(TraceLevel::Change, id.as_str(), || {
                format!("synced: first event lists {count} containers{note}")
            });
        }
        for change in changes {
            self.after_change(id, change);
        }
        self.reconcile_needed = true;
    }

    pub(super) fn on_stream_closed(&mut self, id: &AgentId, session: u64, reason: &str) {
        if self.is_current(id, session) {
            self.stream_down(id, reason);
        }
    }

    /// The current stream of `id` ended: schedule a reconnect with a
    /// back-off that grows with every stream that did not stay healthy,
    /// and start the abandon timeout if the agent was synced.
    fn stream_down(&mut self, id: &AgentId, reason: &str) {
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        if !rep.connection.is_live() {
            return;
        }
        let was_synced = rep.connection.is_synced();
        let connection = rep.connection_mut();
        if was_synced {
            connection.unsynced_since = Some(self.now);
            self.metrics.agent_connections_lost += 1;
        }
        connection.failures = connection.failures.saturating_add(1);
        let failures = connection.failures;
        let delay = crate::backoff::jittered(
            &mut self.rng,
            self.config.reconnect_backoff_min,
            self.config.reconnect_backoff_max,
            failures,
        );
        let retry_at = self.now + delay;
        rep.connection_mut().link = Link::Down { retry_at };
        let abandon_at = rep.connection.abandon_deadline(self.config.abandon_timeout);
        drop(rep);
        self.timers.cancel(&TimerKey::StreamSilence(id.clone()));
        self.timers.cancel(&TimerKey::StreamHealthy(id.clone()));
        self.timers
            .set(retry_at, TimerReason::Reconnect { agent: id.clone() });
        if let Some(deadline) = abandon_at {
            self.timers
                .set(deadline, TimerReason::Abandon { agent: id.clone() });
        }
        // Losing a synced stream is a change; so is the first failure to
        // open one (the agent cannot be reached). Each retry that fails
        // again is not: a dead agent would log every back-off period.
        let message = || format!("stream down ({reason}); reconnecting in {delay}");
        if was_synced || failures == 1 {
            self.notice(TraceLevel::Change, id.as_str(), message);
        } else {
            self.trace(id.as_str(), message);
        }
        self.reconcile_needed = true;
    }

    pub(super) fn on_reconnect_due(&mut self, agent: &AgentId) {
        let now = self.now;
        let due = self.agents.get(agent).is_some_and(
            |rep| matches!(rep.connection.link, Link::Down { retry_at } if retry_at <= now),
        );
        if due {
            self.trace(agent.as_str(), || "reopening its stream".to_owned());
            self.open_stream(agent);
        }
    }

    pub(super) fn on_silence_due(&mut self, agent: &AgentId) {
        let Some(rep) = self.agents.get(agent) else {
            return;
        };
        if !rep.connection.is_live() {
            return;
        }
        let deadline = rep.connection.last_heard + self.config.stream_silence_timeout;
        if self.now < deadline {
            // Heard from since the timer was set: watch from then on (this
            // replaces the timer that just fired; there is one per agent).
            self.timers.set(
                deadline,
                TimerReason::StreamSilence {
                    agent: agent.clone(),
                },
            );
            return;
        }
        self.outputs.push_back(Output::CloseStream {
            agent: agent.clone(),
        });
        let silence = self.config.stream_silence_timeout;
        self.stream_down(agent, &format!("silent for {silence}"));
    }

    pub(super) fn on_stream_healthy(&mut self, agent: &AgentId) {
        if let Some(mut rep) = self.agents.get_mut(agent)
            && rep.connection.is_synced()
        {
            rep.connection_mut().failures = 0;
        }
    }

    pub(super) fn on_abandon_due(&mut self, agent: &AgentId) {
        let abandon_timeout = self.config.abandon_timeout;
        let Some(mut rep) = self.agents.get_mut(agent) else {
            return;
        };
        let Some(deadline) = rep.connection.abandon_deadline(abandon_timeout) else {
            return;
        };
        if rep.connection.is_synced() || self.now < deadline {
            return;
        }
        rep.connection_mut().abandoned = true;
        drop(rep);
        let lost = self.agents.forget_containers(agent);
        for container in &lost {
            self.transformer.mark(container.clone());
            self.settle_backoff_timer(agent, container);
        }
        self.metrics.agents_abandoned += 1;
        if let Some(number) = self.agents.get(agent).map(|rep| rep.number) {
            self.dispatch.forget_agent(number);
        }
        self.timers.forget_pending_of(agent);
        self.notice(TraceLevel::Change, agent.as_str(), || {
            format!(
                "abandoned after {abandon_timeout} unsynced: {} containers count as lost",
                lost.len()
            )
        });
        self.reconcile_needed = true;
    }
}
