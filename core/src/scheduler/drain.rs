//! Drains: agents a user drained get no placements, and their tasks move
//! elsewhere within the default rollout bounds (one task of surge per job,
//! none unavailable): a task's replacement is placed on another agent and
//! must run for the default `min_healthy` without a restart before the
//! drained instance is stopped. When no other agent has room, the task
//! stays where it is (and is shown unplaced) until one has.
//!
//! The drained set is durable (the registry's); which tasks are moving is
//! derived from it and from what the agents report, again after a restart.

use std::sync::Arc;

use super::rollouts::ROLLOUT_CHECK;
use super::{Scheduler, TimerReason};
use crate::rollout::RolloutParams;
use crate::wire::{ContainerId, ContainerStatus, JobHash};

/// The instances of a moving task.
#[derive(Default)]
struct Holders {
    /// On drained agents.
    on_drained: usize,
    /// Whether one on a drained agent runs.
    drained_running: bool,
    /// Whether there is one elsewhere, in any status.
    elsewhere: bool,
    /// The restart count of one running elsewhere.
    running_elsewhere: Option<u64>,
    /// Whether one elsewhere has failed or finished.
    ended_elsewhere: bool,
}

/// A replacement since when running, and its restart count then.
pub(crate) type RunningSince = (crate::time::Instant, u64);

impl Scheduler {
    /// Brings the agents' drained flags in line with the durable drains
    /// (placement reads them); costs the drains, not the agents.
    pub(super) fn sync_drained_flags(&mut self) {
        let durable = Arc::clone(self.registry.durable_drains());
        let undrained: Vec<_> = self
            .drained_applied
            .iter()
            .filter(|agent| !durable.contains(*agent))
            .cloned()
            .collect();
        for agent in undrained {
            if let Some(mut rep) = self.agents.get_mut(&agent) {
                rep.set_drained(false);
            }
            self.drained_applied.remove(&agent);
            self.reconcile_needed = true;
        }
        for agent in durable.iter() {
            if let Some(mut rep) = self.agents.get_mut(agent)
                && !rep.drained
            {
                rep.set_drained(true);
                self.drained_applied.insert(agent.clone());
                self.reconcile_needed = true;
            }
        }
    }

    /// Looks at the drained agents: ends the moves that are done, releases
    /// the drained instance of a task whose replacement is healthy, and
    /// starts moving one more task of each job that has none moving.
    pub(super) fn advance_drains(&mut self) {
        self.sync_drained_flags();
        if self.registry.durable_drains().is_empty() && self.moving.is_empty() {
            // Every flag was cleared above: nothing to look at again.
            return;
        }
        if self.placement_gate_open {
            let min_healthy = RolloutParams::default().min_healthy();
            let now = self.now;
            // Moves end when no drained agent holds the task any more, or
            // the task is no longer desired.
            let moving: Vec<ContainerId> = self.moving.keys().cloned().collect();
            for id in moving {
                let holders = self.holders_split(&id);
                let desired = self.is_desired_task(&id);
                if holders.on_drained == 0 || !desired {
                    self.moving.remove(&id);
                    self.move_since.remove(&id);
                    continue;
                }
                // A drained instance that does not run keeps nothing
                // available: it goes once the replacement exists. A
                // replacement that failed or exited is the task's instance
                // as any is (the core never restarts one): waiting for it
                // to be healthy would wait forever.
                if (!holders.drained_running && holders.elsewhere) || holders.ended_elsewhere {
                    self.moving.insert(id.clone(), true);
                }
                match holders.running_elsewhere {
                    Some(restarts) => {
                        let since = self.move_since.entry(id.clone()).or_insert((now, restarts));
                        if since.1 != restarts {
                            *since = (now, restarts);
                        }
                        if now.saturating_since(since.0) >= min_healthy {
                            self.moving.insert(id.clone(), true);
                        }
                    }
                    None => {
                        self.move_since.remove(&id);
                    }
                }
                self.transformer.mark(id);
            }
            // One more task of each job with none moving.
            let mut jobs_moving: std::collections::BTreeSet<JobHash> = self
                .moving
                .keys()
                .filter_map(|id| id.task().map(|(hash, _)| hash))
                .collect();
            let mut start = Vec::new();
            for agent in self.registry.durable_drains().iter() {
                let Some(rep) = self.agents.get(agent) else {
                    continue;
                };
                for (id, record) in rep.containers() {
                    // A record with a command pending (a create not yet
                    // confirmed, say) moves once it is settled.
                    if record.pending().is_some() {
                        continue;
                    }
                    let Some((hash, _)) = id.task() else { continue };
                    if jobs_moving.contains(&hash) || !self.is_desired_task(id) {
                        continue;
                    }
                    jobs_moving.insert(hash);
                    start.push(id.clone());
                }
            }
            for id in start {
                self.trace(id.as_str(), || {
                    "moves off its drained agent: a replacement is placed elsewhere".to_owned()
                });
                self.moving.insert(id.clone(), false);
                self.transformer.mark(id);
            }
            self.reconcile_needed = true;
        }
        self.timers
            .set(self.now + ROLLOUT_CHECK, TimerReason::RolloutCheck);
    }

    /// Where the instances of `id` are: on drained agents or elsewhere.
    fn holders_split(&self, id: &ContainerId) -> Holders {
        let table = self.agents.table();
        let mut holders = Holders::default();
        for &number in self.agents.locations().of(id) {
            let Some(rep) = table.at(number) else {
                continue;
            };
            let Some(record) = rep.containers().get(id) else {
                continue;
            };
            let running = record.status == Some(ContainerStatus::Running);
            if rep.drained {
                holders.on_drained += 1;
                holders.drained_running |= running;
            } else {
                holders.elsewhere = true;
                holders.ended_elsewhere |= matches!(
                    record.status,
                    Some(ContainerStatus::Failed | ContainerStatus::Finished)
                );
                if running {
                    holders.running_elsewhere = Some(record.process_state().restarts);
                }
            }
        }
        holders
    }

    /// Whether `id` names a task the transformer places now.
    fn is_desired_task(&self, id: &ContainerId) -> bool {
        id.task().is_some_and(|(hash, index)| {
            self.desired
                .get(&hash)
                .is_some_and(|job| index < job.task_count())
        })
    }

    /// Tasks still held by a drained agent that discovery lists, for `GET
    /// /rollouts`-style progress and `harpoonctl drain --wait`.
    pub fn drain_remaining(&self, agent: &crate::ids::AgentId) -> usize {
        self.agents.get(agent).map_or(0, |rep| {
            rep.containers()
                .keys()
                .filter(|id| self.is_desired_task(id))
                .count()
        })
    }
}
