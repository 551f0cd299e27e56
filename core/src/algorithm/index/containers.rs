//! Least-used's and spread's index: agents by (containers, index).

use std::cell::{Cell, RefCell};

use super::super::AgentSlot;
use super::super::ranked::{Entry, Need, Ranked};
use super::{ByVolumes, Footprint, agent_number};
use crate::wire::JobHash;

/// Agents by (containers, index), per [`ByVolumes`].
pub(in crate::algorithm) type ByContainers = ByVolumes<ContainersOrder>;

impl ByContainers {
    pub(super) fn new(agents: &[AgentSlot]) -> ByContainers {
        ByVolumes::build(agents, |members| ContainersOrder::new(agents, members))
    }

    pub(super) fn moved(&mut self, agent: u32, before: Footprint, after: Footprint) {
        self.for_agent(agent, |order| order.moved(agent, before, after));
    }

    pub(super) fn counts_changed(&mut self) {
        self.for_each(|order| {
            order.spread_mark.take();
        });
    }
}

/// The key of least-used's order: containers, then index, in one number.
pub(in crate::algorithm) fn containers_key(containers: u32, agent: u32) -> u64 {
    (u64::from(containers) << 32) | u64::from(agent)
}

/// Some agents by (containers, index), and where the last searches found
/// their answers.
///
/// The marks let the next search for the same task (the next task of the
/// same job, usually) start where the last one ended instead of re-reading
/// every agent before it that had no room. A mark stays true whatever is
/// placed meanwhile: placing only adds containers (keys only grow, so no
/// agent moves in front of a mark) and only takes capacity (an agent
/// without room never gains it). An agent that frees capacity or
/// containers (the cluster is kept between reconciles) clears the marks.
/// Searches take `&self`, hence the cells.
#[derive(Clone, Debug)]
pub(in crate::algorithm) struct ContainersOrder {
    /// The order.
    pub(in crate::algorithm) agents: Ranked<u64>,
    /// Least-used's mark: no agent before `key` has room for the task.
    least_used_mark: Cell<Option<Mark>>,
    /// Spread's mark: every agent before `key` either has no room for the
    /// task or runs its job already (instance counts only grow too, except
    /// through [`super::Indexes::counts_changed`]).
    spread_mark: RefCell<Option<(JobHash, Mark)>>,
}

/// A task's size, and a key before which no agent will do for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    cpu_millis: u64,
    mem_mb: u64,
    key: u64,
}

impl Mark {
    /// The key to start a search for `need` from, given the mark left.
    fn start(mark: Option<Mark>, need: &Need) -> u64 {
        mark.filter(|mark| (mark.cpu_millis, mark.mem_mb) == need.size())
            .map_or(0, |mark| mark.key)
    }

    fn of(need: &Need, key: u64) -> Mark {
        let (cpu_millis, mem_mb) = need.size();
        Mark {
            cpu_millis,
            mem_mb,
            key,
        }
    }
}

impl ContainersOrder {
    fn new(agents: &[AgentSlot], members: &[usize]) -> ContainersOrder {
        let entries = members
            .iter()
            .map(|&index| {
                let slot = &agents[index];
                let agent = agent_number(index);
                Entry {
                    key: containers_key(slot.containers, agent),
                    cpu_free_millis: slot.cpu_free_millis(),
                    mem_free_mb: slot.mem_free_mb(),
                    agent,
                    volume_set: 0,
                }
            })
            .collect();
        ContainersOrder {
            agents: Ranked::new(entries),
            least_used_mark: Cell::new(None),
            spread_mark: RefCell::new(None),
        }
    }

    fn moved(&mut self, agent: u32, before: Footprint, after: Footprint) {
        // The marks hold while agents only fill up. An agent that gained
        // room, or lost containers (its key moved forward), may now be the
        // answer before a mark: forget them.
        let freed = after.cpu_free_millis > before.cpu_free_millis
            || after.mem_free_mb > before.mem_free_mb
            || after.containers < before.containers;
        if freed {
            self.least_used_mark.set(None);
            self.spread_mark.take();
        }
        let old = containers_key(before.containers, agent);
        let new = containers_key(after.containers, agent);
        if old == new {
            self.agents
                .set_free(&old, after.cpu_free_millis, after.mem_free_mb);
        } else {
            let mut entry = self.agents.remove(&old);
            entry.key = new;
            entry.cpu_free_millis = after.cpu_free_millis;
            entry.mem_free_mb = after.mem_free_mb;
            self.agents.insert(entry);
        }
    }

    /// Where least-used's search for `need` may start.
    pub(in crate::algorithm) fn least_used_start(&self, need: &Need) -> u64 {
        Mark::start(self.least_used_mark.get(), need)
    }

    /// Records that least-used's search for `need` found its answer at
    /// `key`: no agent before it has room.
    pub(in crate::algorithm) fn least_used_found(&self, need: &Need, key: u64) {
        self.least_used_mark.set(Some(Mark::of(need, key)));
    }

    /// Where spread's search for an agent with room for `need` and
    /// without `job` may start.
    pub(in crate::algorithm) fn spread_start(&self, job: &JobHash, need: &Need) -> u64 {
        match &*self.spread_mark.borrow() {
            Some((marked, mark)) if marked == job => Mark::start(Some(*mark), need),
            _ => 0,
        }
    }

    /// Records that spread's search found the first agent with room for
    /// `need` and without `job` at `key`.
    pub(in crate::algorithm) fn spread_found(&self, job: &JobHash, need: &Need, key: u64) {
        let mut mark = self.spread_mark.borrow_mut();
        match &mut *mark {
            // The common case, the job's next task: no clone of the hash.
            Some((marked, old)) if marked == job => *old = Mark::of(need, key),
            _ => *mark = Some((job.clone(), Mark::of(need, key))),
        }
    }
}
