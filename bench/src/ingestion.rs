//! Part 4, event ingestion: agent events per second the core absorbs at
//! 1,000 agents.
//!
//! A [`Scheduler`] is driven directly, as the daemon's core task drives it:
//! it loads a registry, discovers the agents, opens their streams and
//! takes a first event from each listing the tasks it runs (ten each, every
//! one a task of a registered job, so there is nothing to place). Then a
//! long stream of delta events, round-robin over the agents, is fed through
//! `handle` and every output drained; the figure is events per second of
//! that loop.
//!
//! The baseline is what the daemon does to every event before the core
//! sees it: decoding its JSON (`serde_json::from_str::<StateEvent>`, as
//! `agent_client` does). It is measured on the very same events, serialized
//! beforehand. A ratio above 1 means the core keeps up with the decoding
//! of the events it is fed; below 1, the core is the bottleneck.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use harpoon_core::wire::{
    ContainerConfig, ContainerInstance, ContainerStatus, HostResources, JobConfig, ProcessState,
    StateEvent,
};
use harpoon_core::{AgentId, Input, Instant, Output, Scheduler, SchedulerConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Size;
use crate::report::{Table, count, human};

/// Tasks each agent runs.
const TASKS_PER_AGENT: usize = 10;
/// The largest batch of events made (and held in memory) at once.
const MAX_BATCH: usize = 50_000;

/// How the delta events are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    /// Every event changes a running container's `process_state` (its
    /// metrics), the status staying `running`.
    ProcessStateOnly,
    /// One event in five is half of an agent-side restart: `running` →
    /// `failed` with `restarting` set, then back to `running` with one more
    /// restart. The rest change `process_state` as above.
    RestartChurn,
}

impl Mix {
    fn describe(self) -> &'static str {
        match self {
            Mix::ProcessStateOnly => "running → running, process_state changes",
            Mix::RestartChurn => "20% restart churn (running ⇄ failed/restarting)",
        }
    }
}

/// Runs this part.
pub fn run(size: Size) -> Table {
    let agents = size.pick(1_000, 100);
    // Each batch is made and serialized untimed, then absorbed by the core
    // and decoded from JSON, each timed; batches double in size until the
    // core has been busy for the budget, so that a faster core gets a
    // longer (more precise) stream, and a slow one no endless run.
    let budget = size.pick(Duration::from_secs(3), Duration::from_millis(200));
    let batch = size.pick(500, 200);
    let mut table = Table::new(&format!(
        "4. Event ingestion ({} agents, {} tasks; events per second)",
        count(agents as u64),
        count((agents * TASKS_PER_AGENT) as u64)
    ));
    for mix in [Mix::ProcessStateOnly, Mix::RestartChurn] {
        let measured = measure(agents, mix, budget, batch);
        table.row(
            format!("core absorbs: {}", mix.describe()),
            measured.events as f64 / measured.core.as_secs_f64(),
            Some(measured.events as f64 / measured.decode.as_secs_f64()),
            "events/s",
            None,
        );
        table.notes.push(format!(
            "{}: {} events; core {:.2} s, JSON decoding {:.2} s ({} bytes an event on average); \
             {} commands issued while absorbing (0 expected: every task is in place); \
             setup (registry, discovery, {} first events) took {:.2} s.",
            mix.describe(),
            count(measured.events),
            measured.core.as_secs_f64(),
            measured.decode.as_secs_f64(),
            human(measured.json_bytes as f64 / measured.events as f64),
            measured.commands,
            count(agents as u64),
            measured.setup.as_secs_f64(),
        ));
    }
    table.notes.push(
        "Baseline: decoding the same events from JSON with serde_json, which the daemon does \
         to every event before handing it to the core; single-threaded, same run. A ratio \
         above 1 means the core absorbs events faster than the daemon can decode them. The \
         core figure is `handle` plus draining every output, virtual time advancing 1 ms an \
         event (each agent is heard from every second, as its stream's keep-alives would)."
            .to_owned(),
    );
    table
}

/// What one measurement found.
struct Measured {
    events: u64,
    core: Duration,
    decode: Duration,
    json_bytes: u64,
    commands: u64,
    setup: Duration,
}

/// One task as its agent sees it.
struct Task {
    id: String,
    config: Arc<ContainerConfig>,
    status: ContainerStatus,
    process_state: ProcessState,
}

impl Task {
    fn instance(&self) -> ContainerInstance {
        ContainerInstance {
            container_id: self.id.clone(),
            status: self.status,
            config: Arc::clone(&self.config),
            process_state: self.process_state.clone(),
        }
    }
}

/// One simulated agent: its id, what it reports and its tasks.
struct AgentTasks {
    id: AgentId,
    resources: HostResources,
    tasks: Vec<Task>,
}

fn measure(agent_count: usize, mix: Mix, budget: Duration, first_batch: usize) -> Measured {
    let jobs: Vec<JobConfig> = (0..TASKS_PER_AGENT)
        .map(|index| job(&format!("ingest{index}"), agent_count))
        .collect();
    let mut agents: Vec<AgentTasks> = (0..agent_count)
        .map(|index| AgentTasks {
            id: AgentId::new(&format!(
                "http://10.{}.{}.{}:3333",
                index >> 16,
                (index >> 8) & 255,
                index & 255
            )),
            resources: resources(),
            tasks: jobs
                .iter()
                .map(|job| Task {
                    // Task `index` of every job runs on agent `index`.
                    id: job.hash().container_id(index as u32).as_str().to_owned(),
                    config: Arc::new(job.container.clone()),
                    status: ContainerStatus::Running,
                    process_state: ProcessState {
                        up: true,
                        ..ProcessState::default()
                    },
                })
                .collect(),
        })
        .collect();

    let setup_started = WallInstant::now();
    let mut now = Instant::ZERO;
    let config = SchedulerConfig {
        trace: false,
        ..SchedulerConfig::default()
    };
    let mut scheduler = Scheduler::new(config, 4, now);
    let mut commands = 0;
    scheduler.handle(
        now,
        Input::RegistryLoaded {
            jobs,
            rollouts: Vec::new(),
            drains: Vec::new(),
            sequence: 0,
        },
    );
    commands += drain(&mut scheduler);
    // The registry is loaded from disk: nothing to persist or answer.
    let listed: BTreeSet<AgentId> = agents.iter().map(|agent| agent.id.clone()).collect();
    scheduler.handle(now, Input::AgentsDiscovered { agents: listed });
    commands += drain(&mut scheduler);
    for agent in &agents {
        scheduler.handle(
            now,
            Input::StreamOpened {
                agent: agent.id.clone(),
                session: scheduler.agent(&agent.id).map_or(0, |view| view.session),
            },
        );
        commands += drain(&mut scheduler);
        let first = StateEvent {
            resources: agent.resources.clone(),
            containers: agent
                .tasks
                .iter()
                .map(|task| (task.id.clone(), task.instance()))
                .collect(),
        };
        scheduler.handle(
            now,
            Input::StreamEvent {
                agent: agent.id.clone(),
                session: scheduler.agent(&agent.id).map_or(0, |view| view.session),
                event: first,
            },
        );
        commands += drain(&mut scheduler);
    }
    let setup = setup_started.elapsed();
    assert_eq!(
        scheduler.metrics().agent_connections_opened,
        agent_count as u64,
        "every stream opened"
    );

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut measured = Measured {
        events: 0,
        core: Duration::ZERO,
        decode: Duration::ZERO,
        json_bytes: 0,
        commands: 0,
        setup,
    };
    let mut next_agent = 0;
    let mut batch = first_batch;
    while measured.core < budget {
        let events: Vec<(AgentId, StateEvent)> = (0..batch)
            .map(|_| {
                let agent = &mut agents[next_agent];
                next_agent = (next_agent + 1) % agent_count;
                (agent.id.clone(), delta(agent, mix, &mut rng))
            })
            .collect();
        let json: Vec<String> = events
            .iter()
            .map(|(_, event)| serde_json::to_string(event).expect("events always encode"))
            .collect();
        measured.json_bytes += json.iter().map(|text| text.len() as u64).sum::<u64>();

        let started = WallInstant::now();
        for (agent, event) in events {
            now += harpoon_core::Duration::from_millis(1);
            let session = scheduler.agent(&agent).map_or(0, |view| view.session);
            scheduler.handle(
                now,
                Input::StreamEvent {
                    agent,
                    session,
                    event,
                },
            );
            measured.commands += drain(&mut scheduler);
        }
        measured.core += started.elapsed();

        let started = WallInstant::now();
        for text in &json {
            let event: StateEvent =
                serde_json::from_str(text).expect("the events just encoded decode");
            std::hint::black_box(event);
        }
        measured.decode += started.elapsed();
        measured.events += batch as u64;
        batch = (batch * 2).min(MAX_BATCH);
    }
    // Commands during setup would mean the world was not what the
    // registry asks for, and the stream would measure something else.
    assert_eq!(commands, 0, "the setup left nothing to do");
    measured
}

/// Drains every output; returns how many were agent commands.
fn drain(scheduler: &mut Scheduler) -> u64 {
    let mut commands = 0;
    while let Some(output) = scheduler.poll_output() {
        if matches!(output, Output::Command(_)) {
            commands += 1;
        }
        std::hint::black_box(output);
    }
    commands
}

/// The next delta event of `agent`: one of its tasks changed.
fn delta(agent: &mut AgentTasks, mix: Mix, rng: &mut ChaCha8Rng) -> StateEvent {
    let index = rng.random_range(0..agent.tasks.len());
    let task = &mut agent.tasks[index];
    let churn = mix == Mix::RestartChurn && rng.random_range(0..5u32) == 0;
    let state = &mut task.process_state;
    if task.status == ContainerStatus::Failed {
        // A task halfway through a restart always comes back first.
        task.status = ContainerStatus::Running;
        state.up = true;
        state.restarting = false;
        state.restarts += 1;
    } else if churn {
        task.status = ContainerStatus::Failed;
        state.up = false;
        state.restarting = true;
        state.container_exit_status.exited = Some(true);
        state.container_exit_status.exit_status = Some(1);
    } else {
        state.container_metrics.cpu_time += rng.random_range(1_000..1_000_000u64);
        state.container_metrics.memory_usage = rng.random_range(1..64u64) << 20;
        state.container_metrics.memory_limit = 64 << 20;
    }
    let mut containers = BTreeMap::new();
    containers.insert(task.id.clone(), task.instance());
    StateEvent {
        resources: agent.resources.clone(),
        containers,
    }
}

/// What every agent reports: room for far more than its ten tasks.
fn resources() -> HostResources {
    let mut resources = HostResources::default();
    resources.cpus.total = 16.0;
    resources.cpus.reserved = 0.1 * TASKS_PER_AGENT as f64;
    resources.mem.total = 65_536;
    resources.mem.reserved = 64 * TASKS_PER_AGENT as u64;
    resources.storage.total = 1 << 40;
    resources
}

/// A valid job of `scale` small tasks, shaped like `examples/hello.json`.
fn job(name: &str, scale: usize) -> JobConfig {
    let json = serde_json::json!({
        "job": name,
        "product": "bench",
        "environment": "dev",
        "scale": scale,
        "artifact_url": "",
        "command": { "working_dir": "/", "exec": ["/bin/sh", "-c", "exec sleep 3600"] },
        "ports": { "HTTP": 0 },
        "env": {},
        "resources": { "mem": 64, "cpu": 0.1 },
        "grace": { "startup": "1s", "shutdown": "2s" },
        "restart": "on-failure",
        "health_checks": [],
        "storage": { "tmp": {}, "volumes": {} }
    });
    let job: JobConfig = serde_json::from_value(json).expect("the bench's job decodes");
    assert!(job.validate().is_ok(), "the bench's job is valid");
    job
}
