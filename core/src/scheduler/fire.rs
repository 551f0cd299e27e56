//! Timers firing: each reason handed to the handler of its concept.

use super::{Scheduler, TimerReason};

/// Containers and desired tasks the periodic tick re-examines (each), as a
/// safety net: a full sweep of a million tasks takes about four thousand
/// ticks (three hours at the default tick) while each tick stays cheap.
const SWEEP_PER_TICK: usize = 256;

impl Scheduler {
    /// Fires every timer due by now.
    pub(super) fn fire_timers(&mut self) {
        while let Some(reason) = self.timers.pop_due(self.now) {
            self.fire(reason);
        }
    }

    fn fire(&mut self, reason: TimerReason) {
        self.coverage.timer(&reason);
        match reason {
            TimerReason::Tick => {
                self.timers
                    .set(self.now + self.config.tick, TimerReason::Tick);
                self.transformer.sweep(
                    &self.desired,
                    self.agents.locations(),
                    self.agents.table(),
                    SWEEP_PER_TICK,
                );
                self.reconcile_needed = true;
            }
            TimerReason::TaskBackoff { container } => self.on_backoff_due(container),
            TimerReason::PersistRetry | TimerReason::ContinueReconcile => {
                self.reconcile_needed = true
            }
            TimerReason::RolloutCheck => {
                self.advance_rollouts();
                self.advance_drains();
            }
            TimerReason::Reconnect { agent } => self.on_reconnect_due(&agent),
            TimerReason::StreamSilence { agent } => self.on_silence_due(&agent),
            TimerReason::StreamHealthy { agent } => self.on_stream_healthy(&agent),
            TimerReason::Abandon { agent } => self.on_abandon_due(&agent),
            TimerReason::Probation { agent } => self.on_probation_due(&agent),
            TimerReason::PendingTimeout {
                agent,
                container,
                command,
            } => self.on_pending_timeout(agent, container, command),
        }
    }
}
