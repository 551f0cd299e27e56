//! `bin-pack`: best fit, the agent left with the least free capacity.

use rand_chacha::ChaCha8Rng;

use super::{AgentSlot, Algorithm, Cluster, Demand};

/// Picks the agent that fits and is left with the least free capacity after
/// taking the task (best fit), the lowest id among equals, so that work
/// fills agents one after another and as few agents as possible are used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinPack;

impl Algorithm for BinPack {
    fn name(&self) -> &'static str {
        "bin-pack"
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        _rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        cluster.least_fitting_by(demand, |agent| free_after(agent, demand))
    }
}

/// The capacity `agent` has left once it takes `demand` (which must fit):
/// the free share of its cpu plus the free share of its memory, each
/// relative to the agent's own total, in units of 2^-32.
///
/// Why the sum and not the max of the two shares: the max only sees the
/// resource with the most slack, so an agent whose cpu is nearly full but
/// whose memory is empty scores like an empty agent, and best fit would
/// open fresh agents rather than fill it. The sum counts the slack in both
/// resources, so the agent that is fullest overall wins, which is what
/// leaves whole agents unused. Shares rather than raw units, because cpu
/// milli-cores and memory MB are not comparable and an agent's size decides
/// what "nearly full" means for it.
///
/// Fixed point rather than `f64`, so that the key is `Ord` and every
/// platform breaks ties the same way; 32 fractional bits are far finer than
/// any real difference between two agents.
fn free_after(agent: &AgentSlot, demand: &Demand) -> u64 {
    // The agent fits, so these never saturate; saturating only keeps a
    // misuse from wrapping around to a huge score.
    let cpu_free_after = agent.cpu_free_millis().saturating_sub(demand.cpu_millis);
    let mem_free_after = agent.mem_free_mb().saturating_sub(demand.mem_mb);
    share(cpu_free_after, agent.cpu_total_millis) + share(mem_free_after, agent.mem_total_mb)
}

/// `part / whole` (with `part <= whole`) in units of 2^-32; zero for an
/// agent with none of a resource, which has no capacity to waste.
fn share(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    // At most 2^32, since part <= whole; the product needs 96 bits.
    ((u128::from(part) << 32) / u128::from(whole)) as u64
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn share_is_a_fixed_point_fraction() {
        assert_eq!(share(0, 4000), 0);
        assert_eq!(share(1000, 4000), 1 << 30);
        assert_eq!(share(4000, 4000), 1 << 32);
        assert_eq!(share(u64::MAX, u64::MAX), 1 << 32);
        assert_eq!(share(0, 0), 0);
    }
}
