//! Bin-pack's index: agents of each size by slack.

use std::collections::BTreeMap;

use super::super::AgentSlot;
use super::super::ranked::{Entry, Ranked};
use super::{ByVolumes, Footprint, agent_number, classify};

/// Agents in classes of one size, each by slack then index, per
/// [`ByVolumes`]; `None` when some agent is too large for the keys.
#[derive(Clone, Debug)]
pub(in crate::algorithm) struct ByFullness(ByVolumes<Option<SizeClasses>>);

impl ByFullness {
    /// The index, or `None` if some agent is too large for its keys (both
    /// totals above about 2^47), where bin-pack scans instead.
    pub(super) fn new(agents: &[AgentSlot]) -> Option<ByFullness> {
        let index = ByVolumes::build(agents, |members| SizeClasses::new(agents, members));
        // The structure over every agent has every size.
        index.all.as_ref()?;
        Some(ByFullness(index))
    }

    /// The size classes to search for a task needing `demand`'s volumes.
    pub(in crate::algorithm) fn for_demand<'a>(
        &'a self,
        demand: &'a super::super::Demand,
    ) -> impl Iterator<Item = &'a SizeClass> + 'a {
        self.0
            .for_demand(demand)
            .flatten()
            .flat_map(|classes| &classes.classes)
    }

    pub(super) fn moved(
        &mut self,
        agent: u32,
        slot: &AgentSlot,
        before: Footprint,
        after: Footprint,
    ) {
        self.0.for_agent(agent, |classes| {
            if let Some(classes) = classes {
                classes.moved(agent, slot, before, after);
            }
        });
    }
}

/// Some agents, in one class per size.
#[derive(Clone, Debug)]
pub(super) struct SizeClasses {
    classes: Vec<SizeClass>,
    /// The class of each size.
    class_of: BTreeMap<(u64, u64), usize>,
}

impl SizeClasses {
    /// `None` if some size is too large for the keys.
    fn new(agents: &[AgentSlot], members: &[usize]) -> Option<SizeClasses> {
        let (sizes, numbers) = classify(agents, members.iter().copied(), |slot| {
            (slot.cpu_total_millis, slot.mem_total_mb)
        });
        let mut classes = sizes
            .iter()
            .map(|&(cpu, mem)| SizeClass::new(cpu, mem))
            .collect::<Option<Vec<SizeClass>>>()?;
        let mut entries: Vec<Vec<Entry<u128>>> = vec![Vec::new(); classes.len()];
        for (&index, &number) in members.iter().zip(&numbers) {
            let slot = &agents[index];
            let agent = agent_number(index);
            let (cpu_free, mem_free) = (slot.cpu_free_millis(), slot.mem_free_mb());
            entries[number as usize].push(Entry {
                key: classes[number as usize].key(cpu_free, mem_free, agent),
                cpu_free_millis: cpu_free,
                mem_free_mb: mem_free,
                agent,
                volume_set: 0,
            });
        }
        for (class, entries) in classes.iter_mut().zip(entries) {
            class.agents = Ranked::new(entries);
        }
        let class_of = sizes
            .into_iter()
            .enumerate()
            .map(|(number, size)| (size, number))
            .collect();
        Some(SizeClasses { classes, class_of })
    }

    fn moved(&mut self, agent: u32, slot: &AgentSlot, before: Footprint, after: Footprint) {
        let size = (slot.cpu_total_millis, slot.mem_total_mb);
        let class = &mut self.classes[self.class_of[&size]];
        let old = class.key(before.cpu_free_millis, before.mem_free_mb, agent);
        let new = class.key(after.cpu_free_millis, after.mem_free_mb, agent);
        if old == new {
            class
                .agents
                .set_free(&old, after.cpu_free_millis, after.mem_free_mb);
        } else {
            let mut entry = class.agents.remove(&old);
            entry.key = new;
            entry.cpu_free_millis = after.cpu_free_millis;
            entry.mem_free_mb = after.mem_free_mb;
            class.agents.insert(entry);
        }
    }
}

/// Agents of one size, ordered by slack, then index.
#[derive(Clone, Debug)]
pub(in crate::algorithm) struct SizeClass {
    /// The CPU every agent of the class has, in milli-cores.
    pub(in crate::algorithm) cpu_total_millis: u64,
    /// The memory every agent of the class has, in MB.
    pub(in crate::algorithm) mem_total_mb: u64,
    /// The agents, by [`SizeClass::key`].
    pub(in crate::algorithm) agents: Ranked<u128>,
}

impl SizeClass {
    /// A size class, if its keys fit in 128 bits: the numerator below
    /// must leave 32 bits for the index.
    fn new(cpu_total_millis: u64, mem_total_mb: u64) -> Option<SizeClass> {
        let den =
            u128::from(cpu_total_millis.max(1)).checked_mul(u128::from(mem_total_mb.max(1)))?;
        (den < 1 << 95).then(|| SizeClass {
            cpu_total_millis,
            mem_total_mb,
            agents: Ranked::new(Vec::new()),
        })
    }

    /// The key of an agent of this size with `cpu_free_millis` and
    /// `mem_free_mb` (at most the totals): its
    /// [`Slack`](super::super::bin_pack::Slack) times the product of the
    /// totals (a whole number, the same denominator for the whole class, so
    /// that it orders like the slack), then its index.
    pub(in crate::algorithm) fn key(
        &self,
        cpu_free_millis: u64,
        mem_free_mb: u64,
        agent: u32,
    ) -> u128 {
        let cpu_weight = u128::from(self.mem_total_mb.max(1));
        let mem_weight = u128::from(self.cpu_total_millis.max(1));
        let numerator =
            u128::from(cpu_free_millis) * cpu_weight + u128::from(mem_free_mb) * mem_weight;
        (numerator << 32) | u128::from(agent)
    }
}
