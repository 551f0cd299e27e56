//! Part 6: placement quality. The tasks of part 1 (without volumes) placed
//! on agents all of one size ([`Workload::homogeneous`]), by every
//! algorithm in the order the transformer places a burst in (its
//! placement queue: [`algorithm::placement_order`], large first,
//! memory-heavy and cpu-heavy interleaved), and by bin-pack also in arrival
//! order (jobs by hash), to show what the order is worth. For each:
//!
//! - agents used: agents given at least one task, beside the lower bound
//!   on how few agents the tasks could fit on, `ceil(total demand / agent
//!   capacity)` for the binding resource (no packing can beat it; bin
//!   packing's optimum may lie above it, so it is a strict yardstick);
//! - stranded capacity: free cpu on agents whose memory is exhausted, as a
//!   share of all free cpu, and the same for memory; a resource counts as
//!   exhausted on an agent when less of it is free than the median task
//!   needs, so most tasks can no longer use what the other resource has
//!   left there;
//! - unplaced tasks.

use harpoon_core::algorithm::{self, AgentSlot, AlgorithmKind, Cluster, Demand};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Size;
use crate::report::{Table, human};
use crate::workload::{HOMOGENEOUS_AGENT, SEED, Workload};

/// The goal: bin-pack uses at most this many times the lower bound.
const BOUND_GOAL: f64 = 1.05;

/// Runs part 6.
pub fn run(size: Size) -> Table {
    let (agents, tasks) = size.pick((10_000, 100_000), (500, 5_000));
    let workload = Workload::homogeneous(SEED, agents, tasks);
    let (bound, binding) = lower_bound(&workload.tasks);
    let (cpu, mem) = HOMOGENEOUS_AGENT;
    let mut table = Table::new(&format!(
        "6. Placement quality: {} tasks on {} agents of {} cores and {} GB",
        human(tasks as f64),
        human(agents as f64),
        cpu / 1000,
        mem / 1024,
    ));
    // A burst becomes desired at once: the transformer queues its tasks in
    // one placement order, and places them over as many reconciles as its
    // command budget needs.
    let as_transformer = algorithm::placement_order(&workload.tasks);
    let arrival: Vec<usize> = (0..workload.tasks.len()).collect();
    let runs = AlgorithmKind::ALL
        .into_iter()
        .map(|kind| (kind.to_string(), kind, &as_transformer))
        .chain([(
            "bin-pack in arrival order, for comparison".to_owned(),
            AlgorithmKind::BinPack,
            &arrival,
        )]);
    for (name, kind, order) in runs {
        let cluster = place_in_order(kind, &workload, order);
        let quality = Quality::of(cluster.agents(), &workload.tasks);
        // The goal is for the full size; `--quick` only shows the shape.
        let goal = (kind == AlgorithmKind::BinPack && order == &as_transformer && !size.quick)
            .then(|| {
                (
                    format!("≤ {BOUND_GOAL}× bound"),
                    quality.agents_used as f64 <= BOUND_GOAL * bound as f64,
                )
            });
        table.row(
            format!("{name}: agents used"),
            quality.agents_used as f64,
            Some(bound as f64),
            "agents",
            goal,
        );
        table.row(
            format!("{name}: stranded cpu (of free cpu)"),
            quality.stranded_cpu_percent,
            None,
            "%",
            None,
        );
        table.row(
            format!("{name}: stranded memory (of free memory)"),
            quality.stranded_mem_percent,
            None,
            "%",
            None,
        );
        table.row(
            format!("{name}: unplaced tasks"),
            (quality.placements_tried - quality.placed) as f64,
            None,
            "tasks",
            None,
        );
    }
    table.notes.push(format!(
        "Baseline of \"agents used\": the lower bound ceil(total demand / agent capacity), \
         bound by {binding}. Stranded: free cpu (memory) on agents with less memory (cpu) \
         free than the median task needs. Tasks are placed as the transformer places a \
         burst: in `placement_order` (large first, memory-heavy and cpu-heavy \
         interleaved); the last row places them in arrival order (jobs by hash) instead."
    ));
    table
}

/// `ceil(total demand / agent capacity)` for the binding resource, and
/// which resource binds.
fn lower_bound(tasks: &[Demand]) -> (u64, &'static str) {
    let (cpu, mem) = HOMOGENEOUS_AGENT;
    let cpu_demand: u64 = tasks.iter().map(|task| task.cpu_millis).sum();
    let mem_demand: u64 = tasks.iter().map(|task| task.mem_mb).sum();
    let by_cpu = cpu_demand.div_ceil(cpu);
    let by_mem = mem_demand.div_ceil(mem);
    if by_cpu >= by_mem {
        (by_cpu, "cpu")
    } else {
        (by_mem, "memory")
    }
}

/// Places the tasks of `workload` in `order` with `kind`, as a reconcile
/// does, and returns the cluster after.
fn place_in_order(kind: AlgorithmKind, workload: &Workload, order: &[usize]) -> Cluster {
    let mut algorithm = kind.build();
    let mut cluster = Cluster::new(workload.agents.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for &index in order {
        // An unplaced task is counted from the agents afterwards.
        let _ = algorithm::place(
            algorithm.as_mut(),
            &workload.tasks[index],
            &mut cluster,
            &mut rng,
        );
    }
    cluster
}

/// How well a placement packed.
struct Quality {
    agents_used: usize,
    stranded_cpu_percent: f64,
    stranded_mem_percent: f64,
    placements_tried: usize,
    placed: usize,
}

impl Quality {
    fn of(agents: &[AgentSlot], tasks: &[Demand]) -> Quality {
        let median = |mut values: Vec<u64>| {
            values.sort_unstable();
            values.get(values.len() / 2).copied().unwrap_or(0)
        };
        let cpu_median = median(tasks.iter().map(|task| task.cpu_millis).collect());
        let mem_median = median(tasks.iter().map(|task| task.mem_mb).collect());
        let cpu_free: u64 = agents.iter().map(AgentSlot::cpu_free_millis).sum();
        let mem_free: u64 = agents.iter().map(AgentSlot::mem_free_mb).sum();
        let cpu_stranded: u64 = agents
            .iter()
            .filter(|agent| agent.mem_free_mb() < mem_median)
            .map(AgentSlot::cpu_free_millis)
            .sum();
        let mem_stranded: u64 = agents
            .iter()
            .filter(|agent| agent.cpu_free_millis() < cpu_median)
            .map(AgentSlot::mem_free_mb)
            .sum();
        let percent = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                100.0 * part as f64 / whole as f64
            }
        };
        Quality {
            agents_used: agents.iter().filter(|agent| agent.containers > 0).count(),
            stranded_cpu_percent: percent(cpu_stranded, cpu_free),
            stranded_mem_percent: percent(mem_stranded, mem_free),
            placements_tried: tasks.len(),
            placed: agents.iter().map(|agent| agent.containers as usize).sum(),
        }
    }
}
