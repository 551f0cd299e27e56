//! Indexes over a cluster's agents, so that an algorithm finds its agent
//! without visiting every agent.
//!
//! An algorithm asks for the index it reads in [`super::Algorithm::prepare`]
//! (which [`super::place`] calls), the cluster builds it once, and
//! [`super::Cluster::reserve`] keeps every index built so far up to date. A
//! cluster no algorithm prepared has none and costs nothing more than its
//! agents; an algorithm asked to choose on such a cluster scans, with the
//! same answer.
//!
//! Each index orders agents the way its algorithm ranks them, in
//! [`Ranked`](super::ranked::Ranked) sets: least-used and spread by
//! (containers, index) in `containers.rs`, bin-pack by slack within each
//! size of agent in `fullness.rs`, random-fit by index in `by_id.rs`. So
//! that a task needing volumes searches only agents offering them, the
//! first two keep one structure over every agent (for tasks needing no
//! volume, nearly all of them) and one per set of volumes over the agents
//! offering it ([`ByVolumes`]); real fleets have few such sets.

mod by_id;
mod containers;
mod fullness;

use std::collections::{BTreeMap, BTreeSet};

use super::{AgentSlot, Demand};

pub(super) use by_id::ById;
pub(super) use containers::{ByContainers, containers_key};
pub(super) use fullness::ByFullness;

/// Which index an algorithm reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IndexKind {
    /// Least-used's and spread's: by (containers, index).
    Containers,
    /// Bin-pack's: by size, then by (slack, index).
    Fullness,
    /// Random-fit's: by index.
    Id,
}

/// What the indexes know of an agent, before and after a reservation.
#[derive(Clone, Copy, Debug)]
pub(super) struct Footprint {
    cpu_free_millis: u64,
    mem_free_mb: u64,
    containers: u32,
}

impl Footprint {
    /// What `agent` looks like to the indexes.
    pub(super) fn of(agent: &AgentSlot) -> Footprint {
        Footprint {
            cpu_free_millis: agent.cpu_free_millis(),
            mem_free_mb: agent.mem_free_mb(),
            containers: agent.containers,
        }
    }
}

/// The indexes built so far.
#[derive(Clone, Debug, Default)]
pub(super) struct Indexes {
    /// Least-used's and spread's.
    pub(super) by_containers: Option<ByContainers>,
    /// Bin-pack's.
    pub(super) by_fullness: Option<ByFullness>,
    /// Bin-pack's was asked for but cannot represent these agents.
    by_fullness_impossible: bool,
    /// Random-fit's.
    pub(super) by_id: Option<ById>,
}

impl Indexes {
    /// Builds the `kind` index over `agents` unless it is built already.
    pub(super) fn build(&mut self, kind: IndexKind, agents: &[AgentSlot]) {
        match kind {
            IndexKind::Containers if self.by_containers.is_none() => {
                self.by_containers = Some(ByContainers::new(agents));
            }
            IndexKind::Fullness if self.by_fullness.is_none() && !self.by_fullness_impossible => {
                self.by_fullness = ByFullness::new(agents);
                self.by_fullness_impossible = self.by_fullness.is_none();
            }
            IndexKind::Id if self.by_id.is_none() => {
                self.by_id = Some(ById::new(agents));
            }
            _ => {}
        }
    }

    /// Forgets what searches learnt about instance counts, which
    /// [`super::Cluster::count_job`] may have lowered.
    pub(super) fn counts_changed(&mut self) {
        if let Some(by_containers) = &mut self.by_containers {
            by_containers.counts_changed();
        }
    }

    /// Records that agent `index`, now `slot`, changed from `before`.
    pub(super) fn moved(&mut self, index: usize, slot: &AgentSlot, before: Footprint) {
        let after = Footprint::of(slot);
        let agent = agent_number(index);
        if let Some(by_containers) = &mut self.by_containers {
            by_containers.moved(agent, before, after);
        }
        if let Some(by_fullness) = &mut self.by_fullness {
            by_fullness.moved(agent, slot, before, after);
        }
        if let Some(by_id) = &mut self.by_id {
            by_id.moved(agent, after);
        }
    }
}

/// An agent's index as stored in the indexes.
fn agent_number(index: usize) -> u32 {
    u32::try_from(index).expect("a cluster has fewer than 2^32 agents")
}

/// Splits `agents` (indexes into `slots`) into classes by `class`: the
/// distinct classes, in order of first appearance, and each agent's class
/// number, in the order of `agents`.
fn classify<'a, C: Ord + 'a>(
    slots: &'a [AgentSlot],
    agents: impl IntoIterator<Item = usize>,
    class: impl Fn(&'a AgentSlot) -> C,
) -> (Vec<C>, Vec<u32>) {
    let mut numbers: BTreeMap<C, u32> = BTreeMap::new();
    let mut classes = Vec::new();
    let mut class_of = Vec::new();
    for index in agents {
        let slot = &slots[index];
        let number = *numbers.entry(class(slot)).or_insert_with(|| {
            classes.push(class(slot));
            agent_number(classes.len() - 1)
        });
        class_of.push(number);
    }
    (classes, class_of)
}

/// A structure `T` over every agent, for tasks that need no volume, and one
/// over the agents offering each set of volumes, for tasks that do.
#[derive(Clone, Debug)]
pub(super) struct ByVolumes<T> {
    all: T,
    offering: Vec<(BTreeSet<String>, T)>,
    /// Each agent's set, as an index into `offering` (none for an agent
    /// offering no volume).
    set_of: Vec<Option<u32>>,
}

impl<T> ByVolumes<T> {
    /// Builds each structure with `build`, from the indexes of its agents.
    fn build(agents: &[AgentSlot], build: impl Fn(&[usize]) -> T) -> ByVolumes<T> {
        let offering_any: Vec<usize> = (0..agents.len())
            .filter(|&index| !agents[index].volumes.is_empty())
            .collect();
        let (sets, numbers) = classify(agents, offering_any.iter().copied(), |slot| &slot.volumes);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); sets.len()];
        let mut set_of = vec![None; agents.len()];
        for (&index, &set) in offering_any.iter().zip(&numbers) {
            members[set as usize].push(index);
            set_of[index] = Some(set);
        }
        let all: Vec<usize> = (0..agents.len()).collect();
        ByVolumes {
            all: build(&all),
            offering: sets
                .into_iter()
                .zip(members)
                .map(|(set, members)| (set.clone(), build(&members)))
                .collect(),
            set_of,
        }
    }

    /// The structures to search for `demand`: the one over every agent if
    /// it needs no volume, else those of the sets offering what it needs.
    pub(super) fn for_demand<'a>(&'a self, demand: &'a Demand) -> impl Iterator<Item = &'a T> + 'a {
        let needs_none = demand.volumes.is_empty();
        let all = needs_none.then_some(&self.all);
        let offering = self
            .offering
            .iter()
            .filter(move |(set, _)| !needs_none && demand.volumes.is_subset(set))
            .map(|(_, structure)| structure);
        all.into_iter().chain(offering)
    }

    /// Calls `update` on every structure agent `agent` is in.
    fn for_agent(&mut self, agent: u32, mut update: impl FnMut(&mut T)) {
        update(&mut self.all);
        if let Some(set) = self.set_of[agent as usize] {
            update(&mut self.offering[set as usize].1);
        }
    }

    /// Calls `update` on every structure.
    fn for_each(&mut self, mut update: impl FnMut(&mut T)) {
        update(&mut self.all);
        for (_, structure) in &mut self.offering {
            update(structure);
        }
    }
}
