//! Expectations of a scenario: checked at their time, over the whole run,
//! or at its end. Counts come from the simulated world itself (what the
//! agents really run), over the agents discovery lists at that moment.

use std::collections::BTreeMap;

use harpoon_core::wire::{ContainerStatus, JobHash};
use harpoon_core::{AgentId, Duration, Instant};

use crate::invariants::Invariant;
use crate::report::Verdict;
use crate::scenario::{Expectation, ExpectationKind};
use crate::world::World;

/// Verdicts so far and what is tracked on the way.
#[derive(Clone, Debug)]
pub(crate) struct ExpectationState {
    entries: Vec<(Expectation, Option<Verdict>)>,
    /// Since when the world has been converged, if it is now.
    converged_since: Option<Instant>,
    /// The last reason it was not converged, for the report: its kind
    /// (see [`World::divergence`]) and its text.
    last_divergence: Option<(&'static str, String)>,
    /// Whether any expectation needs convergence tracked.
    pub(crate) tracks_convergence: bool,
}

impl ExpectationState {
    pub(crate) fn new(expectations: &[Expectation]) -> ExpectationState {
        ExpectationState {
            entries: expectations.iter().map(|e| (e.clone(), None)).collect(),
            converged_since: None,
            last_divergence: None,
            tracks_convergence: expectations
                .iter()
                .any(|e| matches!(e.kind, ExpectationKind::ConvergedWithin(_))),
        }
    }

    /// The expectations checked at a time: (index, time).
    pub(crate) fn timed(&self) -> Vec<(usize, Duration)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(index, (expectation, _))| match &expectation.kind {
                ExpectationKind::Running { at, .. }
                | ExpectationKind::Placed { at, .. }
                | ExpectationKind::Unplaced { at, .. }
                | ExpectationKind::Explained { at, .. }
                | ExpectationKind::PlacedOn { at, .. }
                | ExpectationKind::Rollout { at, .. } => Some((index, *at)),
                _ => None,
            })
            .collect()
    }
}

impl World<'_> {
    fn hash_of(&self, job: &str) -> JobHash {
        self.scenario.jobs[job].config.hash()
    }

    /// Every instance on every agent discovery lists: (agent, id, status).
    pub(crate) fn listed_instances(
        &self,
    ) -> impl Iterator<Item = (&AgentId, &str, ContainerStatus)> {
        self.discovered.iter().flat_map(move |id| {
            self.agents.get(id).into_iter().flat_map(move |sim| {
                sim.instances()
                    .map(move |(container, status)| (id, container, status))
            })
        })
    }

    fn instances_of_job(
        &self,
        job: &str,
    ) -> impl Iterator<Item = (&AgentId, &str, ContainerStatus)> {
        let prefix = format!("{}-", self.hash_of(job));
        self.listed_instances().filter(move |(_, container, _)| {
            container.starts_with(&prefix)
                && container[prefix.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
    }

    /// Checks a timed expectation now.
    pub(crate) fn check_expectation(&mut self, index: usize) {
        let kind = self.expectations.entries[index].0.kind.clone();
        let (actual, wanted) = match &kind {
            ExpectationKind::Running { job, count, .. } => (
                self.instances_of_job(job)
                    .filter(|(_, _, status)| *status == ContainerStatus::Running)
                    .count() as u64,
                *count,
            ),
            ExpectationKind::Placed { job, count, .. } => {
                (self.instances_of_job(job).count() as u64, *count)
            }
            ExpectationKind::PlacedOn {
                agent, job, count, ..
            } => {
                let agent = AgentId::new(agent);
                let actual = match job {
                    Some(job) => self
                        .instances_of_job(job)
                        .filter(|(on, _, _)| **on == agent)
                        .count(),
                    None => self
                        .listed_instances()
                        .filter(|(on, _, _)| **on == agent)
                        .count(),
                };
                (actual as u64, *count)
            }
            ExpectationKind::Unplaced { job, count, .. } => {
                let Some(scheduler) = &self.scheduler else {
                    self.set_verdict(
                        index,
                        false,
                        "the scheduler is down at that time".to_owned(),
                    );
                    return;
                };
                let hash = self.hash_of(job);
                let prefix = format!("{hash}-");
                let actual = scheduler
                    .unplaced()
                    .filter(|(id, _)| id.as_str().starts_with(&prefix))
                    .count() as u64;
                (actual, *count)
            }
            ExpectationKind::Explained { job, count, .. } => {
                let Some(scheduler) = &self.scheduler else {
                    self.set_verdict(
                        index,
                        false,
                        "the scheduler is down at that time".to_owned(),
                    );
                    return;
                };
                let listed = scheduler.agents().count() as u64;
                let explained: Vec<_> = scheduler
                    .why(&self.hash_of(job))
                    .map(|why| why.tasks)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|task| task.unplaced)
                    .collect();
                // Every explanation judges each listed agent exactly once.
                if let Some(broken) = explained.iter().find(|explanation| {
                    let ruled_out: u64 = explanation.ruled_out.values().sum();
                    explanation.evaluated != listed
                        || explanation.fit + ruled_out != explanation.evaluated
                }) {
                    self.set_verdict(
                        index,
                        false,
                        format!(
                            "an explanation's counts do not add up to {listed} agents: {broken}"
                        ),
                    );
                    return;
                }
                (explained.len() as u64, *count)
            }
            ExpectationKind::Rollout { to, status, .. } => {
                let found = self.latest_rollout_to(&self.hash_of(to));
                let detail = match (&self.scheduler, found) {
                    (None, _) => "the scheduler is down at that time".to_owned(),
                    (Some(_), None) => format!("no rollout to {to}"),
                    (Some(_), Some((id, found))) => format!("rollout {id} is {}", found.as_str()),
                };
                let held = found.is_some_and(|(_, found)| found == *status);
                self.tracer
                    .line(self.now, "check", &format!("{kind}: {detail}"));
                self.set_verdict(index, held, detail);
                return;
            }
            _ => return,
        };
        let detail = format!("found {actual}");
        self.tracer
            .line(self.now, "check", &format!("{kind}: {detail}"));
        self.set_verdict(index, actual == wanted, detail);
    }

    fn set_verdict(&mut self, index: usize, held: bool, detail: String) {
        let (expectation, verdict) = &mut self.expectations.entries[index];
        *verdict = Some(Verdict {
            what: expectation.kind.to_string(),
            cause: None,
            line: Some(expectation.line),
            held,
            detail,
        });
    }

    /// Why the world is not converged now, or `None` when it is: desired
    /// (the registry) equals actual (one instance per wanted task on the
    /// listed agents, no unwanted instance) and nothing is pending. A
    /// scheduler that has not yet heard from every listed agent (just
    /// restarted) cannot know that, so it is not converged either.
    ///
    /// The reason comes with a short name of its kind that stays the same
    /// whatever the names and numbers in the text: the shrinker tells two
    /// convergence failures apart by it.
    pub(crate) fn divergence(&self) -> Option<(&'static str, String)> {
        let Some(scheduler) = &self.scheduler else {
            return Some(("scheduler down", "the scheduler is down".to_owned()));
        };
        if let Some((command, sent)) = self.commands.iter().next() {
            return Some((
                "command in flight",
                format!(
                    "command {command} {} {} is in flight",
                    sent.action, sent.container
                ),
            ));
        }
        if !self.requests.is_empty() {
            return Some((
                "request unanswered",
                "a user request awaits its answer".to_owned(),
            ));
        }
        if let Some(agent) = self
            .discovered
            .iter()
            .find(|agent| !self.heard_from.contains(*agent))
        {
            return Some((
                "agent not heard from",
                format!("the scheduler has not heard from {agent} yet"),
            ));
        }
        if !scheduler.is_settled() {
            return Some((
                "scheduler not settled",
                "the scheduler is not settled (something pending)".to_owned(),
            ));
        }
        // Jobs a rollout holds are wanted at its counts; a running rollout
        // is work left (a failed one without revert holds its counts: that
        // is its cause, and the world converges at them).
        let (held, running) = self.rollout_counts();
        if let Some(running) = running {
            return Some(("rollout running", running));
        }
        if let Some(agent) = scheduler
            .drains()
            .find(|agent| self.discovered.contains(*agent) && scheduler.drain_remaining(agent) > 0)
        {
            return Some((
                "drain under way",
                format!("drained {agent} still holds tasks"),
            ));
        }
        let task_count = |hash: &JobHash, job: &harpoon_core::wire::JobConfig| {
            held.get(hash).copied().unwrap_or_else(|| job.task_count())
        };
        let jobs = scheduler.jobs();
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        for (agent, container, _) in self.listed_instances() {
            // The core's one rule for container IDs, leading zeros refused.
            let wanted = harpoon_core::wire::ContainerId::new(container)
                .task()
                .and_then(|(hash, index)| Some((task_count(&hash, jobs.get(&hash)?), index)))
                .is_some_and(|(count, index)| index < count);
            if !wanted {
                return Some((
                    "unwanted instance",
                    format!("unwanted instance {container} on {agent}"),
                ));
            }
            let count = seen.entry(container).or_default();
            *count += 1;
            if *count > 1 {
                return Some((
                    "duplicate instances",
                    format!("{container} has {count} instances"),
                ));
            }
        }
        let tasks: u64 = jobs
            .iter()
            .map(|(hash, job)| u64::from(task_count(hash, job)))
            .sum();
        if seen.len() as u64 != tasks {
            let missing = jobs
                .iter()
                .flat_map(|(hash, job)| {
                    (0..task_count(hash, job)).map(move |i| hash.container_id(i))
                })
                .find(|id| !seen.contains_key(id.as_str()))
                .map_or_else(String::new, |id| id.as_str().to_owned());
            return Some((
                "missing instance",
                format!(
                    "{} of {tasks} tasks have an instance; {missing} has none",
                    seen.len()
                ),
            ));
        }
        None
    }

    /// Tracks what is checked over the whole run.
    pub(crate) fn track_expectations(&mut self) {
        if self.expectations.tracks_convergence && self.now >= self.last_action_at {
            match self.divergence() {
                None => {
                    if self.expectations.converged_since.is_none() {
                        self.expectations.converged_since = Some(self.now);
                        self.tracer
                            .line(self.now, "check", "the world is converged");
                    }
                }
                Some((kind, reason)) => {
                    if self.expectations.converged_since.take().is_some() {
                        self.tracer.line(
                            self.now,
                            "check",
                            &format!("the world diverges: {reason}"),
                        );
                    }
                    self.expectations.last_divergence = Some((kind, reason));
                }
            }
        }
        for index in 0..self.expectations.entries.len() {
            if let ExpectationKind::MinRunning {
                jobs,
                count,
                from,
                to,
            } = &self.expectations.entries[index].0.kind
            {
                let window =
                    (harpoon_core::Instant::ZERO + *from)..=(harpoon_core::Instant::ZERO + *to);
                let broken = self.expectations.entries[index]
                    .1
                    .as_ref()
                    .is_some_and(|v| !v.held);
                if broken || !window.contains(&self.now) {
                    continue;
                }
                let (jobs, floor) = (jobs.clone(), *count);
                let actual = self.running_of_jobs(&jobs);
                if actual < floor {
                    let detail = format!("{actual} running at {}", self.now);
                    self.set_verdict(index, false, detail);
                }
                continue;
            }
            let ExpectationKind::InstancesAtMost { job, count } =
                &self.expectations.entries[index].0.kind
            else {
                continue;
            };
            let (job, limit) = (job.clone(), *count);
            if self.expectations.entries[index]
                .1
                .as_ref()
                .is_some_and(|v| !v.held)
            {
                continue;
            }
            let actual = self.instances_of_job(&job).count() as u64;
            if actual > limit {
                let detail = format!("{actual} instances at {}", self.now);
                self.set_verdict(index, false, detail);
            }
        }
    }

    /// Every verdict: expectations in file order, then invariants.
    pub(crate) fn final_verdicts(&mut self) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        for index in 0..self.expectations.entries.len() {
            let (expectation, verdict) = &self.expectations.entries[index];
            let what = expectation.kind.to_string();
            let line = Some(expectation.line);
            let verdict =
                match (&expectation.kind, verdict) {
                    (_, Some(verdict)) => verdict.clone(),
                    (ExpectationKind::ConvergedWithin(within), None) => {
                        let deadline = self.last_action_at + *within;
                        match self.expectations.converged_since {
                            Some(since) if since <= deadline => Verdict {
                                what,
                                cause: None,
                                line,
                                held: true,
                                detail: format!("converged at {since} (deadline {deadline})"),
                            },
                            Some(since) => Verdict {
                                what,
                                cause: Some("converged late"),
                                line,
                                held: false,
                                detail: format!(
                                    "converged only at {since}, after the deadline {deadline}"
                                ),
                            },
                            None => {
                                let (cause, reason) =
                                    self.expectations.last_divergence.as_ref().map_or(
                                        ("never checked", "never checked"),
                                        |(kind, text)| (*kind, text.as_str()),
                                    );
                                // A run that ends before the deadline
                                // cannot show convergence by then: another
                                // failure than a run that had the time.
                                let cause = if self.end < deadline {
                                    "run ended before the deadline"
                                } else {
                                    cause
                                };
                                Verdict {
                                    what,
                                    cause: Some(cause),
                                    line,
                                    held: false,
                                    detail: format!("not converged at the end ({reason})"),
                                }
                            }
                        }
                    }
                    (ExpectationKind::CommandsAtMost(limit), None) => Verdict {
                        what,
                        cause: None,
                        line,
                        held: self.commands_issued <= *limit,
                        detail: format!("{} commands issued", self.commands_issued),
                    },
                    (ExpectationKind::AgentCommandsAtMost { agent, count }, None) => {
                        let sent = self
                            .commands_to
                            .get(&harpoon_core::AgentId::new(agent))
                            .copied()
                            .unwrap_or(0);
                        Verdict {
                            what,
                            cause: None,
                            line,
                            held: sent <= *count,
                            detail: format!("{sent} commands sent to {agent}"),
                        }
                    }
                    (ExpectationKind::CommandsAtLeast(floor), None) => Verdict {
                        what,
                        cause: None,
                        line,
                        held: self.commands_issued >= *floor,
                        detail: format!("{} commands issued", self.commands_issued),
                    },
                    (ExpectationKind::FailedStartsRecover { job }, None) => {
                        let stuck: Vec<String> = self
                            .instances_of_job(job)
                            .filter(|(agent, container, _)| {
                                self.agents
                                    .get(*agent)
                                    .is_some_and(|sim| sim.start_failed_for_good(container))
                            })
                            .map(|(agent, container, _)| format!("{container} on {agent}"))
                            .collect();
                        Verdict {
                            what,
                            cause: None,
                            line,
                            held: stuck.is_empty(),
                            detail: if stuck.is_empty() {
                                "every failed start recovered or has a retry pending".to_owned()
                            } else {
                                format!(
                                    "at the end, failed by a start with no retry pending: {}",
                                    stuck.join(", ")
                                )
                            },
                        }
                    }
                    (ExpectationKind::MinRunning { to, .. }, None)
                        if self.now >= harpoon_core::Instant::ZERO + *to =>
                    {
                        Verdict {
                            what,
                            cause: None,
                            line,
                            held: true,
                            detail: "held at every step of the window".to_owned(),
                        }
                    }
                    (ExpectationKind::InstancesAtMost { .. }, None) => Verdict {
                        what,
                        cause: None,
                        line,
                        held: true,
                        detail: "never exceeded".to_owned(),
                    },
                    (_, None) => Verdict {
                        what,
                        cause: Some("never checked"),
                        line,
                        held: false,
                        detail: "never checked: its time is after the end of the run".to_owned(),
                    },
                };
            verdicts.push(verdict);
        }
        for invariant in Invariant::ALL {
            if invariant == Invariant::Determinism {
                continue;
            }
            verdicts.push(match self.invariants.breaches(invariant) {
                None => Verdict {
                    what: format!("invariant: {}", invariant.describe()),
                    cause: None,
                    line: None,
                    held: true,
                    detail: String::new(),
                },
                Some((count, examples)) => Verdict {
                    what: format!("invariant: {}", invariant.describe()),
                    cause: None,
                    line: None,
                    held: false,
                    detail: format!("broken {count} times; {}", examples.join("; ")),
                },
            });
        }
        verdicts
    }
}
