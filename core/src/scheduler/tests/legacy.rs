//! Containers that earlier versions of this scheduler named (after the
//! SHA-256 legacy hash of their job) are adopted as the tasks they stand
//! for, across restarts, and removed with their job.

use super::harness::*;
use crate::time::Duration;
use crate::wire::{ContainerId, ContainerStatus, HostResources, JobConfig};

fn settle(h: &mut Harness, agents: &[(&str, HostResources)]) {
    for _ in 0..100 {
        let commands = h.take_commands();
        if commands.is_empty() {
            return;
        }
        for (name, resources) in agents {
            play_agent(h, name, resources.clone(), &commands);
        }
    }
    panic!("commands never settled");
}

/// Task `index` of `job` as an earlier version named it.
fn legacy_task(job: &JobConfig, index: u32) -> ContainerId {
    job.legacy_hash().container_id(index)
}

/// A scheduler restarted on a registry holding `web` (scale 3), with agent
/// `a` running tasks 0 and 1 and agent `b` holding task 2 (`created`),
/// all under their legacy names.
fn restarted_on_legacy_tasks(web: &JobConfig) -> Harness {
    let mut h = Harness::new(config());
    h.start(vec![web.clone()], &["a", "b"]);
    let running = |i| {
        instance(
            &legacy_task(web, i),
            ContainerStatus::Running,
            &web.container,
        )
    };
    h.sync("a", resources(4.0, 4096), vec![running(0), running(1)]);
    h.sync(
        "b",
        resources(4.0, 4096),
        vec![instance(
            &legacy_task(web, 2),
            ContainerStatus::Created,
            &web.container,
        )],
    );
    h
}

#[test]
fn containers_an_earlier_version_named_are_adopted_not_replaced() {
    let web = job("web", 3, 0.5, 64);
    assert_ne!(web.hash(), web.legacy_hash());
    let mut h = restarted_on_legacy_tasks(&web);
    let agents = [("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))];
    settle(&mut h, &agents);
    h.advance(Duration::from_secs(120));
    settle(&mut h, &agents);
    // The task waiting in `created` is started, as its own would be;
    // nothing is created, stopped or removed.
    assert_eq!(
        h.issued_summary(),
        [format!("start {}@b", legacy_task(&web, 2))]
    );
}

#[test]
fn an_adopted_task_that_goes_is_placed_under_its_own_name() {
    let web = job("web", 3, 0.5, 64);
    let mut h = restarted_on_legacy_tasks(&web);
    let agents = [("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))];
    settle(&mut h, &agents);
    h.send_event(
        "a",
        resources(4.0, 4096),
        vec![instance(
            &legacy_task(&web, 1),
            ContainerStatus::Deleted,
            &web.container,
        )],
    );
    settle(&mut h, &agents);
    let own = web.hash().container_id(1);
    let issued = h.issued_summary();
    assert_eq!(issued.len(), 3, "{issued:?}");
    assert!(
        issued[1].starts_with(&format!("create {own}@")),
        "{issued:?}"
    );
    assert!(
        issued[2].starts_with(&format!("start {own}@")),
        "{issued:?}"
    );
}

#[test]
fn unscheduling_the_job_removes_its_adopted_containers() {
    let web = job("web", 3, 0.5, 64);
    let mut h = restarted_on_legacy_tasks(&web);
    let agents = [("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))];
    settle(&mut h, &agents);
    h.unschedule(web.hash());
    h.persist_all();
    settle(&mut h, &agents);
    assert!(h.known_instances().is_empty(), "{:?}", h.known_instances());
    let removals = h
        .issued_summary()
        .into_iter()
        .filter(|line| line.starts_with("stop") || line.starts_with("destroy"))
        .count();
    assert_eq!(removals, 6, "{:?}", h.issued_summary());
}

#[test]
fn under_both_names_the_own_is_kept_and_legacy_ones_beyond_the_scale_go() {
    let web = job("web", 2, 0.5, 64);
    let own = web.hash().container_id(0);
    let mut h = Harness::new(config());
    h.start(vec![web.clone()], &["a"]);
    let running = |id: &ContainerId| instance(id, ContainerStatus::Running, &web.container);
    h.sync(
        "a",
        resources(4.0, 4096),
        vec![
            running(&own),
            running(&legacy_task(&web, 0)),
            running(&legacy_task(&web, 1)),
            running(&legacy_task(&web, 2)),
        ],
    );
    let agents = [("a", resources(4.0, 4096))];
    settle(&mut h, &agents);
    let mut issued = h.issued_summary();
    issued.sort();
    assert_eq!(
        issued,
        [
            format!("destroy {}@a", legacy_task(&web, 0)),
            format!("destroy {}@a", legacy_task(&web, 2)),
            format!("stop {}@a", legacy_task(&web, 0)),
            format!("stop {}@a", legacy_task(&web, 2)),
        ]
    );
    let mut left: Vec<String> = h.known_instances().into_keys().collect();
    left.sort();
    let mut expected = vec![own.to_string(), legacy_task(&web, 1).to_string()];
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn a_job_scheduled_after_start_adopts_nothing() {
    // Only jobs of the registry an earlier version left are adopted for:
    // a container under the legacy name of a job scheduled since is a
    // leftover, and goes.
    let web = job("web", 1, 0.5, 64);
    let mut h = Harness::new(config());
    h.start(vec![], &["a"]);
    h.sync(
        "a",
        resources(4.0, 4096),
        vec![instance(
            &legacy_task(&web, 0),
            ContainerStatus::Running,
            &web.container,
        )],
    );
    let agents = [("a", resources(4.0, 4096))];
    settle(&mut h, &agents);
    h.schedule(web.clone());
    h.persist_all();
    settle(&mut h, &agents);
    let own = web.hash().container_id(0);
    let mut left: Vec<String> = h.known_instances().into_keys().collect();
    left.sort();
    assert_eq!(left, [own.to_string()]);
}
