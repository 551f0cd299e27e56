//! A hand-driven driver for scripted tests: the test plays the agents and
//! the disk, and the harness keeps time and collects outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::ids::{AgentId, RequestId};
use crate::registry::RegistryChanges;
use crate::scheduler::{
    AgentCommand, CommandAction, CommandError, Input, Output, Reply, Scheduler, SchedulerConfig,
};
use crate::time::{Duration, Instant};
use crate::wire::{
    Command, ContainerConfig, ContainerId, ContainerInstance, ContainerStatus, CpuTotalReserved,
    Field, Grace, HostResources, JobConfig, JobHash, ProcessState, Resources, StateEvent,
    TotalReserved, WireDuration,
};

pub struct Harness {
    pub scheduler: Scheduler,
    pub now: Instant,
    /// Every output so far, in order (traces included).
    pub log: Vec<Output>,
    /// Commands not yet taken by the test.
    commands: Vec<AgentCommand>,
    replies: Vec<(RequestId, Reply)>,
    persists: Vec<(u64, Arc<RegistryChanges>)>,
    next_request: u64,
    /// Every command issued, for counting.
    pub issued: Vec<AgentCommand>,
    /// Agents whose streams are open: they send keep-alives as time passes.
    alive: BTreeSet<AgentId>,
    /// The latest stream session the scheduler opened for each agent.
    sessions: BTreeMap<AgentId, u64>,
}

pub fn config() -> SchedulerConfig {
    SchedulerConfig::default()
}

pub fn job(name: &str, scale: i64, cpu: f64, mem: u64) -> JobConfig {
    JobConfig {
        container: ContainerConfig {
            product: "demo".into(),
            environment: "test".into(),
            job: name.into(),
            command: Command {
                working_dir: "/".into(),
                exec: Field::Present(vec!["./run".into()]),
            },
            resources: Resources { mem, cpu, fd: None },
            grace: Grace {
                startup: WireDuration::from_millis(1000),
                shutdown: WireDuration::from_millis(1000),
            },
            ..ContainerConfig::default()
        },
        scale,
    }
}

pub fn agent(name: &str) -> AgentId {
    AgentId::new(name)
}

pub fn resources(cpu: f64, mem: u64) -> HostResources {
    HostResources {
        mem: TotalReserved {
            total: mem,
            reserved: 0,
        },
        cpus: CpuTotalReserved {
            total: cpu,
            reserved: 0.0,
        },
        storage: TotalReserved::default(),
        volumes: Vec::new(),
    }
}

pub fn instance(
    id: &ContainerId,
    status: ContainerStatus,
    config: &ContainerConfig,
) -> ContainerInstance {
    ContainerInstance {
        container_id: id.as_str().to_owned(),
        status,
        config: Arc::new(config.clone()),
        process_state: ProcessState::default(),
    }
}

pub fn event(resources: HostResources, instances: Vec<ContainerInstance>) -> StateEvent {
    StateEvent {
        resources,
        containers: instances
            .into_iter()
            .map(|i| (i.container_id.clone(), i))
            .collect(),
    }
}

impl Harness {
    pub fn new(config: SchedulerConfig) -> Harness {
        Harness::with_seed(config, 7)
    }

    pub fn with_seed(config: SchedulerConfig, seed: u64) -> Harness {
        Harness {
            scheduler: Scheduler::new(config, seed, Instant::ZERO),
            now: Instant::ZERO,
            log: Vec::new(),
            commands: Vec::new(),
            replies: Vec::new(),
            persists: Vec::new(),
            next_request: 0,
            issued: Vec::new(),
            alive: BTreeSet::new(),
            sessions: BTreeMap::new(),
        }
    }

    pub fn input(&mut self, input: Input) {
        self.scheduler.handle(self.now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.scheduler.poll_output() {
            match &output {
                Output::Command(command) => {
                    self.commands.push(command.clone());
                    self.issued.push(command.clone());
                }
                Output::Reply { request, reply } => self.replies.push((*request, reply.clone())),
                Output::OpenStream { agent, session } => {
                    self.sessions.insert(agent.clone(), *session);
                }
                Output::Persist { sequence, changes } => {
                    self.persists.push((*sequence, Arc::clone(changes)))
                }
                _ => {}
            }
            self.log.push(output);
        }
    }

    /// Lets `duration` pass, firing every deadline on the way; agents with
    /// an open stream send a keep-alive every few seconds, as real ones do.
    pub fn advance(&mut self, duration: Duration) {
        const KEEP_ALIVE: Duration = Duration::from_secs(5);
        let target = self.now + duration;
        while self.now < target {
            let step_end = (self.now + KEEP_ALIVE).min(target);
            while let Some((deadline, _)) = self.scheduler.poll_timeout() {
                if deadline > step_end {
                    break;
                }
                self.now = self.now.max(deadline);
                self.input(Input::TimePassed);
            }
            self.now = step_end;
            self.input(Input::TimePassed);
            for agent in self.alive.clone() {
                let session = self.session(agent.as_str());
                self.input(Input::StreamKeepAlive { agent, session });
            }
        }
    }

    /// Loads `jobs` as the persisted registry and lists `agents`.
    pub fn start(&mut self, jobs: Vec<JobConfig>, agents: &[&str]) {
        self.input(Input::RegistryLoaded {
            jobs,
            rollouts: Vec::new(),
            drains: Vec::new(),
            sequence: 0,
        });
        self.discover(agents);
    }

    pub fn discover(&mut self, agents: &[&str]) {
        let agents: BTreeSet<AgentId> = agents.iter().map(|name| agent(name)).collect();
        self.input(Input::AgentsDiscovered { agents });
    }

    /// Opens `name`'s stream and sends its first event.
    pub fn sync(
        &mut self,
        name: &str,
        resources: HostResources,
        instances: Vec<ContainerInstance>,
    ) {
        self.alive.insert(agent(name));
        let session = self.session(name);
        self.input(Input::StreamOpened {
            agent: agent(name),
            session,
        });
        self.input(Input::StreamEvent {
            agent: agent(name),
            session,
            event: event(resources, instances),
        });
    }

    /// The latest session the scheduler opened for `name`'s stream.
    pub fn session(&self, name: &str) -> u64 {
        self.sessions.get(&agent(name)).copied().unwrap_or(0)
    }

    pub fn send_event(
        &mut self,
        name: &str,
        resources: HostResources,
        instances: Vec<ContainerInstance>,
    ) {
        let session = self.session(name);
        self.input(Input::StreamEvent {
            agent: agent(name),
            session,
            event: event(resources, instances),
        });
    }

    /// The agent stops sending anything, without closing its stream.
    pub fn mute(&mut self, name: &str) {
        self.alive.remove(&agent(name));
    }

    pub fn close_stream(&mut self, name: &str) {
        self.alive.remove(&agent(name));
        let session = self.session(name);
        self.input(Input::StreamClosed {
            agent: agent(name),
            session,
            reason: "test".into(),
        });
    }

    pub fn schedule(&mut self, job: JobConfig) -> RequestId {
        self.next_request += 1;
        let request = RequestId(self.next_request);
        self.input(Input::Schedule {
            request,
            job,
            index: None,
        });
        request
    }

    /// A schedule request made against registry index `index`.
    pub fn schedule_at(&mut self, job: JobConfig, index: u64) -> RequestId {
        self.next_request += 1;
        let request = RequestId(self.next_request);
        self.input(Input::Schedule {
            request,
            job,
            index: Some(index),
        });
        request
    }

    /// An unschedule request made against registry index `index`.
    pub fn unschedule_at(&mut self, hash: JobHash, index: u64) -> RequestId {
        self.next_request += 1;
        let request = RequestId(self.next_request);
        self.input(Input::Unschedule {
            request,
            target: crate::scheduler::UnscheduleTarget::Hash(hash),
            index: Some(index),
        });
        request
    }

    pub fn unschedule(&mut self, hash: JobHash) -> RequestId {
        self.next_request += 1;
        let request = RequestId(self.next_request);
        self.input(Input::Unschedule {
            request,
            target: crate::scheduler::UnscheduleTarget::Hash(hash),
            index: None,
        });
        request
    }

    /// Completes every outstanding registry write.
    pub fn persist_all(&mut self) {
        while let Some((sequence, _)) = self.persists.pop() {
            self.input(Input::PersistCompleted { sequence });
        }
    }

    pub fn take_persists(&mut self) -> Vec<(u64, Arc<RegistryChanges>)> {
        std::mem::take(&mut self.persists)
    }

    pub fn take_commands(&mut self) -> Vec<AgentCommand> {
        std::mem::take(&mut self.commands)
    }

    pub fn take_replies(&mut self) -> Vec<(RequestId, Reply)> {
        std::mem::take(&mut self.replies)
    }

    /// Answers a command.
    pub fn answer(&mut self, command: &AgentCommand, result: Result<(), CommandError>) {
        self.input(Input::CommandResult {
            agent: command.agent.clone(),
            command: command.id,
            result,
        });
    }

    /// Commands issued so far, as `action container@agent` lines.
    pub fn issued_summary(&self) -> Vec<String> {
        self.issued.iter().map(summary).collect()
    }

    /// Number of instances per container as the scheduler sees them.
    pub fn known_instances(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for view in self.scheduler.agents() {
            for container in view.containers() {
                out.entry(container.id().to_string())
                    .or_default()
                    .push(view.id.to_string());
            }
        }
        out
    }
}

pub fn summary(command: &AgentCommand) -> String {
    format!(
        "{} {}@{}",
        command.action.name(),
        command.container,
        command.agent
    )
}

/// Plays a well-behaved agent for the given commands: answers them all with
/// success and reports the statuses they lead to on `agent`'s stream.
pub fn play_agent(
    h: &mut Harness,
    name: &str,
    resources: HostResources,
    commands: &[AgentCommand],
) {
    for command in commands.iter().filter(|c| c.agent.as_str() == name) {
        h.answer(command, Ok(()));
        let status = match &command.action {
            CommandAction::Create(_) => ContainerStatus::Created,
            CommandAction::Start => ContainerStatus::Running,
            CommandAction::Stop => ContainerStatus::Finished,
            CommandAction::Destroy => ContainerStatus::Deleted,
        };
        let config = match &command.action {
            CommandAction::Create(config) => (**config).clone(),
            _ => h
                .scheduler
                .agents()
                .find(|view| view.id.as_str() == name)
                .and_then(|view| view.container(command.container.as_str()))
                .map(|container| (**container.config()).clone())
                .unwrap_or_default(),
        };
        h.send_event(
            name,
            resources.clone(),
            vec![instance(&command.container, status, &config)],
        );
    }
}
