//! `random-fit`: a seeded random choice among the agents that fit.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::index::IndexKind;
use super::{AgentSlot, Algorithm, Cluster, Demand};

/// How many agents to draw at random, looking for one that fits, before
/// drawing among the agents that fit. With a fraction `f` of the agents
/// fitting, all draws miss with probability `(1 - f)^32`: under 4% when a
/// tenth of the agents fit.
const DRAWS: usize = 32;

/// Picks uniformly at random among the agents that fit, drawing from the
/// scheduler's seeded generator, so that the same seed and the same cluster
/// give the same choice.
///
/// It draws an agent among all of them until one fits (rejection
/// sampling: each agent that fits is equally likely to be the first hit),
/// up to `DRAWS` times; only if every draw misses does it count the
/// agents that fit and draw one of those, which is uniform too. Counting
/// is what costs a visit to every agent, so most tasks never pay it. When
/// no agent fits it leaves the generator as it found it (ChaCha can wind
/// back), so that a task that cannot be placed does not shift the random
/// choices made after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RandomFit;

impl Algorithm for RandomFit {
    fn name(&self) -> &'static str {
        "random-fit"
    }

    fn prepare(&self, cluster: &mut Cluster) {
        cluster.build_index(IndexKind::Id);
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        let agents = cluster.agents();
        // The index only answers "which agents fit, in id order" faster;
        // the draws are the same with or without it.
        match &cluster.indexes().by_id {
            Some(index) => {
                let need = index.need(demand);
                draw(agents, demand, rng, || index.fitting(&need))
            }
            None => draw(agents, demand, rng, || {
                (0..agents.len()).filter(|&index| agents[index].fits(demand))
            }),
        }
    }
}

/// The rule: up to [`DRAWS`] draws among all agents, else a draw among
/// `fitting()` (the agents that fit, by index), else nothing, with the
/// generator wound back to where it was, as if nothing had been drawn.
fn draw<I: Iterator<Item = usize>>(
    agents: &[AgentSlot],
    demand: &Demand,
    rng: &mut ChaCha8Rng,
    fitting: impl Fn() -> I,
) -> Option<usize> {
    if agents.is_empty() {
        return None;
    }
    // Drawing first and winding back on failure, rather than checking
    // first that something fits, spares nearly every task a search.
    let position = rng.get_word_pos();
    for _ in 0..DRAWS {
        let index = rng.random_range(0..agents.len());
        if agents[index].fits(demand) {
            return Some(index);
        }
    }
    let count = fitting().count();
    if count == 0 {
        rng.set_word_pos(position);
        return None;
    }
    let nth = rng.random_range(0..count);
    fitting().nth(nth)
}

/// The rule before rejection sampling, kept as the linear baseline: count
/// the agents that fit, draw one of them. Uniform too, but it visits every
/// agent twice for every task.
pub(super) fn scan(demand: &Demand, cluster: &Cluster, rng: &mut ChaCha8Rng) -> Option<usize> {
    // Two passes instead of collecting the candidates: counting first
    // lets us draw the n-th fitting agent without allocating per task.
    let fitting = cluster
        .agents()
        .iter()
        .filter(|agent| agent.fits(demand))
        .count();
    if fitting == 0 {
        return None;
    }
    let nth = rng.random_range(0..fitting);
    cluster
        .agents()
        .iter()
        .enumerate()
        .filter(|(_, agent)| agent.fits(demand))
        .nth(nth)
        .map(|(index, _)| index)
}
