//! The scheduler's reconcile step: run the transformer and issue its plan.

use std::sync::Arc;

use super::{AgentCommand, CommandAction, Output, Scheduler, TimerReason, Trace, TraceLevel};
use crate::agent::{Action, ContainerRecord, Pending, Phase};
use crate::transformer::{ReconcileInput, Why};

impl Scheduler {
    /// Diffs desired against actual state and issues the commands that move
    /// one towards the other.
    pub(super) fn reconcile(&mut self) {
        self.reconcile_needed = false;
        if !self.registry.is_loaded() || !self.discovered {
            return;
        }
        self.metrics.reconciles += 1;
        if !self.placement_gate_open && self.agents.waiting() == 0 {
            self.placement_gate_open = true;
            self.transformer
                .mark_all(&self.desired, self.agents.locations());
            self.trace("transformer", || {
                "every agent synced or abandoned: placement starts".to_owned()
            });
        }
        #[cfg(debug_assertions)]
        {
            let indexed: Vec<(&crate::wire::JobHash, u32)> =
                self.agents.locations().desired().collect();
            let durable: Vec<(&crate::wire::JobHash, u32)> = self
                .desired
                .iter()
                .map(|(hash, job)| (hash, job.task_count()))
                .filter(|&(_, tasks)| tasks > 0)
                .collect();
            debug_assert_eq!(
                indexed, durable,
                "the location index's desired counts are stale"
            );
        }
        let (agents, locations, changed_agents) = self.agents.for_reconcile();
        let plan = self.transformer.reconcile(
            ReconcileInput {
                now: self.now,
                config: &self.config,
                desired: &self.desired,
                agents,
                changed_agents,
                locations,
                in_flight: &self.dispatch,
                moving: &self.moving,
                placement_allowed: self.placement_gate_open,
            },
            self.algorithm.as_mut(),
            &mut self.rng,
        );
        for planned in plan.commands {
            let id = self.next_command_id();
            let action = match &planned.action {
                CommandAction::Create(_) => Action::Create,
                CommandAction::Start => Action::Start,
                CommandAction::Stop => Action::Stop,
                CommandAction::Destroy => Action::Destroy,
            };
            let pending = Pending {
                command: id,
                action,
                phase: Phase::InFlight,
                issued_at: self.now,
            };
            match &planned.action {
                CommandAction::Create(config) => {
                    self.metrics.tasks_placed += 1;
                    let record = ContainerRecord::creating(Arc::clone(config), pending);
                    let placed = self.agents.insert_placed(
                        planned.agent_no,
                        planned.container.clone(),
                        record,
                    );
                    assert!(placed, "planned for a known agent");
                }
                _ => {
                    let mut record = self
                        .agents
                        .record_mut_at(planned.agent_no, &planned.container)
                        .expect("planned for a known container");
                    debug_assert!(
                        record.pending().is_none() || action == Action::Stop,
                        "two commands pending on {}",
                        planned.container
                    );
                    record.set_pending(Some(pending));
                }
            }
            let message = || {
                format!(
                    "{} {id} on {}: {}",
                    planned.action.name(),
                    planned.agent,
                    planned.why
                )
            };
            if matches!(planned.why, Why::DuplicateOf(_)) {
                self.notice(TraceLevel::Change, planned.container.as_str(), message);
            } else {
                self.trace(planned.container.as_str(), message);
            }
            let number = planned.agent_no;
            let command = AgentCommand {
                id,
                agent: planned.agent,
                container: planned.container,
                action: planned.action,
            };
            let limit = self.config.max_commands_in_flight_per_agent;
            match self.dispatch.issue(command, number, limit) {
                Some(command) => self.hand_out(command),
                None => self.metrics.commands_queued += 1,
            }
        }
        self.metrics.tasks_unplaced += plan.unplaced_attempts;
        if plan.more {
            // Yield to the driver between batches, so that other inputs are
            // not kept waiting behind a large reconcile; it calls back at once.
            self.timers.set(self.now, TimerReason::ContinueReconcile);
        }
    }

    /// Emits a trace output of a routine decision, if tracing is on.
    /// The message is only made when tracing is on: most callers format
    /// it, and a reconcile at scale must not pay for text nobody reads.
    pub(super) fn trace(&mut self, subject: &str, message: impl FnOnce() -> String) {
        if self.config.trace {
            self.notice(TraceLevel::Detail, subject, message);
        }
    }

    /// Emits a trace output at `level`: whatever the tracing setting for
    /// changes and failures an operator should see, which are rare.
    pub(super) fn notice(
        &mut self,
        level: TraceLevel,
        subject: &str,
        message: impl FnOnce() -> String,
    ) {
        self.outputs.push_back(Output::Trace(Trace {
            at: self.now,
            subject: subject.to_owned(),
            message: message(),
            level,
        }));
    }
}
