//! Part 1: placement speed. Every task of the mixed workload
//! ([`crate::workload`]) placed on idle agents in one go, the way a
//! reconcile does: one [`Cluster`] built from the agents, then
//! [`algorithm::place`] per task, as the transformer calls it. The clock
//! runs from building the cluster (the indexes are built on the first
//! placement) to the last placement, reasons for unplaced tasks included.
//!
//! The baseline is each algorithm's rule answered by scanning every agent
//! for every task ([`AlgorithmKind::build_linear`], how placement worked
//! before the indexes). Least-used, bin-pack and spread must choose
//! exactly the agents the baseline chooses, and the part fails loudly if
//! they do not; random-fit draws differently from its baseline by design,
//! so only its counts are compared.

use std::time::Instant as WallClock;

use harpoon_core::AgentId;
use harpoon_core::algorithm::{self, Algorithm, AlgorithmKind, Cluster, Unplaced};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Size;
use crate::report::{Table, human};
use crate::workload::{SEED, Workload};

/// The goal in placements per second for least-used and bin-pack.
const RATE_GOAL: f64 = 1_000_000.0;

/// The goal as a multiple of the baseline, for every algorithm.
const SPEEDUP_GOAL: f64 = 100.0;

/// How many times the fast path is timed; the median is reported.
const REPEATS: usize = 3;

/// Runs part 1.
pub fn run(size: Size) -> Table {
    let (agents, tasks) = size.pick((10_000, 100_000), (500, 5_000));
    let workload = Workload::mixed(SEED, agents, tasks);
    let mut table = Table::new(&format!(
        "1. Placement: {} tasks on {} agents of mixed sizes in one reconcile (tasks placed per second)",
        human(tasks as f64),
        human(agents as f64),
    ));
    for kind in AlgorithmKind::ALL {
        let mut runs: Vec<Run> = (0..REPEATS)
            .map(|_| Run::time(kind.build(), &workload))
            .collect();
        runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let fast = runs.swap_remove(REPEATS / 2);
        let baseline = Run::time(kind.build_linear(), &workload);
        if kind != AlgorithmKind::RandomFit {
            check_same_placements(kind, &fast, &baseline);
        }
        let speedup = fast.rate() / baseline.rate();
        let fast_enough = matches!(kind, AlgorithmKind::LeastUsed | AlgorithmKind::BinPack);
        let goal = if fast_enough {
            (
                format!("≥ {}/s and ≥ {SPEEDUP_GOAL}×", human(RATE_GOAL)),
                fast.rate() >= RATE_GOAL && speedup >= SPEEDUP_GOAL,
            )
        } else {
            (format!("≥ {SPEEDUP_GOAL}×"), speedup >= SPEEDUP_GOAL)
        };
        // The goals are for the full size: at `--quick`'s 500 agents a
        // scan is cheap, so the ratio says little.
        table.row(
            format!(
                "{kind} ({} placed, {} unplaced)",
                human(fast.placed() as f64),
                fast.unplaced()
            ),
            fast.rate(),
            Some(baseline.rate()),
            "/s",
            (!size.quick).then_some(goal),
        );
    }
    table.notes.push(format!(
        "Figure: the indexed algorithms through `algorithm::place`, median of {REPEATS} runs; \
         baseline: the same rule scanning every agent for every task, one run. \
         Least-used, bin-pack and spread placed every task on the same agent as the baseline \
         (checked); random-fit draws differently from its baseline by design."
    ));
    table
}

/// One timed placement of the whole workload.
struct Run {
    seconds: f64,
    outcomes: Vec<Result<AgentId, Unplaced>>,
}

impl Run {
    /// Places every task of `workload` with `algorithm`, timing it.
    fn time(mut algorithm: Box<dyn Algorithm>, workload: &Workload) -> Run {
        let agents = workload.agents.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let mut outcomes = Vec::with_capacity(workload.tasks.len());
        let start = WallClock::now();
        let mut cluster = Cluster::new(agents);
        for task in &workload.tasks {
            outcomes.push(algorithm::place(
                algorithm.as_mut(),
                task,
                &mut cluster,
                &mut rng,
            ));
        }
        let seconds = start.elapsed().as_secs_f64();
        Run { seconds, outcomes }
    }

    fn rate(&self) -> f64 {
        self.outcomes.len() as f64 / self.seconds
    }

    fn placed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.is_ok())
            .count()
    }

    fn unplaced(&self) -> usize {
        self.outcomes.len() - self.placed()
    }
}

/// Panics, naming the first difference, unless both runs placed every task
/// on the same agent (or both left it unplaced for the same reason).
fn check_same_placements(kind: AlgorithmKind, fast: &Run, baseline: &Run) {
    if let Some((task, (a, b))) = fast
        .outcomes
        .iter()
        .zip(&baseline.outcomes)
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("{kind}: task {task} placed {a:?} by the index but {b:?} by the scan");
    }
}
