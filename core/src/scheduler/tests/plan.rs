//! Plans: a plan changes nothing, and is what the scheduler then does.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::harness::{Harness, agent, config, job, play_agent, resources};
use crate::algorithm::{AlgorithmKind, Constraint};
use crate::scheduler::{PlanChange, SchedulerConfig, TaskOutcome, UnscheduleTarget};
use crate::time::Duration;
use crate::wire::{ContainerStatus, Field, HostResources, JobConfig};

/// Agents (name, cpu, memory, offers `/ssd`) synced and left to settle
/// with `jobs` loaded: every command answered and confirmed, until the
/// scheduler has nothing more to do.
fn settled(
    algorithm: AlgorithmKind,
    seed: u64,
    agents: &[(String, f64, u64, bool)],
    jobs: Vec<JobConfig>,
) -> (Harness, Vec<(String, HostResources)>) {
    let config = SchedulerConfig {
        algorithm,
        ..config()
    };
    let mut h = Harness::with_seed(config, seed);
    let names: Vec<&str> = agents.iter().map(|(name, ..)| name.as_str()).collect();
    h.start(jobs, &names);
    let mut reported = Vec::new();
    for (name, cpu, mem, ssd) in agents {
        let mut offered = resources(*cpu, *mem);
        if *ssd {
            offered.volumes = vec!["/ssd".to_owned()];
        }
        h.sync(name, offered.clone(), vec![]);
        reported.push((name.clone(), offered));
    }
    settle(&mut h, &reported);
    (h, reported)
}

fn settle(h: &mut Harness, agents: &[(String, HostResources)]) {
    for _ in 0..100 {
        let mut commands = h.take_commands();
        if commands.is_empty() {
            h.advance(Duration::from_secs(1));
            commands = h.take_commands();
            if commands.is_empty() {
                return;
            }
        }
        for (name, offered) in agents {
            play_agent(h, name, offered.clone(), &commands);
        }
    }
    panic!("the cluster did not settle");
}

fn sized(name: &str, scale: i64, cpu: f64, mem: u64, ssd: bool) -> JobConfig {
    let mut config = job(name, scale, cpu, mem);
    if ssd {
        config.container.storage.volumes = Field::Present(
            [("/data".to_owned(), "/ssd".to_owned())]
                .into_iter()
                .collect(),
        );
    }
    config
}

/// Where each task of `new` went once scheduled (every create handed out,
/// answered as accepted and never confirmed, so that nothing else moves).
fn applied(h: &mut Harness, new: &JobConfig) -> BTreeMap<String, String> {
    h.schedule(new.clone());
    h.persist_all();
    let mut placed = BTreeMap::new();
    loop {
        let commands = h.take_commands();
        if commands.is_empty() {
            break;
        }
        for command in &commands {
            if command.container.as_str().starts_with(new.hash().as_str()) {
                placed.insert(command.container.to_string(), command.agent.to_string());
            }
            h.answer(command, Ok(()));
        }
    }
    placed
}

fn arbitrary_agent() -> impl Strategy<Value = (f64, u64, bool)> {
    (
        prop_oneof![Just(1.0), Just(2.0), Just(4.0), Just(8.0)],
        prop_oneof![Just(1024u64), Just(2048), Just(4096)],
        any::<bool>(),
    )
}

fn arbitrary_job() -> impl Strategy<Value = (i64, f64, u64, bool)> {
    (
        0i64..8,
        prop_oneof![Just(0.25), Just(0.5), Just(1.0), Just(2.0), Just(3.0)],
        prop_oneof![Just(128u64), Just(256), Just(512), Just(1024)],
        prop::bool::weighted(0.2),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// On random clusters and registries, the plan of a schedule is what
    /// the scheduler does when that schedule is then applied with nothing
    /// else happening, placement for placement (and unplaced for
    /// unplaced): for every algorithm, random-fit included, since the plan
    /// draws from a copy of the generator as it stands.
    #[test]
    fn the_plan_of_a_schedule_is_what_the_scheduler_then_does(
        algorithm in prop_oneof![
            Just(AlgorithmKind::LeastUsed),
            Just(AlgorithmKind::BinPack),
            Just(AlgorithmKind::Spread),
            Just(AlgorithmKind::RandomFit),
        ],
        seed in any::<u64>(),
        agents in proptest::collection::vec(arbitrary_agent(), 1..6),
        existing in proptest::collection::vec(arbitrary_job(), 0..4),
        new in arbitrary_job(),
        down in any::<bool>(),
    ) {
        let agents: Vec<(String, f64, u64, bool)> = agents
            .into_iter()
            .enumerate()
            .map(|(i, (cpu, mem, ssd))| (format!("a{i}"), cpu, mem, ssd))
            .collect();
        let jobs: Vec<JobConfig> = existing
            .iter()
            .enumerate()
            .map(|(i, &(scale, cpu, mem, ssd))| sized(&format!("old{i}"), scale, cpu, mem, ssd))
            .collect();
        let (mut h, _) = settled(algorithm, seed, &agents, jobs);
        if down {
            // An agent discovered after the start that never syncs.
            let mut names: Vec<&str> = agents.iter().map(|(name, ..)| name.as_str()).collect();
            names.push("z-down");
            h.discover(&names);
            h.take_commands();
        }
        let (scale, cpu, mem, ssd) = new;
        let new = sized("new", scale.max(1), cpu, mem, ssd);
        let index = h.scheduler.registry_sequence();
        let plan = h.scheduler.plan(PlanChange::Schedule(new.clone())).expect("a valid new job");
        prop_assert_eq!(plan.index, index);
        prop_assert!(h.take_commands().is_empty(), "a plan sends nothing");
        prop_assert!(h.take_persists().is_empty(), "a plan writes nothing");
        let planned: BTreeMap<String, String> = plan
            .tasks
            .iter()
            .filter_map(|task| match &task.outcome {
                TaskOutcome::Placed(agent) => Some((task.container.to_string(), agent.to_string())),
                _ => None,
            })
            .collect();
        let placed = applied(&mut h, &new);
        prop_assert_eq!(&planned, &placed, "plan {:?}", plan);
        for task in &plan.tasks {
            let unplaced = h.scheduler.unplaced_reason(&task.container).is_some();
            let planned_unplaced = matches!(task.outcome, TaskOutcome::Unplaced(_));
            prop_assert_eq!(planned_unplaced, unplaced, "{}", task.container);
            if let TaskOutcome::Unplaced(explanation) = &task.outcome {
                let ruled_out: u64 = explanation.ruled_out.values().sum();
                prop_assert_eq!(explanation.fit + ruled_out, explanation.evaluated);
                prop_assert_eq!(explanation.fit, 0);
                prop_assert_eq!(explanation.evaluated, agents.len() as u64 + u64::from(down));
            }
        }
        prop_assert_eq!(plan.tasks.len(), new.task_count() as usize);
    }
}

#[test]
fn a_plan_changes_nothing_and_names_the_durable_index() {
    let agents = [("a0".to_owned(), 2.0, 2048, false)];
    let (h, _) = settled(AlgorithmKind::LeastUsed, 1, &agents, vec![]);
    let before = format!("{:?}", h.scheduler);
    let plan = h
        .scheduler
        .plan(PlanChange::Schedule(job("web", 3, 1.0, 256)))
        .expect("plans");
    assert_eq!(before, format!("{:?}", h.scheduler), "nothing changed");
    assert_eq!(plan.index, 0);
    let outcomes: Vec<String> = plan
        .tasks
        .iter()
        .map(|task| match &task.outcome {
            TaskOutcome::Placed(agent) => format!("{} placed on {agent}", task.container),
            TaskOutcome::Unplaced(why) => format!("{} unplaced: {why}", task.container),
            other => format!("{} {other:?}", task.container),
        })
        .collect();
    let hash = job("web", 3, 1.0, 256).hash();
    assert_eq!(
        outcomes,
        [
            format!("{hash}-0 placed on a0"),
            format!("{hash}-1 placed on a0"),
            format!(
                "{hash}-2 unplaced: 1 agent evaluated: 1 lacked cpu; closest: a0 (needs 1.0 cpu, 0.0 free)"
            ),
        ]
    );
}

#[test]
fn a_plan_refuses_what_the_change_would_be_refused() {
    let agents = [("a0".to_owned(), 2.0, 2048, false)];
    let web = job("web", 1, 0.5, 256);
    let (h, _) = settled(AlgorithmKind::LeastUsed, 1, &agents, vec![web.clone()]);
    let refused = h
        .scheduler
        .plan(PlanChange::Schedule(web.clone()))
        .unwrap_err();
    assert_eq!(refused.status_code, 409);
    let refused = h
        .scheduler
        .plan(PlanChange::Schedule(job("", 1, 0.5, 256)))
        .unwrap_err();
    assert_eq!(refused.status_code, 400);
    let unknown = job("db", 1, 0.5, 256).hash();
    let refused = h
        .scheduler
        .plan(PlanChange::Unschedule(UnscheduleTarget::Hash(unknown)))
        .unwrap_err();
    assert_eq!(refused.status_code, 404);
}

#[test]
fn the_plan_of_an_unschedule_stops_and_removes_every_instance() {
    let agents = [
        ("a0".to_owned(), 2.0, 2048, false),
        ("a1".to_owned(), 2.0, 2048, false),
    ];
    let web = job("web", 2, 1.0, 256);
    let (h, _) = settled(AlgorithmKind::LeastUsed, 1, &agents, vec![web.clone()]);
    let plan = h
        .scheduler
        .plan(PlanChange::Unschedule(UnscheduleTarget::Config(
            web.clone(),
        )))
        .expect("plans");
    let removals: Vec<(String, Option<ContainerStatus>, bool)> = plan
        .removals
        .iter()
        .map(|r| (r.container.to_string(), r.status, r.stop_first))
        .collect();
    assert_eq!(
        removals,
        [
            (
                format!("{}-0", web.hash()),
                Some(ContainerStatus::Running),
                true
            ),
            (
                format!("{}-1", web.hash()),
                Some(ContainerStatus::Running),
                true
            ),
        ]
    );
    assert!(plan.tasks.is_empty());
}

/// `why` explains an unplaced task agent by agent, and once capacity
/// appears and the task is placed, the explanation is gone.
#[test]
fn why_explains_an_unplaced_task_until_capacity_appears() {
    let agents = [("a0".to_owned(), 1.0, 2048, false)];
    let web = job("web", 2, 1.0, 256);
    let (mut h, mut reported) = settled(AlgorithmKind::LeastUsed, 1, &agents, vec![web.clone()]);
    let why = h.scheduler.why(&web.hash()).expect("scheduled");
    assert_eq!(why.tasks.len(), 2);
    assert_eq!(why.tasks[0].to_string(), "running on a0");
    let explanation = why.tasks[1].unplaced.as_ref().expect("task 1 fits nowhere");
    assert_eq!(explanation.evaluated, 1);
    assert_eq!(explanation.ruled_out.get(&Constraint::Cpu), Some(&1));
    assert_eq!(
        why.tasks[1].to_string(),
        "unplaced: 1 agent evaluated: 1 lacked cpu; closest: a0 (needs 1.0 cpu, 0.0 free)"
    );
    assert_eq!(
        h.scheduler
            .unplaced_by_constraint()
            .iter()
            .find(|(l, _)| *l == "cpu"),
        Some(&("cpu", 1))
    );
    // Capacity appears: a second agent.
    h.discover(&["a0", "a1"]);
    let offered = resources(1.0, 2048);
    h.sync("a1", offered.clone(), vec![]);
    reported.push(("a1".to_owned(), offered));
    settle(&mut h, &reported);
    let why = h.scheduler.why(&web.hash()).expect("scheduled");
    assert!(
        why.tasks.iter().all(|task| task.unplaced.is_none()),
        "{why:?}"
    );
    assert_eq!(why.tasks[1].to_string(), "running on a1");
    assert_eq!(h.scheduler.unplaced_count(), 0);
    assert!(
        h.scheduler
            .unplaced_by_constraint()
            .iter()
            .all(|(_, n)| *n == 0)
    );
    assert!(h.scheduler.why(&job("db", 1, 1.0, 1).hash()).is_none());
    let _ = agent("a0");
}
