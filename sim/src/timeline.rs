//! Timeline entries: user actions and faults, applied to the world.

use harpoon_core::{AgentId, Input};

use crate::network::StreamPayload;
use crate::scenario::Action;
use crate::world::World;

impl World<'_> {
    /// Carries out one timeline action.
    pub(crate) fn act(&mut self, action: &Action) {
        self.tracer.line(self.now, "timeline", &action.to_string());
        match action {
            Action::Schedule(job) => self.user_request(job, true),
            Action::Unschedule(job) => self.user_request(job, false),
            Action::ScheduleChecked(jobs) => {
                // Each user planned just before, so each holds the index
                // a plan gives now.
                let index = self.scheduler.as_ref().map(|s| s.registry_sequence());
                for job in jobs {
                    self.user_request_at(job, true, index);
                }
            }
            Action::Crash(name) => {
                let agent = AgentId::new(name);
                self.break_stream(&agent, "connection reset: the agent crashed");
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.crash();
                }
            }
            Action::Restart(name) => {
                if let Some(sim) = self.agents.get_mut(&AgentId::new(name)) {
                    sim.restart();
                }
            }
            Action::Wipe(name) => {
                let agent = AgentId::new(name);
                self.break_stream(&agent, "connection reset: the machine was replaced");
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.wipe();
                }
            }
            Action::Partition(names) => {
                for name in names {
                    self.network.partition(&AgentId::new(name));
                }
            }
            Action::Heal(names) => {
                for name in names {
                    let agent = AgentId::new(name);
                    // What TCP held back during the partition now arrives,
                    // in order; sessions the driver closed meanwhile hear it
                    // no more.
                    for (session, payload) in self.network.heal(&agent) {
                        self.send_stream(&agent, session, payload);
                    }
                }
            }
            Action::DropStream(name) => {
                self.break_stream(&AgentId::new(name), "connection reset: the stream dropped");
            }
            Action::Slow { agent, latency } => {
                self.network.set_latency(&AgentId::new(agent), *latency);
            }
            Action::FailStarts { agent, duration } => {
                let until = self.now + *duration;
                if let Some(sim) = self.agents.get_mut(&AgentId::new(agent)) {
                    sim.fail_starts_until(until);
                }
            }
            Action::FailCommands { agent, duration } => {
                let until = self.now + *duration;
                if let Some(sim) = self.agents.get_mut(&AgentId::new(agent)) {
                    sim.fail_commands_until(until);
                }
            }
            Action::NeverConfirm { agent, duration } => {
                let until = self.now + *duration;
                if let Some(sim) = self.agents.get_mut(&AgentId::new(agent)) {
                    sim.never_confirm_until(until);
                }
            }
            Action::FlapStream { agent, duration } => {
                let until = self.now + *duration;
                let agent = AgentId::new(agent);
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.flap_stream_until = sim.flap_stream_until.max(until);
                }
                self.break_stream(&agent, "connection reset: the stream flaps");
            }
            Action::RepeatFirstEvent { agent, duration } => {
                let until = self.now + *duration;
                let agent = AgentId::new(agent);
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.repeat_first_event_until = sim.repeat_first_event_until.max(until);
                }
                // Broken at once, so that the fault shows even on a stream
                // that would not have broken while it lasts.
                self.break_stream(&agent, "connection reset: the stream reconnects");
            }
            Action::ShrinkAgent { agent, cpu, mem_mb } => {
                let agent = AgentId::new(agent);
                self.break_stream(&agent, "connection reset: the agent restarts");
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.shrink(*cpu, *mem_mb);
                }
                self.resize_heard_at.insert(agent, None);
            }
            Action::LoseContainers { agent, count } => {
                let agent = AgentId::new(agent);
                let mut effects = crate::agent::Effects::default();
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.lose_containers(*count, &mut self.rng, &mut effects);
                }
                self.apply_effects(&agent, effects);
            }
            Action::ReportStray(name) => {
                let agent = AgentId::new(name);
                let mut effects = crate::agent::Effects::default();
                if let Some(sim) = self.agents.get_mut(&agent) {
                    sim.add_stray(&mut effects);
                }
                self.apply_effects(&agent, effects);
            }
            Action::SchedulerCrash { down } => self.crash_scheduler(*down),
            Action::DiskFail { duration } => {
                let until = self.now + *duration;
                self.disk.failing_until =
                    Some(self.disk.failing_until.map_or(until, |u| u.max(until)));
            }
            Action::SlowDisk { latency, duration } => {
                let until = self.now + *duration;
                self.disk.slow_until = Some((until, *latency));
            }
            Action::AddAgent(spec) => {
                self.add_agent(spec.clone());
                self.input(Input::AgentsDiscovered {
                    agents: self.discovered.clone(),
                });
            }
            Action::Migrate(spec) => self.migrate_request(spec),
            Action::AbortRollout(job) => self.abort_request(job),
            Action::Drain(agent) => self.drain_request(agent, true),
            Action::Undrain(agent) => self.drain_request(agent, false),
            Action::RemoveAgent(name) => {
                self.discovered.remove(&AgentId::new(name));
                self.input(Input::AgentsDiscovered {
                    agents: self.discovered.clone(),
                });
            }
        }
    }

    /// Ends the agent's stream session from the agent's side; the driver
    /// hears of it one latency later (or after a partition heals).
    pub(crate) fn break_stream(&mut self, agent: &AgentId, reason: &str) {
        if let Some(session) = self.agents.get_mut(agent).and_then(|sim| sim.stream.take()) {
            self.send_stream(agent, session, StreamPayload::Closed(reason.to_owned()));
        }
    }
}
