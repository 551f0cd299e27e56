//! Rollouts and drains in the simulated world: the users' requests, the
//! expectations `rollout` and `min_running`, and what convergence and the
//! acknowledged-jobs invariant make of jobs a rollout holds or removes.

use std::collections::BTreeMap;

use harpoon_core::rollout::RolloutStatus;
use harpoon_core::wire::{ContainerStatus, JobHash};
use harpoon_core::{AgentId, Input, RequestId, UnscheduleTarget};

use crate::scenario::MigrateSpec;
use crate::world::{UserRequest, World};

impl World<'_> {
    /// A user asks for a rollout between two scenario jobs.
    pub(crate) fn migrate_request(&mut self, spec: &MigrateSpec) {
        let Some(request) = self.user_request_id(&format!("migrate {} to {}", spec.from, spec.to))
        else {
            return;
        };
        let (from, to) = (
            &self.scenario.jobs[&spec.from],
            &self.scenario.jobs[&spec.to],
        );
        // Acknowledged, the new job is in the registry as a schedule's is.
        self.requests.insert(
            request,
            UserRequest {
                schedule: true,
                verb: "migrate to",
                job: spec.to.clone(),
                hash: to.config.hash(),
            },
        );
        let input = Input::Migrate {
            request,
            from: UnscheduleTarget::Hash(from.config.hash()),
            to: to.config.clone(),
            params: spec.params.clone(),
            index: None,
        };
        self.input(input);
    }

    /// A user aborts the latest rollout towards `job`, by its number as
    /// `GET /rollouts` shows it.
    pub(crate) fn abort_request(&mut self, job: &str) {
        let hash = self.scenario.jobs[job].config.hash();
        let Some(id) = self.latest_rollout_to(&hash).map(|(id, _)| id) else {
            let text = format!("abort the rollout to {job}: there is none (the user gives up)");
            self.tracer.line(self.now, "user", &text);
            return;
        };
        let Some(request) = self.user_request_id(&format!("abort rollout {id} to {job}")) else {
            return;
        };
        // An abort under way may remove `job`: as an unschedule would.
        self.requests.insert(
            request,
            UserRequest {
                schedule: false,
                verb: "abort the rollout to",
                job: job.to_owned(),
                hash,
            },
        );
        self.input(Input::AbortRollout {
            request,
            rollout: id,
        });
    }

    /// A user drains an agent or ends its drain.
    pub(crate) fn drain_request(&mut self, agent: &str, drain: bool) {
        let verb = if drain { "drain" } else { "undrain" };
        let Some(request) = self.user_request_id(&format!("{verb} {agent}")) else {
            return;
        };
        self.requests.insert(
            request,
            UserRequest {
                schedule: false,
                verb,
                job: agent.to_owned(),
                // Names no job: a drain removes none.
                hash: JobHash::new(""),
            },
        );
        self.input(Input::Drain {
            request,
            agent: AgentId::new(agent),
            drain,
        });
    }

    /// A request id for a user's `what`, or `None` when the scheduler is
    /// down (the user gives up).
    fn user_request_id(&mut self, what: &str) -> Option<RequestId> {
        if self.scheduler.is_none() {
            let text = format!("{what} refused: the scheduler is down (the user gives up)");
            self.tracer.line(self.now, "user", &text);
            return None;
        }
        self.next_request += 1;
        let request = RequestId(self.next_request);
        self.tracer
            .line(self.now, "user", &format!("{what}, request {}", request.0));
        Some(request)
    }

    /// The latest rollout (highest number) towards job `hash`, with its status.
    pub(crate) fn latest_rollout_to(&self, hash: &JobHash) -> Option<(u64, RolloutStatus)> {
        let scheduler = self.scheduler.as_ref()?;
        scheduler
            .rollouts()
            .filter(|view| view.rollout.to == *hash)
            .map(|view| (view.rollout.id, view.rollout.status))
            .last()
    }

    /// Jobs a finished rollout removed on its own (the old job of one that
    /// succeeded, the new job of one reverted or aborted): no longer
    /// acknowledged, as if unscheduled.
    pub(crate) fn forget_jobs_rollouts_removed(&mut self) {
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        for view in scheduler.rollouts() {
            let rollout = view.rollout;
            let removed = match rollout.status {
                RolloutStatus::Succeeded => &rollout.from,
                RolloutStatus::Reverted | RolloutStatus::Aborted => &rollout.to,
                RolloutStatus::Running | RolloutStatus::Failed => continue,
            };
            if !scheduler.jobs().contains_key(removed) {
                self.acknowledged.remove(removed);
            }
        }
    }

    /// The task counts the scheduler wants of jobs a rollout holds (its
    /// counts, not their scales), and whether a rollout is running.
    pub(crate) fn rollout_counts(&self) -> (BTreeMap<JobHash, u32>, Option<String>) {
        let mut counts = BTreeMap::new();
        let mut running = None;
        if let Some(scheduler) = &self.scheduler {
            for view in scheduler.rollouts() {
                let rollout = view.rollout;
                if rollout.status == RolloutStatus::Running && running.is_none() {
                    running = Some(format!(
                        "rollout {} to {} is running ({})",
                        rollout.id,
                        rollout.to_job,
                        view.waiting.unwrap_or("stepping")
                    ));
                }
                for hash in [&rollout.from, &rollout.to] {
                    if let Some(count) = rollout.wanted_of(hash) {
                        counts.insert(hash.clone(), count);
                    }
                }
            }
        }
        (counts, running)
    }

    /// Running instances of these scenario jobs together, cluster-wide.
    pub(crate) fn running_of_jobs(&self, jobs: &[String]) -> u64 {
        let prefixes: Vec<String> = jobs
            .iter()
            .map(|job| format!("{}-", self.scenario.jobs[job].config.hash()))
            .collect();
        self.listed_instances()
            .filter(|(_, container, status)| {
                *status == ContainerStatus::Running
                    && prefixes.iter().any(|prefix| {
                        container.starts_with(prefix.as_str())
                            && container[prefix.len()..]
                                .bytes()
                                .all(|b| b.is_ascii_digit())
                    })
            })
            .count() as u64
    }
}
