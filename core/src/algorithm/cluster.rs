//! The cluster as placement sees it: every agent that may take work, and
//! the indexes the algorithms search instead of visiting every agent.

use crate::ids::AgentId;
use crate::wire::JobHash;

use super::index::{Footprint, IndexKind, Indexes};
use super::{AgentSlot, Demand, Unplaced, unplaced};

/// Every agent that may take work, sorted by id so that a deterministic
/// algorithm's answer does not depend on the order agents were listed in.
///
/// The agents can only change through [`Cluster::reserve`],
/// [`Cluster::update_usage`] and the job counts ([`Cluster::count_job`],
/// [`Cluster::set_job_instances`], [`Cluster::clear_job_instances`]), which
/// keep the indexes built by [`super::Algorithm::prepare`] in step with
/// them. `Send` but not `Sync`: searches record what they learnt in cells.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    agents: Vec<AgentSlot>,
    indexes: Indexes,
    /// The agents whose `job_instances` may be non-empty, so that
    /// [`Cluster::clear_job_instances`] visits only them.
    counted: Vec<usize>,
}

impl Cluster {
    /// A cluster of these agents (in any order).
    pub fn new(mut agents: Vec<AgentSlot>) -> Cluster {
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        agents.dedup_by(|a, b| a.id == b.id);
        let counted = (0..agents.len())
            .filter(|&index| !agents[index].job_instances.is_empty())
            .collect();
        Cluster {
            agents,
            indexes: Indexes::default(),
            counted,
        }
    }

    /// The position of agent `id` in [`Cluster::agents`], if it is in.
    pub fn position(&self, id: &AgentId) -> Option<usize> {
        self.position_from(id, 0)
    }

    /// [`Cluster::position`] among the agents from position `from` on (for
    /// a caller looking up ids in increasing order).
    pub fn position_from(&self, id: &AgentId, from: usize) -> Option<usize> {
        let rest = self.agents.get(from..)?;
        rest.binary_search_by(|slot| slot.id.cmp(id))
            .ok()
            .map(|index| from + index)
    }

    /// Brings agent `index` up to `now`: what it has promised and how many
    /// containers it runs, keeping the indexes current, in O(log agents).
    /// Returns false, changing nothing, if `now` differs in what the
    /// indexes are built on (its id, totals or volumes): the caller then
    /// builds a new cluster. Job counts are not taken from `now`.
    pub fn update_usage(&mut self, index: usize, now: &AgentSlot) -> bool {
        let slot = &mut self.agents[index];
        if slot.id != now.id
            || slot.cpu_total_millis != now.cpu_total_millis
            || slot.mem_total_mb != now.mem_total_mb
            || slot.volumes != now.volumes
        {
            return false;
        }
        self.set_usage(index, now.cpu_used_millis, now.mem_used_mb, now.containers);
        true
    }

    /// Sets what agent `index` has promised and how many containers it
    /// runs, keeping the indexes current, in O(log agents). Its totals and
    /// volumes must be unchanged (else build a new cluster).
    pub fn set_usage(
        &mut self,
        index: usize,
        cpu_used_millis: u64,
        mem_used_mb: u64,
        containers: u32,
    ) {
        let slot = &mut self.agents[index];
        let before = Footprint::of(slot);
        slot.cpu_used_millis = cpu_used_millis;
        slot.mem_used_mb = mem_used_mb;
        slot.containers = containers;
        self.indexes.moved(index, slot, before);
    }

    /// Forgets every agent's job counts, visiting only the agents that had
    /// any: for a caller that keeps the cluster between rounds of placement
    /// and counts jobs afresh in each.
    pub fn clear_job_instances(&mut self) {
        for index in self.counted.drain(..) {
            self.agents[index].job_instances.clear();
        }
        self.indexes.counts_changed();
    }

    /// The agents, sorted by id.
    pub fn agents(&self) -> &[AgentSlot] {
        &self.agents
    }

    /// Records that `demand` was placed on agent `index`, counting it in
    /// the agent's job instances.
    pub fn reserve(&mut self, index: usize, demand: &Demand) {
        self.reserve_uncounted(index, demand);
        let slot = &mut self.agents[index];
        // Look the job up before inserting it, so that the common case (the
        // agent runs the job already) clones nothing.
        match slot.job_instances.get_mut(&demand.job) {
            Some(count) => *count += 1,
            None => {
                if slot.job_instances.is_empty() {
                    self.counted.push(index);
                }
                slot.job_instances.insert(demand.job.clone(), 1);
            }
        }
    }

    /// Records that `demand` was placed on agent `index`, without counting
    /// it in the agent's job instances (for an algorithm that does not read
    /// them: see [`super::Algorithm::counts_jobs`]).
    pub fn reserve_uncounted(&mut self, index: usize, demand: &Demand) {
        let slot = &mut self.agents[index];
        let before = Footprint::of(slot);
        slot.cpu_used_millis += demand.cpu_millis;
        slot.mem_used_mb += demand.mem_mb;
        slot.containers += 1;
        self.indexes.moved(index, slot, before);
    }

    /// Sets every agent's count of `job`'s instances to `count(id)` (zero
    /// for none), for a caller that fills the counts in lazily, for the
    /// jobs it places. Visits every agent; [`Cluster::set_job_instances`]
    /// visits only the agents named.
    pub fn count_job(&mut self, job: &JobHash, mut count: impl FnMut(&AgentId) -> u32) {
        for (index, slot) in self.agents.iter_mut().enumerate() {
            if set_instances(slot, job, count(&slot.id)) {
                self.counted.push(index);
            }
        }
        self.indexes.counts_changed();
    }

    /// Sets the count of `job`'s instances on each agent named in `counts`
    /// (ids not in the cluster are ignored; agents not named keep theirs).
    pub fn set_job_instances<'a>(
        &mut self,
        job: &JobHash,
        counts: impl IntoIterator<Item = (&'a AgentId, u32)>,
    ) {
        for (id, count) in counts {
            if let Some(index) = self.position(id)
                && set_instances(&mut self.agents[index], job, count)
            {
                self.counted.push(index);
            }
        }
        self.indexes.counts_changed();
    }

    /// Why no agent can take `demand`, in words a person can act on, e.g.
    /// `needs 2.0 cpu; largest free is 1.5 on a3`.
    pub fn unplaced_reason(&self, demand: &Demand) -> Unplaced {
        unplaced::reason(self, demand)
    }

    /// Builds the `kind` index unless it is built already.
    pub(super) fn build_index(&mut self, kind: IndexKind) {
        self.indexes.build(kind, &self.agents);
    }

    /// The indexes built so far.
    pub(super) fn indexes(&self) -> &Indexes {
        &self.indexes
    }

    /// The index of the agent that fits `demand` with the least `key`, the
    /// lowest index among equals, or `None` when no agent fits.
    ///
    /// This is every algorithm's rule stated as a scan: "the best agent
    /// that fits" for some order. It allocates nothing, visits each agent
    /// once, and breaks ties by index (that is, by id) so that the answer
    /// never depends on anything but the agents' state. The indexes give
    /// the same answers faster; this is the baseline they are measured and
    /// tested against, and the answer on a cluster without an index.
    pub(super) fn least_fitting_by<K: Ord>(
        &self,
        demand: &Demand,
        mut key: impl FnMut(&AgentSlot) -> K,
    ) -> Option<usize> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, agent)| agent.fits(demand))
            .min_by_key(|&(index, agent)| (key(agent), index))
            .map(|(index, _)| index)
    }
}

/// Sets `slot`'s count of `job` to `count`, keeping no zero counts, and
/// says whether the slot's counts went from none to some. No index is
/// ordered by these counts; the caller tells the indexes that what
/// searches learnt about them may be stale.
fn set_instances(slot: &mut AgentSlot, job: &JobHash, count: u32) -> bool {
    let had_none = slot.job_instances.is_empty();
    if count == 0 {
        slot.job_instances.remove(job);
    } else if let Some(existing) = slot.job_instances.get_mut(job) {
        *existing = count;
    } else {
        slot.job_instances.insert(job.clone(), count);
    }
    had_none && !slot.job_instances.is_empty()
}
