//! The rollout and drain API, our addition beside the v0 API:
//! `POST /api/v0/migrate`, `GET /api/v0/rollouts[/{id}]`,
//! `POST /api/v0/rollouts/{id}/abort`, `POST /api/v0/drain` and
//! `/undrain`, `GET /api/v0/drains`. Bodies are decoded strictly (an
//! unknown field is a 400 naming it); the core judges the rest and answers
//! once the change is durable.

use harpoon_core::rollout::{RolloutParams, RolloutStatus};
use harpoon_core::wire::{JobConfig, JobHash, WireDuration};
use harpoon_core::{AgentId, RolloutView, UnscheduleTarget};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

/// `POST /api/v0/migrate`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateBody {
    /// The old job: its config, or its hash as a string.
    from: serde_json::Value,
    /// The new job.
    to: JobConfig,
    max_surge: Option<u32>,
    max_unavailable: Option<u32>,
    min_healthy: Option<String>,
    progress_deadline: Option<String>,
    auto_revert: Option<bool>,
}

/// A migrate request the core can take.
#[derive(Debug)]
pub struct Migrate {
    /// The old job.
    pub from: UnscheduleTarget,
    /// The new job.
    pub to: JobConfig,
    /// Bounds, health and deadline.
    pub params: RolloutParams,
}

/// Decodes a migrate body; every problem of its own form is named.
pub fn decode_migrate(bytes: &[u8]) -> Result<Migrate, String> {
    let body: MigrateBody =
        serde_json::from_slice(bytes).map_err(|error| format!("invalid migrate body: {error}"))?;
    let from = match body.from {
        serde_json::Value::String(hash) => UnscheduleTarget::Hash(JobHash::new(&hash)),
        object @ serde_json::Value::Object(_) => UnscheduleTarget::Config(
            serde_json::from_value(object).map_err(|error| format!("from: {error}"))?,
        ),
        _ => return Err("from: must be a job config or a job hash".to_owned()),
    };
    let defaults = RolloutParams::default();
    let millis = |value: &Option<String>, key: &str, default: u64| match value {
        None => Ok(default),
        Some(text) => text
            .parse::<WireDuration>()
            .map(|duration| duration.to_duration().as_millis())
            .map_err(|error| format!("{key}: {error}")),
    };
    let params = RolloutParams {
        max_surge: body.max_surge.unwrap_or(defaults.max_surge),
        max_unavailable: body.max_unavailable.unwrap_or(defaults.max_unavailable),
        min_healthy_ms: millis(&body.min_healthy, "min_healthy", defaults.min_healthy_ms)?,
        progress_deadline_ms: millis(
            &body.progress_deadline,
            "progress_deadline",
            defaults.progress_deadline_ms,
        )?,
        auto_revert: body.auto_revert.unwrap_or(defaults.auto_revert),
    };
    Ok(Migrate {
        from,
        to: body.to,
        params,
    })
}

/// `POST /api/v0/drain`'s and `/undrain`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainBody {
    agent: String,
}

/// Decodes a drain body into the agent's id, by the rule discovery uses
/// for agent URLs (so that `a0:7777` names the agent listed as
/// `http://a0:7777`).
pub fn decode_drain(bytes: &[u8]) -> Result<AgentId, String> {
    let body: DrainBody =
        serde_json::from_slice(bytes).map_err(|error| format!("invalid drain body: {error}"))?;
    if body.agent.trim().is_empty() {
        return Err("agent: must name an agent URL".to_owned());
    }
    Ok(AgentId::new(&super::discovery::normalize(&body.agent)))
}

/// One side of a rollout, as `GET /api/v0/rollouts` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RolloutSide {
    /// The job's hash.
    pub hash: String,
    /// The job's name.
    pub job: String,
    /// Its scale.
    pub scale: u32,
    /// Tasks the rollout wants of it now.
    pub wanted: u32,
    /// Of those, running at the last look.
    pub running: u32,
    /// Of those, healthy (the new job only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<u32>,
}

/// A rollout as `GET /api/v0/rollouts` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RolloutJson {
    /// Its number.
    pub id: u64,
    /// `running`, `succeeded`, `reverted`, `failed` or `aborted`.
    pub status: String,
    /// Steps taken.
    pub step: u32,
    /// The old job.
    pub from: RolloutSide,
    /// The new job.
    pub to: RolloutSide,
    /// Bounds.
    pub max_surge: u32,
    /// Bounds.
    pub max_unavailable: u32,
    /// How long a new task runs before it counts healthy.
    pub min_healthy: String,
    /// How long without progress before it fails.
    pub progress_deadline: String,
    /// Whether a failure reverts it.
    pub auto_revert: bool,
    /// Why it waits, while it runs and cannot step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// How it ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl RolloutJson {
    /// The view the core gives.
    pub fn of(view: &RolloutView<'_>) -> RolloutJson {
        let rollout = view.rollout;
        let running = rollout.status == RolloutStatus::Running;
        RolloutJson {
            id: rollout.id,
            status: rollout.status.as_str().to_owned(),
            step: rollout.step,
            from: RolloutSide {
                hash: rollout.from.to_string(),
                job: rollout.from_job.clone(),
                scale: rollout.from_scale,
                wanted: rollout.wanted.from,
                running: view.from_running,
                healthy: None,
            },
            to: RolloutSide {
                hash: rollout.to.to_string(),
                job: rollout.to_job.clone(),
                scale: rollout.to_scale,
                wanted: rollout.wanted.to,
                running: view.to_running,
                healthy: running.then_some(view.to_healthy),
            },
            max_surge: rollout.params.max_surge,
            max_unavailable: rollout.params.max_unavailable,
            min_healthy: rollout.params.min_healthy().to_string(),
            progress_deadline: rollout.params.progress_deadline().to_string(),
            auto_revert: rollout.params.auto_revert,
            waiting: view.waiting.map(str::to_owned),
            outcome: rollout.outcome.clone(),
        }
    }
}

/// A drained agent as `GET /api/v0/drains` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DrainJson {
    /// The agent.
    pub agent: String,
    /// Desired tasks it still holds.
    pub remaining: usize,
}

/// The number in `/api/v0/rollouts/{id}`, or the 404 message.
pub fn rollout_id(text: &str) -> Result<u64, (StatusCode, String)> {
    text.parse::<u64>().map_err(|_| {
        (
            StatusCode::NOT_FOUND,
            format!("{text:?} is no rollout number (see GET /api/v0/rollouts)"),
        )
    })
}
