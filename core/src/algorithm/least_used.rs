//! `least-used`: the agent with the fewest containers.

use rand_chacha::ChaCha8Rng;

use super::{Algorithm, Cluster, Demand};

/// Picks the agent that fits with the fewest containers (known or pending),
/// the lowest id among equals. It balances the number of containers, not
/// their size: cheap to reason about, and a fair default when tasks are
/// alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeastUsed;

impl Algorithm for LeastUsed {
    fn name(&self) -> &'static str {
        "least-used"
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        _rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        cluster.least_fitting_by(demand, |agent| agent.containers)
    }
}
