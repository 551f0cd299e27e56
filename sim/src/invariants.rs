//! The invariants of `shared/scenario-format.md`, checked after every step
//! of every run, and the record of how each one was broken.

use std::collections::BTreeMap;

use harpoon_core::{AgentId, Instant};

use crate::world::World;
use harpoon_core::wire::cpu_millis;

/// How many examples of a broken invariant a report keeps.
const EXAMPLES_KEPT: usize = 5;

/// Something that must hold at every step of every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// The scheduler never places more on an agent than its free resources
    /// as the scheduler knew them, counting its own pending placements (and
    /// never on an agent lacking a needed volume).
    Capacity,
    /// No simulated agent ever holds more reservations than it has.
    AgentTotals,
    /// A job acknowledged by the API (202 delivered) is never lost, across
    /// any number of scheduler crashes.
    AcknowledgedJobsSurvive,
    /// At most one command per container (per agent) is in flight.
    OneCommandPerContainer,
    /// No command goes to an agent that discovery does not list.
    OnlyDiscoveredAgents,
    /// The core's timers, queues and commands in flight per agent stay
    /// within the bounds it documents (`Occupancy::within_bounds`), and the
    /// driver never has more commands outstanding to one agent than the
    /// core's limit.
    Bounded,
    /// Virtual time moves on: no loop of events at one instant.
    Progress,
    /// The same scenario and seed give the same trace hash.
    Determinism,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 8] = [
        Invariant::Capacity,
        Invariant::AgentTotals,
        Invariant::AcknowledgedJobsSurvive,
        Invariant::OneCommandPerContainer,
        Invariant::OnlyDiscoveredAgents,
        Invariant::Bounded,
        Invariant::Progress,
        Invariant::Determinism,
    ];

    /// What it says, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Invariant::Capacity => {
                "no placement beyond an agent's free resources as the scheduler knew them"
            }
            Invariant::AgentTotals => "no simulated agent holds more than its totals",
            Invariant::AcknowledgedJobsSurvive => "no acknowledged job is lost",
            Invariant::OneCommandPerContainer => "at most one command per container in flight",
            Invariant::OnlyDiscoveredAgents => "commands only to agents discovery lists",
            Invariant::Bounded => "timers, queues and commands per agent within their bounds",
            Invariant::Progress => "virtual time keeps moving",
            Invariant::Determinism => "same seed, same trace hash",
        }
    }
}

/// How each invariant was broken, if it was.
#[derive(Clone, Debug, Default)]
pub struct Invariants {
    broken: BTreeMap<Invariant, (u64, Vec<String>)>,
}

impl Invariants {
    /// Records one breach.
    pub fn record(&mut self, invariant: Invariant, at: Instant, what: String) {
        let (count, examples) = self.broken.entry(invariant).or_default();
        *count += 1;
        if examples.len() < EXAMPLES_KEPT {
            examples.push(format!("at {at}: {what}"));
        }
    }

    /// True when `invariant` was never broken.
    pub fn is_clean_of(&self, invariant: Invariant) -> bool {
        !self.broken.contains_key(&invariant)
    }

    /// How often and how `invariant` was broken.
    pub fn breaches(&self, invariant: Invariant) -> Option<&(u64, Vec<String>)> {
        self.broken.get(&invariant)
    }
}

impl World<'_> {
    /// Checks what must hold after every step.
    pub(crate) fn after_step(&mut self) {
        self.check_capacity();
        self.check_bounded();
        self.check_acknowledged();
        self.track_expectations();
        self.step_creates.clear();
    }

    /// The scheduler's own view must not be overcommitted on an agent it
    /// just placed something on. Agents may be overcommitted by containers
    /// the scheduler found there (an agent that came back with old ones),
    /// but then it must not place more.
    fn check_capacity(&mut self) {
        if self.step_creates.is_empty() {
            return;
        }
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        let mut breaches = Vec::new();
        for view in scheduler.agents() {
            let id: &AgentId = view.id;
            if !self.step_creates.contains(id) {
                continue;
            }
            let total_cpu = cpu_millis(view.resources.cpus.total);
            let total_mem = view.resources.mem.total;
            if view.committed_cpu_millis > total_cpu || view.committed_mem_mb > total_mem {
                breaches.push(format!(
                    "placed on {id}: committed {} millicpu / {} MB of {} / {}",
                    view.committed_cpu_millis, view.committed_mem_mb, total_cpu, total_mem
                ));
            }
        }
        for what in breaches {
            self.invariants.record(Invariant::Capacity, self.now, what);
        }
    }

    /// The core's occupancy within its documented bounds, and the driver's
    /// outstanding commands per agent within the core's limit.
    fn check_bounded(&mut self) {
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        let limit = scheduler.config().max_commands_in_flight_per_agent;
        let mut broken = scheduler.occupancy().within_bounds(limit);
        let mut per_agent: BTreeMap<&AgentId, usize> = BTreeMap::new();
        for command in self.commands.values() {
            *per_agent.entry(&command.agent).or_default() += 1;
        }
        for (agent, count) in per_agent {
            if count > limit {
                broken.push(format!(
                    "{count} commands outstanding to {agent}, limit {limit}"
                ));
            }
        }
        for what in broken {
            self.invariants.record(Invariant::Bounded, self.now, what);
        }
    }

    /// A simulated agent that just accepted a create must not be over its
    /// totals.
    pub(crate) fn check_agent_totals(&mut self, agent: &AgentId) {
        let Some(sim) = self.agents.get(agent) else {
            return;
        };
        if sim.reserved_cpu_millis() > sim.total_cpu_millis()
            || sim.reserved_mem_mb() > sim.total_mem_mb()
        {
            let what = format!(
                "{agent} reserves {} millicpu / {} MB of {} / {}",
                sim.reserved_cpu_millis(),
                sim.reserved_mem_mb(),
                sim.total_cpu_millis(),
                sim.total_mem_mb()
            );
            self.invariants
                .record(Invariant::AgentTotals, self.now, what);
        }
    }

    /// Every acknowledged job is in the registry, unless a request to
    /// unschedule it is under way.
    fn check_acknowledged(&mut self) {
        self.forget_jobs_rollouts_removed();
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        let jobs = scheduler.jobs();
        let lost: Vec<String> = self
            .acknowledged
            .iter()
            .filter(|(hash, _)| !jobs.contains_key(*hash))
            .filter(|(hash, _)| {
                !self
                    .requests
                    .values()
                    .any(|request| !request.schedule && &request.hash == *hash)
            })
            .map(|(hash, name)| {
                format!("job {name} ({hash}) was acknowledged but is not in the registry")
            })
            .collect();
        for what in lost {
            self.invariants
                .record(Invariant::AcknowledgedJobsSurvive, self.now, what);
        }
    }

    /// Right after a restart, the registry must hold every acknowledged job.
    pub(crate) fn check_acknowledged_survived(&mut self) {
        self.check_acknowledged();
    }
}
