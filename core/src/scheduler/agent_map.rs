//! The agent representations, the location index that mirrors their
//! records, and which of them changed in a way that placement reads.
//!
//! [`Agents`] is the one owner of cluster state: every record inserted or
//! removed goes through its methods, which update the location index in
//! the same step (and set the record's task slot), so the index cannot
//! disagree with the records however the scheduler's handlers change.
//! Mutable access to an agent ([`AgentMut`]) reaches its connection and
//! its command health only.
//!
//! Placement keeps a view of every synced agent between reconciles (see
//! `transformer/view.rs`) and updates only the agents that changed, so
//! that placing one job costs the same on ten agents as on ten thousand.
//! Knowing which changed must not depend on every mutation remembering to
//! say so: every mutable access goes through [`AgentMut`], which compares
//! the agent's [`PlacementKey`] before and after and records the agent
//! when it differs. Keep-alives and status changes, the bulk of the
//! traffic, leave the key alone and record nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, Deref};

use std::sync::Arc;

use super::locations::Locations;
use crate::agent::{
    AgentRepresentation, Change, Connection, ContainerRecord, PlacementKey, RecordMut,
};
use crate::ids::{AgentId, AgentNo};
use crate::wire::{ContainerConfig, ContainerId, JobHash, StateEvent};

/// Every agent discovery lists, by id, and the set of those whose
/// placement view is stale.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Agents {
    table: AgentTable,
    /// Agents added, removed or changed (in their placement key) since
    /// the transformer last took this set.
    changed: BTreeSet<AgentId>,
    /// How many agents are neither synced nor abandoned (placement waits
    /// for none at start), counted so that asking costs nothing.
    waiting: usize,
    /// Which agents hold a record of each container, and each job's
    /// desired task count.
    locations: Locations,
}

/// The representations, stored by number and found by id. Iteration is in
/// id order, as a map by id would give.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct AgentTable {
    /// By number (see [`AgentNo`]); `None` for a number not in use.
    reps: Vec<Option<AgentRepresentation>>,
    /// The number of each agent.
    numbers: BTreeMap<AgentId, AgentNo>,
    /// Numbers not in use, reused first.
    free: Vec<AgentNo>,
}

impl AgentTable {
    /// The agent `id`.
    pub(crate) fn get(&self, id: &AgentId) -> Option<&AgentRepresentation> {
        self.at(*self.numbers.get(id)?)
    }

    /// The agent numbered `number`.
    pub(crate) fn at(&self, number: AgentNo) -> Option<&AgentRepresentation> {
        self.reps.get(number.index())?.as_ref()
    }

    fn at_mut(&mut self, number: AgentNo) -> Option<&mut AgentRepresentation> {
        self.reps.get_mut(number.index())?.as_mut()
    }

    /// The number of agent `id`.
    pub(crate) fn number_of(&self, id: &AgentId) -> Option<AgentNo> {
        self.numbers.get(id).copied()
    }

    /// Every agent, in id order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &AgentRepresentation> {
        self.numbers.values().map(|&number| self.rep(number))
    }

    /// The agents whose ids are within `bounds`, in id order.
    pub(crate) fn range<'a>(
        &'a self,
        bounds: (Bound<&'a AgentId>, Bound<&'a AgentId>),
    ) -> impl Iterator<Item = (&'a AgentId, &'a AgentRepresentation)> {
        self.numbers
            .range::<AgentId, _>(bounds)
            .map(|(id, &number)| (id, self.rep(number)))
    }

    fn rep(&self, number: AgentNo) -> &AgentRepresentation {
        self.at(number).expect("every listed number holds an agent")
    }

    /// Inserts `rep`, numbering it (an agent already there keeps its
    /// number); returns the one it replaces.
    fn insert(&mut self, mut rep: AgentRepresentation) -> Option<AgentRepresentation> {
        if let Some(&number) = self.numbers.get(&rep.id) {
            rep.number = number;
            return self.reps[number.index()].replace(rep);
        }
        let number = self
            .free
            .pop()
            .unwrap_or_else(|| AgentNo::at(self.reps.len()));
        rep.number = number;
        self.numbers.insert(rep.id.clone(), number);
        if number.index() == self.reps.len() {
            self.reps.push(Some(rep));
        } else {
            self.reps[number.index()] = Some(rep);
        }
        None
    }

    fn remove(&mut self, id: &AgentId) -> Option<AgentRepresentation> {
        let number = self.numbers.remove(id)?;
        self.free.push(number);
        self.reps[number.index()].take()
    }
}

/// Whether placement at start still waits for `rep`.
fn is_waiting(rep: &AgentRepresentation) -> bool {
    !rep.connection.is_synced() && !rep.connection.abandoned
}

impl Agents {
    pub(crate) fn get(&self, id: &AgentId) -> Option<&AgentRepresentation> {
        self.table.get(id)
    }

    /// The agent, for changes: see the module documentation.
    pub(crate) fn get_mut(&mut self, id: &AgentId) -> Option<AgentMut<'_>> {
        let number = self.table.number_of(id)?;
        let rep = self.table.at_mut(number)?;
        let before = rep.placement_key();
        let was_waiting = is_waiting(rep);
        Some(AgentMut {
            rep,
            before,
            was_waiting,
            changed: &mut self.changed,
            waiting: &mut self.waiting,
        })
    }

    /// How many agents are neither synced nor abandoned.
    pub(crate) fn waiting(&self) -> usize {
        debug_assert_eq!(
            self.waiting,
            self.table.values().filter(|rep| is_waiting(rep)).count()
        );
        self.waiting
    }

    /// One container record, to change its status, pending command or
    /// back-off, none of which placement reads (so nothing is recorded).
    pub(crate) fn record_mut(
        &mut self,
        agent: &AgentId,
        container: &ContainerId,
    ) -> Option<RecordMut<'_>> {
        let number = self.table.number_of(agent)?;
        self.record_mut_at(number, container)
    }

    /// [`Agents::record_mut`] of the agent numbered `agent`.
    pub(crate) fn record_mut_at(
        &mut self,
        agent: AgentNo,
        container: &ContainerId,
    ) -> Option<RecordMut<'_>> {
        self.table.at_mut(agent)?.record_mut(container)
    }

    /// Inserts the record of a container that placement has just put on
    /// agent `agent`, without recording the agent as changed: the placement
    /// view reserved the container when it chose the agent, which counts
    /// exactly what the record adds (its cpu and memory, one container),
    /// so reading the agent again at the next refresh would change nothing
    /// (a debug assertion there compares the view with a fresh build).
    /// False if there is no such agent.
    pub(crate) fn insert_placed(
        &mut self,
        agent: AgentNo,
        container: ContainerId,
        record: ContainerRecord,
    ) -> bool {
        let Some(rep) = self.table.at_mut(agent) else {
            return false;
        };
        debug_assert!(
            !rep.containers().contains_key(&container),
            "placed {container} where it exists"
        );
        let mut record = record;
        record.set_task_slot(self.locations.add(&container, agent));
        rep.insert(container, record);
        true
    }

    /// The location index.
    pub(crate) fn locations(&self) -> &Locations {
        &self.locations
    }

    /// Sets how many tasks of `job` the durable registry desires.
    pub(crate) fn set_desired(&mut self, job: &JobHash, tasks: u32) {
        self.locations.set_desired(job, tasks);
    }

    /// Applies a stream event to agent `id` (see
    /// [`AgentRepresentation::apply_event`]), updating the location index
    /// for every record that came or went.
    pub(crate) fn apply_event(
        &mut self,
        id: &AgentId,
        event: StateEvent,
        full: bool,
        intern: impl FnMut(&ContainerId, Arc<ContainerConfig>) -> Arc<ContainerConfig>,
    ) -> Vec<Change> {
        let Some(number) = self.table.number_of(id) else {
            return Vec::new();
        };
        let changes = match self.get_mut(id) {
            Some(agent) => agent.rep.apply_event(event, full, intern),
            None => return Vec::new(),
        };
        let rep = self.table.at_mut(number).expect("numbered");
        for change in &changes {
            if change.inserted {
                let slot = self.locations.add(&change.container, number);
                if let Some(mut record) = rep.record_mut(&change.container) {
                    record.set_task_slot(slot);
                }
            }
            if change.outcome.forget {
                self.locations.remove(&change.container, number);
            }
        }
        changes
    }

    /// Removes one record of agent `id` (the container is gone).
    pub(crate) fn remove_record(&mut self, id: &AgentId, container: &ContainerId) {
        let Some(number) = self.table.number_of(id) else {
            return;
        };
        let removed = self
            .get_mut(id)
            .and_then(|agent| agent.rep.remove(container));
        if removed.is_some() {
            self.locations.remove(container, number);
        }
    }

    /// Forgets every record of agent `id` (abandoned or wiped); returns
    /// their containers.
    pub(crate) fn forget_containers(&mut self, id: &AgentId) -> Vec<ContainerId> {
        let Some(number) = self.table.number_of(id) else {
            return Vec::new();
        };
        let lost = match self.get_mut(id) {
            Some(agent) => agent.rep.forget_containers(),
            None => return Vec::new(),
        };
        for container in &lost {
            self.locations.remove(container, number);
        }
        lost
    }

    pub(crate) fn insert(&mut self, rep: AgentRepresentation) {
        self.changed.insert(rep.id.clone());
        self.waiting += usize::from(is_waiting(&rep));
        if let Some(old) = self.table.insert(rep) {
            self.waiting -= usize::from(is_waiting(&old));
        }
    }

    /// Removes agent `id` and its records (before its number can be
    /// reused, so no holder in the location index outlives its number);
    /// returns the containers it held.
    pub(crate) fn remove(&mut self, id: &AgentId) -> Option<Vec<ContainerId>> {
        let mut rep = self.table.remove(id)?;
        self.changed.insert(id.clone());
        self.waiting -= usize::from(is_waiting(&rep));
        let lost = rep.forget_containers();
        for container in &lost {
            self.locations.remove(container, rep.number);
        }
        Some(lost)
    }

    pub(crate) fn contains_key(&self, id: &AgentId) -> bool {
        self.table.numbers.contains_key(id)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &AgentId> {
        self.table.numbers.keys()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &AgentRepresentation> {
        self.table.values()
    }

    /// The representations.
    pub(crate) fn table(&self) -> &AgentTable {
        &self.table
    }

    /// The representations, the location index, and the set of changed
    /// agents for the transformer to take when it next updates its
    /// placement view.
    pub(crate) fn for_reconcile(&mut self) -> (&AgentTable, &Locations, &mut BTreeSet<AgentId>) {
        (&self.table, &self.locations, &mut self.changed)
    }
}

/// Mutable access to one agent that records it as changed, when dropped,
/// if its [`PlacementKey`] moved, and keeps the count of waiting agents.
pub(crate) struct AgentMut<'a> {
    rep: &'a mut AgentRepresentation,
    before: PlacementKey,
    was_waiting: bool,
    changed: &'a mut BTreeSet<AgentId>,
    waiting: &'a mut usize,
}

impl Deref for AgentMut<'_> {
    type Target = AgentRepresentation;
    fn deref(&self) -> &AgentRepresentation {
        self.rep
    }
}

impl AgentMut<'_> {
    /// The agent's stream. Its records change only through [`Agents`],
    /// which keeps the location index with them.
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.rep.connection
    }

    /// How the agent carries out our commands (placement reads whether it
    /// is avoided, so the drop records a change of that).
    pub(crate) fn health_mut(&mut self) -> &mut crate::agent::CommandHealth {
        &mut self.rep.health
    }

    /// Drains the agent or ends its drain (placement reads it, so the
    /// drop records the change).
    pub(crate) fn set_drained(&mut self, drained: bool) {
        self.rep.drained = drained;
    }
}

impl Drop for AgentMut<'_> {
    fn drop(&mut self) {
        let now_waiting = is_waiting(self.rep);
        if now_waiting != self.was_waiting {
            *self.waiting =
                *self.waiting + usize::from(now_waiting) - usize::from(self.was_waiting);
        }
        if self.rep.placement_key() != self.before && !self.changed.contains(&self.rep.id) {
            self.changed.insert(self.rep.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ContainerRecord;
    use crate::time::Instant;

    fn agents(names: &[&str]) -> Agents {
        let mut agents = Agents::default();
        for name in names {
            agents.insert(AgentRepresentation::new(
                AgentId::new(name),
                Instant::from_millis(0),
            ));
        }
        agents
    }

    #[test]
    fn records_additions_removals_and_changes_placement_reads() {
        let mut agents = agents(&["a1", "a2"]);
        let (_, _, changed) = agents.for_reconcile();
        assert_eq!(changed.len(), 2, "new agents are changes");
        changed.clear();

        // A mutation placement does not read records nothing.
        agents
            .get_mut(&AgentId::new("a1"))
            .expect("a1")
            .connection_mut()
            .last_heard = Instant::from_millis(5);
        assert!(agents.for_reconcile().2.is_empty());

        // A new container record, reported by the stream, does, and it is
        // in the location index at once.
        let instance = crate::wire::ContainerInstance {
            container_id: "c-1".to_owned(),
            status: crate::wire::ContainerStatus::Running,
            config: std::sync::Arc::new(crate::wire::ContainerConfig::default()),
            process_state: crate::wire::ProcessState::default(),
        };
        let event = crate::wire::StateEvent {
            resources: crate::wire::HostResources::default(),
            containers: [("c-1".to_owned(), instance)].into_iter().collect(),
        };
        let changes = agents.apply_event(&AgentId::new("a2"), event, true, |_, config| config);
        assert_eq!(changes.len(), 1);
        assert_eq!(agents.locations().of(&ContainerId::new("c-1")).len(), 1);
        let (_, _, changed) = agents.for_reconcile();
        assert_eq!(changed.iter().collect::<Vec<_>>(), [&AgentId::new("a2")]);
        changed.clear();

        // A container placement put there (and reserved in its view) is
        // not a change to read again.
        let placed = ContainerRecord::creating(
            std::sync::Arc::new(crate::wire::ContainerConfig::default()),
            crate::agent::Pending {
                command: crate::ids::CommandId(2),
                action: crate::agent::Action::Create,
                phase: crate::agent::Phase::InFlight,
                issued_at: Instant::from_millis(5),
            },
        );
        let a2 = agents.table().number_of(&AgentId::new("a2")).expect("a2");
        assert!(agents.insert_placed(a2, ContainerId::new("c-2"), placed.clone()));
        assert!(agents.for_reconcile().2.is_empty());
        assert!(!agents.insert_placed(AgentNo::at(9), ContainerId::new("c-2"), placed));

        // Status changes through record_mut are not placement's business.
        agents
            .record_mut(&AgentId::new("a2"), &ContainerId::new("c-1"))
            .expect("the record")
            .set_backoff(None);
        assert!(agents.for_reconcile().2.is_empty());

        // Numbers are dense and reused once their agent is gone.
        let a1 = agents.table().number_of(&AgentId::new("a1")).expect("a1");
        assert_eq!((a1, a2), (AgentNo::at(0), AgentNo::at(1)));
        agents.remove(&AgentId::new("a1"));
        assert_eq!(agents.get(&AgentId::new("a1")).map(|rep| rep.number), None);
        agents.insert(AgentRepresentation::new(
            AgentId::new("a3"),
            Instant::from_millis(0),
        ));
        assert_eq!(agents.table().number_of(&AgentId::new("a3")), Some(a1));
        assert_eq!(
            agents
                .values()
                .map(|rep| rep.id.as_str())
                .collect::<Vec<_>>(),
            ["a2", "a3"],
            "in id order"
        );
        agents.for_reconcile().2.clear();
        agents.remove(&AgentId::new("a3"));
        assert_eq!(
            agents.for_reconcile().2.iter().collect::<Vec<_>>(),
            [&AgentId::new("a3")]
        );
    }
}
