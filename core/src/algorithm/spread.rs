//! `spread`: the agent with the fewest instances of the task's job.

use rand_chacha::ChaCha8Rng;

use super::{Algorithm, Cluster, Demand};

/// Picks the agent that fits with the fewest instances of the task's job,
/// then the fewest containers, then the lowest id, so that losing one agent
/// takes down as few of a job's instances as possible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread;

impl Algorithm for Spread {
    fn name(&self) -> &'static str {
        "spread"
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        _rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        cluster.least_fitting_by(demand, |agent| {
            let instances = agent.job_instances.get(&demand.job).copied().unwrap_or(0);
            (instances, agent.containers)
        })
    }
}
