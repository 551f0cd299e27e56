//! `harpoon-sim replay DIR --to-scenario FILE`: the recorded world as a
//! scenario file, so that an incident becomes a regression scenario to run
//! with other seeds and more faults.
//!
//! It is an approximation, read from the inputs of the newest run (the
//! checkpoints are opaque): the agents discovery listed, with the
//! resources their first events reported, named `a0`, `a1`… in id order;
//! the jobs the registry loaded, users scheduled, or (for a recording
//! whose oldest kept file begins mid-run) the agents reported running;
//! every schedule and unschedule at its recorded time; and faults inferred
//! per agent from its stream and its commands' answers:
//!
//! - a stream that closed and opened again at the next attempt: the
//!   stream dropped (`drop_stream`);
//! - a stream that closed and then failed to open again, or whose agent
//!   could not be reached: the agent crashed (`crash`), and restarted
//!   (`restart`) when its stream next opened;
//! - commands answered with server errors: a broken peer for the span of
//!   the burst (`fail_commands`);
//! - an agent listed later or no longer: `add_agent` / `remove_agent`.
//!
//! Times are relative to the run's first input. The file says where it
//! came from in its header comment, and which agent is which.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use harpoon_core::wire::{ContainerConfig, ContainerId, JobHash};
use harpoon_core::{AgentId, CommandError, Input, Instant, UnscheduleTarget};

use super::Recording;

/// Bursts of failed commands further apart than this are separate faults.
const BURST_GAP_MS: u64 = 10_000;

/// Simulated time after the last recorded input, for the world to settle.
const SETTLE_MS: u64 = 120_000;

#[derive(Default)]
struct AgentSeen {
    cpu: Option<f64>,
    mem: Option<u64>,
    volumes: Vec<String>,
    /// The stream closed at this time and has not reopened since.
    closed_at: Option<u64>,
    crashed: bool,
    /// Server errors: (first, last) of the current burst.
    burst: Option<(u64, u64)>,
}

struct JobSeen {
    name: String,
    scale: i64,
    config: ContainerConfig,
}

/// The scenario text for `recording`, saying it came from `origin`.
pub fn to_scenario(recording: &Recording, origin: &str) -> Result<String, String> {
    let newest_run = recording
        .files
        .last()
        .map(|file| file.header.run)
        .ok_or("the recording has no files")?;
    let files: Vec<_> = recording
        .files
        .iter()
        .filter(|file| file.header.run == newest_run)
        .collect();
    let left_out = recording.files.len() - files.len();
    let first = files.first().ok_or("the recording has no files")?;
    let inputs: Vec<_> = files.iter().flat_map(|file| &file.inputs).collect();
    let start = inputs.first().map_or(0, |input| input.at.as_millis());
    let end = inputs.last().map_or(0, |input| input.at.as_millis());
    let time = |at: Instant| at.as_millis().saturating_sub(start);

    let mut world = Inferred::default();
    for recorded in &inputs {
        world.input(time(recorded.at), &recorded.input);
    }
    world.finish();

    let names: BTreeMap<AgentId, String> = world
        .agents
        .keys()
        .enumerate()
        .map(|(i, id)| (id.clone(), format!("a{i}")))
        .collect();
    let config = &first.header.config;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# Written by `harpoon-sim replay --to-scenario` from the recording {origin}"
    );
    let _ = writeln!(
        text,
        "# (run {newest_run}, files {}..{}, inputs {}..{}, {} ms of recorded time{}).",
        first.header.file,
        files.last().map_or(0, |file| file.header.file),
        first.header.first_input,
        first.header.first_input + inputs.len() as u64,
        end - start,
        if left_out > 0 {
            format!("; {left_out} files of earlier runs left out")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        text,
        "# An approximation: agents, jobs and user actions as recorded, faults inferred from"
    );
    let _ = writeln!(
        text,
        "# stream closes and command failures (see sim/src/replay/to_scenario.rs)."
    );
    for (id, name) in &names {
        let _ = writeln!(text, "# {name} = {id}");
    }
    let _ = writeln!(text, "name = {}", quote(&format!("replayed from {origin}")));
    let _ = writeln!(text, "seed = {}", first.header.seed);
    let _ = writeln!(text, "duration = \"{}ms\"", end - start + SETTLE_MS);
    let _ = writeln!(text, "\n[scheduler]");
    let _ = writeln!(text, "algorithm = {}", quote(config.algorithm.name()));
    for (key, duration) in [
        ("abandon_timeout", config.abandon_timeout),
        ("pending_timeout", config.pending_timeout),
        ("tick", config.tick),
        ("stream_silence_timeout", config.stream_silence_timeout),
    ] {
        let _ = writeln!(text, "{key} = \"{}ms\"", duration.as_millis());
    }
    for (id, name) in &names {
        if world.added.iter().any(|(_, added)| added == id) {
            continue;
        }
        let seen = &world.agents[id];
        let _ = writeln!(text, "\n[[agent]]");
        let _ = writeln!(text, "name = {}", quote(name));
        let _ = writeln!(text, "cpu = {}", float(seen.cpu.unwrap_or(1.0)));
        let _ = writeln!(text, "mem = {}", seen.mem.unwrap_or(1024));
        if !seen.volumes.is_empty() {
            let _ = writeln!(text, "volumes = {}", list(&seen.volumes));
        }
    }
    for job in world.jobs.values() {
        let _ = writeln!(text, "\n[[job]]");
        let _ = writeln!(text, "name = {}", quote(&job.name));
        let _ = writeln!(text, "scale = {}", job.scale);
        let _ = writeln!(text, "cpu = {}", float(job.config.resources.cpu));
        let _ = writeln!(text, "mem = {}", job.config.resources.mem);
        let _ = writeln!(text, "restart = {}", quote(job.config.restart.as_str()));
        if !job.config.product.is_empty() {
            let _ = writeln!(text, "product = {}", quote(&job.config.product));
        }
        if !job.config.environment.is_empty() {
            let _ = writeln!(text, "environment = {}", quote(&job.config.environment));
        }
    }
    let mut timeline = world.timeline;
    timeline.sort_by_key(|(at, _)| *at);
    for (at, action) in timeline {
        let line = match action {
            Act::Schedule(hash) => format!("schedule = {}", quote(&world.jobs[&hash].name)),
            Act::Unschedule(hash) => format!("unschedule = {}", quote(&world.jobs[&hash].name)),
            Act::DropStream(id) => format!("drop_stream = {}", quote(&names[&id])),
            Act::Crash(id) => format!("crash = {}", quote(&names[&id])),
            Act::Restart(id) => format!("restart = {}", quote(&names[&id])),
            Act::FailCommands(id, span) => format!(
                "fail_commands = {{ agent = {}, for = \"{span}ms\" }}",
                quote(&names[&id])
            ),
            Act::Remove(id) => format!("remove_agent = {}", quote(&names[&id])),
            Act::Add(id) => {
                let seen = &world.agents[&id];
                format!(
                    "add_agent = {{ name = {}, cpu = {}, mem = {} }}",
                    quote(&names[&id]),
                    float(seen.cpu.unwrap_or(1.0)),
                    seen.mem.unwrap_or(1024)
                )
            }
        };
        let _ = writeln!(text, "\n[[at]]\ntime = \"{at}ms\"\n{line}");
    }
    Ok(text)
}

enum Act {
    Schedule(JobHash),
    Unschedule(JobHash),
    DropStream(AgentId),
    Crash(AgentId),
    Restart(AgentId),
    FailCommands(AgentId, u64),
    Add(AgentId),
    Remove(AgentId),
}

#[derive(Default)]
struct Inferred {
    agents: BTreeMap<AgentId, AgentSeen>,
    /// Agents listed at the first discovery.
    listed: Option<BTreeSet<AgentId>>,
    added: Vec<(u64, AgentId)>,
    jobs: BTreeMap<JobHash, JobSeen>,
    /// Jobs known from the registry or a request (not only from
    /// containers).
    requested: BTreeSet<JobHash>,
    /// Task indexes seen running per job known only from containers.
    tasks_seen: BTreeMap<JobHash, BTreeSet<u32>>,
    timeline: Vec<(u64, Act)>,
    last: u64,
}

impl Inferred {
    fn input(&mut self, at: u64, input: &Input) {
        self.last = at;
        match input {
            Input::RegistryLoaded { jobs, .. } => {
                for job in jobs {
                    let hash = self.job(job);
                    self.timeline.push((at, Act::Schedule(hash)));
                }
            }
            Input::Schedule { job, .. } => {
                let hash = self.job(job);
                self.timeline.push((at, Act::Schedule(hash)));
            }
            Input::Unschedule { target, .. } => {
                let hash = match target {
                    UnscheduleTarget::Config(job) => self.job(job),
                    UnscheduleTarget::Hash(hash) => hash.clone(),
                };
                if self.jobs.contains_key(&hash) {
                    self.timeline.push((at, Act::Unschedule(hash)));
                }
            }
            // Rollouts and drains are not written into the scenario (its
            // `migrate` and `drain` keys would need the rollout's jobs by
            // scenario name): the scenario approximates them by the jobs
            // the registry then holds.
            Input::Migrate { .. } | Input::AbortRollout { .. } | Input::Drain { .. } => {}
            Input::AgentsDiscovered { agents } => self.discovered(at, agents),
            Input::StreamOpened { agent, .. } => {
                let seen = self.agents.entry(agent.clone()).or_default();
                if seen.crashed {
                    seen.crashed = false;
                    self.timeline.push((at, Act::Restart(agent.clone())));
                } else if let Some(closed) = seen.closed_at {
                    self.timeline.push((closed, Act::DropStream(agent.clone())));
                }
                seen.closed_at = None;
            }
            Input::StreamClosed { agent, .. } => {
                let seen = self.agents.entry(agent.clone()).or_default();
                match seen.closed_at {
                    // Closed again before it opened: it cannot be reached.
                    Some(closed) if !seen.crashed => {
                        seen.crashed = true;
                        self.timeline.push((closed, Act::Crash(agent.clone())));
                    }
                    Some(_) => {}
                    None => seen.closed_at = Some(at),
                }
            }
            Input::StreamEvent { agent, event, .. } => {
                let seen = self.agents.entry(agent.clone()).or_default();
                if seen.cpu.is_none() && event.resources.cpus.total > 0.0 {
                    seen.cpu = Some(event.resources.cpus.total);
                    seen.mem = Some(event.resources.mem.total);
                    seen.volumes.clone_from(&event.resources.volumes);
                }
                for (id, instance) in &event.containers {
                    self.container(&ContainerId::new(id), &instance.config);
                }
            }
            Input::CommandResult { agent, result, .. } => match result {
                Err(CommandError::Unreachable(_)) => {
                    let seen = self.agents.entry(agent.clone()).or_default();
                    if !seen.crashed {
                        seen.crashed = true;
                        let since = seen.closed_at.unwrap_or(at);
                        self.timeline.push((since, Act::Crash(agent.clone())));
                    }
                }
                Err(CommandError::ServerError(_)) => {
                    let seen = self.agents.entry(agent.clone()).or_default();
                    match seen.burst {
                        Some((first, last)) if at.saturating_sub(last) <= BURST_GAP_MS => {
                            seen.burst = Some((first, at));
                        }
                        other => {
                            if let Some((first, last)) = other {
                                let span = last - first + 1000;
                                self.timeline
                                    .push((first, Act::FailCommands(agent.clone(), span)));
                            }
                            seen.burst = Some((at, at));
                        }
                    }
                }
                _ => {}
            },
            Input::PersistCompleted { .. }
            | Input::PersistFailed { .. }
            | Input::StreamKeepAlive { .. }
            | Input::TimePassed => {}
        }
    }

    /// What is still open at the end of the recording.
    fn finish(&mut self) {
        for (id, seen) in &mut self.agents {
            if let (Some(closed), false) = (seen.closed_at, seen.crashed) {
                self.timeline.push((closed, Act::Crash(id.clone())));
            }
            if let Some((first, last)) = seen.burst.take() {
                self.timeline
                    .push((first, Act::FailCommands(id.clone(), last - first + 1000)));
            }
        }
        for (hash, tasks) in std::mem::take(&mut self.tasks_seen) {
            if let Some(job) = self.jobs.get_mut(&hash) {
                job.scale = i64::try_from(tasks.len()).unwrap_or(i64::MAX);
                self.timeline.push((0, Act::Schedule(hash)));
            }
        }
    }

    fn discovered(&mut self, at: u64, agents: &BTreeSet<AgentId>) {
        for agent in agents {
            self.agents.entry(agent.clone()).or_default();
        }
        match &self.listed {
            None => self.listed = Some(agents.clone()),
            Some(before) => {
                for agent in agents.difference(before) {
                    self.added.push((at, agent.clone()));
                    self.timeline.push((at, Act::Add(agent.clone())));
                }
                for agent in before.difference(agents) {
                    self.timeline.push((at, Act::Remove(agent.clone())));
                }
                self.listed = Some(agents.clone());
            }
        }
    }

    /// The job, named uniquely by its `job` field.
    fn job(&mut self, job: &harpoon_core::wire::JobConfig) -> JobHash {
        let hash = job.hash();
        self.requested.insert(hash.clone());
        self.tasks_seen.remove(&hash);
        let name = self.unique_name(&hash, &job.container.job);
        self.jobs.entry(hash.clone()).or_insert(JobSeen {
            name,
            scale: job.scale,
            config: job.container.clone(),
        });
        hash
    }

    /// A container an agent reported: a task of a job no request named
    /// counts towards that job's scale.
    fn container(&mut self, id: &ContainerId, config: &ContainerConfig) {
        let Some((hash, index)) = id.task() else {
            return;
        };
        if self.requested.contains(&hash) {
            return;
        }
        let name = self.unique_name(&hash, &config.job);
        self.jobs.entry(hash.clone()).or_insert(JobSeen {
            name,
            scale: 1,
            config: config.clone(),
        });
        self.tasks_seen.entry(hash).or_default().insert(index);
    }

    fn unique_name(&self, hash: &JobHash, base: &str) -> String {
        if let Some(job) = self.jobs.get(hash) {
            return job.name.clone();
        }
        let base = if base.is_empty() { "job" } else { base };
        let taken = |name: &str| self.jobs.values().any(|job| job.name == name);
        if !taken(base) {
            return base.to_owned();
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|name| !taken(name))
            .expect("some suffix is free")
    }
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn float(value: f64) -> String {
    toml::Value::Float(value).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
    format!("[{}]", quoted.join(", "))
}
