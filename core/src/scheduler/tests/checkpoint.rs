//! The checkpoint's property: a scheduler restored from a checkpoint taken
//! at any point of a run, fed the rest of the run's inputs, gives the
//! outputs the original gives, byte for byte, and ends in the same state.
//!
//! The run is played by a small random world (agents that carry out
//! commands and report them on their streams, a disk that completes or
//! fails writes, users who schedule and unschedule, streams that break,
//! discovery that changes), driven by a proptest choice sequence and
//! reacting to the original's outputs only.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use proptest::prelude::*;

use super::harness::{agent, event, instance, job, resources};
use crate::ids::{AgentId, RequestId};
use crate::scheduler::{
    AgentCommand, CommandAction, CommandError, Input, Output, Scheduler, SchedulerConfig,
    TraceLevel, UnscheduleTarget,
};
use crate::time::{Duration, Instant};
use crate::wire::{ContainerConfig, ContainerId, ContainerInstance, ContainerStatus, JobConfig};

const AGENTS: [&str; 3] = ["a0", "a1", "a2"];

/// What the random world knows: what the agents run, what is waiting for
/// an answer.
#[derive(Default)]
struct World {
    now: Instant,
    /// Each agent's containers.
    runs: BTreeMap<AgentId, BTreeMap<ContainerId, (ContainerStatus, Arc<ContainerConfig>)>>,
    /// The latest session the scheduler opened per agent, and whether its
    /// stream is open.
    sessions: BTreeMap<AgentId, (u64, bool)>,
    streams_to_open: VecDeque<(AgentId, u64)>,
    commands: VecDeque<AgentCommand>,
    persists: VecDeque<u64>,
    scheduled: Vec<JobConfig>,
    next_request: u64,
}

impl World {
    fn take(&mut self, output: &Output) {
        match output {
            Output::Command(command) => self.commands.push_back(command.clone()),
            Output::OpenStream { agent, session } => {
                self.sessions.insert(agent.clone(), (*session, false));
                self.streams_to_open.push_back((agent.clone(), *session));
            }
            Output::CloseStream { agent } => {
                self.sessions.remove(agent);
            }
            Output::Persist { sequence, .. } => self.persists.push_back(*sequence),
            Output::Reply { .. } | Output::Trace(_) => {}
        }
    }

    fn full_event(&self, agent: &AgentId) -> crate::wire::StateEvent {
        let instances: Vec<ContainerInstance> = self
            .runs
            .get(agent)
            .into_iter()
            .flatten()
            .map(|(id, (status, config))| instance(id, *status, config))
            .collect();
        event(resources(4.0, 4096), instances)
    }

    /// The next input, chosen by `choice` among what can happen now.
    fn next_input(&mut self, choice: u8, arg: u8) -> Input {
        match choice % 9 {
            0 | 1 => {
                self.now += Duration::from_millis(u64::from(arg) * 40);
                Input::TimePassed
            }
            2 => {
                self.next_request += 1;
                let name = ["web", "db", "cache"][usize::from(arg % 3)];
                let job = job(name, i64::from(arg % 4), 0.5 + f64::from(arg % 3), 256);
                self.scheduled.push(job.clone());
                Input::Schedule {
                    request: RequestId(self.next_request),
                    job,
                    // Now and then only if the registry is at a given
                    // index, so that the index is part of what restores.
                    index: arg.is_multiple_of(7).then_some(u64::from(arg % 3)),
                }
            }
            3 if !self.scheduled.is_empty() => {
                self.next_request += 1;
                let job = self
                    .scheduled
                    .remove(usize::from(arg) % self.scheduled.len());
                let target = if arg.is_multiple_of(2) {
                    UnscheduleTarget::Hash(job.hash())
                } else {
                    UnscheduleTarget::Config(job)
                };
                Input::Unschedule {
                    request: RequestId(self.next_request),
                    target,
                    index: None,
                }
            }
            4 if !self.persists.is_empty() => {
                let sequence = self.persists.pop_front().expect("not empty");
                if arg.is_multiple_of(5) {
                    Input::PersistFailed {
                        sequence,
                        error: "disk full".to_owned(),
                    }
                } else {
                    Input::PersistCompleted { sequence }
                }
            }
            5 if !self.commands.is_empty() => self.answer(arg),
            6 if !self.streams_to_open.is_empty() => {
                let (agent, session) = self.streams_to_open.pop_front().expect("not empty");
                if self.sessions.get(&agent) == Some(&(session, false)) {
                    self.sessions.insert(agent.clone(), (session, true));
                }
                if arg.is_multiple_of(7) {
                    Input::StreamClosed {
                        agent,
                        session,
                        reason: "refused".to_owned(),
                    }
                } else {
                    Input::StreamOpened { agent, session }
                }
            }
            7 => {
                let (agent, (session, open)) = match self.sessions.iter().nth(usize::from(arg) % 3)
                {
                    Some((agent, state)) => (agent.clone(), *state),
                    None => return Input::TimePassed,
                };
                match arg % 3 {
                    0 => Input::StreamClosed {
                        agent,
                        session,
                        reason: "reset".to_owned(),
                    },
                    1 if open => Input::StreamEvent {
                        event: self.full_event(&agent),
                        agent,
                        session,
                    },
                    _ => Input::StreamKeepAlive { agent, session },
                }
            }
            8 => {
                let agents: BTreeSet<AgentId> = AGENTS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !arg.is_multiple_of(11) || *i != usize::from(arg % 3))
                    .map(|(_, name)| agent(name))
                    .collect();
                Input::AgentsDiscovered { agents }
            }
            _ => Input::TimePassed,
        }
    }

    /// Answers the oldest command: accepted and carried out, or refused.
    fn answer(&mut self, arg: u8) -> Input {
        let command = self.commands.pop_front().expect("not empty");
        let result = match arg % 8 {
            0 => Err(CommandError::TimedOut),
            1 => Err(CommandError::ServerError("500".to_owned())),
            _ => {
                let runs = self.runs.entry(command.agent.clone()).or_default();
                match &command.action {
                    CommandAction::Create(config) => {
                        runs.insert(
                            command.container.clone(),
                            (ContainerStatus::Created, Arc::clone(config)),
                        );
                    }
                    CommandAction::Start => {
                        if let Some(entry) = runs.get_mut(&command.container) {
                            entry.0 = ContainerStatus::Running;
                        }
                    }
                    CommandAction::Stop => {
                        if let Some(entry) = runs.get_mut(&command.container) {
                            entry.0 = ContainerStatus::Finished;
                        }
                    }
                    CommandAction::Destroy => {
                        runs.remove(&command.container);
                    }
                }
                Ok(())
            }
        };
        Input::CommandResult {
            agent: command.agent,
            command: command.id,
            result,
        }
    }
}

fn drain(scheduler: &mut Scheduler) -> Vec<Output> {
    std::iter::from_fn(|| scheduler.poll_output()).collect()
}

fn config(trace: bool) -> SchedulerConfig {
    SchedulerConfig {
        trace,
        max_commands_per_reconcile: 4,
        ..SchedulerConfig::default()
    }
}

/// Plays `choices` against an original scheduler; at `split`, restores a
/// second one from the original's checkpoint and feeds it the same inputs.
/// Returns the first step where they differ, if any.
fn play(seed: u64, choices: &[(u8, u8)], split: usize, trace: bool) -> Result<(), String> {
    let mut world = World::default();
    let mut original = Scheduler::new(config(trace), seed, Instant::ZERO);
    let mut restored: Option<Scheduler> = None;
    let agents: BTreeSet<AgentId> = AGENTS.iter().map(|name| agent(name)).collect();
    let start = [
        Input::RegistryLoaded {
            rollouts: Vec::new(),
            drains: Vec::new(),
            jobs: vec![job("old", 2, 1.0, 128)],
            sequence: 3,
        },
        Input::AgentsDiscovered { agents },
    ];
    let mut start = VecDeque::from(start);
    for step in 0..start.len() + choices.len() {
        if step == split {
            let checkpoint = original.checkpoint();
            restored = Some(Scheduler::restore(&checkpoint, trace).map_err(|e| e.to_string())?);
        }
        let input = match start.pop_front() {
            Some(input) => input,
            None => {
                let (choice, arg) = choices[step - 2];
                world.next_input(choice, arg)
            }
        };
        original.handle(world.now, input.clone());
        let outputs = drain(&mut original);
        for output in &outputs {
            world.take(output);
        }
        if let Some(restored) = &mut restored {
            restored.handle(world.now, input.clone());
            let again = drain(restored);
            let (ours, theirs) = (format!("{outputs:?}"), format!("{again:?}"));
            if ours != theirs {
                return Err(format!(
                    "step {step} ({input:?}): outputs differ\n original: {ours}\n restored: {theirs}"
                ));
            }
        }
    }
    if let Some(restored) = &restored
        && restored.checkpoint() != original.checkpoint()
    {
        return Err("the two end in different states".to_owned());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_restored_scheduler_gives_the_same_outputs(
        seed in any::<u64>(),
        choices in proptest::collection::vec((any::<u8>(), any::<u8>()), 20..300),
        split in any::<proptest::sample::Index>(),
        trace in any::<bool>(),
    ) {
        let split = split.index(choices.len() + 2);
        if let Err(problem) = play(seed, &choices, split, trace) {
            prop_assert!(false, "{}", problem);
        }
    }
}

#[test]
fn a_checkpoint_of_another_format_or_damaged_is_refused() {
    let scheduler = Scheduler::new(config(false), 1, Instant::ZERO);
    let bytes = scheduler.checkpoint().as_bytes().to_vec();
    let text = String::from_utf8(bytes.clone()).expect("JSON");
    let other = text.replacen("\"format\":1", "\"format\":99", 1);
    let error = Scheduler::restore(&crate::Checkpoint::from_bytes(other.into_bytes()), false)
        .expect_err("another format");
    assert_eq!(
        error.to_string(),
        "checkpoint format 99 is not the supported format 1"
    );
    let torn = crate::Checkpoint::from_bytes(bytes[..bytes.len() / 2].to_vec());
    assert!(matches!(
        Scheduler::restore(&torn, false),
        Err(crate::RestoreError::Decode(_))
    ));
}

#[test]
fn tracing_changes_no_decision() {
    // What lets a run recorded without routine traces replay with them:
    // the recording's output hash leaves out exactly these.
    let decisions = |trace: bool| {
        let mut world = World::default();
        let mut scheduler = Scheduler::new(config(trace), 5, Instant::ZERO);
        let mut hashes = Vec::new();
        let mut feed = |scheduler: &mut Scheduler, world: &mut World, input: Input| {
            scheduler.handle(world.now, input);
            let mut kept = Vec::new();
            for output in drain(scheduler) {
                world.take(&output);
                if !matches!(&output, Output::Trace(t) if t.level == TraceLevel::Detail) {
                    kept.push(format!("{output:?}"));
                }
            }
            hashes.push(kept);
        };
        feed(
            &mut scheduler,
            &mut world,
            Input::RegistryLoaded {
                rollouts: Vec::new(),
                drains: Vec::new(),
                jobs: vec![job("old", 2, 1.0, 128)],
                sequence: 0,
            },
        );
        let agents = AGENTS.iter().map(|name| agent(name)).collect();
        feed(
            &mut scheduler,
            &mut world,
            Input::AgentsDiscovered { agents },
        );
        for step in 0..400u32 {
            let choice = u8::try_from(step * 7 % 251).expect("small");
            let arg = u8::try_from(step * 13 % 253).expect("small");
            let input = world.next_input(choice, arg);
            feed(&mut scheduler, &mut world, input);
        }
        hashes
    };
    assert_eq!(decisions(false), decisions(true));
}
