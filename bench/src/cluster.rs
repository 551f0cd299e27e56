//! A scheduler core brought to a steady state through its public API: a
//! registry of jobs, agents discovered and synced, every task running.

use std::collections::BTreeSet;
use std::sync::Arc;

use harpoon_core::wire::{
    Command, ContainerConfig, ContainerInstance, ContainerStatus, CpuTotalReserved, Field, Grace,
    HostResources, JobConfig, ProcessState, Resources, StateEvent, TotalReserved, WireDuration,
};
use harpoon_core::{AgentId, Duration, Input, Instant, RequestId, Scheduler, SchedulerConfig};

/// Tasks per job in steady-state clusters.
pub const TASKS_PER_JOB: u32 = 100;

/// A scheduler whose every task runs, and the time it is at.
pub struct SteadyCluster {
    /// The core.
    pub scheduler: Scheduler,
    /// Its current time.
    pub now: Instant,
    /// Its agents.
    pub agents: Vec<AgentId>,
    next_request: u64,
}

/// A job of `scale` small tasks.
pub fn job(name: &str, scale: u32) -> JobConfig {
    JobConfig {
        container: ContainerConfig {
            product: "bench".into(),
            environment: "bench".into(),
            job: name.into(),
            artifact_url: "http://artifacts.example/app.tgz".into(),
            command: Command {
                working_dir: "/".into(),
                exec: Field::Present(vec!["./app".into(), "--serve".into()]),
            },
            resources: Resources {
                mem: 64,
                cpu: 0.1,
                fd: None,
            },
            grace: Grace {
                startup: WireDuration::from_millis(1000),
                shutdown: WireDuration::from_millis(1000),
            },
            ..ContainerConfig::default()
        },
        scale: i64::from(scale),
    }
}

fn resources(tasks_on_agent: u64) -> HostResources {
    HostResources {
        mem: TotalReserved {
            total: 1 << 20,
            reserved: 64 * tasks_on_agent,
        },
        cpus: CpuTotalReserved {
            total: 1024.0,
            reserved: 0.1 * tasks_on_agent as f64,
        },
        storage: TotalReserved::default(),
        volumes: Vec::new(),
    }
}

impl SteadyCluster {
    /// `tasks` running tasks (jobs of [`TASKS_PER_JOB`]) on `agent_count`
    /// agents, round-robin.
    pub fn build(tasks: u32, agent_count: u32) -> SteadyCluster {
        let config = SchedulerConfig {
            trace: false,
            ..SchedulerConfig::default()
        };
        let mut scheduler = Scheduler::new(config, 1, Instant::ZERO);
        let now = Instant::ZERO;
        let jobs: Vec<JobConfig> = (0..tasks.div_ceil(TASKS_PER_JOB))
            .map(|j| {
                job(
                    &format!("job{j}"),
                    TASKS_PER_JOB.min(tasks - j * TASKS_PER_JOB),
                )
            })
            .collect();
        let agents: Vec<AgentId> = (0..agent_count)
            .map(|a| AgentId::new(&format!("http://10.0.{}.{}:3333", a / 250, a % 250)))
            .collect();
        // Which agent runs each task: round-robin over all tasks.
        let mut per_agent: Vec<Vec<ContainerInstance>> = vec![Vec::new(); agents.len()];
        let mut next = 0usize;
        for job in &jobs {
            let hash = job.hash();
            let config = Arc::new(job.container.clone());
            for index in 0..job.task_count() {
                let id = hash.container_id(index);
                per_agent[next % agents.len()].push(ContainerInstance {
                    container_id: id.to_string(),
                    status: ContainerStatus::Running,
                    config: Arc::clone(&config),
                    process_state: ProcessState {
                        up: true,
                        ..ProcessState::default()
                    },
                });
                next += 1;
            }
        }
        scheduler.handle(
            now,
            Input::RegistryLoaded {
                jobs,
                rollouts: Vec::new(),
                drains: Vec::new(),
                sequence: 0,
            },
        );
        let listed: BTreeSet<AgentId> = agents.iter().cloned().collect();
        scheduler.handle(now, Input::AgentsDiscovered { agents: listed });
        for (agent, instances) in agents.iter().zip(per_agent) {
            let count = instances.len() as u64;
            let containers = instances
                .into_iter()
                .map(|i| (i.container_id.clone(), i))
                .collect();
            scheduler.handle(
                now,
                Input::StreamOpened {
                    agent: agent.clone(),
                    session: scheduler.agent(agent).map_or(0, |view| view.session),
                },
            );
            scheduler.handle(
                now,
                Input::StreamEvent {
                    agent: agent.clone(),
                    session: scheduler.agent(agent).map_or(0, |view| view.session),
                    event: StateEvent {
                        resources: resources(count),
                        containers,
                    },
                },
            );
        }
        let mut cluster = SteadyCluster {
            scheduler,
            now,
            agents,
            next_request: 0,
        };
        cluster.drain();
        cluster
    }

    /// Drains outputs; returns how many commands there were.
    pub fn drain(&mut self) -> usize {
        let mut commands = 0;
        while let Some(output) = self.scheduler.poll_output() {
            commands += usize::from(matches!(output, harpoon_core::Output::Command(_)));
        }
        commands
    }

    /// Feeds an input at the current time and drains the outputs.
    pub fn feed(&mut self, input: Input) -> usize {
        self.scheduler.handle(self.now, input);
        self.drain()
    }

    /// Feeds an input and returns the registry write it caused.
    pub fn feed_until_write(&mut self, input: Input) -> Option<u64> {
        self.scheduler.handle(self.now, input);
        let mut write = None;
        while let Some(output) = self.scheduler.poll_output() {
            match output {
                harpoon_core::Output::Persist { sequence, .. } => write = Some(sequence),
                harpoon_core::Output::Reply { reply, .. } if reply.status_code != 202 => {
                    panic!("request refused: {} {}", reply.status_code, reply.msg)
                }
                _ => {}
            }
        }
        write
    }

    /// A new request id.
    pub fn request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// Moves time forward by `by` without handling anything.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Keeps every agent's stream alive (a keep-alive each).
    pub fn keep_alive(&mut self) {
        for agent in self.agents.clone() {
            let session = self.scheduler.agent(&agent).map_or(0, |view| view.session);
            self.scheduler
                .handle(self.now, Input::StreamKeepAlive { agent, session });
        }
        self.drain();
    }
}
