//! What follows a container's transition: agents' answers to commands,
//! pending timeouts, and the bookkeeping after every change (metrics,
//! back-off, the location index, timers).

use super::output::AgentCommand;
use super::timer::TimerKey;
use super::{CommandError, Output, Scheduler, TimerReason, TraceLevel};
use crate::agent::{Action, Backoff, Change, Outcome, RecordInput, transition};
use crate::ids::{AgentId, CommandId};
use crate::time::{Duration, Instant};
use crate::transformer::TaskBackoff;
use crate::wire::{ContainerId, ContainerStatus};

impl Scheduler {
    /// Hands a command out to the driver: from now on its pending timeout
    /// runs.
    pub(super) fn hand_out(&mut self, command: AgentCommand) {
        self.metrics.commands_issued += 1;
        self.timers.set(
            self.now + self.config.pending_timeout,
            TimerReason::PendingTimeout {
                agent: command.agent.clone(),
                container: command.container.clone(),
                command: command.id,
            },
        );
        self.outputs.push_back(Output::Command(command));
    }

    pub(super) fn on_command_result(
        &mut self,
        id: &AgentId,
        command: CommandId,
        result: Result<(), CommandError>,
    ) {
        let Some(((agent, container), next)) = self.dispatch.answered(command) else {
            // Answered after it timed out, or its agent was forgotten.
            return;
        };
        if let Some(next) = next {
            self.hand_out(next);
        }
        // The container is free for its next command.
        self.reconcile_needed = true;
        debug_assert_eq!(&agent, id, "command answered by another agent");
        self.transformer.mark(container.clone());
        let pending = self
            .agents
            .get(&agent)
            .and_then(|rep| rep.containers().get(&container))
            .and_then(|record| record.pending())
            .filter(|p| p.command == command);
        let Some(pending) = pending else {
            self.settle_pending_timer(&agent, &container);
            return;
        };
        let input = match &result {
            Ok(()) => RecordInput::Accepted,
            Err(error) => RecordInput::Refused(error.clone()),
        };
        let Some((row, outcome)) = self
            .agents
            .record_mut(&agent, &container)
            .map(|mut record| (transition::row(&record, &input), record.apply(&input)))
        else {
            return;
        };
        if let Err(error) = &result {
            self.trace(container.as_str(), || {
                format!("{} on {agent}: {error}", pending.action.name())
            });
            if outcome.failed.is_some() {
                let action = pending.action.name();
                self.agent_command_failed(&agent, || format!("{action} {container}: {error}"));
            }
        }
        if outcome.forget {
            self.agents.remove_record(&agent, &container);
        }
        self.after_change(
            &agent,
            Change {
                container,
                outcome,
                pending: Some(pending),
                inserted: false,
                row: Some(row),
            },
        );
    }

    /// The pending timeout of `command` expired: whatever the stream is
    /// doing, the command counts as failed (and, if the driver never
    /// reported an answer, as answered), so a container is never blocked
    /// for longer than the timeout.
    pub(super) fn on_pending_timeout(
        &mut self,
        agent: AgentId,
        container: ContainerId,
        command: CommandId,
    ) {
        if self.dispatch.is_in_flight(command) {
            // The driver never reported an answer: count it as lost.
            if let Some((_, next)) = self.dispatch.answered(command) {
                if let Some(next) = next {
                    self.hand_out(next);
                }
                self.reconcile_needed = true;
            }
        }
        let pending = self
            .agents
            .get(&agent)
            .and_then(|rep| rep.containers().get(&container))
            .and_then(|record| record.pending())
            .filter(|p| p.command == command);
        let Some(pending) = pending else { return };
        let input = RecordInput::PendingTimeout;
        let Some((row, outcome)) = self
            .agents
            .record_mut(&agent, &container)
            .map(|mut record| (transition::row(&record, &input), record.apply(&input)))
        else {
            return;
        };
        if outcome.forget {
            self.agents.remove_record(&agent, &container);
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
        let action = pending.action.name();
        self.agent_command_failed(&agent, || {
            format!("{action} {container} unconfirmed after {timeout}")
        });
        self.after_change(
            &agent,
            Change {
                container,
                outcome,
                pending: Some(pending),
                inserted: false,
                row: Some(row),
            },
        );
        self.reconcile_needed = true;
    }

    /// Cancels the pending timer of `container` on `agent` once nothing is
    /// pending there any more and no command is busy for it.
    fn settle_pending_timer(&mut self, agent: &AgentId, container: &ContainerId) {
        let pending = self
            .agents
            .get(agent)
            .and_then(|rep| rep.containers().get(container))
            .is_some_and(|record| record.pending().is_some());
        if !pending && !self.dispatch.on(agent, container) {
            self.timers
                .cancel(&TimerKey::Pending(container.clone(), agent.clone()));
        }
    }

    /// Cancels the back-off timer of `container` once neither the task nor
    /// the record on `agent` backs off any more.
    pub(super) fn settle_backoff_timer(&mut self, agent: &AgentId, container: &ContainerId) {
        let record_backs_off = self
            .agents
            .get(agent)
            .and_then(|rep| rep.containers().get(container))
            .is_some_and(|record| record.backoff().is_some());
        if !record_backs_off && !self.transformer.task_backoff.contains_key(container) {
            self.timers
                .cancel(&TimerKey::TaskBackoff(container.clone()));
        }
    }

    /// Bookkeeping after a container's transition: metrics, back-off.
    pub(super) fn after_change(&mut self, agent: &AgentId, change: Change) {
        // The location index already follows the records: `Agents` updates
        // it wherever a record comes or goes.
        let Change {
            container,
            outcome,
            pending,
            row,
            ..
        } = change;
        if let Some(row) = row {
            self.coverage.transition(row);
        }
        if outcome.forget
            && let Some(rep) = self.agents.get(agent)
        {
            self.transformer.capacity_appeared_on(rep);
        }
        self.transformer.mark(container.clone());
        let Outcome {
            forget,
            confirmed,
            failed,
        } = outcome;
        if confirmed {
            self.metrics.commands_confirmed += 1;
            self.agent_command_confirmed(agent);
        }
        if pending.is_some() {
            self.settle_pending_timer(agent, &container);
        }
        if forget {
            self.settle_backoff_timer(agent, &container);
        }
        let running = if let Some(mut record) = self.agents.record_mut(agent, &container) {
            if record.status == Some(ContainerStatus::Running) {
                // Running ends a start's back-off, not a removal's: a stop
                // that keeps going unconfirmed on a running container backs
                // off further each time instead of starting again from the
                // shortest delay (a reissue every pending timeout).
                let kept = record.backoff().filter(|b| b.action.is_removal());
                record.set_backoff(kept);
                Some(true)
            } else if confirmed {
                let kept = record
                    .backoff()
                    .filter(|b| b.action != pending.map_or(b.action, |p| p.action));
                record.set_backoff(kept);
                Some(false)
            } else {
                None
            }
        } else {
            None
        };
        if running == Some(true) {
            self.transformer.task_backoff.remove(&container);
        }
        if running.is_some() {
            self.settle_backoff_timer(agent, &container);
        }
        let Some(action) = failed else { return };
        self.metrics.commands_failed += 1;
        if action == Action::Create || forget {
            let failures = self
                .transformer
                .task_backoff
                .get(&container)
                .map_or(0, |b| b.failures)
                .saturating_add(1);
            let until = self.now + self.backoff_delay(failures);
            self.transformer
                .task_backoff
                .insert(container.clone(), TaskBackoff { failures, until });
            self.wake_for_backoff(&container, until);
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
                .saturating_add(1);
            let until = self.now + self.backoff_delay(failures);
            if let Some(mut record) = self.agents.record_mut(agent, &container) {
                record.set_backoff(Some(Backoff {
                    action,
                    failures,
                    until,
                }));
            }
            self.wake_for_backoff(&container, until);
            self.trace(container.as_str(), || {
                format!(
                    "{} failed {failures}x on {agent}; next try not before {until}",
                    action.name()
                )
            });
        }
    }

    /// Wakes at `until` for `container`'s back-off. One keyed timer serves
    /// the task's back-off and that of every agent's record of it, so it
    /// is due at the earliest of them: a later one never replaces an
    /// earlier, and [`Self::on_backoff_due`] sets it again for the rest.
    fn wake_for_backoff(&mut self, container: &ContainerId, until: Instant) {
        let key = TimerKey::TaskBackoff(container.clone());
        let at = match self.timers.deadline(&key) {
            Some(earlier) if earlier > self.now => earlier.min(until),
            _ => until,
        };
        self.timers.set(
            at,
            TimerReason::TaskBackoff {
                container: container.clone(),
            },
        );
    }

    /// The back-off timer of `container` fired: it is looked at again, and
    /// the timer is set for the next back-off of it still ahead (the
    /// task's or another agent's record's), so none is left to the sweep.
    pub(super) fn on_backoff_due(&mut self, container: ContainerId) {
        let now = self.now;
        let task = self
            .transformer
            .task_backoff
            .get(&container)
            .map(|backoff| backoff.until);
        let records = self
            .agents
            .locations()
            .of(&container)
            .iter()
            .filter_map(|&number| self.agents.table().at(number))
            .filter_map(|rep| rep.containers().get(&container)?.backoff())
            .map(|backoff| backoff.until);
        if let Some(next) = task.into_iter().chain(records).filter(|at| *at > now).min() {
            self.timers.set(
                next,
                TimerReason::TaskBackoff {
                    container: container.clone(),
                },
            );
        }
        self.transformer.mark(container);
        self.reconcile_needed = true;
    }

    fn backoff_delay(&mut self, failures: u32) -> Duration {
        crate::backoff::jittered(
            &mut self.rng,
            self.config.task_backoff_min,
            self.config.task_backoff_max,
            failures,
        )
    }

    pub(super) fn next_command_id(&mut self) -> CommandId {
        self.next_command += 1;
        CommandId(self.next_command)
    }
}
