//! Placement algorithms: which agent gets a task.
//!
//! The transformer builds a [`Cluster`] from what it knows of every agent
//! that may take work (connected and synchronised), counting placements
//! still pending as used, and asks an [`Algorithm`] for each task through
//! [`place`], which reserves the chosen capacity so that the next task sees
//! it. Capacity is kept in integer units (milli-cores, MB) so that sums are
//! exact and "never overcommits" is a property a test can check.
//!
//! Each algorithm is "the best agent that fits" for its own order, which a
//! scan of every agent answers in time linear in the cluster (kept as
//! [`LinearScan`], the baseline). So that a reconcile of a million tasks on
//! ten thousand agents stays fast, the algorithms instead read an index the
//! cluster keeps (`index/`, made of `ranked.rs` sets), built once per cluster by
//! [`Algorithm::prepare`] and kept current by [`Cluster::reserve`]; the
//! answers are the same, which the property tests check against the scan.
//!
//! Layout: `cluster.rs` the [`Cluster`]; one file per algorithm, each
//! stating its rule as a scan and answering it from the index;
//! `index/` the indexes; `ranked.rs` the ordered set they are made of;
//! `linear.rs` the baseline; `order.rs` the order to place a batch in;
//! `unplaced.rs` why a task fits nowhere (the reconcile's one line);
//! `explanation.rs` the same agent by agent, made only when asked.

mod bin_pack;
mod cluster;
mod explanation;
mod index;
mod least_used;
mod linear;
mod order;
mod random_fit;
mod ranked;
mod spread;
mod unplaced;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;

use crate::ids::AgentId;
use crate::wire::{ContainerConfig, JobHash};

pub use bin_pack::BinPack;
pub use cluster::Cluster;
pub use explanation::{Candidate, Closest, Constraint, Explanation};
pub use least_used::LeastUsed;
pub use linear::LinearScan;
pub use order::placement_order;
pub use random_fit::RandomFit;
pub use spread::Spread;

/// Converts cores to milli-cores, the unit capacity is counted in: the
/// wire's one rule (rounded up), which agents apply too.
pub use crate::wire::cpu_millis;

/// What one task needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demand {
    /// The job the task belongs to (for spreading).
    pub job: JobHash,
    /// CPU in milli-cores.
    pub cpu_millis: u64,
    /// Memory in MB.
    pub mem_mb: u64,
    /// Host paths the agent must offer.
    pub volumes: BTreeSet<String>,
}

impl Demand {
    /// The demand of one task of `job` with `config`.
    pub fn of(job: &JobHash, config: &ContainerConfig) -> Demand {
        Demand {
            job: job.clone(),
            cpu_millis: cpu_millis(config.resources.cpu),
            mem_mb: config.resources.mem,
            volumes: config.storage.volumes.get().values().cloned().collect(),
        }
    }
}

/// One agent as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSlot {
    /// The agent.
    pub id: AgentId,
    /// CPU the agent has, in milli-cores.
    pub cpu_total_millis: u64,
    /// Memory the agent has, in MB.
    pub mem_total_mb: u64,
    /// CPU promised to containers, known or pending, in milli-cores.
    pub cpu_used_millis: u64,
    /// Memory promised to containers, known or pending, in MB.
    pub mem_used_mb: u64,
    /// Host paths offered as volumes.
    pub volumes: BTreeSet<String>,
    /// Containers on the agent, known or pending.
    pub containers: u32,
    /// Of those, how many belong to each job.
    pub job_instances: BTreeMap<JobHash, u32>,
}

impl AgentSlot {
    /// Free CPU in milli-cores (zero if overcommitted by someone else).
    pub fn cpu_free_millis(&self) -> u64 {
        self.cpu_total_millis.saturating_sub(self.cpu_used_millis)
    }

    /// Free memory in MB (zero if overcommitted by someone else).
    pub fn mem_free_mb(&self) -> u64 {
        self.mem_total_mb.saturating_sub(self.mem_used_mb)
    }

    /// Whether the task fits in what is free and the agent offers its
    /// volumes.
    pub fn fits(&self, demand: &Demand) -> bool {
        demand.cpu_millis <= self.cpu_free_millis()
            && demand.mem_mb <= self.mem_free_mb()
            && demand.volumes.is_subset(&self.volumes)
    }
}

/// A task no agent can take, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unplaced {
    /// For a person: what the task needs and what the best agent lacks.
    pub reason: String,
    /// The constraint that binds (of a bounded set: the metrics' label):
    /// a volume no agent offers, else cpu unless only memory is short
    /// (both short, or no agent with both, counts as cpu, the first an
    /// agent is judged by), or no agent placeable at all.
    pub constraint: Constraint,
}

impl fmt::Display for Unplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A placement algorithm: picks an agent that fits, or none.
pub trait Algorithm: fmt::Debug + Send {
    /// The algorithm's name, as in [`AlgorithmKind`].
    fn name(&self) -> &'static str;

    /// The index (into [`Cluster::agents`]) of the agent to place `demand`
    /// on, or `None` when no agent fits. Must only return an agent that
    /// [`AgentSlot::fits`], and must return one whenever any agent fits.
    /// Draws randomness, if any, from `rng` only.
    fn choose(&mut self, demand: &Demand, cluster: &Cluster, rng: &mut ChaCha8Rng)
    -> Option<usize>;

    /// Readies `cluster` for many calls of [`Algorithm::choose`], typically
    /// by building the index the algorithm reads. [`place`] calls it before
    /// every choice, so it must cost nothing once done. It never changes an
    /// agent, and `choose` must answer the same on a cluster never
    /// prepared. The default does nothing.
    fn prepare(&self, cluster: &mut Cluster) {
        let _ = cluster;
    }

    /// Whether [`Algorithm::choose`] reads [`AgentSlot::job_instances`].
    /// Only then does [`place`] count each placement in them, and does the
    /// transformer fill them in: counting costs a map insert per placement
    /// that the other algorithms would pay for nothing. The default is no.
    fn counts_jobs(&self) -> bool {
        false
    }
}

/// Places one task: asks the algorithm, reserves the capacity, and returns
/// the chosen agent, or why no agent can take the task.
pub fn place(
    algorithm: &mut dyn Algorithm,
    demand: &Demand,
    cluster: &mut Cluster,
    rng: &mut ChaCha8Rng,
) -> Result<AgentId, Unplaced> {
    place_at(algorithm, demand, cluster, rng).map(|index| cluster.agents()[index].id.clone())
}

/// As [`place`], returning the chosen agent's index in
/// [`Cluster::agents`].
pub fn place_at(
    algorithm: &mut dyn Algorithm,
    demand: &Demand,
    cluster: &mut Cluster,
    rng: &mut ChaCha8Rng,
) -> Result<usize, Unplaced> {
    algorithm.prepare(cluster);
    match algorithm.choose(demand, cluster, rng) {
        Some(index) => {
            debug_assert!(
                cluster.agents()[index].fits(demand),
                "{} overcommitted",
                algorithm.name()
            );
            if algorithm.counts_jobs() {
                cluster.reserve(index, demand);
            } else {
                cluster.reserve_uncounted(index, demand);
            }
            Ok(index)
        }
        None => Err(cluster.unplaced_reason(demand)),
    }
}

/// The algorithms there are, by name.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum AlgorithmKind {
    /// `random-fit`: a seeded random choice among the agents that fit.
    RandomFit,
    /// `least-used`: the agent with the fewest containers.
    #[default]
    LeastUsed,
    /// `bin-pack`: best fit, the agent left with the least free capacity.
    BinPack,
    /// `spread`: the agent with the fewest instances of the task's job.
    Spread,
}

impl AlgorithmKind {
    /// Every algorithm.
    pub const ALL: [AlgorithmKind; 4] = [
        AlgorithmKind::RandomFit,
        AlgorithmKind::LeastUsed,
        AlgorithmKind::BinPack,
        AlgorithmKind::Spread,
    ];

    /// The name used in flags and scenario files.
    pub fn name(self) -> &'static str {
        match self {
            AlgorithmKind::RandomFit => "random-fit",
            AlgorithmKind::LeastUsed => "least-used",
            AlgorithmKind::BinPack => "bin-pack",
            AlgorithmKind::Spread => "spread",
        }
    }

    /// A fresh instance of the algorithm.
    pub fn build(self) -> Box<dyn Algorithm> {
        match self {
            AlgorithmKind::RandomFit => Box::new(RandomFit),
            AlgorithmKind::LeastUsed => Box::new(LeastUsed),
            AlgorithmKind::BinPack => Box::new(BinPack),
            AlgorithmKind::Spread => Box::new(Spread),
        }
    }

    /// The algorithm's rule answered by visiting every agent for every
    /// task, without an index: the baseline (see [`LinearScan`]).
    pub fn build_linear(self) -> Box<dyn Algorithm> {
        Box::new(LinearScan(self))
    }
}

impl fmt::Display for AlgorithmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AlgorithmKind {
    type Err = String;
    fn from_str(text: &str) -> Result<AlgorithmKind, String> {
        AlgorithmKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown algorithm {text:?} (use random-fit, least-used, bin-pack or spread)"
                )
            })
    }
}
