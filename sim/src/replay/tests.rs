//! Replay of recordings made here with the core's codec, as the daemon
//! makes them: a matching one matches, a wrong hash is the divergence at
//! its input, a torn tail is left out, and a scenario written from one
//! runs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use harpoon_core::record::{self, Header, OutputHash};
use harpoon_core::wire::{
    ContainerConfig, ContainerInstance, ContainerStatus, CpuTotalReserved, HostResources,
    JobConfig, ProcessState, StateEvent, TotalReserved,
};
use harpoon_core::{
    AgentId, CommandAction, Input, Instant, Output, RequestId, Scheduler, SchedulerConfig,
    UnscheduleTarget,
};

use super::*;

fn job(name: &str, scale: i64) -> JobConfig {
    let json = serde_json::json!({
        "product": "p", "environment": "e", "job": name,
        "command": {"working_dir": "/", "exec": ["./run"]},
        "resources": {"mem": 64, "cpu": 0.5},
        "grace": {"startup": "1s", "shutdown": "1s"},
        "scale": scale,
    });
    serde_json::from_value(json).expect("a job")
}

fn resources() -> HostResources {
    HostResources {
        mem: TotalReserved {
            total: 2048,
            reserved: 0,
        },
        cpus: CpuTotalReserved {
            total: 2.0,
            reserved: 0.0,
        },
        storage: TotalReserved::default(),
        volumes: Vec::new(),
    }
}

/// A daemon's run, played by agents that do what they are told at once:
/// two agents, a job scheduled, one agent's stream breaking for good, the
/// job unscheduled. Returns every input with its time.
fn run() -> Vec<(Instant, Input, u64)> {
    let mut scheduler = Scheduler::new(config(), 9, Instant::ZERO);
    let agents = [AgentId::new("http://a0"), AgentId::new("http://a1")];
    let mut runs: BTreeMap<AgentId, BTreeMap<String, ContainerInstance>> = BTreeMap::new();
    let mut sessions: BTreeMap<AgentId, u64> = BTreeMap::new();
    let mut pending: VecDeque<Input> = VecDeque::from([
        Input::RegistryLoaded {
            rollouts: Vec::new(),
            drains: Vec::new(),
            jobs: Vec::new(),
            sequence: 0,
        },
        Input::AgentsDiscovered {
            agents: agents.iter().cloned().collect::<BTreeSet<_>>(),
        },
    ]);
    let mut recorded = Vec::new();
    let mut now = Instant::ZERO;
    let dead = &agents[1];
    for step in 0..400u64 {
        let input = match step {
            40 => Input::Schedule {
                request: RequestId(1),
                job: job("web", 3),
                index: None,
            },
            120 => Input::StreamClosed {
                agent: dead.clone(),
                session: sessions[dead],
                reason: "connection reset".to_owned(),
            },
            300 => Input::Unschedule {
                request: RequestId(2),
                target: UnscheduleTarget::Config(job("web", 3)),
                index: None,
            },
            _ => pending.pop_front().unwrap_or_else(|| {
                now += harpoon_core::Duration::from_millis(500);
                Input::TimePassed
            }),
        };
        scheduler.handle(now, input.clone());
        let mut hash = OutputHash::default();
        while let Some(output) = scheduler.poll_output() {
            hash.add(&output);
            match output {
                Output::OpenStream { agent, session } => {
                    sessions.insert(agent.clone(), session);
                    if step > 120 && agent == *dead {
                        pending.push_back(Input::StreamClosed {
                            agent,
                            session,
                            reason: "connection refused".to_owned(),
                        });
                        continue;
                    }
                    pending.push_back(Input::StreamOpened {
                        agent: agent.clone(),
                        session,
                    });
                    let containers = runs.get(&agent).cloned().unwrap_or_default();
                    pending.push_back(Input::StreamEvent {
                        agent,
                        session,
                        event: StateEvent {
                            resources: resources(),
                            containers,
                        },
                    });
                }
                Output::Persist { sequence, .. } => {
                    pending.push_back(Input::PersistCompleted { sequence });
                }
                Output::Command(command) => {
                    let id = command.container.as_str().to_owned();
                    let on = runs.entry(command.agent.clone()).or_default();
                    let status = match &command.action {
                        CommandAction::Create(config) => {
                            on.insert(id.clone(), instance(&id, ContainerStatus::Created, config));
                            Some(ContainerStatus::Created)
                        }
                        CommandAction::Start => Some(ContainerStatus::Running),
                        CommandAction::Stop => Some(ContainerStatus::Finished),
                        CommandAction::Destroy => None,
                    };
                    let mut changed = BTreeMap::new();
                    match status {
                        Some(status) => {
                            if let Some(entry) = on.get_mut(&id) {
                                entry.status = status;
                                changed.insert(id.clone(), entry.clone());
                            }
                        }
                        None => {
                            if let Some(mut gone) = on.remove(&id) {
                                gone.status = ContainerStatus::Deleted;
                                changed.insert(id.clone(), gone);
                            }
                        }
                    }
                    pending.push_back(Input::CommandResult {
                        agent: command.agent.clone(),
                        command: command.id,
                        result: Ok(()),
                    });
                    if !changed.is_empty() {
                        pending.push_back(Input::StreamEvent {
                            session: sessions[&command.agent],
                            agent: command.agent,
                            event: StateEvent {
                                resources: resources(),
                                containers: changed,
                            },
                        });
                    }
                }
                Output::CloseStream { .. } | Output::Reply { .. } | Output::Trace(_) => {}
            }
        }
        recorded.push((now, input, hash.finish()));
    }
    recorded
}

fn instance(id: &str, status: ContainerStatus, config: &Arc<ContainerConfig>) -> ContainerInstance {
    ContainerInstance {
        container_id: id.to_owned(),
        status,
        config: Arc::clone(config),
        process_state: ProcessState::default(),
    }
}

fn config() -> SchedulerConfig {
    SchedulerConfig {
        trace: false,
        ..SchedulerConfig::default()
    }
}

/// Writes `inputs` as one recording file, the hash of input `tampered`
/// with one byte flipped (its frame still checksummed: as if the recorded
/// core had decided otherwise).
fn write(dir: &Path, inputs: &[(Instant, Input, u64)], tampered: Option<usize>) -> PathBuf {
    let header = Header {
        format: record::FORMAT_VERSION,
        run: 1,
        file: 1,
        first_input: 0,
        seed: 9,
        config: config(),
    };
    let mut bytes = Vec::new();
    record::file_start(&header, &mut bytes);
    record::encode_checkpoint(
        &Scheduler::new(config(), 9, Instant::ZERO).checkpoint(),
        &mut bytes,
    );
    for (index, (at, input, hash)) in inputs.iter().enumerate() {
        let hash = if Some(index) == tampered {
            hash ^ 0x0000_0000_00ff_0000
        } else {
            *hash
        };
        record::encode_input(index as u64, *at, input, hash, &mut bytes);
    }
    let path = dir.join("record-000001.hrec");
    std::fs::write(&path, bytes).expect("writable");
    path
}

#[test]
fn a_faithful_recording_matches_input_for_input() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let inputs = run();
    write(dir.path(), &inputs, None);
    let report =
        replay(&load(dir.path()).expect("loads"), &ReplayOptions::default()).expect("replays");
    assert!(report.matched_all(), "{}", report.render());
    assert_eq!(report.matched, inputs.len() as u64);
}

#[test]
fn a_flipped_byte_in_a_recorded_hash_is_the_divergence_at_its_input() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let inputs = run();
    // An input with outputs, so the divergence lists them.
    let at = inputs
        .iter()
        .position(|(_, input, _)| matches!(input, Input::Schedule { .. }))
        .expect("a schedule");
    let path = write(dir.path(), &inputs, Some(at));
    let report =
        replay(&load(dir.path()).expect("loads"), &ReplayOptions::default()).expect("replays");
    let divergence = report.divergence.as_ref().expect("diverged");
    assert_eq!(divergence.index, at as u64);
    assert_eq!(divergence.file, path);
    assert_eq!(divergence.at, inputs[at].0);
    assert_eq!(divergence.actual, inputs[at].2);
    assert_eq!(divergence.expected, inputs[at].2 ^ 0x0000_0000_00ff_0000);
    assert!(
        divergence.input.contains("\"Schedule\""),
        "{}",
        divergence.input
    );
    assert!(!divergence.outputs.is_empty());
    assert_eq!(report.matched, at as u64);
    let text = report.render();
    assert!(text.contains(&format!("DIVERGED at input {at}")), "{text}");
}

#[test]
fn a_torn_last_frame_is_left_out_and_the_rest_matches() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let inputs = run();
    let path = write(dir.path(), &inputs, None);
    let bytes = std::fs::read(&path).expect("readable");
    std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("writable");
    let report =
        replay(&load(dir.path()).expect("loads"), &ReplayOptions::default()).expect("replays");
    assert!(report.matched_all(), "{}", report.render());
    assert_eq!(report.matched, inputs.len() as u64 - 1);
    assert!(
        report.notes.iter().any(|note| note.contains("left out")),
        "{:?}",
        report.notes
    );
}

#[test]
fn tracing_a_replay_explains_it_and_still_matches() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), &run(), None);
    let options = ReplayOptions {
        trace: true,
        ..ReplayOptions::default()
    };
    let report = replay(&load(dir.path()).expect("loads"), &options).expect("replays");
    assert!(report.matched_all(), "{}", report.render());
    let text: Vec<&str> = report.trace.iter().map(|line| line.text.as_str()).collect();
    assert!(
        text.iter().any(|line| line.contains("create web-")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|line| line.contains("stream") && line.contains("closed"))
    );
}

#[test]
fn the_scenario_written_from_a_recording_parses_and_runs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write(dir.path(), &run(), None);
    let text =
        to_scenario::to_scenario(&load(dir.path()).expect("loads"), "test").expect("written");
    assert!(
        text.starts_with("# Written by `harpoon-sim replay --to-scenario`"),
        "{text}"
    );
    for expected in [
        "name = \"a0\"",
        "name = \"web\"",
        "schedule = \"web\"",
        "unschedule = \"web\"",
        "crash = \"a1\"",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let scenario = crate::scenario::parse(&text, "written").expect("parses");
    let report = crate::run_checked(&scenario, scenario.seed, false);
    assert!(report.passed(), "{}\n{text}", report.render());
}
