//! Avoiding agents that fail our commands (see `agent/health.rs`): every
//! failed or unconfirmed command counts against its agent, a confirmation
//! clears the count, and after `avoid_agent_after_failures` in a row
//! placement leaves the agent out until its probation timer fires.

use super::output::TraceLevel;
use super::timer::TimerKey;
use super::{Scheduler, TimerReason};
use crate::ids::AgentId;

impl Scheduler {
    /// A command to `agent` failed or went unconfirmed (`why` says how,
    /// for the trace, built only if traced): counts it, and starts
    /// avoiding the agent at the threshold.
    pub(super) fn agent_command_failed(&mut self, agent: &AgentId, why: impl FnOnce() -> String) {
        let threshold = self.config.avoid_agent_after_failures;
        let (min, max) = (self.config.avoid_agent_min, self.config.avoid_agent_max);
        let now = self.now;
        let delay_of =
            |rng: &mut _, avoidances| crate::backoff::jittered(rng, min, max, avoidances);
        let (failures, until) = {
            let Some(mut rep) = self.agents.get_mut(agent) else {
                return;
            };
            let health = rep.health_mut();
            health.failures = health.failures.saturating_add(1);
            if threshold == 0 || health.failures < threshold || health.is_avoided() {
                return;
            }
            health.avoidances = health.avoidances.saturating_add(1);
            let until = now + delay_of(&mut self.rng, health.avoidances);
            health.avoided_until = Some(until);
            (health.failures, until)
        };
        self.timers.set(
            until,
            TimerReason::Probation {
                agent: agent.clone(),
            },
        );
        // A state change of the agent an operator should see (logged at
        // info by the daemon), not a routine decision.
        self.notice(TraceLevel::Change, agent.as_str(), || {
            format!(
                "avoided for placement after {failures} failed or unconfirmed commands \
                 in a row (last: {}); tried again at {until}",
                why()
            )
        });
    }

    /// The stream confirmed a command of ours on `agent` (or the agent
    /// answered with a fact): it works, so its count starts again, and an
    /// avoidance ends at once.
    pub(super) fn agent_command_confirmed(&mut self, agent: &AgentId) {
        let Some(rep) = self.agents.get(agent) else {
            return;
        };
        if rep.health == Default::default() {
            return;
        }
        let was_avoided = rep.health.is_avoided();
        if let Some(mut rep) = self.agents.get_mut(agent) {
            *rep.health_mut() = Default::default();
        }
        if was_avoided {
            self.timers.cancel(&TimerKey::Probation(agent.clone()));
            self.notice(TraceLevel::Change, agent.as_str(), || {
                "no longer avoided for placement: a command was confirmed".to_owned()
            });
            self.placeable_again(agent);
        }
    }

    /// The probation timer of `agent` fired: placement may try it again.
    /// One more failure avoids it again, for twice as long; a confirmation
    /// clears its record.
    pub(super) fn on_probation_due(&mut self, agent: &AgentId) {
        let threshold = self.config.avoid_agent_after_failures;
        let Some(mut rep) = self.agents.get_mut(agent) else {
            return;
        };
        let health = rep.health_mut();
        if !health.is_avoided() {
            return;
        }
        health.avoided_until = None;
        health.failures = threshold.saturating_sub(1);
        drop(rep);
        self.notice(TraceLevel::Change, agent.as_str(), || {
            "avoidance for placement over: on probation, one more failed command \
             avoids it again"
                .to_owned()
        });
        self.placeable_again(agent);
    }

    /// `agent` may take new tasks again: the unplaced ones that fit there
    /// are retried.
    fn placeable_again(&mut self, agent: &AgentId) {
        if let Some(rep) = self.agents.get(agent) {
            self.transformer.capacity_appeared_on(rep);
        }
        self.reconcile_needed = true;
    }
}
