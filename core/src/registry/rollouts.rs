//! The registry's rollouts and drains: accepted with the jobs they touch,
//! written in the same group-committed writes, answered after durability.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Registry, reply_now};
use crate::ids::{AgentId, RequestId};
use crate::rollout::{
    MAX_FINISHED_ROLLOUTS, Rollout, RolloutId, RolloutParams, RolloutStatus, Wanted,
};
use crate::scheduler::input::UnscheduleTarget;
use crate::scheduler::output::Output;
use crate::wire::{JobConfig, JobHash};

use super::{Drains, Rollouts};

impl Registry {
    /// Rollouts as accepted, durable or not.
    pub fn rollouts(&self) -> &Rollouts {
        &self.rollouts
    }

    /// Rollouts that are durable: what the scheduler advances and the
    /// transformer's counts come from.
    pub fn durable_rollouts(&self) -> &Arc<Rollouts> {
        &self.durable_rollouts
    }

    /// Agents drained, durable or not.
    pub fn drains(&self) -> &Drains {
        &self.drains
    }

    /// Agents whose drain is durable: what placement avoids.
    pub fn durable_drains(&self) -> &Arc<Drains> {
        &self.durable_drains
    }

    /// The accepted rollout that holds job `hash` (running, or failed and
    /// not reverted), if any.
    pub fn rollout_holding(&self, hash: &JobHash) -> Option<&Arc<Rollout>> {
        self.rollouts
            .values()
            .find(|rollout| rollout.status.holds_jobs() && rollout.touches(hash))
    }

    /// Handles a migrate request: `to` is scheduled with no task wanted
    /// yet and a rollout from `from` is recorded, in one write. With
    /// `index`, only if the registry is still at that index (as for
    /// [`Registry::schedule`]).
    pub fn migrate(
        &mut self,
        request: RequestId,
        from: UnscheduleTarget,
        to: JobConfig,
        params: RolloutParams,
        index: Option<u64>,
        out: &mut VecDeque<Output>,
    ) {
        let from = match validate_migrate(&from, &to, &params) {
            Ok(from) => from,
            Err(msg) => return reply_now(out, request, 400, msg),
        };
        if self.stale_index(request, index, out) {
            return;
        }
        let to_hash = to.hash();
        let old = match self.migrate_conflict(&from, &to_hash) {
            Ok(old) => old,
            Err((status, msg)) => return self.reply_after(out, request, status, msg),
        };
        self.version += 1;
        let rollout = Rollout::begin(self.version, &from, &old, &to_hash, &to, params);
        let msg = format!(
            "rollout {} from {from} to {to_hash} has been accepted",
            rollout.id
        );
        self.changed.insert(to_hash.clone());
        self.jobs.insert(to_hash, Arc::new(to));
        self.changed_rollouts.insert(rollout.id);
        self.rollouts.insert(rollout.id, Arc::new(rollout));
        self.reply_after(out, request, 202, msg);
    }

    /// Handles an abort request: a rollout that holds its jobs is reverted.
    pub fn abort_rollout(&mut self, request: RequestId, id: RolloutId, out: &mut VecDeque<Output>) {
        let Some(rollout) = self.rollouts.get(&id) else {
            return self.reply_after(out, request, 404, format!("no rollout {id}"));
        };
        if !rollout.status.holds_jobs() {
            let msg = format!("rollout {id} has {} already", rollout.status.as_str());
            return self.reply_after(out, request, 409, msg);
        }
        self.finish_rollout(id, RolloutStatus::Aborted, "aborted by a user".to_owned());
        let msg = format!("rollout {id} is aborted: its old job is brought back");
        self.reply_after(out, request, 202, msg);
    }

    /// A step of rollout `id`: its new counts, written with the next write.
    pub fn step_rollout(&mut self, id: RolloutId, wanted: Wanted) {
        let Some(rollout) = self.rollouts.get(&id) else {
            return;
        };
        let mut stepped = (**rollout).clone();
        stepped.wanted = wanted;
        stepped.step += 1;
        self.put_rollout(stepped);
    }

    /// Rollout `id` ends with `status`: on success the old job is
    /// unscheduled, on revert or abort the new one; a failure without
    /// revert keeps both at the last step's counts.
    pub fn finish_rollout(&mut self, id: RolloutId, status: RolloutStatus, outcome: String) {
        let Some(rollout) = self.rollouts.get(&id) else {
            return;
        };
        let mut finished = (**rollout).clone();
        let gone = match status {
            RolloutStatus::Succeeded => Some(finished.from.clone()),
            RolloutStatus::Reverted | RolloutStatus::Aborted => Some(finished.to.clone()),
            RolloutStatus::Failed | RolloutStatus::Running => None,
        };
        if let Some(hash) = gone
            && self.jobs.remove(&hash).is_some()
        {
            self.changed.insert(hash);
        }
        finished.status = status;
        finished.outcome = Some(outcome);
        self.put_rollout(finished);
        // Finished rollouts are kept for a while, the oldest going first.
        let finished: Vec<RolloutId> = self
            .rollouts
            .values()
            .filter(|rollout| !rollout.status.holds_jobs())
            .map(|rollout| rollout.id)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(MAX_FINISHED_ROLLOUTS))
        {
            self.rollouts.remove(id);
            self.changed_rollouts.insert(*id);
        }
    }

    /// Why a well-formed migrate from `from` to `to_hash` cannot be
    /// accepted now (404 unknown `from`, 409 `to` scheduled or `from` held
    /// by another rollout), or the old job. Shared by the migrate and its
    /// plan, so both refuse alike.
    pub fn migrate_conflict(
        &self,
        from: &JobHash,
        to_hash: &JobHash,
    ) -> Result<Arc<JobConfig>, (u16, String)> {
        let Some(old) = self.jobs.get(from).cloned() else {
            return Err((404, format!("from: {from} not scheduled")));
        };
        if self.jobs.contains_key(to_hash) {
            return Err((409, format!("to: {to_hash} already scheduled")));
        }
        if let Some(rollout) = self.rollout_holding(from) {
            let msg = format!(
                "{from} is held by rollout {} ({}) already",
                rollout.id,
                rollout.status.as_str()
            );
            return Err((409, msg));
        }
        Ok(old)
    }

    fn put_rollout(&mut self, rollout: Rollout) {
        self.version += 1;
        self.changed_rollouts.insert(rollout.id);
        self.rollouts.insert(rollout.id, Arc::new(rollout));
    }

    /// Handles a drain (`drain`) or undrain request for `agent`.
    pub fn drain(
        &mut self,
        request: RequestId,
        agent: AgentId,
        drain: bool,
        out: &mut VecDeque<Output>,
    ) {
        let msg = match (drain, self.drains.contains(&agent)) {
            (true, true) => format!("{agent} is being drained already"),
            (false, false) => format!("{agent} is not being drained"),
            (true, false) => {
                self.drains.insert(agent.clone());
                self.version += 1;
                self.changed_drains.insert(agent.clone());
                format!("{agent} is being drained: nothing new is placed there and its tasks move")
            }
            (false, true) => {
                self.drains.remove(&agent);
                self.version += 1;
                self.changed_drains.insert(agent.clone());
                format!("{agent} is no longer drained")
            }
        };
        self.reply_after(out, request, 202, msg);
    }
}

/// The old job's hash of a migrate request, or every problem of its own
/// form for a 400 (invalid jobs or bounds, `from` equal to `to`). Shared by
/// the migrate and its plan.
pub fn validate_migrate(
    from: &UnscheduleTarget,
    to: &JobConfig,
    params: &RolloutParams,
) -> Result<JobHash, String> {
    let mut problems = Vec::new();
    let from = match from {
        UnscheduleTarget::Hash(hash) => Some(hash.clone()),
        UnscheduleTarget::Config(job) => match job.validate() {
            Ok(()) => Some(job.hash()),
            Err(invalid) => {
                problems.push(format!("from: {invalid}"));
                None
            }
        },
    };
    if let Err(invalid) = to.validate() {
        problems.push(format!("to: {invalid}"));
    }
    problems.extend(params.problems());
    let Some(from) = from.filter(|_| problems.is_empty()) else {
        return Err(problems.join("; "));
    };
    let to_hash = to.hash();
    if from == to_hash {
        return Err(format!(
            "from and to are the same job ({from}): nothing to roll out"
        ));
    }
    Ok(from)
}
