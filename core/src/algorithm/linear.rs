//! Every algorithm's rule answered the straightforward way: every agent
//! checked for every task.

use rand_chacha::ChaCha8Rng;

use super::{Algorithm, AlgorithmKind, Cluster, Demand, bin_pack, least_used, random_fit, spread};

/// An algorithm that visits every agent for every task and builds no
/// index: the baseline `harpoon-bench` measures the indexed algorithms
/// against, and the reference the property tests hold them to.
///
/// Least-used, bin-pack and spread choose exactly what their indexed
/// versions choose. Random-fit's baseline is the rule it had before
/// rejection sampling (count the agents that fit, draw one): uniform like
/// the new one, but it draws differently, so the same seed picks other
/// agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearScan(pub AlgorithmKind);

impl Algorithm for LinearScan {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn counts_jobs(&self) -> bool {
        self.0 == AlgorithmKind::Spread
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        match self.0 {
            AlgorithmKind::RandomFit => random_fit::scan(demand, cluster, rng),
            AlgorithmKind::LeastUsed => least_used::scan(demand, cluster),
            AlgorithmKind::BinPack => bin_pack::scan(demand, cluster),
            AlgorithmKind::Spread => spread::scan(demand, cluster),
        }
    }
}
