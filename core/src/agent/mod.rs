//! Agent representations: what the scheduler knows about each agent.
//!
//! An [`AgentRepresentation`] mirrors one agent: the state of its event
//! stream ([`Connection`]), the resources it last reported, and a
//! [`ContainerRecord`] per container, fed by the stream and by the answers
//! to our commands. The first event after (re)connecting replaces what was
//! known; later events are deltas; `deleted` forgets a container.

mod connection;
mod container;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::algorithm::cpu_millis;
use crate::ids::AgentId;
use crate::time::Instant;
use crate::wire::{ContainerConfig, ContainerId, HostResources, StateEvent};

pub use connection::{Connection, ConnectionState, Link};
pub use container::{Action, Backoff, ContainerRecord, Outcome, Pending, Phase, RecordInput};

/// What the scheduler knows about one agent.
#[derive(Clone, Debug)]
pub struct AgentRepresentation {
    /// The agent.
    pub id: AgentId,
    /// Its stream.
    pub connection: Connection,
    /// Resources as last reported.
    pub resources: HostResources,
    /// Its containers, by ID.
    pub containers: BTreeMap<ContainerId, ContainerRecord>,
}

/// One container's transition caused by an event, for the scheduler's
/// bookkeeping (metrics, back-off, timers).
#[derive(Clone, Debug)]
pub struct Change {
    /// Which container.
    pub container: ContainerId,
    /// What the transition meant.
    pub outcome: Outcome,
    /// The pending command it was about, if any.
    pub pending: Option<Pending>,
}

impl AgentRepresentation {
    /// A representation of a newly discovered agent, its stream opening.
    pub fn new(id: AgentId, now: Instant) -> AgentRepresentation {
        AgentRepresentation {
            id,
            connection: Connection::connecting(now),
            resources: HostResources::default(),
            containers: BTreeMap::new(),
        }
    }

    /// Applies a stream event. The first event of a stream (`full`) lists
    /// every container: containers it does not list are gone, except those
    /// whose create is still pending (the agent may not show them yet).
    /// `intern` returns a shared config equal to the given one, so that the
    /// records of a job's tasks share one allocation.
    pub fn apply_event(
        &mut self,
        event: StateEvent,
        full: bool,
        mut intern: impl FnMut(&ContainerId, Arc<ContainerConfig>) -> Arc<ContainerConfig>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        self.resources = event.resources;
        if full {
            let listed = &event.containers;
            self.containers.retain(|id, record| {
                let keep = listed.contains_key(id.as_str())
                    || record.pending.is_some_and(|p| p.action == Action::Create);
                if !keep {
                    let outcome = Outcome {
                        forget: true,
                        ..Outcome::default()
                    };
                    changes.push(Change {
                        container: id.clone(),
                        outcome,
                        pending: record.pending,
                    });
                }
                keep
            });
        }
        for (id, instance) in event.containers {
            let id = ContainerId::new(&id);
            let status = instance.status;
            let change = match self.containers.get_mut(&id) {
                Some(record) => {
                    let pending = record.pending;
                    let outcome = record.apply(&RecordInput::Status(status));
                    if outcome.forget {
                        self.containers.remove(&id);
                    } else {
                        record.process_state = instance.process_state;
                        if !Arc::ptr_eq(&record.config, &instance.config)
                            && *record.config != *instance.config
                        {
                            record.config = intern(&id, instance.config);
                        }
                    }
                    Change {
                        container: id,
                        outcome,
                        pending,
                    }
                }
                None if status == crate::wire::ContainerStatus::Deleted => continue,
                None => {
                    let config = intern(&id, instance.config);
                    let mut record = ContainerRecord::reported(status, config);
                    record.process_state = instance.process_state;
                    self.containers.insert(id.clone(), record);
                    Change {
                        container: id,
                        outcome: Outcome::default(),
                        pending: None,
                    }
                }
            };
            changes.push(change);
        }
        changes
    }

    /// CPU (milli-cores) and memory (MB) promised to containers: every
    /// container known, in any status (an agent keeps a container's
    /// reservation until it is deleted), and every create still pending.
    pub fn committed(&self) -> (u64, u64) {
        self.containers.values().fold((0, 0), |(cpu, mem), record| {
            (
                cpu + cpu_millis(record.config.resources.cpu),
                mem + record.config.resources.mem,
            )
        })
    }

    /// Forgets every container: the agent was abandoned or wiped.
    pub fn forget_containers(&mut self) -> Vec<ContainerId> {
        std::mem::take(&mut self.containers).into_keys().collect()
    }
}
