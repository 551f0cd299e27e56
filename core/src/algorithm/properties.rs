//! Properties every algorithm must have on any cluster, checked with
//! proptest on random clusters and random sequences of tasks: it never
//! overcommits, it places a task whenever some agent can take it, the same
//! seed gives the same placements, and the order agents are listed in does
//! not matter.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{AgentSlot, AlgorithmKind, Cluster, Demand, Unplaced, place};
use crate::ids::AgentId;
use crate::wire::JobHash;

/// Few volumes and jobs, so that tasks often need a volume some agents
/// lack and jobs often share agents.
const VOLUMES: [&str; 3] = ["/a", "/b", "/c"];
const JOBS: [&str; 3] = ["j0", "j1", "j2"];

/// Enough cases to explore clusters of up to ten agents in a few seconds.
const CASES: u32 = 256;

fn volumes() -> impl Strategy<Value = BTreeSet<String>> {
    prop::sample::subsequence(VOLUMES.to_vec(), 0..=VOLUMES.len())
        .prop_map(|volumes| volumes.into_iter().map(String::from).collect())
}

/// A total and a used amount no larger, in steps of `step`: coarse steps
/// make equal agents and exact fits common, which is where ties and
/// off-by-one errors hide.
fn capacity(steps: u64, step: u64) -> impl Strategy<Value = (u64, u64)> {
    (0..=steps, 0..=steps).prop_map(move |(a, b)| (a.max(b) * step, a.min(b) * step))
}

/// An agent named `a{index}`, with no more used than it has.
fn agent(index: usize) -> impl Strategy<Value = AgentSlot> {
    let instances = prop::collection::vec(0..3u32, JOBS.len());
    (
        capacity(16, 500),
        capacity(16, 1024),
        volumes(),
        instances,
        0..3u32,
    )
        .prop_map(
            move |((cpu_total, cpu_used), (mem_total, mem_used), volumes, instances, others)| {
                let job_instances: BTreeMap<JobHash, u32> = JOBS
                    .iter()
                    .zip(&instances)
                    .map(|(job, count)| (JobHash::new(job), *count))
                    .collect();
                AgentSlot {
                    id: AgentId::new(&format!("a{index}")),
                    cpu_total_millis: cpu_total,
                    mem_total_mb: mem_total,
                    cpu_used_millis: cpu_used,
                    mem_used_mb: mem_used,
                    volumes,
                    containers: instances.iter().sum::<u32>() + others,
                    job_instances,
                }
            },
        )
}

/// Up to ten agents with distinct ids, listed in id order.
fn agents() -> impl Strategy<Value = Vec<AgentSlot>> {
    (0..=10usize).prop_flat_map(|count| (0..count).map(agent).collect::<Vec<_>>())
}

/// A task of a random job; mostly small enough to fit somewhere, sometimes
/// larger than any agent.
fn demand() -> impl Strategy<Value = Demand> {
    let volumes = prop_oneof![3 => Just(BTreeSet::new()), 1 => volumes()];
    (
        prop::sample::select(JOBS.to_vec()),
        0..=20u64,
        0..=20u64,
        volumes,
    )
        .prop_map(|(job, cpu_steps, mem_steps, volumes)| Demand {
            job: JobHash::new(job),
            cpu_millis: cpu_steps * 250,
            mem_mb: mem_steps * 512,
            volumes,
        })
}

fn demands() -> impl Strategy<Value = Vec<Demand>> {
    prop::collection::vec(demand(), 0..40)
}

/// One call to [`place`] and the cluster around it.
struct Step {
    /// Whether each agent (in id order) could take the task before.
    fits_before: Vec<bool>,
    /// What `place` answered.
    outcome: Result<AgentId, Unplaced>,
    /// The agents after.
    agents_after: Vec<AgentSlot>,
}

/// Places `demands` one after another on a cluster of `agents` with `kind`,
/// drawing from a generator seeded with `seed`.
fn place_all(
    kind: AlgorithmKind,
    agents: Vec<AgentSlot>,
    demands: &[Demand],
    seed: u64,
) -> Vec<Step> {
    let mut algorithm = kind.build();
    let mut cluster = Cluster::new(agents);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    demands
        .iter()
        .map(|demand| {
            let fits_before = cluster
                .agents()
                .iter()
                .map(|slot| slot.fits(demand))
                .collect();
            let outcome = place(algorithm.as_mut(), demand, &mut cluster, &mut rng);
            Step {
                fits_before,
                outcome,
                agents_after: cluster.agents().to_vec(),
            }
        })
        .collect()
}

/// What a run decided: every outcome and the final state of every agent.
fn decisions(steps: &[Step]) -> (Vec<Result<AgentId, Unplaced>>, Option<&[AgentSlot]>) {
    let outcomes = steps.iter().map(|step| step.outcome.clone()).collect();
    (
        outcomes,
        steps.last().map(|step| step.agents_after.as_slice()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Every algorithm only ever places a task on an agent that had room for
    /// it and offers its volumes, so no agent's used ever exceeds its total.
    #[test]
    fn never_overcommits(agents in agents(), demands in demands(), seed: u64) {
        for kind in AlgorithmKind::ALL {
            for (step, demand) in place_all(kind, agents.clone(), &demands, seed).iter().zip(&demands) {
                for slot in &step.agents_after {
                    prop_assert!(slot.cpu_used_millis <= slot.cpu_total_millis, "{kind} overcommitted cpu on {}", slot.id);
                    prop_assert!(slot.mem_used_mb <= slot.mem_total_mb, "{kind} overcommitted mem on {}", slot.id);
                }
                if let Ok(id) = &step.outcome {
                    let index = step.agents_after.iter().position(|slot| &slot.id == id).unwrap();
                    prop_assert!(step.fits_before[index], "{kind} chose {id}, which did not fit");
                    prop_assert!(
                        demand.volumes.is_subset(&step.agents_after[index].volumes),
                        "{kind} chose {id}, which lacks a volume",
                    );
                }
            }
        }
    }

    /// Every algorithm places a task whenever some agent can take it, and
    /// gives a reason whenever none can.
    #[test]
    fn places_whenever_some_agent_fits(agents in agents(), demands in demands(), seed: u64) {
        for kind in AlgorithmKind::ALL {
            for step in place_all(kind, agents.clone(), &demands, seed) {
                let some_agent_fits = step.fits_before.contains(&true);
                match &step.outcome {
                    Ok(_) => prop_assert!(some_agent_fits),
                    Err(unplaced) => {
                        prop_assert!(!some_agent_fits, "{kind} left a task unplaced that fits: {unplaced}");
                        prop_assert!(!unplaced.reason.is_empty());
                    }
                }
            }
        }
    }

    /// The same seed gives the same placements and the same reasons, for
    /// every algorithm; the algorithms that draw no randomness give them for
    /// any seed.
    #[test]
    fn same_seed_same_placements(agents in agents(), demands in demands(), seed: u64, other_seed: u64) {
        for kind in AlgorithmKind::ALL {
            let first = place_all(kind, agents.clone(), &demands, seed);
            let second = place_all(kind, agents.clone(), &demands, seed);
            prop_assert_eq!(decisions(&first), decisions(&second), "{}", kind);
            if kind != AlgorithmKind::RandomFit {
                let other = place_all(kind, agents.clone(), &demands, other_seed);
                prop_assert_eq!(decisions(&first), decisions(&other), "{}", kind);
            }
        }
    }

    /// The order agents are listed in to [`Cluster::new`] does not change
    /// any algorithm's placements (random-fit's with the same seed), because
    /// the cluster sorts them by id.
    #[test]
    fn agent_listing_order_does_not_matter(
        (agents, shuffled) in agents().prop_flat_map(|agents| (Just(agents.clone()), Just(agents).prop_shuffle())),
        demands in demands(),
        seed: u64,
    ) {
        for kind in AlgorithmKind::ALL {
            let listed = place_all(kind, agents.clone(), &demands, seed);
            let reordered = place_all(kind, shuffled.clone(), &demands, seed);
            prop_assert_eq!(decisions(&listed), decisions(&reordered), "{}", kind);
        }
    }
}
