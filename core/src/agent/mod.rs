//! Agent representations: what the scheduler knows about each agent.
//!
//! An [`AgentRepresentation`] mirrors one agent: the state of its event
//! stream ([`Connection`]), the resources it last reported, and a
//! [`ContainerRecord`] per container, fed by the stream and by the answers
//! to our commands. The first event after (re)connecting replaces what was
//! known; later events are deltas; `deleted` forgets a container.

mod connection;
mod container;
mod health;
pub(crate) mod transition;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::algorithm::cpu_millis;
use crate::ids::{AgentId, AgentNo};
use crate::time::Instant;
use crate::wire::{ContainerConfig, ContainerId, HostResources, StateEvent};

pub use connection::{Connection, ConnectionState, Link};
pub use container::{Action, Backoff, ContainerRecord, Outcome, Pending, Phase, RecordInput};
pub use health::CommandHealth;

/// What the scheduler knows about one agent.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AgentRepresentation {
    /// The agent.
    pub id: AgentId,
    /// Its number in the scheduler's table of agents, set when it is
    /// inserted there.
    pub number: AgentNo,
    /// Its stream.
    pub connection: Connection,
    /// How it carries out our commands, and whether placement avoids it.
    pub health: CommandHealth,
    /// A user drains it (durably): placement avoids it, and its tasks move.
    pub drained: bool,
    /// Resources as last reported (private: the placement key counts
    /// changes of its totals and volumes).
    resources: HostResources,
    /// Its containers, by ID. Private so that the aggregate below always
    /// agrees with it: every change goes through [`Self::insert`],
    /// [`Self::remove`] or [`Self::apply_event`].
    records: BTreeMap<ContainerId, ContainerRecord>,
    /// CPU (milli-cores) and memory (MB) promised to `records`.
    committed: (u64, u64),
    /// Records running, and records with a command of ours pending: the
    /// gauges `/metrics` reports, kept here so a scrape costs the number of
    /// agents, not of records.
    gauges: Gauges,
    /// How many times the reported totals or volumes changed.
    capacity_changes: u64,
}

/// How many of an agent's records run, and how many wait on a command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gauges {
    /// Records whose last reported status is `running`.
    pub running: u64,
    /// Records with a command of ours pending.
    pub pending: u64,
}

impl Gauges {
    fn flags(record: &ContainerRecord) -> (bool, bool) {
        (
            record.status == Some(crate::wire::ContainerStatus::Running),
            record.pending().is_some(),
        )
    }

    fn count(&mut self, (running, pending): (bool, bool), add: bool) {
        let (running, pending) = (u64::from(running), u64::from(pending));
        if add {
            self.running += running;
            self.pending += pending;
        } else {
            self.running -= running;
            self.pending -= pending;
        }
    }

    fn moved(&mut self, before: (bool, bool), after: (bool, bool)) {
        if before != after {
            self.count(before, false);
            self.count(after, true);
        }
    }
}

/// Mutable access to one record that keeps its agent's [`Gauges`] true.
pub struct RecordMut<'a> {
    record: &'a mut ContainerRecord,
    gauges: &'a mut Gauges,
    before: (bool, bool),
}

impl std::ops::Deref for RecordMut<'_> {
    type Target = ContainerRecord;
    fn deref(&self) -> &ContainerRecord {
        self.record
    }
}

impl std::ops::DerefMut for RecordMut<'_> {
    fn deref_mut(&mut self) -> &mut ContainerRecord {
        self.record
    }
}

impl Drop for RecordMut<'_> {
    fn drop(&mut self) {
        self.gauges.moved(self.before, Gauges::flags(self.record));
    }
}

/// Everything about an agent that placement reads, in a few numbers: when
/// it is unchanged after a mutation, the agent's slot in the placement
/// view needs no update. See [`AgentRepresentation::placement_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacementKey {
    synced: bool,
    avoided: bool,
    committed: (u64, u64),
    containers: usize,
    capacity_changes: u64,
}

/// One container's transition caused by an event, for the scheduler's
/// bookkeeping (metrics, back-off, timers, the location index).
#[derive(Clone, Debug)]
pub struct Change {
    /// Which container.
    pub container: ContainerId,
    /// What the transition meant; `forget` means the record is gone.
    pub outcome: Outcome,
    /// The pending command it was about, if any.
    pub pending: Option<Pending>,
    /// The record is new: the agent reported a container we did not know.
    pub inserted: bool,
    /// The transition-table row the record took (see [`transition`]);
    /// `None` for a record inserted, or forgotten by a full event.
    pub row: Option<usize>,
}

impl AgentRepresentation {
    /// A representation of a newly discovered agent, its stream opening.
    pub fn new(id: AgentId, now: Instant) -> AgentRepresentation {
        AgentRepresentation {
            id,
            number: AgentNo::UNASSIGNED,
            connection: Connection::connecting(now),
            health: CommandHealth::default(),
            drained: false,
            resources: HostResources::default(),
            records: BTreeMap::new(),
            committed: (0, 0),
            gauges: Gauges::default(),
            capacity_changes: 0,
        }
    }

    /// Resources as last reported.
    pub fn resources(&self) -> &HostResources {
        &self.resources
    }

    /// Its containers, by ID.
    pub fn containers(&self) -> &BTreeMap<ContainerId, ContainerRecord> {
        &self.records
    }

    /// One container's record, to change its status, pending command or
    /// back-off (not its config, which the aggregates depend on).
    pub fn record_mut(&mut self, id: &ContainerId) -> Option<RecordMut<'_>> {
        let record = self.records.get_mut(id)?;
        let before = Gauges::flags(record);
        Some(RecordMut {
            record,
            gauges: &mut self.gauges,
            before,
        })
    }

    /// Its records running and pending.
    pub fn gauges(&self) -> Gauges {
        self.gauges
    }

    /// Adds a record (a container about to be created).
    pub fn insert(&mut self, id: ContainerId, record: ContainerRecord) {
        self.count(&record, true);
        if let Some(previous) = self.records.insert(id.clone(), record) {
            self.count(&previous, false);
        }
    }

    /// Removes a record.
    pub fn remove(&mut self, id: &ContainerId) -> Option<ContainerRecord> {
        let record = self.records.remove(id)?;
        self.count(&record, false);
        Some(record)
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
        let (old, new) = (&self.resources, &event.resources);
        if old.cpus.total != new.cpus.total
            || old.mem.total != new.mem.total
            || old.volumes != new.volumes
        {
            self.capacity_changes += 1;
        }
        self.resources = event.resources;
        if full {
            let listed = &event.containers;
            let gone: Vec<ContainerId> = self
                .records
                .iter()
                .filter(|(id, record)| {
                    !listed.contains_key(id.as_str())
                        && record.pending().is_none_or(|p| p.action != Action::Create)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                let record = self.remove(&id).expect("listed above");
                let outcome = Outcome {
                    forget: true,
                    ..Outcome::default()
                };
                changes.push(Change {
                    container: id,
                    outcome,
                    pending: record.pending(),
                    inserted: false,
                    row: None,
                });
            }
        }
        if full && self.records.is_empty() {
            // The first event of a fresh representation: build the map in
            // one go, which packs its nodes full (inserting one by one, in
            // order, leaves them half empty: a million records would cost
            // tens of megabytes more).
            let mut fresh = Vec::with_capacity(event.containers.len());
            for (id, instance) in event.containers {
                if instance.status == crate::wire::ContainerStatus::Deleted {
                    continue;
                }
                let id = ContainerId::new(&id);
                let config = intern(&id, instance.config);
                let mut record = ContainerRecord::reported(instance.status, config);
                record.set_process_state(instance.process_state);
                self.count(&record, true);
                changes.push(Change {
                    container: id.clone(),
                    outcome: Outcome::default(),
                    pending: None,
                    inserted: true,
                    row: None,
                });
                fresh.push((id, record));
            }
            self.records = fresh.into_iter().collect();
            return changes;
        }
        for (id, instance) in event.containers {
            let status = instance.status;
            let known = self
                .records
                .get_key_value(id.as_str())
                .map(|(key, _)| key.clone());
            let change = match known {
                Some(id) => {
                    let record = self.records.get_mut(&id).expect("known");
                    let pending = record.pending();
                    let before = Gauges::flags(record);
                    let input = RecordInput::Status(status);
                    let row = transition::row(record, &input);
                    let outcome = record.apply(&input);
                    self.gauges.moved(before, Gauges::flags(record));
                    if outcome.forget {
                        self.remove(&id);
                    } else {
                        record.set_process_state(instance.process_state);
                        if !Arc::ptr_eq(record.config(), &instance.config)
                            && **record.config() != *instance.config
                        {
                            // The agent filled something in (a port, say):
                            // keep what it runs, re-counting its resources.
                            let mut record = self.remove(&id).expect("known");
                            record.replace_config(intern(&id, instance.config));
                            self.insert(id.clone(), record);
                        }
                    }
                    Change {
                        container: id,
                        outcome,
                        pending,
                        inserted: false,
                        row: Some(row),
                    }
                }
                None if status == crate::wire::ContainerStatus::Deleted => continue,
                None => {
                    let id = ContainerId::new(&id);
                    let config = intern(&id, instance.config);
                    let mut record = ContainerRecord::reported(status, config);
                    record.set_process_state(instance.process_state);
                    self.insert(id.clone(), record);
                    Change {
                        container: id,
                        outcome: Outcome::default(),
                        pending: None,
                        inserted: true,
                        row: None,
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
        self.committed
    }

    /// What placement reads of this agent. It changes whenever the
    /// agent's slot in the placement view would: synchronisation,
    /// avoidance after failing commands, what is
    /// promised, how many containers, its totals or volumes. (A record's
    /// status, pending command or back-off is not read by placement.)
    pub fn placement_key(&self) -> PlacementKey {
        PlacementKey {
            synced: self.connection.is_synced(),
            avoided: self.health.is_avoided() || self.drained,
            committed: self.committed,
            containers: self.records.len(),
            capacity_changes: self.capacity_changes,
        }
    }

    /// Whether placement may put new tasks here: its stream is synced
    /// (commands go only to synced agents) and it is not avoided after
    /// failing commands, nor drained.
    pub fn is_placeable(&self) -> bool {
        self.connection.is_synced() && !self.health.is_avoided() && !self.drained
    }

    /// Forgets every container: the agent was abandoned or wiped.
    pub fn forget_containers(&mut self) -> Vec<ContainerId> {
        self.committed = (0, 0);
        self.gauges = Gauges::default();
        std::mem::take(&mut self.records).into_keys().collect()
    }

    /// Adds (or with `add == false` subtracts) a record to the aggregates.
    fn count(&mut self, record: &ContainerRecord, add: bool) {
        self.gauges.count(Gauges::flags(record), add);
        let cpu = cpu_millis(record.config().resources.cpu);
        let mem = record.config().resources.mem;
        if add {
            self.committed.0 += cpu;
            self.committed.1 += mem;
        } else {
            self.committed.0 -= cpu;
            self.committed.1 -= mem;
        }
    }
}
