//! Properties every algorithm must have on any cluster, checked with
//! proptest on random clusters and random sequences of tasks: it never
//! overcommits, it places a task whenever some agent can take it, the same
//! seed gives the same placements, and the order agents are listed in does
//! not matter. And the indexed algorithms choose exactly what the scan of
//! every agent chooses, on small clusters of any sizes and on larger fleets
//! of few sizes (where index classes hold many agents and ties abound).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{AgentSlot, Algorithm, AlgorithmKind, Cluster, Demand, Unplaced, place};
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

/// An agent named `f{index}` of one of three sizes, offering none or one
/// volume, with some of it used in coarse steps, so that many agents are
/// alike.
fn fleet_agent(index: usize) -> impl Strategy<Value = AgentSlot> {
    const SIZES: [(u64, u64); 3] = [(4000, 8192), (8000, 16384), (8000, 4096)];
    (
        prop::sample::select(SIZES.to_vec()),
        prop_oneof![3 => Just(BTreeSet::new()), 1 => Just(BTreeSet::from(["/a".to_owned()]))],
        0..=4u64,
        0..=4u64,
        prop::collection::vec(0..2u32, JOBS.len()),
        0..3u32,
    )
        .prop_map(
            move |(
                (cpu_total, mem_total),
                volumes,
                cpu_quarters,
                mem_quarters,
                instances,
                others,
            )| {
                AgentSlot {
                    id: AgentId::new(&format!("f{index:03}")),
                    cpu_total_millis: cpu_total,
                    mem_total_mb: mem_total,
                    cpu_used_millis: cpu_total / 4 * cpu_quarters,
                    mem_used_mb: mem_total / 4 * mem_quarters,
                    volumes,
                    containers: instances.iter().sum::<u32>() + others,
                    job_instances: JOBS
                        .iter()
                        .zip(&instances)
                        .filter(|(_, count)| **count > 0)
                        .map(|(job, count)| (JobHash::new(job), *count))
                        .collect(),
                }
            },
        )
}

/// Up to sixty agents of three sizes.
fn fleet() -> impl Strategy<Value = Vec<AgentSlot>> {
    (0..=60usize).prop_flat_map(|count| (0..count).map(fleet_agent).collect::<Vec<_>>())
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

/// Enough tasks to fill a fleet, mostly small, in runs of one job.
fn fleet_demands() -> impl Strategy<Value = Vec<Demand>> {
    let task = (
        prop::sample::select(JOBS.to_vec()),
        prop_oneof![4 => 1..=4u64, 1 => 0..=16u64],
        prop_oneof![4 => 1..=4u64, 1 => 0..=16u64],
        prop_oneof![5 => Just(BTreeSet::new()), 1 => Just(BTreeSet::from(["/a".to_owned()]))],
        1..=8usize,
    )
        .prop_map(|(job, cpu_steps, mem_steps, volumes, run)| {
            let demand = Demand {
                job: JobHash::new(job),
                cpu_millis: cpu_steps * 500,
                mem_mb: mem_steps * 1024,
                volumes,
            };
            vec![demand; run]
        });
    prop::collection::vec(task, 0..40).prop_map(|runs| runs.concat())
}

/// A fresh instance of every algorithm, indexed and as a scan, by name.
fn algorithms() -> Vec<(String, Box<dyn Algorithm>)> {
    AlgorithmKind::ALL
        .into_iter()
        .flat_map(|kind| {
            [
                (kind.to_string(), kind.build()),
                (format!("{kind} (scan)"), kind.build_linear()),
            ]
        })
        .collect()
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
    place_all_with(kind.build(), agents, demands, seed)
}

/// Places `demands` with `algorithm` through [`place`], as the transformer
/// does (so the algorithm prepares its index).
fn place_all_with(
    mut algorithm: Box<dyn Algorithm>,
    agents: Vec<AgentSlot>,
    demands: &[Demand],
    seed: u64,
) -> Vec<Step> {
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

/// What `place` answers, without ever preparing the cluster: `algorithm`
/// chooses on a cluster with no index, that is by scanning.
fn place_all_unprepared(
    mut algorithm: Box<dyn Algorithm>,
    agents: Vec<AgentSlot>,
    demands: &[Demand],
    seed: u64,
) -> Vec<Result<AgentId, Unplaced>> {
    let mut cluster = Cluster::new(agents);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    demands
        .iter()
        .map(
            |demand| match algorithm.choose(demand, &cluster, &mut rng) {
                Some(index) => {
                    cluster.reserve(index, demand);
                    Ok(cluster.agents()[index].id.clone())
                }
                None => Err(cluster.unplaced_reason(demand)),
            },
        )
        .collect()
}

/// Asserts that the indexed algorithms choose what the scans choose:
/// least-used, bin-pack and spread what [`LinearScan`] chooses, random-fit
/// what it chooses itself on a cluster without an index (its baseline
/// draws differently by design).
///
/// [`LinearScan`]: super::LinearScan
fn check_indexed_equals_scan(
    agents: &[AgentSlot],
    demands: &[Demand],
    seed: u64,
) -> Result<(), TestCaseError> {
    for kind in AlgorithmKind::ALL {
        let indexed = place_all(kind, agents.to_vec(), demands, seed);
        let (outcomes, _) = decisions(&indexed);
        let scanned = if kind == AlgorithmKind::RandomFit {
            place_all_unprepared(kind.build(), agents.to_vec(), demands, seed)
        } else {
            let linear = place_all_with(kind.build_linear(), agents.to_vec(), demands, seed);
            prop_assert_eq!(decisions(&indexed), decisions(&linear), "{}", kind);
            decisions(&linear).0
        };
        prop_assert_eq!(outcomes, scanned, "{}", kind);
    }
    Ok(())
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
        for (kind, algorithm) in algorithms() {
            for (step, demand) in place_all_with(algorithm, agents.clone(), &demands, seed).iter().zip(&demands) {
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
        for (kind, algorithm) in algorithms() {
            for step in place_all_with(algorithm, agents.clone(), &demands, seed) {
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

    /// On small clusters of any sizes, the indexes answer like the scans.
    #[test]
    fn indexed_chooses_what_the_scan_chooses(agents in agents(), demands in demands(), seed: u64) {
        check_indexed_equals_scan(&agents, &demands, seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES / 2))]

    /// On fleets of few sizes, filled until tasks no longer fit, the
    /// indexes answer like the scans.
    #[test]
    fn indexed_chooses_what_the_scan_chooses_on_fleets(agents in fleet(), demands in fleet_demands(), seed: u64) {
        check_indexed_equals_scan(&agents, &demands, seed)?;
    }
}

/// A change of a job's counts between two placements: before task `step`,
/// set `job`'s count on agent `agent` (modulo the agents) to `count`, or,
/// when `agent` is `None`, to `count` on every agent.
#[derive(Clone, Debug)]
struct Recount {
    step: usize,
    job: &'static str,
    agent: Option<usize>,
    count: u32,
}

fn recounts() -> impl Strategy<Value = Vec<Recount>> {
    let recount = (
        0..120usize,
        prop::sample::select(JOBS.to_vec()),
        prop::option::of(0..60usize),
        0..3u32,
    )
        .prop_map(|(step, job, agent, count)| Recount {
            step,
            job,
            agent,
            count,
        });
    prop::collection::vec(recount, 0..6)
}

/// Places `demands` with `algorithm`, applying `recounts` on the way.
fn place_all_recounting(
    mut algorithm: Box<dyn Algorithm>,
    agents: Vec<AgentSlot>,
    demands: &[Demand],
    recounts: &[Recount],
) -> Vec<Result<AgentId, Unplaced>> {
    let mut cluster = Cluster::new(agents);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut outcomes = Vec::new();
    for (step, demand) in demands.iter().enumerate() {
        for recount in recounts.iter().filter(|recount| recount.step == step) {
            let job = JobHash::new(recount.job);
            match recount.agent {
                Some(agent) if !cluster.agents().is_empty() => {
                    let id = cluster.agents()[agent % cluster.agents().len()].id.clone();
                    cluster.set_job_instances(&job, [(&id, recount.count)]);
                }
                Some(_) => {}
                None => cluster.count_job(&job, |_| recount.count),
            }
        }
        outcomes.push(place(algorithm.as_mut(), demand, &mut cluster, &mut rng));
    }
    outcomes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES / 2))]

    /// Counts set between placements (which may lower them, unlike
    /// placing) leave spread and least-used answering like the scans.
    #[test]
    fn indexed_follows_job_counts_set_between_placements(
        agents in fleet(),
        demands in fleet_demands(),
        recounts in recounts(),
    ) {
        for kind in [AlgorithmKind::Spread, AlgorithmKind::LeastUsed] {
            prop_assert_eq!(
                place_all_recounting(kind.build(), agents.clone(), &demands, &recounts),
                place_all_recounting(kind.build_linear(), agents.clone(), &demands, &recounts),
                "{}", kind
            );
        }
    }
}

/// Before placing task `step`, agent `agent` (modulo the cluster's size)
/// is brought to these fractions (in 1/4s) of its totals used and this
/// many containers, as the transformer's kept view does when containers
/// come and go between reconciles: capacity may be freed, not only taken.
#[derive(Clone, Debug)]
struct Usage {
    step: usize,
    agent: usize,
    cpu_quarters: u64,
    mem_quarters: u64,
    containers: u32,
}

fn usages() -> impl Strategy<Value = Vec<Usage>> {
    let usage = (0..120usize, 0..60usize, 0..=4u64, 0..=4u64, 0..8u32).prop_map(
        |(step, agent, cpu_quarters, mem_quarters, containers)| Usage {
            step,
            agent,
            cpu_quarters,
            mem_quarters,
            containers,
        },
    );
    prop::collection::vec(usage, 0..12)
}

/// Places `demands` with `algorithm` (unprepared: by scanning), applying
/// `usages` on the way through [`Cluster::update_usage`].
fn place_all_with_usage(
    mut algorithm: Box<dyn Algorithm>,
    prepared: bool,
    agents: Vec<AgentSlot>,
    demands: &[Demand],
    usages: &[Usage],
) -> Vec<Result<AgentId, Unplaced>> {
    let mut cluster = Cluster::new(agents);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut outcomes = Vec::new();
    for (step, demand) in demands.iter().enumerate() {
        for usage in usages.iter().filter(|usage| usage.step == step) {
            if cluster.agents().is_empty() {
                continue;
            }
            let index = usage.agent % cluster.agents().len();
            let mut now = cluster.agents()[index].clone();
            now.cpu_used_millis = now.cpu_total_millis * usage.cpu_quarters / 4;
            now.mem_used_mb = now.mem_total_mb * usage.mem_quarters / 4;
            now.containers = usage.containers;
            assert!(cluster.update_usage(index, &now), "same totals");
        }
        let outcome = if prepared {
            place(algorithm.as_mut(), demand, &mut cluster, &mut rng)
        } else {
            match algorithm.choose(demand, &cluster, &mut rng) {
                Some(index) => {
                    cluster.reserve(index, demand);
                    Ok(cluster.agents()[index].id.clone())
                }
                None => Err(cluster.unplaced_reason(demand)),
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES / 2))]

    /// Usage changed between placements, freeing capacity and containers
    /// as well as taking them, leaves every indexed algorithm answering as
    /// it does by scanning.
    #[test]
    fn indexed_follows_usage_changed_between_placements(
        agents in fleet(),
        demands in fleet_demands(),
        usages in usages(),
    ) {
        for kind in AlgorithmKind::ALL {
            prop_assert_eq!(
                place_all_with_usage(kind.build(), true, agents.clone(), &demands, &usages),
                place_all_with_usage(kind.build(), false, agents.clone(), &demands, &usages),
                "{}", kind
            );
        }
    }
}
