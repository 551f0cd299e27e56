//! Synthetic workloads shaped on public cluster traces, drawn from a seeded
//! generator so that every run places the very same tasks on the very same
//! agents.
//!
//! # Agents
//!
//! Machine sizes follow the 2011 Google cluster trace (Reiss et al.,
//! "Heterogeneity and dynamicity of clouds at scale: Google trace
//! analysis", SoCC 2012, table of machine configurations): a handful of
//! platforms, most machines of one or two of them. The trace normalises
//! capacity to its largest machine; we read 1.0 as 64 cores and 256 GB:
//!
//! | cpu / mem (normalised) | share of machines | here               |
//! |------------------------|------------------:|--------------------|
//! | 0.5 / 0.5              | 53.5%             | 32 cores, 128 GB   |
//! | 0.5 / 0.25             | 30.7%             | 32 cores, 64 GB    |
//! | 0.5 / 0.75             | 8.0%              | 32 cores, 192 GB   |
//! | 1.0 / 1.0              | 6.3%              | 64 cores, 256 GB   |
//! | 0.25 / 0.25            | 1.0%              | 16 cores, 64 GB    |
//! | 0.5 / 0.12 (and rarer) | 0.5%              | 32 cores, 32 GB    |
//!
//! One agent in ten offers the host path `/data/ssd`, so that the few tasks
//! that need it are confined to a pool, as constrained tasks are in the
//! trace.
//!
//! # Tasks
//!
//! The trace's requests are dominated by small tasks with a heavy tail of
//! large ones, memory grows with cpu, and most jobs have one task while a
//! few have thousands (same paper, sections on resource requests and job
//! sizes; the 2018 Alibaba trace shows the same shape). A job's tasks share
//! one container config, hence one demand. Here:
//!
//! - tasks per job: one for 60% of jobs, else log-uniform from 2 to a
//!   hundredth of all tasks (1,000 at full size);
//! - cpu per task: 60% of jobs 0.1–1 core, 28% 1–4, 10% 4–16, 2% 16–32,
//!   log-uniform within each band, in steps of 10 milli-cores;
//! - memory: cpu times 1–8 GB per core (log-uniform), at least 64 MB and
//!   at most 128 GB, in steps of 64 MB;
//! - 5% of jobs need `/data/ssd`.
//!
//! On average a task needs about 2.2 cores and 7 GB, so 100,000 tasks fill
//! about two thirds of 10,000 such agents: full enough that capacity is
//! tight for large tasks, with room left so that the placement, not the
//! lack of capacity, is what is measured. Jobs come in the order the
//! transformer places them: by job hash (random), each job's tasks together.

use std::collections::{BTreeMap, BTreeSet};

use harpoon_core::AgentId;
use harpoon_core::algorithm::{AgentSlot, Demand};
use harpoon_core::wire::JobHash;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seed every part uses, so that parts 1 and 6 see the same tasks.
pub const SEED: u64 = 0x0068_6172_706f_6f6e; // "harpoon" in ASCII

/// The host path a few agents offer and a few jobs need.
const SSD: &str = "/data/ssd";

/// The agents' shape in the homogeneous variant: the trace's commonest
/// machine (0.5 / 0.5), which also takes the largest task.
pub const HOMOGENEOUS_AGENT: (u64, u64) = (32_000, 128 * 1024);

/// Agents and the tasks to place on them, in placing order.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Idle agents.
    pub agents: Vec<AgentSlot>,
    /// Tasks, jobs in hash order, each job's tasks together.
    pub tasks: Vec<Demand>,
}

impl Workload {
    /// `agents` agents of the trace's mixed sizes and `tasks` tasks.
    pub fn mixed(seed: u64, agents: usize, tasks: usize) -> Workload {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tasks = generate_tasks(&mut rng, tasks);
        let agents = (0..agents)
            .map(|index| {
                let (cpu, mem) = mixed_shape(&mut rng);
                let volumes = if rng.random_ratio(1, 10) {
                    BTreeSet::from([SSD.to_owned()])
                } else {
                    BTreeSet::new()
                };
                idle_agent(index, cpu, mem, volumes)
            })
            .collect();
        Workload { agents, tasks }
    }

    /// The same tasks as [`Workload::mixed`] with the same seed, without
    /// volumes, on `agents` agents all of [`HOMOGENEOUS_AGENT`]'s shape:
    /// the setting where "the fewest agents the work could fit on" has a
    /// simple lower bound, total demand over one agent's capacity.
    pub fn homogeneous(seed: u64, agents: usize, tasks: usize) -> Workload {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut tasks = generate_tasks(&mut rng, tasks);
        for task in &mut tasks {
            task.volumes.clear();
        }
        let (cpu, mem) = HOMOGENEOUS_AGENT;
        let agents = (0..agents)
            .map(|index| idle_agent(index, cpu, mem, BTreeSet::new()))
            .collect();
        Workload { agents, tasks }
    }
}

/// An idle agent named in index order.
fn idle_agent(index: usize, cpu_millis: u64, mem_mb: u64, volumes: BTreeSet<String>) -> AgentSlot {
    AgentSlot {
        id: AgentId::new(&format!("agent-{index:05}")),
        cpu_total_millis: cpu_millis,
        mem_total_mb: mem_mb,
        cpu_used_millis: 0,
        mem_used_mb: 0,
        volumes,
        containers: 0,
        job_instances: BTreeMap::new(),
    }
}

/// One machine size, in the trace's proportions (per ten thousand).
fn mixed_shape(rng: &mut ChaCha8Rng) -> (u64, u64) {
    const GB: u64 = 1024;
    const SHAPES: [(u32, u64, u64); 6] = [
        (5_350, 32_000, 128 * GB),
        (3_070, 32_000, 64 * GB),
        (800, 32_000, 192 * GB),
        (630, 64_000, 256 * GB),
        (100, 16_000, 64 * GB),
        (50, 32_000, 32 * GB),
    ];
    let mut draw = rng.random_range(0..10_000u32);
    for (weight, cpu, mem) in SHAPES {
        if draw < weight {
            return (cpu, mem);
        }
        draw -= weight;
    }
    unreachable!("the weights sum to 10,000")
}

/// `count` tasks in jobs, jobs in hash order.
fn generate_tasks(rng: &mut ChaCha8Rng, count: usize) -> Vec<Demand> {
    let largest_job = (count / 100).max(2) as f64;
    let mut jobs: BTreeMap<JobHash, (Demand, usize)> = BTreeMap::new();
    let mut total = 0;
    while total < count {
        let scale = if rng.random_ratio(6, 10) {
            1
        } else {
            log_uniform(rng, 2.0, largest_job).round() as usize
        };
        let scale = scale.min(count - total);
        let hash = JobHash::new(&format!("{:016x}", rng.random::<u64>()));
        let demand = job_demand(rng, &hash);
        total += scale;
        jobs.insert(hash, (demand, scale));
    }
    jobs.into_values()
        .flat_map(|(demand, scale)| std::iter::repeat_n(demand, scale))
        .collect()
}

/// What each task of the job `hash` needs.
fn job_demand(rng: &mut ChaCha8Rng, hash: &JobHash) -> Demand {
    let band = rng.random_range(0..100u32);
    let (low, high) = match band {
        0..60 => (0.1, 1.0),
        60..88 => (1.0, 4.0),
        88..98 => (4.0, 16.0),
        _ => (16.0, 32.0),
    };
    let cores = log_uniform(rng, low, high);
    let cpu_millis = ((cores * 100.0).round() as u64 * 10).max(10);
    let gb_per_core = log_uniform(rng, 1.0, 8.0);
    let mem_mb = ((cores * gb_per_core * 1024.0 / 64.0).round() as u64 * 64).clamp(64, 128 * 1024);
    let volumes = if rng.random_ratio(5, 100) {
        BTreeSet::from([SSD.to_owned()])
    } else {
        BTreeSet::new()
    };
    Demand {
        job: hash.clone(),
        cpu_millis,
        mem_mb,
        volumes,
    }
}

/// A number between `low` and `high` whose logarithm is uniform: as many
/// between 0.1 and 1 as between 1 and 10.
fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    let (low, high) = (low.ln(), high.ln());
    (low + rng.random::<f64>() * (high - low)).exp()
}

#[cfg(test)]
mod tests {
    use super::{SEED, Workload};

    #[test]
    fn the_same_seed_gives_the_same_workload() {
        let first = Workload::mixed(SEED, 50, 500);
        let second = Workload::mixed(SEED, 50, 500);
        assert_eq!(first.agents, second.agents);
        assert_eq!(first.tasks, second.tasks);
        assert_eq!(first.tasks.len(), 500);
    }

    #[test]
    fn the_homogeneous_variant_has_the_same_tasks_without_volumes() {
        let mixed = Workload::mixed(SEED, 50, 500);
        let homogeneous = Workload::homogeneous(SEED, 50, 500);
        for (a, b) in mixed.tasks.iter().zip(&homogeneous.tasks) {
            assert_eq!(
                (&a.job, a.cpu_millis, a.mem_mb),
                (&b.job, b.cpu_millis, b.mem_mb)
            );
            assert!(b.volumes.is_empty());
        }
        let shapes: std::collections::BTreeSet<_> = homogeneous
            .agents
            .iter()
            .map(|a| (a.cpu_total_millis, a.mem_total_mb))
            .collect();
        assert_eq!(shapes.len(), 1);
    }
}
