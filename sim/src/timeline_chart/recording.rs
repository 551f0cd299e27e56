//! What a timeline chart shows of one run, recorded as it runs: each
//! container's status over time on each agent (as the simulated agent has
//! it, and `pending create` while the scheduler's create is unconfirmed),
//! the scheduler's down times, and the first breach of each invariant.
//! Faults and user actions are read from the scenario's timeline.

use std::collections::BTreeMap;

use harpoon_core::Instant;
use harpoon_core::wire::ContainerStatus;

use crate::invariants::Invariant;
use crate::report::Verdict;
use crate::scenario::{Action, ExpectationKind, Scenario};
use crate::world::World;

/// A container's status as the chart colours it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BarStatus {
    /// The scheduler sent a create the agent has not confirmed.
    PendingCreate,
    /// Prepared, not running.
    Created,
    /// Running.
    Running,
    /// Exited non-zero or could not start, and not being restarted.
    Failed,
    /// Exited, with a restart by the agent's restart policy pending.
    Restarting,
    /// Exited zero, or stopped.
    Stopped,
}

impl BarStatus {
    /// Every status, in legend order.
    pub const ALL: [BarStatus; 6] = [
        BarStatus::PendingCreate,
        BarStatus::Created,
        BarStatus::Running,
        BarStatus::Restarting,
        BarStatus::Failed,
        BarStatus::Stopped,
    ];

    /// Its name, also its CSS class.
    pub fn name(self) -> &'static str {
        match self {
            BarStatus::PendingCreate => "pending-create",
            BarStatus::Created => "created",
            BarStatus::Running => "running",
            BarStatus::Failed => "failed",
            BarStatus::Restarting => "restarting",
            BarStatus::Stopped => "stopped",
        }
    }
}

/// One stretch of a container's life in one status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// When it entered the status.
    pub from: Instant,
    /// When it left it (the end of the run if it never did).
    pub to: Instant,
    /// The status.
    pub status: BarStatus,
}

/// A container on one agent from the moment it appears until it is
/// removed (or the run ends): one bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLife {
    /// The agent.
    pub agent: String,
    /// The container's ID.
    pub container: String,
    /// Its statuses, in time order, without gaps.
    pub segments: Vec<Segment>,
    /// Whether it was removed before the run ended.
    pub removed: bool,
}

/// What kind of fault a span shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The agent is crashed.
    Crash,
    /// The agent's links drop everything.
    Partition,
    /// The agent's link is slowed.
    SlowLink,
    /// Starts fail on the agent.
    FailingStarts,
    /// Every command to the agent fails, or is never confirmed, or its
    /// stream flaps.
    BrokenPeer,
    /// The agent's machine is replaced, or its stream dropped: a moment.
    Wipe,
}

impl FaultKind {
    /// Its CSS class.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Partition => "partition",
            FaultKind::SlowLink => "slow",
            FaultKind::FailingStarts => "failing-starts",
            FaultKind::BrokenPeer => "broken-peer",
            FaultKind::Wipe => "wipe",
        }
    }
}

/// A fault on one agent's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpan {
    /// The agent.
    pub agent: String,
    /// When it starts.
    pub from: Instant,
    /// When it ends (equal to `from` for a moment).
    pub to: Instant,
    /// Its kind.
    pub kind: FaultKind,
    /// What the timeline says, for the hover title.
    pub label: String,
}

/// Something across every lane: the scheduler down, or its disk failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    /// When it starts.
    pub from: Instant,
    /// When it ends.
    pub to: Instant,
    /// Whether the scheduler was down (else its disk was failing).
    pub scheduler_down: bool,
    /// For the hover title.
    pub label: String,
}

/// A moment: a user action on the top lane, or a failure across all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// When.
    pub at: Instant,
    /// What, for the hover title.
    pub label: String,
}

/// Everything the chart shows of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// When the run ended.
    pub end: Instant,
    /// Every agent, in the order they appeared.
    pub agents: Vec<String>,
    /// Every container's life.
    pub lives: Vec<ContainerLife>,
    /// Faults on agents' lanes.
    pub faults: Vec<FaultSpan>,
    /// Scheduler down times and disk failures.
    pub bands: Vec<Band>,
    /// User actions.
    pub actions: Vec<Marker>,
    /// Failed expectations and invariant breaches, at their moment.
    pub failures: Vec<Marker>,
}

/// Builds a [`Recording`] step by step.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    recording: Recording,
    /// The life each container on each agent is in now, by index.
    open: BTreeMap<(String, String), usize>,
    /// Since when the scheduler is down, if it is.
    down_since: Option<Instant>,
    /// Breaches of each invariant seen so far.
    breaches_seen: BTreeMap<Invariant, u64>,
}

impl Recorder {
    /// Closes what is still open at `end` and adds what the scenario's
    /// timeline and the failed expectations say.
    pub(crate) fn finish(
        mut self,
        scenario: &Scenario,
        seed: u64,
        end: Instant,
        failed: &[Verdict],
    ) -> Recording {
        for index in std::mem::take(&mut self.open).into_values() {
            if let Some(last) = self.recording.lives[index].segments.last_mut() {
                last.to = end;
            }
        }
        if let Some(since) = self.down_since.take() {
            self.recording.bands.push(Band {
                from: since,
                to: end,
                scheduler_down: true,
                label: format!("scheduler down from {since} to the end"),
            });
        }
        let recording = &mut self.recording;
        recording.scenario = scenario.name.clone();
        recording.seed = seed;
        recording.end = end;
        for spec in &scenario.agents {
            if !recording.agents.contains(&spec.name) {
                recording.agents.push(spec.name.clone());
            }
        }
        faults_and_actions(scenario, end, recording);
        for verdict in failed {
            let at = verdict.line.map_or(end, |line| {
                scenario
                    .expectations
                    .iter()
                    .find(|expectation| expectation.line == line)
                    .and_then(|expectation| expectation_time(&expectation.kind))
                    .map_or(end, |at| (Instant::ZERO + at).min(end))
            });
            let label = match verdict.line {
                Some(line) => format!("FAILED (line {line}): {}: {}", verdict.what, verdict.detail),
                None => format!("{}: {}", verdict.what, verdict.detail),
            };
            // An invariant breach is already marked at its first moment.
            let marked = verdict.line.is_none()
                && recording
                    .failures
                    .iter()
                    .any(|marker| marker.label.starts_with(&verdict.what));
            if !marked {
                recording.failures.push(Marker { at, label });
            }
        }
        recording.failures.sort_by_key(|marker| marker.at);
        self.recording
    }
}

fn expectation_time(kind: &ExpectationKind) -> Option<harpoon_core::Duration> {
    match kind {
        ExpectationKind::Running { at, .. }
        | ExpectationKind::Placed { at, .. }
        | ExpectationKind::Unplaced { at, .. }
        | ExpectationKind::PlacedOn { at, .. } => Some(*at),
        _ => None,
    }
}

/// Fault spans and user-action markers from the scenario's timeline. A
/// crash lasts until the agent's next restart or wipe, a partition until
/// the agent is healed, a slow link until the next `slow` of that agent;
/// the others say how long they last.
fn faults_and_actions(scenario: &Scenario, end: Instant, recording: &mut Recording) {
    let timeline = &scenario.timeline;
    let until = |from: usize, ends: &dyn Fn(&Action) -> bool| -> Instant {
        timeline[from + 1..]
            .iter()
            .find(|later| ends(&later.action))
            .map_or(end, |later| Instant::ZERO + later.at)
            .min(end)
    };
    for (index, entry) in timeline.iter().enumerate() {
        let at = (Instant::ZERO + entry.at).min(end);
        let label = format!("{} {}", at, entry.action);
        let mut fault = |agent: &str, to: Instant, kind: FaultKind| {
            recording.faults.push(FaultSpan {
                agent: agent.to_owned(),
                from: at,
                to: to.min(end).max(at),
                kind,
                label: label.clone(),
            });
        };
        match &entry.action {
            Action::Crash(agent) => {
                let to = until(
                    index,
                    &|later| matches!(later, Action::Restart(a) | Action::Wipe(a) if a == agent),
                );
                fault(agent, to, FaultKind::Crash);
            }
            Action::Partition(agents) => {
                for agent in agents {
                    let to = until(
                        index,
                        &|later| matches!(later, Action::Heal(healed) if healed.contains(agent)),
                    );
                    fault(agent, to, FaultKind::Partition);
                }
            }
            Action::Slow { agent, .. } => {
                let to = until(
                    index,
                    &|later| matches!(later, Action::Slow { agent: a, .. } if a == agent),
                );
                fault(agent, to, FaultKind::SlowLink);
            }
            Action::FailStarts { agent, duration } => {
                fault(agent, at + *duration, FaultKind::FailingStarts);
            }
            Action::FailCommands { agent, duration }
            | Action::NeverConfirm { agent, duration }
            | Action::FlapStream { agent, duration }
            | Action::RepeatFirstEvent { agent, duration } => {
                fault(agent, at + *duration, FaultKind::BrokenPeer);
            }
            Action::Wipe(agent) | Action::DropStream(agent) | Action::ReportStray(agent) => {
                fault(agent, at, FaultKind::Wipe);
            }
            Action::ShrinkAgent { agent, .. } | Action::LoseContainers { agent, .. } => {
                fault(agent, at, FaultKind::Wipe);
            }
            Action::DiskFail { duration } | Action::SlowDisk { duration, .. } => {
                recording.bands.push(Band {
                    from: at,
                    to: (at + *duration).min(end),
                    scheduler_down: false,
                    label,
                })
            }
            Action::Restart(_) | Action::Heal(_) | Action::SchedulerCrash { .. } => {}
            Action::Schedule(_)
            | Action::ScheduleChecked(_)
            | Action::Migrate(_)
            | Action::AbortRollout(_)
            | Action::Drain(_)
            | Action::Undrain(_)
            | Action::Unschedule(_)
            | Action::AddAgent(_)
            | Action::RemoveAgent(_) => recording.actions.push(Marker { at, label }),
        }
    }
}

impl World<'_> {
    /// Records what changed in this step, when the run is recorded.
    pub(crate) fn record_step(&mut self) {
        let Some(mut recorder) = self.recorder.take() else {
            return;
        };
        let now = self.now;
        let mut current: BTreeMap<(String, String), BarStatus> = BTreeMap::new();
        for (agent, sim) in &self.agents {
            for (container, status, restarting) in sim.chart_states() {
                let status = match (status, restarting) {
                    (_, true) => BarStatus::Restarting,
                    (ContainerStatus::Created, _) => BarStatus::Created,
                    (ContainerStatus::Running, _) => BarStatus::Running,
                    (ContainerStatus::Failed, _) => BarStatus::Failed,
                    (ContainerStatus::Finished | ContainerStatus::Deleted, _) => BarStatus::Stopped,
                };
                current.insert((agent.to_string(), container.to_owned()), status);
            }
        }
        match &self.scheduler {
            Some(scheduler) => {
                for view in scheduler.agents() {
                    for container in view.containers() {
                        if container.status().is_none() && container.is_being_created() {
                            current
                                .entry((view.id.to_string(), container.id().to_string()))
                                .or_insert(BarStatus::PendingCreate);
                        }
                    }
                }
                if let Some(since) = recorder.down_since.take() {
                    recorder.recording.bands.push(Band {
                        from: since,
                        to: now,
                        scheduler_down: true,
                        label: format!("scheduler down from {since} to {now}"),
                    });
                }
            }
            None => {
                recorder.down_since.get_or_insert(now);
            }
        }
        recorder.apply(now, current);
        for invariant in Invariant::ALL {
            let Some((count, examples)) = self.invariants.breaches(invariant) else {
                continue;
            };
            let seen = recorder.breaches_seen.entry(invariant).or_insert(0);
            if *seen == 0 {
                recorder.recording.failures.push(Marker {
                    at: now,
                    label: format!(
                        "invariant: {}: first broken here: {}",
                        invariant.describe(),
                        examples.last().map_or("", String::as_str)
                    ),
                });
            }
            *seen = *count;
        }
        self.recorder = Some(recorder);
    }
}

impl Recorder {
    /// Moves every container to its status in `current`: a changed status
    /// ends a segment and starts one, a container no longer there ends its
    /// life, a new one starts a life.
    fn apply(&mut self, now: Instant, current: BTreeMap<(String, String), BarStatus>) {
        let lives = &mut self.recording.lives;
        self.open.retain(|key, &mut index| {
            if current.contains_key(key) {
                return true;
            }
            let life = &mut lives[index];
            if let Some(last) = life.segments.last_mut() {
                last.to = now;
            }
            life.removed = true;
            false
        });
        for (key, status) in current {
            match self.open.get(&key) {
                Some(&index) => {
                    let segments = &mut lives[index].segments;
                    let last = segments.last_mut().expect("a life has a segment");
                    if last.status != status {
                        last.to = now;
                        // A status that lasted no time (several changes at
                        // one instant) is replaced, not drawn.
                        if last.from == now {
                            segments.pop();
                        }
                        match segments.last_mut() {
                            Some(previous) if previous.status == status => {
                                previous.to = now;
                            }
                            _ => segments.push(Segment {
                                from: now,
                                to: now,
                                status,
                            }),
                        }
                    }
                }
                None => {
                    if !self.recording.agents.contains(&key.0) {
                        self.recording.agents.push(key.0.clone());
                    }
                    self.open.insert(key.clone(), lives.len());
                    lives.push(ContainerLife {
                        agent: key.0,
                        container: key.1,
                        segments: vec![Segment {
                            from: now,
                            to: now,
                            status,
                        }],
                        removed: false,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Instant {
        Instant::from_millis(seconds * 1000)
    }

    fn step(recorder: &mut Recorder, seconds: u64, states: &[(&str, &str, BarStatus)]) {
        let current = states
            .iter()
            .map(|(agent, container, status)| {
                (((*agent).to_owned(), (*container).to_owned()), *status)
            })
            .collect();
        recorder.apply(at(seconds), current);
    }

    #[test]
    fn a_containers_statuses_become_segments_of_one_life_until_it_is_removed() {
        let mut recorder = Recorder::default();
        step(
            &mut recorder,
            1,
            &[("a1", "web-0", BarStatus::PendingCreate)],
        );
        step(&mut recorder, 2, &[("a1", "web-0", BarStatus::Created)]);
        step(&mut recorder, 2, &[("a1", "web-0", BarStatus::Running)]);
        step(&mut recorder, 5, &[("a1", "web-0", BarStatus::Running)]);
        step(&mut recorder, 9, &[]);
        let life = &recorder.recording.lives[0];
        assert_eq!(
            life.segments,
            vec![
                Segment {
                    from: at(1),
                    to: at(2),
                    status: BarStatus::PendingCreate
                },
                Segment {
                    from: at(2),
                    to: at(9),
                    status: BarStatus::Running
                },
            ],
            "a status left at the instant it was entered is not drawn"
        );
        assert!(life.removed);
        assert_eq!(recorder.recording.agents, ["a1"]);
    }

    #[test]
    fn a_container_created_again_after_removal_is_a_new_life() {
        let mut recorder = Recorder::default();
        step(&mut recorder, 1, &[("a1", "web-0", BarStatus::Running)]);
        step(&mut recorder, 3, &[]);
        step(&mut recorder, 4, &[("a1", "web-0", BarStatus::Created)]);
        assert_eq!(recorder.recording.lives.len(), 2);
        assert!(recorder.recording.lives[0].removed);
        assert!(!recorder.recording.lives[1].removed);
    }
}
