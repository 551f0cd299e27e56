//! The scenario keys of rollouts and drains (`migrate`, `abort_rollout`,
//! `drain`, `undrain`; the expectations `rollout` and `min_running`): their
//! raw forms and how they become actions and expectations.

use harpoon_core::Duration;
use harpoon_core::rollout::{RolloutParams, RolloutStatus};
use serde::Deserialize;
use toml::Spanned;

use super::{ExpectationKind, Parser, ScenarioError};
use crate::range::parse_duration;

/// `migrate = { from, to, max_surge, max_unavailable, min_healthy,
/// progress_deadline, auto_revert }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMigrate {
    from: String,
    to: String,
    max_surge: Option<u32>,
    max_unavailable: Option<u32>,
    min_healthy: Option<String>,
    progress_deadline: Option<String>,
    auto_revert: Option<bool>,
}

/// `rollout = { to, status }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRolloutExpect {
    to: String,
    status: String,
}

/// `min_running = { jobs, count, from, to }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMinRunning {
    jobs: Vec<String>,
    count: u64,
    from: String,
    to: String,
}

/// A user's rollout from one scenario job to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateSpec {
    /// The old job's name.
    pub from: String,
    /// The new job's name.
    pub to: String,
    /// Bounds, health and deadline, the API's defaults filling the rest.
    pub params: RolloutParams,
}

impl Parser<'_> {
    pub(super) fn migrate(&self, raw: &Spanned<RawMigrate>) -> Result<MigrateSpec, ScenarioError> {
        let migrate = raw.get_ref();
        let defaults = RolloutParams::default();
        let millis = |value: &Option<String>, key: &str, default: u64| match value {
            Some(text) => parse_duration(text)
                .map(Duration::as_millis)
                .map_err(|message| self.error(raw.span(), key, message)),
            None => Ok(default),
        };
        let params = RolloutParams {
            max_surge: migrate.max_surge.unwrap_or(defaults.max_surge),
            max_unavailable: migrate.max_unavailable.unwrap_or(defaults.max_unavailable),
            min_healthy_ms: millis(
                &migrate.min_healthy,
                "at.migrate.min_healthy",
                defaults.min_healthy_ms,
            )?,
            progress_deadline_ms: millis(
                &migrate.progress_deadline,
                "at.migrate.progress_deadline",
                defaults.progress_deadline_ms,
            )?,
            auto_revert: migrate.auto_revert.unwrap_or(defaults.auto_revert),
        };
        Ok(MigrateSpec {
            from: migrate.from.clone(),
            to: migrate.to.clone(),
            params,
        })
    }

    pub(super) fn rollout_expectation(
        &self,
        raw: &Spanned<RawRolloutExpect>,
        at: Duration,
    ) -> Result<ExpectationKind, ScenarioError> {
        let expect = raw.get_ref();
        let status = RolloutStatus::parse(&expect.status).ok_or_else(|| {
            self.error(
                raw.span(),
                "expect.rollout.status",
                format!(
                    "{:?} is no rollout status (running, succeeded, reverted, failed, aborted)",
                    expect.status
                ),
            )
        })?;
        Ok(ExpectationKind::Rollout {
            at,
            to: expect.to.clone(),
            status,
        })
    }

    pub(super) fn min_running(
        &self,
        raw: &Spanned<RawMinRunning>,
    ) -> Result<ExpectationKind, ScenarioError> {
        let expect = raw.get_ref();
        let time = |text: &str, key: &str| {
            parse_duration(text).map_err(|message| self.error(raw.span(), key, message))
        };
        let from = time(&expect.from, "expect.min_running.from")?;
        let to = time(&expect.to, "expect.min_running.to")?;
        if to < from {
            return Err(self.error(
                raw.span(),
                "expect.min_running.to",
                format!("the window ends ({to}) before it starts ({from})"),
            ));
        }
        if expect.jobs.is_empty() {
            return Err(self.error(raw.span(), "expect.min_running.jobs", "names no job"));
        }
        Ok(ExpectationKind::MinRunning {
            jobs: expect.jobs.clone(),
            count: expect.count,
            from,
            to,
        })
    }
}
