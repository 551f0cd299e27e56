//! Placement shapes per algorithm, every unplaced reason, and the edges of
//! each algorithm's order. The properties that hold for every algorithm on
//! any cluster are in `properties.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::unplaced::cores;
use super::{
    AgentSlot, Algorithm, AlgorithmKind, BinPack, Cluster, Demand, LeastUsed, RandomFit, Spread,
    place, placement_order,
};
use crate::ids::AgentId;
use crate::wire::JobHash;

/// An idle agent with `cpu_millis` and `mem_mb`, offering no volumes.
fn agent(id: &str, cpu_millis: u64, mem_mb: u64) -> AgentSlot {
    AgentSlot {
        id: AgentId::new(id),
        cpu_total_millis: cpu_millis,
        mem_total_mb: mem_mb,
        cpu_used_millis: 0,
        mem_used_mb: 0,
        volumes: BTreeSet::new(),
        containers: 0,
        job_instances: BTreeMap::new(),
    }
}

/// `slot` with `used_millis` cpu and `used_mb` memory taken.
fn using(slot: AgentSlot, used_millis: u64, used_mb: u64) -> AgentSlot {
    AgentSlot {
        cpu_used_millis: used_millis,
        mem_used_mb: used_mb,
        ..slot
    }
}

/// `slot` running `containers` of which `instances` of `job`.
fn running(slot: AgentSlot, containers: u32, job: &str, instances: u32) -> AgentSlot {
    AgentSlot {
        containers,
        job_instances: BTreeMap::from([(JobHash::new(job), instances)]),
        ..slot
    }
}

/// `slot` offering `volumes`.
fn offering(slot: AgentSlot, volumes: &[&str]) -> AgentSlot {
    AgentSlot {
        volumes: volume_set(volumes),
        ..slot
    }
}

fn volume_set(volumes: &[&str]) -> BTreeSet<String> {
    volumes.iter().map(|volume| volume.to_string()).collect()
}

/// A task of `job` needing `cpu_millis` and `mem_mb` and no volumes.
fn demand(job: &str, cpu_millis: u64, mem_mb: u64) -> Demand {
    Demand {
        job: JobHash::new(job),
        cpu_millis,
        mem_mb,
        volumes: BTreeSet::new(),
    }
}

/// `task` needing `volumes` as well.
fn needing(task: Demand, volumes: &[&str]) -> Demand {
    Demand {
        volumes: volume_set(volumes),
        ..task
    }
}

/// The id of the agent `algorithm` picks for `task`, if any.
fn choice(algorithm: &mut dyn Algorithm, task: &Demand, agents: Vec<AgentSlot>) -> Option<String> {
    let cluster = Cluster::new(agents);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let index = algorithm.choose(task, &cluster, &mut rng)?;
    Some(cluster.agents()[index].id.to_string())
}

// ---- Placement shapes -------------------------------------------------------

/// Places a small mixed workload on a small mixed cluster with `kind` and
/// renders where every task went and how full every agent ends up, so that
/// a snapshot shows each algorithm's shape at a glance.
fn shape(kind: AlgorithmKind) -> String {
    let mut cluster = Cluster::new(vec![
        agent("a1", 4000, 8192),
        agent("a2", 2000, 4096),
        agent("a3", 8000, 16384),
        offering(agent("a4", 4000, 8192), &["/data/ssd"]),
    ]);
    let web = demand("web", 500, 512);
    let batch = demand("batch", 2000, 4096);
    let db = needing(demand("db", 1000, 2048), &["/data/ssd"]);
    let huge = demand("huge", 9000, 1024);
    let tasks = [
        &web, &web, &db, &batch, &web, &batch, &db, &web, &batch, &web, &web, &db, &huge,
    ];

    let mut algorithm = kind.build();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut placed: BTreeMap<AgentId, Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    let mut text = String::new();
    for task in tasks {
        let count = counts.entry(task.job.as_str()).or_default();
        let name = format!("{}-{count}", task.job);
        *count += 1;
        let outcome = match place(algorithm.as_mut(), task, &mut cluster, &mut rng) {
            Ok(id) => {
                let outcome = id.to_string();
                placed.entry(id).or_default().push(name.clone());
                outcome
            }
            Err(unplaced) => format!("unplaced: {unplaced}"),
        };
        writeln!(text, "{name:<8} -> {outcome}").unwrap();
    }
    writeln!(text).unwrap();
    for slot in cluster.agents() {
        let tasks = placed
            .get(&slot.id)
            .map(|names| names.join(" "))
            .unwrap_or_default();
        let line = format!(
            "{}  cpu {:>3}/{:<3}  mem {:>5}/{:<5}  {}",
            slot.id,
            cores(slot.cpu_used_millis),
            cores(slot.cpu_total_millis),
            slot.mem_used_mb,
            slot.mem_total_mb,
            tasks,
        );
        // An idle agent has no tasks to list; keep the line free of
        // trailing spaces that an editor would strip from the snapshot.
        writeln!(text, "{}", line.trim_end()).unwrap();
    }
    text
}

#[test]
fn random_fit_shape() {
    insta::assert_snapshot!(shape(AlgorithmKind::RandomFit));
}

#[test]
fn least_used_shape() {
    insta::assert_snapshot!(shape(AlgorithmKind::LeastUsed));
}

#[test]
fn bin_pack_shape() {
    insta::assert_snapshot!(shape(AlgorithmKind::BinPack));
}

#[test]
fn spread_shape() {
    insta::assert_snapshot!(shape(AlgorithmKind::Spread));
}

// ---- Each algorithm's order -------------------------------------------------

#[test]
fn random_fit_picks_only_fitting_agents_and_reaches_each_of_them() {
    let agents = vec![
        agent("a1", 4000, 8192),
        agent("a2", 500, 8192),
        agent("a3", 4000, 8192),
        agent("a4", 4000, 8192),
    ];
    let cluster = Cluster::new(agents);
    let task = demand("web", 1000, 1024);
    let mut chosen = BTreeSet::new();
    for seed in 0..64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let index = RandomFit.choose(&task, &cluster, &mut rng).unwrap();
        chosen.insert(cluster.agents()[index].id.to_string());
    }
    assert_eq!(chosen, BTreeSet::from(["a1", "a3", "a4"].map(String::from)));
}

#[test]
fn random_fit_makes_the_same_choice_from_the_same_seed() {
    let cluster = Cluster::new(
        (1..=8)
            .map(|n| agent(&format!("a{n}"), 4000, 8192))
            .collect(),
    );
    let task = demand("web", 1000, 1024);
    for seed in 0..16 {
        let mut first = ChaCha8Rng::seed_from_u64(seed);
        let mut second = ChaCha8Rng::seed_from_u64(seed);
        assert_eq!(
            RandomFit.choose(&task, &cluster, &mut first),
            RandomFit.choose(&task, &cluster, &mut second),
        );
    }
}

/// How often each agent is drawn for `task` over `seeds` seeds, by id.
fn random_fit_counts(agents: Vec<AgentSlot>, task: &Demand, seeds: u64) -> BTreeMap<String, u32> {
    let mut cluster = Cluster::new(agents);
    // Built as `place` builds it, so that the indexed path is the one drawn.
    RandomFit.prepare(&mut cluster);
    let mut counts = BTreeMap::new();
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let index = RandomFit.choose(task, &cluster, &mut rng).unwrap();
        *counts
            .entry(cluster.agents()[index].id.to_string())
            .or_default() += 1;
    }
    counts
}

#[test]
fn random_fit_draws_uniformly_when_many_agents_fit() {
    // Half the agents fit: the draws among all agents almost always hit.
    let agents = (0..8)
        .map(|n| agent(&format!("a{n}"), if n % 2 == 0 { 4000 } else { 500 }, 8192))
        .collect();
    let counts = random_fit_counts(agents, &demand("web", 1000, 1024), 4000);
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["a0", "a2", "a4", "a6"]);
    // 1000 expected each; a fair draw strays more than 150 with
    // probability well under one in a thousand.
    assert!(
        counts.values().all(|&n| n.abs_diff(1000) < 150),
        "{counts:?}"
    );
}

#[test]
fn random_fit_draws_uniformly_when_few_agents_fit() {
    // Three agents in three hundred fit: the draws among all agents mostly
    // miss, and the draw among the agents that fit decides.
    let agents = (0..300)
        .map(|n| {
            agent(
                &format!("a{n:03}"),
                if n % 100 == 7 { 4000 } else { 500 },
                8192,
            )
        })
        .collect();
    let counts = random_fit_counts(agents, &demand("web", 1000, 1024), 3000);
    assert_eq!(counts.keys().collect::<Vec<_>>(), ["a007", "a107", "a207"]);
    assert!(
        counts.values().all(|&n| n.abs_diff(1000) < 150),
        "{counts:?}"
    );
}

#[test]
fn random_fit_draws_nothing_when_nothing_fits() {
    let mut cluster = Cluster::new(vec![agent("a1", 500, 8192)]);
    RandomFit.prepare(&mut cluster);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let untouched = rng.clone();
    assert_eq!(
        RandomFit.choose(&demand("web", 1000, 1024), &cluster, &mut rng),
        None
    );
    assert_eq!(rng, untouched);
}

#[test]
fn least_used_picks_the_fewest_containers_then_the_lowest_id() {
    let task = demand("web", 1000, 1024);
    let agents = vec![
        running(agent("a1", 4000, 8192), 3, "web", 3),
        running(agent("a2", 4000, 8192), 1, "db", 1),
        running(agent("a3", 4000, 8192), 1, "db", 1),
        // Fewest containers, but no room.
        running(using(agent("a0", 4000, 8192), 3500, 0), 0, "web", 0),
    ];
    assert_eq!(choice(&mut LeastUsed, &task, agents).as_deref(), Some("a2"));
}

#[test]
fn spread_picks_the_fewest_of_the_job_then_the_fewest_containers_then_the_lowest_id() {
    let task = demand("web", 1000, 1024);
    // a1 has the fewest containers but already runs web; a2 and a3 do not.
    let agents = vec![
        running(agent("a1", 4000, 8192), 1, "web", 1),
        running(agent("a2", 4000, 8192), 5, "db", 5),
        running(agent("a3", 4000, 8192), 3, "db", 3),
        running(agent("a4", 4000, 8192), 3, "db", 3),
    ];
    assert_eq!(
        choice(&mut Spread, &task, agents.clone()).as_deref(),
        Some("a3")
    );
    // Least-used, by contrast, stacks the job on a1.
    assert_eq!(choice(&mut LeastUsed, &task, agents).as_deref(), Some("a1"));
}

#[test]
fn bin_pack_picks_the_agent_left_fullest() {
    let task = demand("web", 1000, 1024);
    let agents = vec![
        agent("a1", 4000, 8192),
        using(agent("a2", 4000, 8192), 2000, 4096),
        using(agent("a3", 4000, 8192), 2500, 6144),
        // Fuller still, but the task does not fit.
        using(agent("a4", 4000, 8192), 3500, 1024),
    ];
    assert_eq!(choice(&mut BinPack, &task, agents).as_deref(), Some("a3"));
}

#[test]
fn bin_pack_counts_the_slack_in_both_resources() {
    // After the task, a1 keeps 5% of its cpu and 90% of its memory (sum
    // 0.95, max 0.90) and a2 keeps half of each (sum 1.0, max 0.5). The sum
    // sees a1 as the fuller agent; the max would have picked a2.
    let task = demand("web", 1000, 1024);
    let agents = vec![
        using(agent("a1", 20000, 10240), 18000, 0),
        using(agent("a2", 20000, 10240), 9000, 4096),
    ];
    assert_eq!(choice(&mut BinPack, &task, agents).as_deref(), Some("a1"));
}

#[test]
fn bin_pack_fills_one_agent_before_opening_the_next() {
    let mut cluster = Cluster::new(
        (1..=3)
            .map(|n| agent(&format!("a{n}"), 4000, 8192))
            .collect(),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let placed: Vec<String> = (0..8)
        .map(|_| {
            let id = place(
                &mut BinPack,
                &demand("web", 1000, 2048),
                &mut cluster,
                &mut rng,
            );
            id.unwrap().to_string()
        })
        .collect();
    assert_eq!(placed, ["a1", "a1", "a1", "a1", "a2", "a2", "a2", "a2"]);
}

#[test]
fn bin_pack_scans_a_cluster_too_large_for_its_index() {
    // Keys of agents this large would not fit in 128 bits: bin-pack
    // declines the index and scans, with the same answers.
    let huge = u64::MAX / 2;
    let agents = vec![
        agent("a1", huge, huge),
        using(agent("a2", huge, huge), huge / 2, huge / 2),
        agent("a3", 4000, 8192),
    ];
    let tasks = [
        demand("web", 1000, 1024),
        demand("web", huge / 4, 1),
        demand("web", 4000, 1),
    ];
    for kind in [
        AlgorithmKind::BinPack,
        AlgorithmKind::LeastUsed,
        AlgorithmKind::Spread,
    ] {
        let mut indexed = Cluster::new(agents.clone());
        let mut scanned = Cluster::new(agents.clone());
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for task in &tasks {
            assert_eq!(
                place(kind.build().as_mut(), task, &mut indexed, &mut rng),
                place(kind.build_linear().as_mut(), task, &mut scanned, &mut rng),
                "{kind}"
            );
        }
    }
}

#[test]
fn placement_order_interleaves_memory_and_cpu_heavy_tasks_largest_first() {
    // Totals: 8000 cpu, 16384 MB, so a task is memory-heavy when it needs
    // more than 2.048 MB per milli-core.
    let tasks = [
        demand("small-cpu", 500, 512), // 0: cpu-heavy, size 1/16
        demand("big-cpu", 4000, 2048), // 1: cpu-heavy, size 1/2
        demand("big-mem", 1000, 8192), // 2: memory-heavy, size 1/2
        demand("small-cpu", 500, 512), // 3: cpu-heavy, size 1/16
        demand("mid-mem", 1000, 4096), // 4: memory-heavy, size 1/4
        demand("mid-cpu", 1000, 1024), // 5: cpu-heavy, size 1/8
        demand("nothing", 0, 0),       // 6: cpu-heavy, size 0
    ];
    // Memory-heavy first (nothing placed yet), then whichever list brings
    // the mix back: big-mem, big-cpu, mid-mem, then the cpu-heavy rest
    // largest first, the two equal ones in the order given.
    assert_eq!(placement_order(&tasks), [2, 1, 4, 5, 0, 3, 6]);
    assert_eq!(placement_order(&[]), Vec::<usize>::new());
    assert_eq!(
        placement_order(&[demand("a", 0, 0), demand("b", 0, 0)]),
        [0, 1]
    );
}

#[test]
fn job_counts_are_set_per_job() {
    let mut cluster = Cluster::new(vec![
        running(agent("a1", 4000, 8192), 2, "web", 2),
        agent("a2", 4000, 8192),
        agent("a3", 4000, 8192),
    ]);
    let web = JobHash::new("web");
    cluster.count_job(&web, |id| if id.as_str() == "a2" { 3 } else { 0 });
    let counts = |cluster: &Cluster| -> Vec<BTreeMap<JobHash, u32>> {
        cluster
            .agents()
            .iter()
            .map(|slot| slot.job_instances.clone())
            .collect()
    };
    assert_eq!(
        counts(&cluster),
        [
            BTreeMap::new(),
            BTreeMap::from([(web.clone(), 3)]),
            BTreeMap::new()
        ]
    );
    let (a1, a3, a9) = (AgentId::new("a1"), AgentId::new("a3"), AgentId::new("a9"));
    cluster.set_job_instances(&web, [(&a3, 1), (&a1, 4), (&a9, 7)]);
    assert_eq!(
        counts(&cluster),
        [
            BTreeMap::from([(web.clone(), 4)]),
            BTreeMap::from([(web.clone(), 3)]),
            BTreeMap::from([(web.clone(), 1)])
        ]
    );
    // Containers, and so every index, are untouched.
    assert!(
        cluster
            .agents()
            .iter()
            .map(|slot| slot.containers)
            .eq([2, 0, 0])
    );
}

#[test]
fn place_reserves_what_it_places_and_nothing_when_it_fails() {
    let mut cluster = Cluster::new(vec![agent("a1", 2000, 4096)]);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let task = demand("web", 1500, 1024);
    assert_eq!(
        place(&mut LeastUsed, &task, &mut cluster, &mut rng),
        Ok(AgentId::new("a1"))
    );
    let unplaced = place(&mut LeastUsed, &task, &mut cluster, &mut rng).unwrap_err();
    assert_eq!(
        unplaced.to_string(),
        "needs 1.5 cpu; largest free is 0.5 on a1"
    );
    let slot = &cluster.agents()[0];
    assert_eq!(
        (slot.cpu_used_millis, slot.mem_used_mb, slot.containers),
        (1500, 1024, 1)
    );
    assert!(
        slot.job_instances.is_empty(),
        "least-used reads no job counts, so none are kept"
    );
    let mut cluster = Cluster::new(vec![agent("a1", 2000, 4096)]);
    assert_eq!(
        place(&mut Spread, &task, &mut cluster, &mut rng),
        Ok(AgentId::new("a1"))
    );
    assert_eq!(
        cluster.agents()[0].job_instances,
        BTreeMap::from([(JobHash::new("web"), 1)]),
        "spread reads them"
    );
}

#[test]
fn every_kind_builds_the_algorithm_it_names_and_parses_back() {
    for kind in AlgorithmKind::ALL {
        assert_eq!(kind.build().name(), kind.name());
        assert_eq!(kind.name().parse::<AlgorithmKind>(), Ok(kind));
    }
    assert_eq!(
        "first-fit".parse::<AlgorithmKind>(),
        Err(
            "unknown algorithm \"first-fit\" (use random-fit, least-used, bin-pack or spread)"
                .to_owned()
        ),
    );
}

// ---- Unplaced reasons ---------------------------------------------------------

/// Asserts that no agent of `agents` can take `task`, for `expected`.
#[track_caller]
fn check_reason(agents: Vec<AgentSlot>, task: Demand, expected: &str) {
    let cluster = Cluster::new(agents);
    assert!(
        !cluster.agents().iter().any(|slot| slot.fits(&task)),
        "some agent fits"
    );
    assert_eq!(cluster.unplaced_reason(&task).reason, expected);
}

#[test]
fn reason_for_an_empty_cluster() {
    check_reason(vec![], demand("web", 0, 0), "no agents are available");
}

#[test]
fn reason_names_the_agent_with_the_most_free_cpu() {
    check_reason(
        vec![
            using(agent("a1", 4000, 8192), 3000, 0),
            using(agent("a3", 4000, 8192), 2500, 0),
            agent("a2", 1000, 8192),
        ],
        demand("web", 2000, 1024),
        "needs 2.0 cpu; largest free is 1.5 on a3",
    );
}

#[test]
fn reason_names_the_agent_with_the_most_free_memory() {
    check_reason(
        vec![
            agent("a1", 4000, 2048),
            using(agent("a2", 4000, 4096), 0, 3072),
        ],
        demand("web", 1000, 4096),
        "needs 4096 MB mem; largest free is 2048 MB on a1",
    );
}

#[test]
fn reason_breaks_ties_by_the_lowest_id() {
    check_reason(
        vec![agent("a2", 1000, 8192), agent("a1", 1000, 8192)],
        demand("web", 2000, 1024),
        "needs 2.0 cpu; largest free is 1.0 on a1",
    );
}

#[test]
fn reason_names_both_resources_when_neither_is_enough_anywhere() {
    check_reason(
        vec![agent("a1", 4000, 1024), agent("a2", 1000, 2048)],
        demand("web", 8000, 4096),
        "needs 8.0 cpu and 4096 MB mem; largest free is 4.0 cpu on a1 and 2048 MB on a2",
    );
    check_reason(
        vec![agent("a1", 4000, 2048), agent("a2", 1000, 1024)],
        demand("web", 8000, 4096),
        "needs 8.0 cpu and 4096 MB mem; largest free is 4.0 cpu and 2048 MB on a1",
    );
}

#[test]
fn reason_names_the_closest_agent_when_no_agent_has_both() {
    // a1 covers all the cpu and a quarter of the memory; a2 covers half of
    // each, so it is the closer of the two.
    check_reason(
        vec![
            agent("a1", 3000, 1024),
            agent("a2", 1000, 2048),
            agent("a3", 500, 8192),
        ],
        demand("web", 2000, 4096),
        "needs 2.0 cpu and 4096 MB mem together; no agent has both (a2 has 1.0 cpu and 2048 MB free)",
    );
    check_reason(
        vec![agent("a1", 3000, 1024), agent("a2", 1000, 8192)],
        demand("web", 2000, 4096),
        "needs 2.0 cpu and 4096 MB mem together; no agent has both (a2 has 1.0 cpu and 8192 MB free)",
    );
    check_reason(
        vec![agent("a1", 3000, 1024), agent("a2", 500, 8192)],
        demand("web", 2000, 4096),
        "needs 2.0 cpu and 4096 MB mem together; no agent has both (a1 has 3.0 cpu and 1024 MB free)",
    );
}

#[test]
fn reason_names_a_volume_no_agent_offers() {
    check_reason(
        vec![offering(agent("a1", 4000, 8192), &["/data/hdd"])],
        needing(demand("db", 1000, 1024), &["/data/ssd"]),
        "needs volume /data/ssd; no agent offers it",
    );
    check_reason(
        vec![offering(agent("a1", 4000, 8192), &["/b"])],
        needing(demand("db", 1000, 1024), &["/c", "/a", "/b"]),
        "needs volumes /a, /c; no agent offers any of them",
    );
}

#[test]
fn reason_names_the_agent_with_the_most_volumes_when_none_has_them_all() {
    check_reason(
        vec![
            offering(agent("a1", 4000, 8192), &["/a"]),
            offering(agent("a2", 4000, 8192), &["/b", "/c"]),
            offering(agent("a3", 4000, 8192), &["/a", "/c"]),
        ],
        needing(demand("db", 1000, 1024), &["/a", "/b", "/c"]),
        "needs volumes /a, /b, /c together; no agent offers them all (a2 offers /b, /c)",
    );
}

#[test]
fn reason_compares_capacity_only_among_agents_offering_the_volumes() {
    // a1 could take any of these tasks but lacks the volume, so every
    // reason is about the agents that offer it, and says so.
    let big = agent("a1", 16000, 65536);
    let ssd = |slot| offering(slot, &["/data/ssd"]);
    check_reason(
        vec![
            big.clone(),
            ssd(using(agent("a2", 4000, 8192), 3500, 0)),
            ssd(using(agent("a3", 4000, 8192), 3200, 0)),
        ],
        needing(demand("db", 1000, 1024), &["/data/ssd"]),
        "needs 1.0 cpu; largest free is 0.8 on a3 among agents offering /data/ssd",
    );
    check_reason(
        vec![big.clone(), ssd(agent("a2", 4000, 2048))],
        needing(demand("db", 1000, 4096), &["/data/ssd"]),
        "needs 4096 MB mem; largest free is 2048 MB on a2 among agents offering /data/ssd",
    );
    check_reason(
        vec![
            big,
            ssd(agent("a2", 4000, 2048)),
            ssd(agent("a3", 400, 8192)),
        ],
        needing(demand("db", 1000, 4096), &["/data/ssd"]),
        "needs 1.0 cpu and 4096 MB mem together; no agent offering /data/ssd has both \
         (a2 has 4.0 cpu and 2048 MB free)",
    );
}

#[test]
fn reason_counts_an_overcommitted_agent_as_having_nothing_free() {
    check_reason(
        vec![using(agent("a1", 2000, 8192), 3000, 0)],
        demand("web", 500, 1024),
        "needs 0.5 cpu; largest free is 0.0 on a1",
    );
}

#[test]
fn reason_when_asked_about_a_task_that_fits_says_so() {
    let cluster = Cluster::new(vec![agent("a1", 1000, 1024), agent("a2", 4000, 8192)]);
    assert_eq!(
        cluster.unplaced_reason(&demand("web", 2000, 1024)).reason,
        "fits on a2; nothing prevents placing it",
    );
}

#[test]
fn cores_have_at_least_one_decimal_and_no_trailing_zeros() {
    let cases = [
        (0, "0.0"),
        (1, "0.001"),
        (10, "0.01"),
        (500, "0.5"),
        (1250, "1.25"),
        (1500, "1.5"),
        (2000, "2.0"),
        (12345, "12.345"),
    ];
    for (millis, expected) in cases {
        assert_eq!(cores(millis), expected, "{millis} milli-cores");
    }
}
