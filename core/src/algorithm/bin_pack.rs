//! `bin-pack`: best fit, the agent left with the least free capacity.

use std::cmp::Ordering;

use rand_chacha::ChaCha8Rng;

use super::index::{ByFullness, IndexKind};
use super::ranked::Need;
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

    fn prepare(&self, cluster: &mut Cluster) {
        cluster.build_index(IndexKind::Fullness);
    }

    fn choose(
        &mut self,
        demand: &Demand,
        cluster: &Cluster,
        _rng: &mut ChaCha8Rng,
    ) -> Option<usize> {
        match &cluster.indexes().by_fullness {
            Some(index) => indexed(index, demand),
            None => scan(demand, cluster),
        }
    }
}

/// The rule, by visiting every agent: the least slack after taking the
/// task, then the lowest index.
pub(super) fn scan(demand: &Demand, cluster: &Cluster) -> Option<usize> {
    cluster.least_fitting_by(demand, |agent| slack_after(agent, demand))
}

/// The same rule, from the index. Agents of one size sit in one class (per
/// set of volumes, for tasks needing volumes), ordered by their slack *before* the task, then by index. For
/// agents of one size the slack after the task is the slack before minus
/// the task's share of that size, the same for all of them, so the first
/// agent in a class's order that has room is that class's best fit, exactly,
/// ties included; and no agent with less slack than the task itself has
/// room, so the search starts there. The classes' winners are then compared
/// by their exact slack after, then by index. (The index declines clusters
/// with absurdly large agents, whose keys would not fit in 128 bits; those
/// are scanned.) Fleets have few sizes, so this
/// is a handful of searches per task; a cluster where every agent has its
/// own size gets one class per agent and a scan over classes, still exact.
fn indexed(index: &ByFullness, demand: &Demand) -> Option<usize> {
    let (cpu, mem) = (demand.cpu_millis, demand.mem_mb);
    let need = Need::room(cpu, mem);
    let mut best: Option<(Slack, u32)> = None;
    for class in index.for_demand(demand) {
        let (cpu_total, mem_total) = (class.cpu_total_millis, class.mem_total_mb);
        if cpu > cpu_total || mem > mem_total {
            continue;
        }
        let from = class.key(cpu, mem, 0);
        let Some(entry) = class.agents.fitting(&from, &need).next() else {
            continue;
        };
        let after = Slack::of(
            entry.cpu_free_millis - cpu,
            entry.mem_free_mb - mem,
            cpu_total,
            mem_total,
        );
        let candidate = (after, entry.agent);
        if best.is_none_or(|best| candidate < best) {
            best = Some(candidate);
        }
    }
    best.map(|(_, agent)| agent as usize)
}

/// The slack `agent` has left once it takes `demand` (which must fit).
fn slack_after(agent: &AgentSlot, demand: &Demand) -> Slack {
    // The agent fits, so these never saturate; saturating only keeps a
    // misuse from wrapping around to a huge score.
    Slack::of(
        agent.cpu_free_millis().saturating_sub(demand.cpu_millis),
        agent.mem_free_mb().saturating_sub(demand.mem_mb),
        agent.cpu_total_millis,
        agent.mem_total_mb,
    )
}

/// Free capacity as a share of the agent's size: the free share of its cpu
/// plus the free share of its memory, each relative to the agent's own
/// total, between 0 and 2.
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
/// An exact fraction, `whole + rest / den`, rather than `f64` or fixed
/// point: the order is total and the same on every platform, equal shares
/// are equal (so ties go to the lowest id, never to a rounding error), and
/// for agents of one size the slack after a task is exactly the slack
/// before minus the task's share, which is what lets the index find the
/// best fit by searching in the order of slack before.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slack {
    /// The integer part: 0, 1 or 2.
    whole: u8,
    /// The fractional part's numerator, less than `den`.
    rest: u128,
    /// The denominator: the product of the two totals (a zero total
    /// counted as one).
    den: u128,
}

impl Slack {
    /// `cpu_millis / cpu_total_millis + mem_mb / mem_total_mb`, with each
    /// part at most its total; a resource the agent has none of adds zero.
    pub(super) fn of(
        cpu_millis: u64,
        mem_mb: u64,
        cpu_total_millis: u64,
        mem_total_mb: u64,
    ) -> Slack {
        debug_assert!(cpu_millis <= cpu_total_millis && mem_mb <= mem_total_mb);
        // A zero total has a zero part; counting it as one keeps the
        // denominator positive and the part's share zero.
        let cpu_total = u128::from(cpu_total_millis.max(1));
        let mem_total = u128::from(mem_total_mb.max(1));
        let den = cpu_total * mem_total;
        // Each term is at most `den` (< 2^128), but their sum may not fit
        // in 128 bits, so the carry into the integer part is found by
        // comparing rather than adding.
        let cpu_term = u128::from(cpu_millis) * mem_total;
        let mem_term = u128::from(mem_mb) * cpu_total;
        let (whole, rest) = if cpu_term >= den - mem_term {
            let over = cpu_term - (den - mem_term);
            if over == den { (2, 0) } else { (1, over) }
        } else {
            (0, cpu_term + mem_term)
        };
        Slack { whole, rest, den }
    }
}

impl Ord for Slack {
    fn cmp(&self, other: &Slack) -> Ordering {
        self.whole.cmp(&other.whole).then_with(|| {
            // rest / den against other.rest / other.den, cross-multiplied
            // in 256 bits so that nothing overflows.
            wide_product(self.rest, other.den).cmp(&wide_product(other.rest, self.den))
        })
    }
}

impl PartialOrd for Slack {
    fn partial_cmp(&self, other: &Slack) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Slack {
    fn eq(&self, other: &Slack) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Slack {}

/// `a * b` as (high, low) 128-bit halves.
pub(super) fn wide_product(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a_high, a_low) = (a >> 64, a & LOW);
    let (b_high, b_low) = (b >> 64, b & LOW);
    let low_low = a_low * b_low;
    let low_high = a_low * b_high;
    let high_low = a_high * b_low;
    let high_high = a_high * b_high;
    // At most three 64-bit numbers: no overflow.
    let middle = (low_low >> 64) + (low_high & LOW) + (high_low & LOW);
    let low = (low_low & LOW) | (middle << 64);
    let high = high_high + (low_high >> 64) + (high_low >> 64) + (middle >> 64);
    (high, low)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Slack, wide_product};

    #[test]
    fn slack_is_the_sum_of_the_free_shares() {
        let parts = |slack: Slack| (slack.whole, slack.rest);
        let half = Slack::of(2000, 4096, 4000, 8192);
        assert_eq!(half, Slack::of(1, 1, 2, 2));
        assert_eq!(parts(half), (1, 0));
        assert_eq!(parts(Slack::of(0, 0, 4000, 8192)), (0, 0));
        assert_eq!(parts(Slack::of(4000, 8192, 4000, 8192)), (2, 0));
        assert_eq!(
            parts(Slack::of(u64::MAX, u64::MAX, u64::MAX, u64::MAX)),
            (2, 0)
        );
        // A resource the agent lacks adds nothing.
        assert_eq!(Slack::of(0, 512, 0, 1024), Slack::of(1, 0, 2, 0));
        assert_eq!(parts(Slack::of(0, 0, 0, 0)), (0, 0));
        assert!(Slack::of(1000, 9216, 20000, 10240) < Slack::of(10000, 5120, 20000, 10240));
    }

    #[test]
    fn wide_products_are_exact() {
        assert_eq!(wide_product(0, u128::MAX), (0, 0));
        assert_eq!(wide_product(u128::MAX, 1), (0, u128::MAX));
        assert_eq!(wide_product(1 << 64, 1 << 64), (1, 0));
        assert_eq!(wide_product(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
    }

    proptest! {
        /// Slacks order like the rationals they stand for.
        #[test]
        fn slack_orders_like_rationals(
            a in (1..10_000u64, 1..10_000u64).prop_flat_map(|(c, m)| (0..=c, 0..=m, Just(c), Just(m))),
            b in (1..10_000u64, 1..10_000u64).prop_flat_map(|(c, m)| (0..=c, 0..=m, Just(c), Just(m))),
        ) {
            let value = |(cpu, mem, cpu_total, mem_total): (u64, u64, u64, u64)| {
                // Exact in 128 bits at these sizes.
                (u128::from(cpu) * u128::from(mem_total) + u128::from(mem) * u128::from(cpu_total),
                 u128::from(cpu_total) * u128::from(mem_total))
            };
            let ((na, da), (nb, db)) = (value(a), value(b));
            let expected = (na * db).cmp(&(nb * da));
            prop_assert_eq!(Slack::of(a.0, a.1, a.2, a.3).cmp(&Slack::of(b.0, b.1, b.2, b.3)), expected);
        }

        /// 256-bit products agree with 128-bit ones where those fit.
        #[test]
        fn wide_products_agree_with_narrow_ones(a: u64, b: u64, c: u64) {
            let a = u128::from(a);
            let bc = u128::from(b) * u128::from(c);
            let (high, low) = wide_product(a, bc);
            // a * b * c = a*b * c: compare through the other grouping.
            let ab = a * u128::from(b);
            prop_assert_eq!((high, low), wide_product(ab, u128::from(c)));
            if let Some(exact) = a.checked_mul(bc) {
                prop_assert_eq!((high, low), (0, exact));
            }
        }
    }
}
