//! Why a task fits on no agent, agent by agent, in the style of Nomad's
//! placement failures: how many agents were evaluated, how many each
//! constraint ruled out, and the agent that came closest with what it
//! lacked (`10,000 agents evaluated: 6,120 lacked cpu, 3,870 lacked
//! memory, 10 lacked volume /data/ssd; closest: a17 (needs 2.0 cpu, 1.5
//! free)`).
//!
//! It costs a visit to every agent, so it is made only when someone asks
//! (a plan, `why`), never in the reconcile loop, whose reason for an
//! unplaced task stays the cheaper [`super::Unplaced`]. Each agent is
//! counted once, under the first constraint it fails in the order of
//! [`Constraint`], so the counts add up to the agents evaluated.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use super::unplaced::cores;
use super::{AgentSlot, Demand};
use crate::ids::AgentId;

/// What rules an agent out for a task, in the order agents are judged:
/// an agent is counted under the first that applies.
// Draining agents (rollouts and drains, to come) join this list as a
// variant of their own, between `Avoided` and `Volume`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum Constraint {
    /// The agent's stream is not open and synced: nothing goes to it.
    NotConnected,
    /// Placement avoids the agent after failing or unconfirmed commands.
    Avoided,
    /// The agent does not offer this host path (the first one missing, in
    /// sorted order).
    Volume(String),
    /// Not enough free cpu.
    Cpu,
    /// Enough cpu, not enough free memory.
    Memory,
}

impl Constraint {
    /// A label of a bounded set, for metrics: the volume's path left out.
    pub fn label(&self) -> &'static str {
        match self {
            Constraint::NotConnected => "not_connected",
            Constraint::Avoided => "avoided",
            Constraint::Volume(_) => "volume",
            Constraint::Cpu => "cpu",
            Constraint::Memory => "memory",
        }
    }

    /// Every label [`Constraint::label`] gives.
    pub const LABELS: [&'static str; 5] = ["not_connected", "avoided", "volume", "cpu", "memory"];
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::NotConnected => f.write_str("not connected"),
            Constraint::Avoided => f.write_str("avoided after failing commands"),
            Constraint::Volume(path) => write!(f, "lacked volume {path}"),
            Constraint::Cpu => f.write_str("lacked cpu"),
            Constraint::Memory => f.write_str("lacked memory"),
        }
    }
}

/// One agent as an explanation judges it: what placement sees of it, or
/// why placement does not look at it at all. A draining agent (with
/// rollouts) joins as a variant counted under `Constraint`'s own.
#[derive(Clone, Copy, Debug)]
pub enum Candidate<'a> {
    /// Its stream is not synced.
    NotConnected(&'a AgentId),
    /// Synced, but avoided after failing commands.
    Avoided(&'a AgentId),
    /// Placement may choose it: what it offers and has free.
    Placeable(&'a AgentSlot),
}

/// The agent that came closest to taking the task, and what it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closest {
    /// The agent.
    pub agent: AgentId,
    /// Its free cpu, milli-cores.
    pub cpu_free_millis: u64,
    /// Its free memory, MB.
    pub mem_free_mb: u64,
    /// Volumes the task needs that it does not offer.
    pub missing_volumes: Vec<String>,
}

/// Why a task fits nowhere (or, when `fit` is not zero, that it fits now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The task's cpu, milli-cores.
    pub cpu_millis: u64,
    /// The task's memory, MB.
    pub mem_mb: u64,
    /// Agents judged: every agent discovery lists.
    pub evaluated: u64,
    /// Agents the task fits on now.
    pub fit: u64,
    /// Agents ruled out, by the first constraint each failed; with `fit`,
    /// these add up to `evaluated`.
    pub ruled_out: BTreeMap<Constraint, u64>,
    /// The placeable agent that came closest: among those offering every
    /// volume, the one covering most of the demand in its scarcer
    /// resource; else the one offering most of the volumes. `None` when
    /// no agent is placeable or the task fits.
    pub closest: Option<Closest>,
}

impl Explanation {
    /// Judges every agent in `agents` for `demand`: O(agents).
    pub fn of<'a>(demand: &Demand, agents: impl IntoIterator<Item = Candidate<'a>>) -> Explanation {
        let mut explanation = Explanation {
            cpu_millis: demand.cpu_millis,
            mem_mb: demand.mem_mb,
            evaluated: 0,
            fit: 0,
            ruled_out: BTreeMap::new(),
            closest: None,
        };
        // The best by capacity among agents offering every volume, and
        // the best by volumes offered among the others.
        let mut by_capacity: Option<(&AgentSlot, (u64, u64))> = None;
        let mut by_volumes: Option<(&AgentSlot, usize)> = None;
        for candidate in agents {
            explanation.evaluated += 1;
            let slot = match candidate {
                Candidate::NotConnected(_) => {
                    explanation.count(Constraint::NotConnected);
                    continue;
                }
                Candidate::Avoided(_) => {
                    explanation.count(Constraint::Avoided);
                    continue;
                }
                Candidate::Placeable(slot) => slot,
            };
            if let Some(missing) = demand.volumes.iter().find(|v| !slot.volumes.contains(*v)) {
                explanation.count(Constraint::Volume(missing.clone()));
                let offered = demand.volumes.intersection(&slot.volumes).count();
                // Strictly more, so that ties go to the first (lowest id).
                if by_volumes.is_none_or(|(_, best)| offered > best) {
                    by_volumes = Some((slot, offered));
                }
                continue;
            }
            if slot.fits(demand) {
                explanation.fit += 1;
                continue;
            }
            if slot.cpu_free_millis() < demand.cpu_millis {
                explanation.count(Constraint::Cpu);
            } else {
                explanation.count(Constraint::Memory);
            }
            let cpu = covered(slot.cpu_free_millis(), demand.cpu_millis);
            let mem = covered(slot.mem_free_mb(), demand.mem_mb);
            let key = (cpu.min(mem), cpu + mem);
            if by_capacity.is_none_or(|(_, best)| Reverse(key) < Reverse(best)) {
                by_capacity = Some((slot, key));
            }
        }
        if explanation.fit == 0 {
            explanation.closest = match (by_capacity, by_volumes) {
                (Some((slot, _)), _) | (None, Some((slot, _))) => Some(Closest {
                    agent: slot.id.clone(),
                    cpu_free_millis: slot.cpu_free_millis(),
                    mem_free_mb: slot.mem_free_mb(),
                    missing_volumes: demand
                        .volumes
                        .iter()
                        .filter(|v| !slot.volumes.contains(*v))
                        .cloned()
                        .collect(),
                }),
                (None, None) => None,
            };
        }
        explanation
    }

    fn count(&mut self, constraint: Constraint) {
        *self.ruled_out.entry(constraint).or_default() += 1;
    }

    /// The constraints that ruled agents out, most agents first (ties in
    /// the order of [`Constraint`]).
    pub fn by_count(&self) -> Vec<(&Constraint, u64)> {
        let mut counts: Vec<(&Constraint, u64)> =
            self.ruled_out.iter().map(|(c, n)| (c, *n)).collect();
        counts.sort_by_key(|(constraint, count)| (Reverse(*count), *constraint));
        counts
    }

    /// The constraint that ruled out most agents: the one to act on
    /// first, and the metrics' label for the task.
    pub fn main_constraint(&self) -> Option<&Constraint> {
        self.by_count().first().map(|(constraint, _)| *constraint)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.evaluated == 0 {
            return f.write_str("no agents evaluated: discovery lists none");
        }
        let agents = if self.evaluated == 1 {
            "agent"
        } else {
            "agents"
        };
        write!(f, "{} {agents} evaluated: ", thousands(self.evaluated))?;
        let mut parts = Vec::new();
        if self.fit > 0 {
            let fits = if self.fit == 1 { "fits" } else { "fit" };
            parts.push(format!("{} {fits} now", thousands(self.fit)));
        }
        for (constraint, count) in self.by_count() {
            parts.push(format!("{} {constraint}", thousands(count)));
        }
        f.write_str(&parts.join(", "))?;
        if let Some(closest) = &self.closest {
            write!(f, "; closest: {} (", closest.agent)?;
            let mut lacks = Vec::new();
            if !closest.missing_volumes.is_empty() {
                let volumes = if closest.missing_volumes.len() == 1 {
                    "volume"
                } else {
                    "volumes"
                };
                lacks.push(format!(
                    "lacks {volumes} {}",
                    closest.missing_volumes.join(", ")
                ));
            }
            if closest.cpu_free_millis < self.cpu_millis {
                lacks.push(format!(
                    "needs {} cpu, {} free",
                    cores(self.cpu_millis),
                    cores(closest.cpu_free_millis)
                ));
            }
            if closest.mem_free_mb < self.mem_mb {
                lacks.push(format!(
                    "needs {} MB memory, {} MB free",
                    thousands(self.mem_mb),
                    thousands(closest.mem_free_mb)
                ));
            }
            write!(f, "{})", lacks.join("; "))?;
        }
        Ok(())
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

/// `10000` as `10,000`.
fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests;
