//! The scheduler's handling of agents: discovery, streams, command answers
//! and the timers that watch them.

use std::collections::BTreeSet;

use super::{CommandError, Output, Scheduler, TimerReason, TraceLevel};
use crate::agent::{Action, AgentRepresentation, Backoff, Change, Link, Outcome, RecordInput};
use crate::ids::{AgentId, CommandId};
use crate::time::Duration;
use crate::transformer::TaskBackoff;
use crate::wire::{ContainerStatus, StateEvent};

/// Containers and desired tasks the periodic tick re-examines (each), as a
/// safety net: a full sweep of a million tasks takes about four thousand
/// ticks (three hours at the default tick) while each tick stays cheap.
const SWEEP_PER_TICK: usize = 256;

impl Scheduler {
    pub(super) fn on_agents_discovered(&mut self, listed: BTreeSet<AgentId>) {
        self.discovered = true;
        let gone: Vec<AgentId> = self
            .agents
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(mut rep) = self.agents.remove(&id) {
                for container in rep.forget_containers() {
                    self.locations.remove(&container, rep.number);
                    self.transformer.mark(container);
                }
            }
            self.in_flight.forget_agent(&id);
            self.timers
                .retain(|reason| timer_agent(reason) != Some(&id));
            self.outputs
                .push_back(Output::CloseStream { agent: id.clone() });
            self.notice(TraceLevel::Change, id.as_str(), || {
                "no longer discovered: forgotten".to_owned()
            });
            self.reconcile_needed = true;
        }
        for id in listed {
            if self.agents.contains_key(&id) {
                continue;
            }
            self.notice(TraceLevel::Change, id.as_str(), || {
                "discovered: opening its stream".to_owned()
            });
            let rep = AgentRepresentation::new(id.clone(), self.now);
            self.agents.insert(rep);
            self.open_stream(&id);
            self.timers.set(
                self.now + self.config.abandon_timeout,
                TimerReason::Abandon { agent: id },
            );
            self.reconcile_needed = true;
        }
    }

    fn open_stream(&mut self, id: &AgentId) {
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        rep.connection.link = Link::Connecting;
        rep.connection.last_heard = self.now;
        self.outputs
            .push_back(Output::OpenStream { agent: id.clone() });
        self.timers.set(
            self.now + self.config.stream_silence_timeout,
            TimerReason::StreamSilence { agent: id.clone() },
        );
    }

    pub(super) fn on_stream_opened(&mut self, id: &AgentId) {
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        if rep.connection.link != Link::Connecting {
            return;
        }
        rep.connection.link = Link::Open { synced: false };
        rep.connection.last_heard = self.now;
        drop(rep);
        self.metrics.agent_connections_opened += 1;
        self.trace(id.as_str(), || {
            "stream open; waiting for its first event".to_owned()
        });
    }

    pub(super) fn on_stream_event(&mut self, id: &AgentId, event: StateEvent) {
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        let Link::Open { synced } = rep.connection.link else {
            return;
        };
        self.metrics.events_received += 1;
        rep.connection.last_heard = self.now;
        let transformer = &self.transformer;
        let changes = rep.apply_event(event, !synced, |container, config| {
            transformer
                .shared_config(container, &config)
                .unwrap_or(config)
        });
        let mut synced_now = None;
        if !synced {
            let was_abandoned = rep.connection.abandoned;
            rep.connection.link = Link::Open { synced: true };
            rep.connection.unsynced_since = None;
            rep.connection.failures = 0;
            rep.connection.abandoned = false;
            self.transformer.mark_unplaced();
            synced_now = Some((rep.containers().len(), was_abandoned));
        }
        drop(rep);
        if let Some((count, was_abandoned)) = synced_now {
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

    pub(super) fn on_stream_closed(&mut self, id: &AgentId, reason: &str) {
        let Some(mut rep) = self.agents.get_mut(id) else {
            return;
        };
        if !rep.connection.is_live() {
            return;
        }
        let was_synced = rep.connection.is_synced();
        if was_synced {
            rep.connection.unsynced_since = Some(self.now);
            self.metrics.agent_connections_lost += 1;
        }
        rep.connection.failures += 1;
        let failures = rep.connection.failures;
        let delay = crate::backoff::jittered(
            &mut self.rng,
            self.config.reconnect_backoff_min,
            self.config.reconnect_backoff_max,
            failures,
        );
        let retry_at = self.now + delay;
        rep.connection.link = Link::Down { retry_at };
        self.timers
            .set(retry_at, TimerReason::Reconnect { agent: id.clone() });
        if let Some(deadline) = rep.connection.abandon_deadline(self.config.abandon_timeout) {
            self.timers
                .set(deadline, TimerReason::Abandon { agent: id.clone() });
        }
        drop(rep);
        // Losing a synced stream is a change; so is the first failure to
        // open one (the agent cannot be reached). Each retry that fails
        // again is not: a dead agent would log every back-off period.
        let level = if was_synced || failures == 1 {
            TraceLevel::Change
        } else {
            TraceLevel::Detail
        };
        let message = || format!("stream down ({reason}); reconnecting in {delay}");
        if level == TraceLevel::Detail {
            self.trace(id.as_str(), message);
        } else {
            self.notice(level, id.as_str(), message);
        }
        self.reconcile_needed = true;
    }

    pub(super) fn on_command_result(
        &mut self,
        id: &AgentId,
        command: CommandId,
        result: Result<(), CommandError>,
    ) {
        let Some((agent, container)) = self.in_flight.remove(command) else {
            // Answered after it timed out, or its agent was forgotten.
            return;
        };
        // The container is free for its next command.
        self.reconcile_needed = true;
        debug_assert_eq!(&agent, id, "command answered by another agent");
        self.transformer.mark(container.clone());
        let Some(record) = self.agents.record_mut(&agent, &container) else {
            return;
        };
        let Some(pending) = record.pending().filter(|p| p.command == command) else {
            return;
        };
        let input = match &result {
            Ok(()) => RecordInput::Accepted,
            Err(error) => RecordInput::Refused(error.clone()),
        };
        let outcome = record.apply(&input);
        if let Err(error) = &result {
            self.trace(container.as_str(), || {
                format!("{} on {agent}: {error}", pending.action.name())
            });
        }
        if outcome.forget {
            self.agents
                .get_mut(&agent)
                .map(|mut rep| rep.remove(&container));
        }
        self.after_change(
            &agent,
            Change {
                container,
                outcome,
                pending: Some(pending),
                inserted: false,
            },
        );
    }

    /// Bookkeeping after a container's transition: metrics, back-off.
    pub(super) fn after_change(&mut self, agent: &AgentId, change: Change) {
        let Change {
            container,
            outcome,
            pending,
            inserted,
        } = change;
        // The location index follows the agent's records (by its number,
        // looked up only when a record came or went).
        if let Some(number) = (inserted || outcome.forget)
            .then(|| self.agents.number_of(agent))
            .flatten()
        {
            if inserted {
                let slot = self.locations.add(&container, number);
                if let Some(record) = self.agents.record_mut_at(number, &container) {
                    record.set_task_slot(slot);
                }
            }
            if outcome.forget {
                self.locations.remove(&container, number);
            }
        }
        if outcome.forget {
            self.transformer.mark_unplaced();
        }
        self.transformer.mark(container.clone());
        let Outcome {
            forget,
            confirmed,
            failed,
        } = outcome;
        if confirmed {
            self.metrics.commands_confirmed += 1;
        }
        let record = self.agents.record_mut(agent, &container);
        if let Some(record) = record {
            if record.status == Some(ContainerStatus::Running) {
                record.set_backoff(None);
                self.transformer.task_backoff.remove(&container);
            } else if confirmed {
                let kept = record
                    .backoff()
                    .filter(|b| b.action != pending.map_or(b.action, |p| p.action));
                record.set_backoff(kept);
            }
        }
        let Some(action) = failed else { return };
        self.metrics.commands_failed += 1;
        if action == Action::Create || forget {
            let failures = self
                .transformer
                .task_backoff
                .get(&container)
                .map_or(0, |b| b.failures)
                + 1;
            let until = self.now + self.backoff_delay(failures);
            self.transformer
                .task_backoff
                .insert(container.clone(), TaskBackoff { failures, until });
            self.timers.set(
                until,
                TimerReason::TaskBackoff {
                    container: container.clone(),
                },
            );
            self.trace(container.as_str(), || {
                format!(
                    "{} failed {failures}x; placing again not before {until}",
                    action.name()
                )
            });
            return;
        }
        let record = self
            .agents
            .get(agent)
            .and_then(|rep| rep.containers().get(&container));
        if let Some(record) = record {
            let failures = record
                .backoff()
                .filter(|b| b.action == action)
                .map_or(0, |b| b.failures)
                + 1;
            let until = self.now + self.backoff_delay(failures);
            if let Some(record) = self.agents.record_mut(agent, &container) {
                record.set_backoff(Some(Backoff {
                    action,
                    failures,
                    until,
                }));
            }
            self.timers.set(
                until,
                TimerReason::TaskBackoff {
                    container: container.clone(),
                },
            );
            self.trace(container.as_str(), || {
                format!(
                    "{} failed {failures}x on {agent}; next try not before {until}",
                    action.name()
                )
            });
        }
    }

    fn backoff_delay(&mut self, failures: u32) -> Duration {
        crate::backoff::jittered(
            &mut self.rng,
            self.config.task_backoff_min,
            self.config.task_backoff_max,
            failures,
        )
    }

    /// Fires every timer due by now.
    pub(super) fn fire_timers(&mut self) {
        while let Some(reason) = self.timers.pop_due(self.now) {
            self.fire(reason);
        }
    }

    fn fire(&mut self, reason: TimerReason) {
        let now = self.now;
        match reason {
            TimerReason::Tick => {
                self.timers.set(now + self.config.tick, TimerReason::Tick);
                self.transformer.sweep(
                    self.registry.durable(),
                    &self.locations,
                    self.agents.table(),
                    SWEEP_PER_TICK,
                );
                self.reconcile_needed = true;
            }
            TimerReason::TaskBackoff { container } => {
                self.transformer.mark(container);
                self.reconcile_needed = true;
            }
            TimerReason::PersistRetry | TimerReason::ContinueReconcile => {
                self.reconcile_needed = true
            }
            TimerReason::Reconnect { agent } => {
                let due = self.agents.get(&agent).is_some_and(
                    |rep| matches!(rep.connection.link, Link::Down { retry_at } if retry_at <= now),
                );
                if due {
                    self.trace(agent.as_str(), || "reopening its stream".to_owned());
                    self.open_stream(&agent);
                }
            }
            TimerReason::StreamSilence { agent } => {
                let Some(rep) = self.agents.get(&agent) else {
                    return;
                };
                if !rep.connection.is_live() {
                    return;
                }
                let deadline = rep.connection.last_heard + self.config.stream_silence_timeout;
                if now < deadline {
                    self.timers
                        .set(deadline, TimerReason::StreamSilence { agent });
                    return;
                }
                self.outputs.push_back(Output::CloseStream {
                    agent: agent.clone(),
                });
                let silence = self.config.stream_silence_timeout;
                self.on_stream_closed(&agent, &format!("silent for {silence}"));
            }
            TimerReason::Abandon { agent } => {
                let abandon_timeout = self.config.abandon_timeout;
                let Some(mut rep) = self.agents.get_mut(&agent) else {
                    return;
                };
                let Some(deadline) = rep.connection.abandon_deadline(abandon_timeout) else {
                    return;
                };
                if rep.connection.is_synced() || now < deadline {
                    return;
                }
                rep.connection.abandoned = true;
                let lost = rep.forget_containers();
                let number = rep.number;
                for container in &lost {
                    self.locations.remove(container, number);
                    self.transformer.mark(container.clone());
                }
                drop(rep);
                self.metrics.agents_abandoned += 1;
                self.in_flight.forget_agent(&agent);
                self.notice(TraceLevel::Change, agent.as_str(), || {
                    format!(
                        "abandoned after {abandon_timeout} unsynced: {} containers count as lost",
                        lost.len()
                    )
                });
                self.reconcile_needed = true;
            }
            TimerReason::PendingTimeout {
                agent,
                container,
                command,
            } => {
                let synced = self
                    .agents
                    .get(&agent)
                    .is_some_and(|rep| rep.connection.is_synced());
                let pending = self
                    .agents
                    .get(&agent)
                    .and_then(|rep| rep.containers().get(&container))
                    .and_then(|record| record.pending())
                    .filter(|p| p.command == command);
                if !synced {
                    // Its stream is down: the first event after reconnecting
                    // will settle the command; until then, keep waiting.
                    if pending.is_some() || self.in_flight.contains(command) {
                        let deadline = now + self.config.pending_timeout;
                        let reason = TimerReason::PendingTimeout {
                            agent,
                            container,
                            command,
                        };
                        self.timers.set(deadline, reason);
                    }
                    return;
                }
                if self.in_flight.remove(command).is_some() {
                    // The driver never reported an answer: count it as lost,
                    // so the container is not blocked forever.
                    self.reconcile_needed = true;
                }
                let Some(pending) = pending else { return };
                let Some(record) = self.agents.record_mut(&agent, &container) else {
                    return;
                };
                let outcome = record.apply(&RecordInput::PendingTimeout);
                if outcome.forget {
                    self.agents
                        .get_mut(&agent)
                        .map(|mut rep| rep.remove(&container));
                }
                let timeout = self.config.pending_timeout;
                let level = TraceLevel::Unconfirmed {
                    agent: agent.clone(),
                };
                self.notice(level, container.as_str(), || {
                    format!(
                        "{} {command} on {agent} unconfirmed after {timeout}",
                        pending.action.name()
                    )
                });
                self.after_change(
                    &agent,
                    Change {
                        container,
                        outcome,
                        pending: Some(pending),
                        inserted: false,
                    },
                );
                self.reconcile_needed = true;
            }
        }
    }

    pub(super) fn next_command_id(&mut self) -> CommandId {
        self.next_command += 1;
        CommandId(self.next_command)
    }
}

fn timer_agent(reason: &TimerReason) -> Option<&AgentId> {
    match reason {
        TimerReason::PendingTimeout { agent, .. }
        | TimerReason::Reconnect { agent }
        | TimerReason::Abandon { agent }
        | TimerReason::StreamSilence { agent } => Some(agent),
        TimerReason::Tick
        | TimerReason::ContinueReconcile
        | TimerReason::TaskBackoff { .. }
        | TimerReason::PersistRetry => None,
    }
}
