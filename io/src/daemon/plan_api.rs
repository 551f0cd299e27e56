//! `POST /api/v0/plan` and `GET /api/v0/why/{hash}`: read-only questions
//! to the core, answered with the JSON of [`crate::plan_json`]. A plan's
//! `migrate` body is decoded by `POST /api/v0/migrate`'s own decoder, so
//! the two refuse a body alike.

use harpoon_core::wire::{JobConfig, JobHash};
use harpoon_core::{PlanChange, UnscheduleTarget};
use hyper::StatusCode;
use serde::Deserialize;

use super::http::{ApiResponse, json, rpc};
use super::messages::{CoreHandle, Query};
use super::rollouts_api::{Migrate, decode_migrate};
use crate::plan_json::{PlanJson, WhyJson};

/// The body of a plan request: exactly one change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PlanBody {
    Schedule(Box<JobConfig>),
    Unschedule(UnscheduleBody),
    /// A migrate's body, decoded by `POST /api/v0/migrate`'s own decoder.
    Migrate(serde_json::Value),
}

/// A job to unschedule: its hash, or its config.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UnscheduleBody {
    Hash(String),
    Job(Box<JobConfig>),
}

/// Answers a plan request whose body is `body`.
pub async fn plan(core: &CoreHandle, body: &[u8]) -> ApiResponse {
    let change = match serde_json::from_slice::<PlanBody>(body) {
        Ok(PlanBody::Schedule(job)) => PlanChange::Schedule(*job),
        Ok(PlanBody::Unschedule(UnscheduleBody::Hash(hash))) => {
            PlanChange::Unschedule(UnscheduleTarget::Hash(JobHash::new(&hash)))
        }
        Ok(PlanBody::Unschedule(UnscheduleBody::Job(job))) => {
            PlanChange::Unschedule(UnscheduleTarget::Config(*job))
        }
        // Written back out (the body is bounded) for the migrate's decoder.
        Ok(PlanBody::Migrate(body)) => match decode_migrate(body.to_string().as_bytes()) {
            Ok(Migrate { from, to, params }) => PlanChange::Migrate { from, to, params },
            Err(msg) => return rpc(StatusCode::BAD_REQUEST, &msg),
        },
        Err(error) => {
            return rpc(
                StatusCode::BAD_REQUEST,
                &format!(
                    "a plan request is {{\"schedule\": JOB}}, {{\"unschedule\": JOB or HASH}} \
                     or {{\"migrate\": ROLLOUT}}: {error}"
                ),
            );
        }
    };
    match core
        .query(|reply| Query::Plan(Box::new(change), reply))
        .await
    {
        Ok(Ok(plan)) => json(StatusCode::OK, &PlanJson::from(&plan)),
        Ok(Err(refusal)) => {
            let status = StatusCode::from_u16(refusal.status_code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            rpc(status, &refusal.msg)
        }
        Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
    }
}

/// Answers `GET /api/v0/why/{hash}`.
pub async fn why(core: &CoreHandle, hash: &str) -> ApiResponse {
    let hash = JobHash::new(hash);
    let asked = hash.clone();
    match core.query(|reply| Query::Why(asked, reply)).await {
        Ok(Some(why)) => json(StatusCode::OK, &WhyJson::from(&why)),
        Ok(None) => rpc(StatusCode::NOT_FOUND, &format!("{hash} not scheduled")),
        Err(gone) => rpc(StatusCode::SERVICE_UNAVAILABLE, &gone.to_string()),
    }
}
