//! The JSON of plans (`POST /api/v0/plan`) and explanations
//! (`GET /api/v0/why/{hash}`): our addition to the v0 API, written by the
//! daemon from the core's types and read by `harpoonctl`. Every structured
//! field of the core's types is here, and each explanation's text too, so
//! that a client shows what the core says without composing it again.

use harpoon_core::algorithm::{Constraint, Explanation};
use harpoon_core::{ChangePlan, JobExplanation, TaskExplanation, TaskOutcome};
use serde::{Deserialize, Serialize};

/// A plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanJson {
    /// The durable registry index the plan was made against: apply with
    /// `?index=N` to apply it only if the registry is unchanged.
    pub index: u64,
    /// `schedule`, `unschedule` or `migrate`.
    pub change: String,
    /// The job's hash.
    pub hash: String,
    /// The job's name.
    pub job: String,
    /// Each task of a job being scheduled.
    pub tasks: Vec<PlannedTaskJson>,
    /// Each container that would be stopped or removed.
    pub removals: Vec<RemovalJson>,
    /// For a migrate: the rollout's first step (`hash` and `job` name the
    /// new job, `tasks` its tasks the step places, `removals` the old
    /// job's containers it stops).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<PlannedStepJson>,
}

/// A migrate's first step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStepJson {
    /// The old job's hash.
    pub from: String,
    /// The old job's name.
    pub from_job: String,
    /// The old job's scale.
    pub from_scale: u32,
    /// The new job's scale.
    pub to_scale: u32,
    /// Bounds as given (or defaulted).
    pub max_surge: u32,
    /// Bounds as given (or defaulted).
    pub max_unavailable: u32,
    /// The most tasks that may exist at once: `max(from_scale, to_scale) +
    /// max_surge`.
    pub ceiling: u32,
    /// The fewest that must stay available: `min(from_scale, to_scale) -
    /// max_unavailable`.
    pub floor: u32,
    /// Old tasks running now.
    pub from_running: u32,
    /// Old instances present now.
    pub from_present: u32,
    /// Old tasks the step keeps (tasks `0..wanted_from`).
    pub wanted_from: u32,
    /// New tasks the step places (tasks `0..wanted_to`).
    pub wanted_to: u32,
    /// Why the first step changes nothing yet, when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// One task of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTaskJson {
    /// Its container ID.
    pub container: String,
    /// `place`, `present` (an instance exists and is kept), `unplaced` or
    /// `waiting` (placement has not started).
    pub outcome: String,
    /// The agent, for `place` and `present`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Why, for `unplaced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<ExplanationJson>,
}

/// A container a plan would stop or remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalJson {
    /// The container.
    pub container: String,
    /// The agent holding it.
    pub agent: String,
    /// Its status as last reported (absent while its create is
    /// unconfirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether it is stopped before it is removed.
    pub stop_first: bool,
}

/// Why a task fits on no agent, agent by agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplanationJson {
    /// The explanation as a sentence.
    pub text: String,
    /// Agents judged.
    pub evaluated: u64,
    /// Agents it fits on now.
    pub fit: u64,
    /// Agents ruled out, by the first constraint each failed, most first.
    pub ruled_out: Vec<RuledOutJson>,
    /// The agent that came closest, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closest: Option<String>,
}

/// Agents ruled out by one constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuledOutJson {
    /// `not_connected`, `avoided`, `volume`, `cpu` or `memory`.
    pub constraint: String,
    /// The volume, for `volume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// How many agents.
    pub agents: u64,
}

/// Where a job's tasks are, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhyJson {
    /// The job's hash.
    pub hash: String,
    /// The job's name.
    pub job: String,
    /// Whether the job's registry write is durable.
    pub durable: bool,
    /// The registry index now.
    pub index: u64,
    /// Each task, in task order.
    pub tasks: Vec<TaskWhyJson>,
}

/// One task's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskWhyJson {
    /// Its container ID.
    pub container: String,
    /// Its index in the job.
    pub task: u32,
    /// Its state in a line (tasks in the same state read the same).
    pub state: String,
    /// Every instance: agent, status, pending command.
    pub instances: Vec<InstanceJson>,
    /// Why no agent can take it, for an unplaced task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unplaced: Option<ExplanationJson>,
}

/// One instance of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceJson {
    /// The agent.
    pub agent: String,
    /// Its last reported status (absent while its create is unconfirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The command of ours it waits on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

impl From<&Explanation> for ExplanationJson {
    fn from(explanation: &Explanation) -> ExplanationJson {
        ExplanationJson {
            text: explanation.to_string(),
            evaluated: explanation.evaluated,
            fit: explanation.fit,
            ruled_out: explanation
                .by_count()
                .into_iter()
                .map(|(constraint, agents)| RuledOutJson {
                    constraint: constraint.label().to_owned(),
                    volume: match constraint {
                        Constraint::Volume(path) => Some(path.clone()),
                        _ => None,
                    },
                    agents,
                })
                .collect(),
            closest: explanation.closest.as_ref().map(|c| c.agent.to_string()),
        }
    }
}

impl From<&ChangePlan> for PlanJson {
    fn from(plan: &ChangePlan) -> PlanJson {
        PlanJson {
            index: plan.index,
            change: match (&plan.rollout, plan.schedules) {
                (Some(_), _) => "migrate",
                (None, true) => "schedule",
                (None, false) => "unschedule",
            }
            .to_owned(),
            hash: plan.hash.to_string(),
            job: plan.job.clone(),
            tasks: plan
                .tasks
                .iter()
                .map(|task| {
                    let (outcome, agent, explanation) = match &task.outcome {
                        TaskOutcome::Placed(agent) => ("place", Some(agent.to_string()), None),
                        TaskOutcome::Present(agent) => ("present", Some(agent.to_string()), None),
                        TaskOutcome::Unplaced(explanation) => {
                            ("unplaced", None, Some(ExplanationJson::from(explanation)))
                        }
                        TaskOutcome::PlacementNotStarted => ("waiting", None, None),
                    };
                    PlannedTaskJson {
                        container: task.container.to_string(),
                        outcome: outcome.to_owned(),
                        agent,
                        explanation,
                    }
                })
                .collect(),
            removals: plan
                .removals
                .iter()
                .map(|removal| RemovalJson {
                    container: removal.container.to_string(),
                    agent: removal.agent.to_string(),
                    status: removal.status.map(|status| status.to_string()),
                    stop_first: removal.stop_first,
                })
                .collect(),
            rollout: plan.rollout.as_ref().map(|step| PlannedStepJson {
                from: step.from.to_string(),
                from_job: step.from_job.clone(),
                from_scale: step.from_scale,
                to_scale: step.to_scale,
                max_surge: step.params.max_surge,
                max_unavailable: step.params.max_unavailable,
                ceiling: step.ceiling,
                floor: step.floor,
                from_running: step.from_running,
                from_present: step.from_present,
                wanted_from: step.wanted.from,
                wanted_to: step.wanted.to,
                waiting: step.waiting.clone(),
            }),
        }
    }
}

impl From<&TaskExplanation> for TaskWhyJson {
    fn from(task: &TaskExplanation) -> TaskWhyJson {
        TaskWhyJson {
            container: task.container.to_string(),
            task: task.index,
            state: task.to_string(),
            instances: task
                .instances
                .iter()
                .map(|instance| InstanceJson {
                    agent: instance.agent.to_string(),
                    status: instance.status.map(|status| status.to_string()),
                    pending: instance.pending.map(|pending| pending.action.to_owned()),
                })
                .collect(),
            unplaced: task.unplaced.as_ref().map(ExplanationJson::from),
        }
    }
}

impl From<&JobExplanation> for WhyJson {
    fn from(why: &JobExplanation) -> WhyJson {
        WhyJson {
            hash: why.hash.to_string(),
            job: why.job.clone(),
            durable: why.durable,
            index: why.index,
            tasks: why.tasks.iter().map(TaskWhyJson::from).collect(),
        }
    }
}
