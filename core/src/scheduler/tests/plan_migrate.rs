//! The plan of a migrate: its first step is what the scheduler then does,
//! and it refuses what the migrate refuses, alike.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::harness::{Harness, config, job, play_agent, resources};
use crate::Input;
use crate::algorithm::AlgorithmKind;
use crate::ids::RequestId;
use crate::rollout::{RolloutParams, Wanted};
use crate::scheduler::{PlanChange, SchedulerConfig, TaskOutcome, UnscheduleTarget};
use crate::time::Duration;
use crate::wire::{HostResources, JobConfig};

/// Agents (name, cpu, memory) synced with `jobs` loaded, left to settle:
/// every command answered and its status reported, until nothing moves.
fn settled(
    algorithm: AlgorithmKind,
    agents: &[(String, f64, u64)],
    jobs: Vec<JobConfig>,
) -> Harness {
    let mut h = Harness::new(SchedulerConfig {
        algorithm,
        ..config()
    });
    let names: Vec<&str> = agents.iter().map(|(name, ..)| name.as_str()).collect();
    h.start(jobs, &names);
    let reported: Vec<(String, HostResources)> = agents
        .iter()
        .map(|(name, cpu, mem)| (name.clone(), resources(*cpu, *mem)))
        .collect();
    for (name, offered) in &reported {
        h.sync(name, offered.clone(), vec![]);
    }
    for _ in 0..100 {
        let mut commands = h.take_commands();
        if commands.is_empty() {
            h.advance(Duration::from_secs(1));
            commands = h.take_commands();
            if commands.is_empty() {
                return h;
            }
        }
        for (name, offered) in &reported {
            play_agent(&mut h, name, offered.clone(), &commands);
        }
    }
    panic!("the cluster did not settle");
}

fn migrate_input(request: u64, from: &JobConfig, to: &JobConfig, params: &RolloutParams) -> Input {
    Input::Migrate {
        request: RequestId(request),
        from: UnscheduleTarget::Hash(from.hash()),
        to: to.clone(),
        params: params.clone(),
        index: None,
    }
}

/// What the scheduler does once the migrate is durable and its first step
/// taken, with nothing else happening: each new task's agent, and each old
/// container sent a stop or destroy (commands answered as accepted and
/// never confirmed, so that nothing moves on).
#[allow(clippy::type_complexity)]
fn applied(
    h: &mut Harness,
    from: &JobConfig,
    to: &JobConfig,
    params: &RolloutParams,
) -> (BTreeMap<String, String>, BTreeSet<(String, String)>, Wanted) {
    h.input(migrate_input(1, from, to, params));
    h.persist_all();
    let mut placed = BTreeMap::new();
    let mut stopped = BTreeSet::new();
    loop {
        let commands = h.take_commands();
        if commands.is_empty() {
            break;
        }
        for command in &commands {
            let container = command.container.to_string();
            if container.starts_with(to.hash().as_str()) {
                placed.insert(container, command.agent.to_string());
            } else if container.starts_with(from.hash().as_str()) {
                stopped.insert((container, command.agent.to_string()));
            }
            h.answer(command, Ok(()));
        }
        h.persist_all();
    }
    let wanted = h
        .scheduler
        .rollouts()
        .next()
        .expect("the rollout")
        .rollout
        .wanted;
    (placed, stopped, wanted)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// On random clusters, scales and bounds, the planned first step of a
    /// migrate is what the scheduler does when the migrate is then applied
    /// with nothing else happening: the same counts, the same placements
    /// (and unplaced tasks), the same old containers stopped.
    #[test]
    fn the_plan_of_a_migrate_is_the_first_step_the_scheduler_then_takes(
        algorithm in prop_oneof![
            Just(AlgorithmKind::LeastUsed),
            Just(AlgorithmKind::BinPack),
            Just(AlgorithmKind::Spread),
        ],
        agents in proptest::collection::vec(
            (prop_oneof![Just(1.0), Just(2.0), Just(4.0)], prop_oneof![Just(1024u64), Just(4096)]),
            1..5,
        ),
        from_scale in 1i64..6,
        to_scale in 1i64..6,
        cpu in prop_oneof![Just(0.25), Just(0.5), Just(1.0), Just(2.0)],
        max_surge in 0u32..3,
        max_unavailable in 0u32..3,
    ) {
        prop_assume!(max_surge + max_unavailable > 0);
        let agents: Vec<(String, f64, u64)> = agents
            .into_iter()
            .enumerate()
            .map(|(i, (cpu, mem))| (format!("a{i}"), cpu, mem))
            .collect();
        let (web, web2) = (job("web", from_scale, cpu, 256), job("web2", to_scale, cpu, 256));
        let mut h = settled(algorithm, &agents, vec![web.clone()]);
        let params = RolloutParams { max_surge, max_unavailable, ..RolloutParams::default() };
        let before = format!("{:?}", h.scheduler);
        let plan = h
            .scheduler
            .plan(PlanChange::Migrate { from: UnscheduleTarget::Hash(web.hash()), to: web2.clone(), params: params.clone() })
            .expect("a valid migrate");
        prop_assert_eq!(before, format!("{:?}", h.scheduler), "a plan changes nothing");
        let step = plan.rollout.clone().expect("a migrate's plan has a step");
        prop_assert_eq!(plan.tasks.len(), step.wanted.to as usize);
        let planned: BTreeMap<String, String> = plan
            .tasks
            .iter()
            .filter_map(|task| match &task.outcome {
                TaskOutcome::Placed(agent) => Some((task.container.to_string(), agent.to_string())),
                _ => None,
            })
            .collect();
        let planned_stops: BTreeSet<(String, String)> = plan
            .removals
            .iter()
            .map(|removal| (removal.container.to_string(), removal.agent.to_string()))
            .collect();
        let (placed, stopped, wanted) = applied(&mut h, &web, &web2, &params);
        prop_assert_eq!(step.wanted, wanted, "plan {:?}", plan);
        prop_assert_eq!(&planned, &placed, "plan {:?}", plan);
        prop_assert_eq!(&planned_stops, &stopped, "plan {:?}", plan);
        for task in &plan.tasks {
            let unplaced = h.scheduler.unplaced_reason(&task.container).is_some();
            prop_assert_eq!(matches!(task.outcome, TaskOutcome::Unplaced(_)), unplaced, "{}", task.container);
        }
    }
}

#[test]
fn the_first_step_surges_by_max_surge_and_stops_nothing_while_none_is_healthy() {
    let agents = [("a0".to_owned(), 4.0, 4096), ("a1".to_owned(), 4.0, 4096)];
    let (web, web2) = (job("web", 3, 0.5, 256), job("web2", 3, 0.5, 256));
    let h = settled(AlgorithmKind::LeastUsed, &agents, vec![web.clone()]);
    let params = RolloutParams {
        max_surge: 2,
        ..RolloutParams::default()
    };
    let plan = h
        .scheduler
        .plan(PlanChange::Migrate {
            from: UnscheduleTarget::Config(web.clone()),
            to: web2.clone(),
            params,
        })
        .expect("plans");
    let step = plan.rollout.expect("a step");
    assert_eq!((step.ceiling, step.floor), (5, 3));
    assert_eq!((step.from_running, step.from_present), (3, 3));
    assert_eq!(step.wanted, Wanted { from: 3, to: 2 });
    assert_eq!(step.waiting, None);
    assert_eq!(plan.hash, web2.hash());
    assert_eq!(step.from, web.hash());
    assert!(plan.removals.is_empty(), "no new task is healthy yet");
    let placed: Vec<bool> = plan
        .tasks
        .iter()
        .map(|task| matches!(task.outcome, TaskOutcome::Placed(_)))
        .collect();
    assert_eq!(placed, [true, true]);
}

#[test]
fn a_first_step_without_room_to_surge_stops_an_old_task_and_places_nothing_yet() {
    let agents = [("a0".to_owned(), 4.0, 4096)];
    let (web, web2) = (job("web", 2, 0.5, 256), job("web2", 2, 0.5, 256));
    let h = settled(AlgorithmKind::LeastUsed, &agents, vec![web.clone()]);
    let params = RolloutParams {
        max_surge: 0,
        max_unavailable: 1,
        ..RolloutParams::default()
    };
    let plan = h
        .scheduler
        .plan(PlanChange::Migrate {
            from: UnscheduleTarget::Hash(web.hash()),
            to: web2.clone(),
            params,
        })
        .expect("plans");
    let step = plan.rollout.expect("a step");
    // One old task may stop first (max_unavailable 1); its instance still
    // counts towards the ceiling until it is gone, so no new task yet.
    assert_eq!(step.wanted, Wanted { from: 1, to: 0 });
    assert_eq!((step.ceiling, step.floor), (2, 1));
    assert!(plan.tasks.is_empty());
    assert_eq!(plan.removals.len(), 1);
    assert_eq!(plan.removals[0].container, web.hash().container_id(1));
    assert!(plan.removals[0].stop_first, "it runs");
}

/// A plan of a migrate refuses exactly what the migrate refuses, with the
/// same status and message.
#[test]
fn a_plan_of_a_migrate_refuses_what_the_migrate_refuses_alike() {
    let agents = [("a0".to_owned(), 4.0, 4096)];
    let (web, web2, db) = (
        job("web", 2, 0.5, 256),
        job("web2", 2, 0.5, 256),
        job("db", 1, 0.5, 256),
    );
    let mut h = settled(
        AlgorithmKind::LeastUsed,
        &agents,
        vec![web.clone(), db.clone()],
    );
    let bad_bounds = RolloutParams {
        max_surge: 0,
        max_unavailable: 0,
        min_healthy_ms: 60_000,
        progress_deadline_ms: 30_000,
        auto_revert: true,
    };
    let unknown = job("nope", 1, 0.5, 256);
    let cases: Vec<(JobConfig, JobConfig, RolloutParams)> = vec![
        (web.clone(), web2.clone(), bad_bounds),
        (web.clone(), job("", 1, 0.5, 256), RolloutParams::default()),
        (web.clone(), web.clone(), RolloutParams::default()),
        (unknown, web2.clone(), RolloutParams::default()),
        (web.clone(), db.clone(), RolloutParams::default()),
    ];
    let mut request = 10;
    for (from, to, params) in cases {
        let refused = h
            .scheduler
            .plan(PlanChange::Migrate {
                from: UnscheduleTarget::Hash(from.hash()),
                to: to.clone(),
                params: params.clone(),
            })
            .expect_err("refused");
        request += 1;
        h.input(migrate_input(request, &from, &to, &params));
        h.persist_all();
        let replies = h.take_replies();
        assert_eq!(replies.len(), 1);
        assert_eq!(
            (refused.status_code, &refused.msg),
            (replies[0].1.status_code, &replies[0].1.msg)
        );
    }
    // A job held by a rollout already: 409 from both.
    h.input(migrate_input(1, &web, &web2, &RolloutParams::default()));
    h.persist_all();
    h.take_replies();
    let web3 = job("web3", 2, 0.5, 256);
    let refused = h
        .scheduler
        .plan(PlanChange::Migrate {
            from: UnscheduleTarget::Hash(web.hash()),
            to: web3.clone(),
            params: RolloutParams::default(),
        })
        .expect_err("held");
    h.input(migrate_input(2, &web, &web3, &RolloutParams::default()));
    h.persist_all();
    let replies = h.take_replies();
    assert_eq!(refused.status_code, 409);
    assert_eq!(
        (refused.status_code, &refused.msg),
        (replies[0].1.status_code, &replies[0].1.msg)
    );
}

/// Migrate takes check-and-set like schedule: at the plan's index it is
/// accepted, after another change it is refused 409 naming the index now.
#[test]
fn a_migrate_at_a_stale_index_is_refused_and_at_the_current_one_accepted() {
    let agents = [("a0".to_owned(), 4.0, 4096)];
    let (web, web2) = (job("web", 2, 0.5, 256), job("web2", 2, 0.5, 256));
    let mut h = settled(AlgorithmKind::LeastUsed, &agents, vec![web.clone()]);
    let plan = h
        .scheduler
        .plan(PlanChange::Migrate {
            from: UnscheduleTarget::Hash(web.hash()),
            to: web2.clone(),
            params: RolloutParams::default(),
        })
        .expect("plans");
    let at = |index: u64, request: u64| Input::Migrate {
        request: RequestId(request),
        from: UnscheduleTarget::Hash(web.hash()),
        to: web2.clone(),
        params: RolloutParams::default(),
        index: Some(index),
    };
    h.schedule(job("db", 1, 0.5, 256));
    h.persist_all();
    h.take_replies();
    h.input(at(plan.index, 1));
    h.persist_all();
    let replies = h.take_replies();
    assert_eq!(replies[0].1.status_code, 409, "{:?}", replies[0].1);
    let now = h.scheduler.registry_index();
    assert!(
        replies[0].1.msg.contains(&format!("index {now} now")),
        "{:?}",
        replies[0].1
    );
    assert!(h.scheduler.rollouts().next().is_none(), "nothing changed");
    h.input(at(now, 2));
    h.persist_all();
    assert_eq!(h.take_replies()[0].1.status_code, 202);
    assert_eq!(h.scheduler.rollouts().count(), 1);
}
