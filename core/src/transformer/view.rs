//! The placement view: the [`Cluster`] placement searches, kept between
//! reconciles and updated only where agents changed.
//!
//! Building the view visits every synced agent and building an index sorts
//! them: at ten thousand agents, milliseconds, which a reconcile that
//! places one job of a hundred tasks cannot afford if it is to cost what
//! changed. So the view is built once, then each placing reconcile first
//! applies the agents the scheduler recorded as changed (see
//! `scheduler/agent_map.rs`; a container placement put on an agent is not
//! such a change, since placing it reserved it in the view): a change in
//! what an agent has promised or how many containers it runs moves its
//! entries in the indexes, O(log agents); an agent appearing, going or
//! changing its totals or volumes (rare) rebuilds the view. Job counts (for spreading) hold within one reconcile:
//! they are cleared when the view is next taken and filled in per job, from
//! the locations of the job's tasks, when a task of that job is placed.

use std::collections::{BTreeMap, BTreeSet};

use crate::agent::AgentRepresentation;
use crate::algorithm::{self, AgentSlot, Cluster};
use crate::ids::{AgentId, AgentNo};
use crate::scheduler::agent_map::AgentTable;

/// The cluster as placement last saw it, and the number of each of its
/// agents (by position in [`Cluster::agents`]), so that a placement names
/// its agent's number without a search among ids.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct PlacementView {
    // Not in a checkpoint: a restored view is built afresh at its first
    // placement, which equals the kept one (checked below in debug builds).
    #[serde(skip)]
    cluster: Option<(Cluster, Vec<AgentNo>)>,
    /// Synced agents left out because they are avoided.
    avoided: BTreeSet<AgentId>,
}

impl PlacementView {
    /// The cluster, brought up to date: the agents in `changed` (which
    /// this empties) are read again, and job counts are cleared. Also
    /// returns how many synced agents are avoided (and so not in it).
    pub(super) fn refresh(
        &mut self,
        agents: &AgentTable,
        changed: &mut BTreeSet<AgentId>,
    ) -> (&mut Cluster, &[AgentNo], usize) {
        for id in changed.iter() {
            match agents.get(id) {
                Some(rep) if is_avoided(rep) => self.avoided.insert(id.clone()),
                _ => self.avoided.remove(id),
            };
        }
        if let Some((cluster, _)) = &mut self.cluster {
            cluster.clear_job_instances();
            // Both `changed` and the cluster's agents are sorted by id, so
            // each search starts where the previous one ended.
            let mut from = 0;
            let in_step = changed.iter().all(|id| {
                let rep = agents.get(id).filter(|rep| rep.is_placeable());
                match (cluster.position_from(id, from), rep) {
                    (Some(index), Some(rep)) => {
                        from = index + 1;
                        let same_capacity = same_capacity(&cluster.agents()[index], rep);
                        if same_capacity {
                            let (cpu_used, mem_used) = rep.committed();
                            cluster.set_usage(index, cpu_used, mem_used, container_count(rep));
                        }
                        same_capacity
                    }
                    (None, None) => true,
                    // An agent joined or left the placeable set.
                    _ => false,
                }
            });
            if !in_step {
                self.cluster = None;
            }
        }
        changed.clear();
        let (cluster, numbers) = self.cluster.get_or_insert_with(|| build(agents));
        // Debug builds (tests, the simulator's swarms) check that the kept
        // view is exactly what a fresh one would be.
        #[cfg(debug_assertions)]
        {
            let (fresh, fresh_numbers) = build(agents);
            debug_assert_eq!(
                cluster.agents(),
                fresh.agents(),
                "the placement view is out of step with the agents"
            );
            debug_assert_eq!(
                *numbers, fresh_numbers,
                "the view's agent numbers are stale"
            );
            let fresh_avoided: BTreeSet<AgentId> = agents
                .values()
                .filter(|rep| is_avoided(rep))
                .map(|rep| rep.id.clone())
                .collect();
            debug_assert_eq!(self.avoided, fresh_avoided, "the avoided agents are stale");
        }
        (cluster, numbers, self.avoided.len())
    }
}

/// Whether `agent` is synced but avoided after failing commands.
fn is_avoided(agent: &AgentRepresentation) -> bool {
    agent.connection.is_synced() && (agent.health.is_avoided() || agent.drained)
}

/// Every placeable agent, with what it has promised, and the agents'
/// numbers: what the kept view equals once refreshed (also built afresh
/// for a plan or an explanation, which must not touch the kept one).
pub(crate) fn build(agents: &AgentTable) -> (Cluster, Vec<AgentNo>) {
    // In id order, the order `Cluster::new` keeps them in.
    let (slots, numbers): (Vec<AgentSlot>, Vec<AgentNo>) = agents
        .values()
        .filter_map(|agent| Some((slot_of(agent)?, agent.number)))
        .unzip();
    let cluster = Cluster::new(slots);
    debug_assert_eq!(cluster.agents().len(), numbers.len());
    (cluster, numbers)
}

/// Whether `slot` has the totals and volumes `agent` reports (what the
/// indexes are built on), compared without building a slot.
fn same_capacity(slot: &AgentSlot, agent: &AgentRepresentation) -> bool {
    let volumes = &agent.resources().volumes;
    slot.cpu_total_millis == algorithm::cpu_millis(agent.resources().cpus.total)
        && slot.mem_total_mb == agent.resources().mem.total
        && volumes.iter().all(|volume| slot.volumes.contains(volume))
        && slot.volumes.iter().all(|volume| volumes.contains(volume))
}

fn container_count(agent: &AgentRepresentation) -> u32 {
    u32::try_from(agent.containers().len()).unwrap_or(u32::MAX)
}

/// What placement sees of `agent`: nothing unless it is placeable (synced,
/// as commands go only to synced agents, and not avoided).
fn slot_of(agent: &AgentRepresentation) -> Option<AgentSlot> {
    if !agent.is_placeable() {
        return None;
    }
    let (cpu_used, mem_used) = agent.committed();
    Some(AgentSlot {
        id: agent.id.clone(),
        cpu_total_millis: algorithm::cpu_millis(agent.resources().cpus.total),
        mem_total_mb: agent.resources().mem.total,
        cpu_used_millis: cpu_used,
        mem_used_mb: mem_used,
        volumes: agent.resources().volumes.iter().cloned().collect(),
        containers: container_count(agent),
        job_instances: BTreeMap::new(),
    })
}
