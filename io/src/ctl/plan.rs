//! `harpoonctl plan` and `harpoonctl why`: the plan-then-apply workflow and
//! the explanation of every task, as aligned tables.

use std::collections::BTreeMap;
use std::path::Path;

use harpoon_core::wire::JobConfig;

use super::rollouts::{RolloutOptions, migrate_body};
use super::{Client, CtlError, Table, read_job_file};
use crate::plan_json::{PlanJson, WhyJson};

impl Client {
    /// `plan FILE [--unschedule]`: what scheduling (or unscheduling) the
    /// job in FILE would do, and the index to apply it at.
    pub fn plan(&self, file: &Path, unschedule: bool) -> Result<String, CtlError> {
        let job = read_job_file(file)?;
        let change = if unschedule { "unschedule" } else { "schedule" };
        // The file's own bytes, so that the scheduler hashes what it holds.
        let mut body = format!("{{\"{change}\":").into_bytes();
        body.extend_from_slice(&job);
        body.push(b'}');
        let plan: PlanJson = self.post_json("/api/v0/plan", &body)?;
        Ok(render_plan(&plan, &file.display().to_string()))
    }

    /// `plan FROM --migrate TO`: the first step of a rollout from the job
    /// in FROM to the one in TO, and the index to start it at.
    pub fn plan_migrate(
        &self,
        from: &Path,
        to: &Path,
        options: &RolloutOptions,
    ) -> Result<String, CtlError> {
        let body = serde_json::json!({ "migrate": migrate_body(from, to, options)? });
        let body = serde_json::to_vec(&body).expect("JSON");
        let plan: PlanJson = self.post_json("/api/v0/plan", &body)?;
        let files = format!("{} {}", from.display(), to.display());
        Ok(render_plan(&plan, &files))
    }

    /// `why JOB|HASH`: each task of the job (every job of that name, if a
    /// name is given) and why it is where it is.
    pub fn why(&self, target: &str) -> Result<String, CtlError> {
        let hashes = if looks_like_hash(target) {
            vec![target.to_owned()]
        } else {
            let jobs: BTreeMap<String, JobConfig> = self.get("/api/v0/registry")?;
            let hashes: Vec<String> = jobs
                .into_iter()
                .filter(|(_, job)| job.container.job == target)
                .map(|(hash, _)| hash)
                .collect();
            if hashes.is_empty() {
                return Err(CtlError::Refused {
                    status: 404,
                    msg: format!(
                        "no job named {target} is scheduled (harpoonctl registry lists them)"
                    ),
                });
            }
            hashes
        };
        let mut text = String::new();
        for hash in hashes {
            let why: WhyJson = self.get(&format!("/api/v0/why/{hash}"))?;
            text.push_str(&render_why(&why));
        }
        Ok(text)
    }
}

/// Whether `target` is a job hash (`<name>-<7 hex>`) rather than a name.
fn looks_like_hash(target: &str) -> bool {
    target.rsplit_once('-').is_some_and(|(name, hex)| {
        !name.is_empty() && hex.len() == 7 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A plan as a table, with the command that applies it unchanged.
pub fn render_plan(plan: &PlanJson, file: &str) -> String {
    let mut text = format!(
        "{} {} ({}) at registry index {}\n",
        plan.change, plan.job, plan.hash, plan.index
    );
    if let Some(step) = &plan.rollout {
        text.push_str(&format!(
            "first step of a rollout from {} ({}, {} tasks) to {} tasks: keep {} old, place {} new\n\
             bounds: at most {} tasks at once (max_surge {}), at least {} available (max_unavailable {}); \
             {} old running, {} old present\n",
            step.from_job,
            step.from,
            step.from_scale,
            step.to_scale,
            step.wanted_from,
            step.wanted_to,
            step.ceiling,
            step.max_surge,
            step.floor,
            step.max_unavailable,
            step.from_running,
            step.from_present,
        ));
        if let Some(waiting) = &step.waiting {
            text.push_str(&format!("the step changes nothing yet: {waiting}\n"));
        }
    }
    if plan.change == "schedule" || !plan.tasks.is_empty() {
        let mut table = Table::new(&["TASK", "OUTCOME", "AGENT OR WHY"]);
        for task in &plan.tasks {
            let detail = match (&task.agent, &task.explanation) {
                (Some(agent), _) => agent.clone(),
                (None, Some(explanation)) => explanation.text.clone(),
                (None, None) => "placement starts once every agent has synced".to_owned(),
            };
            table.row(vec![task.container.clone(), task.outcome.clone(), detail]);
        }
        text.push_str(&table.to_string());
    }
    if plan.change == "unschedule" && plan.removals.is_empty() {
        text.push_str("nothing runs: no container to stop or remove\n");
    } else if !plan.removals.is_empty() {
        let mut table = Table::new(&["CONTAINER", "AGENT", "STATUS", "ACTION"]);
        for removal in &plan.removals {
            let action = if removal.stop_first {
                "stop, remove"
            } else {
                "remove"
            };
            table.row(vec![
                removal.container.clone(),
                removal.agent.clone(),
                removal
                    .status
                    .clone()
                    .unwrap_or_else(|| "creating".to_owned()),
                action.to_owned(),
            ]);
        }
        text.push_str(&table.to_string());
    }
    let same_options = if plan.rollout.is_some() {
        " (and the same rollout options)"
    } else {
        ""
    };
    text.push_str(&format!(
        "apply only if the registry is unchanged: harpoonctl {} {file} --index {}{same_options}\n",
        plan.change, plan.index
    ));
    text
}

/// Each task of a job in a line, consecutive tasks in the same state
/// grouped (`tasks 3-52`), aligned.
pub fn render_why(why: &WhyJson) -> String {
    let durable = if why.durable {
        ""
    } else {
        " (its registry write is not durable yet)"
    };
    let mut text = format!("{} ({}){durable}\n", why.job, why.hash);
    let mut table = Table::new(&["TASKS", "STATE"]);
    let mut groups: Vec<(u32, u32, &str)> = Vec::new();
    for task in &why.tasks {
        match groups.last_mut() {
            Some((_, last, state)) if *state == task.state && *last + 1 == task.task => {
                *last = task.task;
            }
            _ => groups.push((task.task, task.task, &task.state)),
        }
    }
    for (first, last, state) in groups {
        let tasks = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last} ({})", last - first + 1)
        };
        table.row(vec![tasks, state.to_owned()]);
    }
    text.push_str(&table.to_string());
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan_json::TaskWhyJson;

    #[test]
    fn names_and_hashes_are_told_apart() {
        assert!(looks_like_hash("web-9c83741"));
        assert!(looks_like_hash("my-web-9c83741"));
        assert!(!looks_like_hash("web"));
        assert!(!looks_like_hash("my-web"));
        assert!(!looks_like_hash("web-9c8374"));
    }

    #[test]
    fn a_migrate_plan_shows_its_step_bounds_tasks_and_the_command_to_apply() {
        use crate::plan_json::{PlannedStepJson, PlannedTaskJson, RemovalJson};
        let plan = PlanJson {
            index: 4,
            change: "migrate".into(),
            hash: "web-2222222".into(),
            job: "web".into(),
            tasks: vec![PlannedTaskJson {
                container: "web-2222222-0".into(),
                outcome: "place".into(),
                agent: Some("http://a1".into()),
                explanation: None,
            }],
            removals: vec![RemovalJson {
                container: "web-1111111-2".into(),
                agent: "http://a0".into(),
                status: Some("running".into()),
                stop_first: true,
            }],
            rollout: Some(PlannedStepJson {
                from: "web-1111111".into(),
                from_job: "web".into(),
                from_scale: 3,
                to_scale: 3,
                max_surge: 1,
                max_unavailable: 1,
                ceiling: 4,
                floor: 2,
                from_running: 3,
                from_present: 3,
                wanted_from: 2,
                wanted_to: 1,
                waiting: None,
            }),
        };
        assert_eq!(
            render_plan(&plan, "v1.json v2.json"),
            "migrate web (web-2222222) at registry index 4\n\
             first step of a rollout from web (web-1111111, 3 tasks) to 3 tasks: keep 2 old, place 1 new\n\
             bounds: at most 4 tasks at once (max_surge 1), at least 2 available (max_unavailable 1); 3 old running, 3 old present\n\
             TASK           OUTCOME  AGENT OR WHY\n\
             web-2222222-0  place    http://a1\n\
             CONTAINER      AGENT      STATUS   ACTION\n\
             web-1111111-2  http://a0  running  stop, remove\n\
             apply only if the registry is unchanged: harpoonctl migrate v1.json v2.json --index 4 (and the same rollout options)\n"
        );
    }

    #[test]
    fn why_groups_consecutive_tasks_in_the_same_state() {
        let task = |task: u32, state: &str| TaskWhyJson {
            container: format!("web-1234567-{task}"),
            task,
            state: state.to_owned(),
            instances: Vec::new(),
            unplaced: None,
        };
        let why = WhyJson {
            hash: "web-1234567".into(),
            job: "web".into(),
            durable: true,
            index: 3,
            tasks: vec![
                task(0, "running on http://a1"),
                task(1, "unplaced: 2 agents evaluated: 2 lacked cpu"),
                task(2, "unplaced: 2 agents evaluated: 2 lacked cpu"),
                task(3, "unplaced: 2 agents evaluated: 2 lacked cpu"),
            ],
        };
        assert_eq!(
            render_why(&why),
            "web (web-1234567)\n\
             TASKS    STATE\n\
             0        running on http://a1\n\
             1-3 (3)  unplaced: 2 agents evaluated: 2 lacked cpu\n"
        );
    }
}
