//! Discovery's list of agents: representations created for new agents,
//! and everything about agents no longer listed forgotten.

use std::collections::BTreeSet;

use super::{Output, Scheduler, TimerReason, TraceLevel};
use crate::agent::AgentRepresentation;
use crate::ids::AgentId;

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
            self.forget_agent(&id);
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

    /// Discovery no longer lists `id`: its representation, records,
    /// commands and timers go, and its stream is closed.
    fn forget_agent(&mut self, id: &AgentId) {
        if let Some(number) = self.agents.get(id).map(|rep| rep.number) {
            self.dispatch.forget_agent(number);
        }
        let lost = self.agents.remove(id).unwrap_or_default();
        self.timers.forget_agent(id);
        for container in lost {
            self.settle_backoff_timer(id, &container);
            self.transformer.mark(container);
        }
        self.outputs
            .push_back(Output::CloseStream { agent: id.clone() });
        self.notice(TraceLevel::Change, id.as_str(), || {
            "no longer discovered: forgotten".to_owned()
        });
        self.reconcile_needed = true;
    }
}
