//! `random-fit`: a seeded random choice among the agents that fit.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{Algorithm, Cluster, Demand};

/// Picks uniformly at random among the agents that fit, drawing from the
/// scheduler's seeded generator, so that the same seed and the same cluster
/// give the same choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RandomFit;

impl Algorithm for RandomFit {
    fn name(&self) -> &'static str {
        "random-fit"
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        // Two passes instead of collecting the candidates: counting first
        // lets us draw the n-th fitting agent without allocating per task.
        let fitting = cluster
            .agents()
            .iter()
            .filter(|agent| agent.fits(demand))
            .count();
        if fitting == 0 {
            // Draw nothing when no agent fits, so that a task that cannot be
            // placed does not shift the random choices made after it.
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
}
