//! Why no agent can take a task, in words a person can act on.
//!
//! The reason names the binding constraint (a volume no agent offers, cpu,
//! memory, or the two together) and the agent that comes closest, so that
//! whoever reads it knows whether to shrink the task or grow an agent, and
//! which one. It depends only on the cluster and the demand, never on the
//! algorithm, so every algorithm explains a failure the same way.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::{AgentSlot, Cluster, Constraint, Demand, Unplaced};

/// Why no agent in `cluster` can take `demand`.
pub(super) fn reason(cluster: &Cluster, demand: &Demand) -> Unplaced {
    Unplaced {
        reason: describe(cluster.agents(), demand),
        constraint: binding(cluster.agents(), demand),
    }
}

/// The constraint [`describe`] names, as one of a bounded set.
fn binding(agents: &[AgentSlot], demand: &Demand) -> Constraint {
    if agents.is_empty() {
        return Constraint::NotConnected;
    }
    let offering = agents
        .iter()
        .filter(|agent| demand.volumes.is_subset(&agent.volumes));
    let mut any = false;
    let mut cpu_short = true;
    for agent in offering {
        any = true;
        cpu_short &= agent.cpu_free_millis() < demand.cpu_millis;
    }
    if !any {
        let missing = demand
            .volumes
            .iter()
            .find(|v| !agents.iter().any(|agent| agent.volumes.contains(*v)))
            .or_else(|| demand.volumes.first());
        return Constraint::Volume(missing.cloned().unwrap_or_default());
    }
    let mem_short = agents
        .iter()
        .filter(|agent| demand.volumes.is_subset(&agent.volumes))
        .all(|agent| agent.mem_free_mb() < demand.mem_mb);
    if mem_short && !cpu_short {
        Constraint::Memory
    } else {
        Constraint::Cpu
    }
}

fn describe(agents: &[AgentSlot], demand: &Demand) -> String {
    if agents.is_empty() {
        return "no agents are available".to_owned();
    }
    // Only a caller that asks without trying to place first gets here; say
    // so rather than invent a constraint.
    if let Some(agent) = agents.iter().find(|agent| agent.fits(demand)) {
        return format!("fits on {}; nothing prevents placing it", agent.id);
    }
    // Volumes are checked first: no amount of free capacity helps on an
    // agent that lacks the host path, so capacity is only compared among
    // the agents that offer every volume. Collecting them allocates, but
    // only on this failure path, which allocates the reason anyway.
    let candidates: Vec<&AgentSlot> = agents
        .iter()
        .filter(|agent| demand.volumes.is_subset(&agent.volumes))
        .collect();
    if candidates.is_empty() {
        return volume_reason(agents, &demand.volumes);
    }
    // Name the volumes when they ruled out an agent, or the reader would
    // look at a larger agent that cannot take the task anyway.
    let offering = if candidates.len() == agents.len() {
        None
    } else {
        Some(list(&demand.volumes))
    };
    capacity_reason(&candidates, demand, offering.as_deref())
}

/// The reason when some agents offer the volumes (`candidates`, not empty,
/// none of which fits) but none has the capacity; `offering` names the
/// volumes when they ruled out other agents.
fn capacity_reason(candidates: &[&AgentSlot], demand: &Demand, offering: Option<&str>) -> String {
    let among = offering
        .map(|volumes| format!(" among agents offering {volumes}"))
        .unwrap_or_default();
    let needs_cpu = cores(demand.cpu_millis);
    let needs_mem = demand.mem_mb;
    let cpu_short = candidates
        .iter()
        .all(|agent| agent.cpu_free_millis() < demand.cpu_millis);
    let mem_short = candidates
        .iter()
        .all(|agent| agent.mem_free_mb() < demand.mem_mb);
    let most_cpu = || {
        best(candidates.iter().copied(), |agent| {
            Reverse(agent.cpu_free_millis())
        })
    };
    let most_mem = || {
        best(candidates.iter().copied(), |agent| {
            Reverse(agent.mem_free_mb())
        })
    };
    match (cpu_short, mem_short) {
        (true, false) => {
            let agent = most_cpu();
            let free = cores(agent.cpu_free_millis());
            format!(
                "needs {needs_cpu} cpu; largest free is {free} on {}{among}",
                agent.id
            )
        }
        (false, true) => {
            let agent = most_mem();
            let free = agent.mem_free_mb();
            format!(
                "needs {needs_mem} MB mem; largest free is {free} MB on {}{among}",
                agent.id
            )
        }
        (true, true) => {
            let (cpu_agent, mem_agent) = (most_cpu(), most_mem());
            let cpu_free = cores(cpu_agent.cpu_free_millis());
            let mem_free = mem_agent.mem_free_mb();
            // One agent named once reads better than the same name twice.
            let largest = if cpu_agent.id == mem_agent.id {
                format!("{cpu_free} cpu and {mem_free} MB on {}", cpu_agent.id)
            } else {
                format!(
                    "{cpu_free} cpu on {} and {mem_free} MB on {}",
                    cpu_agent.id, mem_agent.id
                )
            };
            format!(
                "needs {needs_cpu} cpu and {needs_mem} MB mem; largest free is {largest}{among}"
            )
        }
        (false, false) => {
            // Some agent has the cpu and some has the memory, but none has
            // both: name the one that comes closest, judged by the share of
            // the demand it covers in its weaker resource, then in both.
            let agent = best(candidates.iter().copied(), |agent| {
                let cpu = covered(agent.cpu_free_millis(), demand.cpu_millis);
                let mem = covered(agent.mem_free_mb(), demand.mem_mb);
                Reverse((cpu.min(mem), cpu + mem))
            });
            let offering = offering
                .map(|volumes| format!(" offering {volumes}"))
                .unwrap_or_default();
            format!(
                "needs {needs_cpu} cpu and {needs_mem} MB mem together; \
                 no agent{offering} has both ({} has {} cpu and {} MB free)",
                agent.id,
                cores(agent.cpu_free_millis()),
                agent.mem_free_mb(),
            )
        }
    }
}

/// The first of `candidates` (not empty) with the least `key`: agents come
/// sorted by id and `min_by_key` keeps the first of equals, so ties go to
/// the lowest id.
fn best<'a, K: Ord>(
    candidates: impl IntoIterator<Item = &'a AgentSlot>,
    key: impl Fn(&AgentSlot) -> K,
) -> &'a AgentSlot {
    candidates
        .into_iter()
        .min_by_key(|agent| key(agent))
        .expect("the caller checked that there are candidates")
}

/// The reason when no agent offers every volume the task needs.
fn volume_reason(agents: &[AgentSlot], volumes: &BTreeSet<String>) -> String {
    let missing: BTreeSet<&String> = volumes
        .iter()
        .filter(|volume| !agents.iter().any(|agent| agent.volumes.contains(*volume)))
        .collect();
    match missing.len() {
        0 => {
            // Each volume is offered somewhere, just not all on one agent:
            // name the agent that offers the most of them.
            let best = best(agents, |agent| {
                Reverse(agent.volumes.intersection(volumes).count())
            });
            let offered: BTreeSet<&String> = best.volumes.intersection(volumes).collect();
            format!(
                "needs volumes {} together; no agent offers them all ({} offers {})",
                list(volumes),
                best.id,
                list(&offered),
            )
        }
        1 => format!("needs volume {}; no agent offers it", list(&missing)),
        _ => format!(
            "needs volumes {}; no agent offers any of them",
            list(&missing)
        ),
    }
}

/// How much of `needed` is covered by `free`, in units of 2^-32 (at most
/// 2^32); everything is covered when nothing is needed.
fn covered(free: u64, needed: u64) -> u64 {
    if needed == 0 {
        return 1 << 32;
    }
    ((u128::from(free.min(needed)) << 32) / u128::from(needed)) as u64
}

/// Milli-cores as cores, with at least one decimal and no more than needed
/// (1500 → "1.5", 2000 → "2.0", 1250 → "1.25"), in integers so that the
/// text is exact.
pub(super) fn cores(millis: u64) -> String {
    let whole = millis / 1000;
    let fraction = millis % 1000;
    if fraction == 0 {
        return format!("{whole}.0");
    }
    let digits = format!("{fraction:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Volumes as `/a, /b`, in their sorted order.
fn list<T: AsRef<str>>(volumes: impl IntoIterator<Item = T>) -> String {
    let mut text = String::new();
    for (position, volume) in volumes.into_iter().enumerate() {
        if position > 0 {
            text.push_str(", ");
        }
        text.push_str(volume.as_ref());
    }
    text
}
