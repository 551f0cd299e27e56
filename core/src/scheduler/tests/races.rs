//! Scripted races between the scheduler, its agents and time.

use super::harness::*;
use crate::scheduler::{CommandAction, CommandError};
use crate::time::Duration;
use crate::wire::{ContainerStatus, HostResources};

/// Plays every agent in `agents` until no command is outstanding; returns
/// every command issued meanwhile.
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

fn started(agents: &[&str]) -> Harness {
    let mut h = Harness::new(config());
    h.start(vec![], agents);
    for name in agents {
        h.sync(name, resources(4.0, 4096), vec![]);
    }
    h
}

fn schedule_durably(h: &mut Harness, job: crate::wire::JobConfig) {
    h.schedule(job);
    h.persist_all();
    h.take_replies();
}

#[test]
fn schedule_then_unschedule_runs_then_removes_every_task() {
    let mut h = started(&["a", "b"]);
    let agents = [("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))];
    let web = job("web", 4, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    settle(&mut h, &agents);
    let known = h.known_instances();
    assert_eq!(known.len(), 4);
    assert!(known.values().all(|agents| agents.len() == 1));
    assert_eq!(
        h.issued_summary()
            .iter()
            .filter(|line| line.starts_with("start"))
            .count(),
        4
    );
    h.unschedule(web.hash());
    h.persist_all();
    settle(&mut h, &agents);
    assert!(h.known_instances().is_empty(), "{:?}", h.known_instances());
    insta::assert_snapshot!(h.issued_summary().join("\n"));
}

#[test]
fn a_lost_start_is_reissued_after_the_pending_timeout() {
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    let create = h.take_commands().remove(0);
    play_agent(&mut h, "a", resources(4.0, 4096), &[create]);
    let start = h.take_commands().remove(0);
    assert!(matches!(start.action, CommandAction::Start));
    // The agent accepts the start, but the process never comes up: the
    // instance stays in `created`.
    h.answer(&start, Ok(()));
    h.advance(Duration::from_secs(19));
    assert!(
        h.take_commands().is_empty(),
        "no reissue before the pending timeout"
    );
    h.advance(Duration::from_secs(2));
    let again = h.take_commands();
    assert_eq!(again.len(), 1, "{:?}", again);
    assert!(matches!(again[0].action, CommandAction::Start));
    // Over ten minutes of lost starts, back-off keeps the count low.
    for _ in 0..60 {
        for command in h.take_commands() {
            h.answer(&command, Ok(()));
        }
        h.advance(Duration::from_secs(10));
    }
    let starts = h
        .issued_summary()
        .iter()
        .filter(|l| l.starts_with("start"))
        .count();
    assert!(starts <= 20, "{starts} starts in ten minutes");
}

#[test]
fn an_agent_back_before_the_abandon_timeout_moves_nothing() {
    let mut h = started(&["a", "b"]);
    let agents = [("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))];
    let web = job("web", 2, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    settle(&mut h, &agents);
    let before = h.issued.len();
    let running_on_a: Vec<_> = h
        .scheduler
        .agents()
        .find(|v| v.id.as_str() == "a")
        .unwrap()
        .containers()
        .map(|c| c.id().clone())
        .collect();
    assert_eq!(running_on_a.len(), 1);
    h.close_stream("a");
    h.advance(Duration::from_secs(15));
    // Reconnect attempts were made; the agent answers with what it runs.
    assert!(
        h.log
            .iter()
            .filter(|o| matches!(o, crate::Output::OpenStream { .. }))
            .count()
            >= 3
    );
    let instances = running_on_a
        .iter()
        .map(|id| instance(id, ContainerStatus::Running, &web.container))
        .collect();
    h.sync("a", resources(4.0, 4096), instances);
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.issued.len(),
        before,
        "nothing moved: {:?}",
        &h.issued_summary()[before..]
    );
}

#[test]
fn an_agent_lost_past_the_abandon_timeout_has_its_tasks_moved_and_duplicates_removed_on_return() {
    let mut h = started(&["a", "b"]);
    let agents = [("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))];
    let web = job("web", 2, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    settle(&mut h, &agents);
    let on_a: Vec<_> = h
        .scheduler
        .agents()
        .find(|v| v.id.as_str() == "a")
        .unwrap()
        .containers()
        .map(|c| c.id().clone())
        .collect();
    h.close_stream("a");
    h.advance(Duration::from_secs(21));
    let moved = h.take_commands();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].agent.as_str(), "b");
    assert_eq!(moved[0].container, on_a[0]);
    play_agent(&mut h, "b", resources(4.0, 4096), &moved);
    settle(&mut h, &[("b", resources(4.0, 4096))]);
    // The agent returns with its old container still running.
    let old = vec![instance(&on_a[0], ContainerStatus::Running, &web.container)];
    h.sync("a", resources(4.0, 4096), old);
    let removal = h.take_commands();
    assert_eq!(
        removal.len(),
        1,
        "exactly one duplicate removed: {removal:?}"
    );
    assert!(matches!(removal[0].action, CommandAction::Stop));
    play_agent(
        &mut h,
        removal[0].agent.as_str(),
        resources(4.0, 4096),
        &removal,
    );
    settle(&mut h, &agents);
    let known = h.known_instances();
    assert_eq!(known.len(), 2);
    assert!(known.values().all(|a| a.len() == 1), "{known:?}");
}

#[test]
fn a_duplicate_on_two_agents_keeps_exactly_one() {
    let mut h = Harness::new(config());
    let web = job("web", 1, 0.5, 64);
    let id = web.hash().container_id(0);
    h.start(vec![web.clone()], &["a", "b"]);
    h.sync(
        "a",
        resources(4.0, 4096),
        vec![instance(&id, ContainerStatus::Running, &web.container)],
    );
    h.sync(
        "b",
        resources(4.0, 4096),
        vec![instance(&id, ContainerStatus::Running, &web.container)],
    );
    let commands = h.take_commands();
    assert_eq!(
        commands.iter().map(summary).collect::<Vec<_>>(),
        vec![format!("stop {id}@b")]
    );
    play_agent(&mut h, "b", resources(4.0, 4096), &commands);
    settle(
        &mut h,
        &[("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))],
    );
    assert_eq!(h.known_instances()[id.as_str()], vec!["a".to_owned()]);
}

#[test]
fn a_failing_start_backs_off() {
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    schedule_durably(&mut h, web);
    let create = h.take_commands();
    play_agent(&mut h, "a", resources(4.0, 4096), &create);
    // Every start fails with a server error for two minutes.
    for _ in 0..1200 {
        for command in h.take_commands() {
            assert!(matches!(command.action, CommandAction::Start));
            h.answer(
                &command,
                Err(CommandError::ServerError("exec: no such file".into())),
            );
        }
        h.advance(Duration::from_millis(100));
    }
    let starts = h
        .issued_summary()
        .iter()
        .filter(|l| l.starts_with("start"))
        .count();
    // 1s, 2s, 4s, ... capped at 60s (with jitter): about eight in two minutes.
    assert!((4..=12).contains(&starts), "{starts} starts in two minutes");
}

#[test]
fn an_unschedule_during_failing_starts_removes_the_task_promptly() {
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    let create = h.take_commands();
    play_agent(&mut h, "a", resources(4.0, 4096), &create);
    for _ in 0..300 {
        for command in h.take_commands() {
            h.answer(
                &command,
                Err(CommandError::ServerError("exec: no such file".into())),
            );
        }
        h.advance(Duration::from_millis(100));
    }
    h.unschedule(web.hash());
    h.persist_all();
    let commands = h.take_commands();
    assert_eq!(
        commands.iter().map(summary).collect::<Vec<_>>(),
        vec![format!("destroy {}@a", web.hash().container_id(0))]
    );
}

#[test]
fn an_unschedule_supersedes_an_accepted_start() {
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    let create = h.take_commands();
    play_agent(&mut h, "a", resources(4.0, 4096), &create);
    let start = h.take_commands().remove(0);
    h.answer(&start, Ok(()));
    h.unschedule(web.hash());
    h.persist_all();
    let commands = h.take_commands();
    assert_eq!(
        commands.iter().map(summary).collect::<Vec<_>>(),
        vec![format!("stop {}@a", web.hash().container_id(0))]
    );
}

#[test]
fn after_a_restart_nothing_is_placed_until_every_agent_synced_or_was_abandoned() {
    let web = job("web", 3, 0.5, 64);
    let ids: Vec<_> = (0..3).map(|i| web.hash().container_id(i)).collect();
    let mut h = Harness::new(config());
    h.start(vec![web.clone()], &["a", "b", "c"]);
    h.sync(
        "a",
        resources(4.0, 4096),
        vec![instance(&ids[0], ContainerStatus::Running, &web.container)],
    );
    h.sync(
        "b",
        resources(4.0, 4096),
        vec![instance(&ids[1], ContainerStatus::Running, &web.container)],
    );
    h.advance(Duration::from_secs(5));
    assert!(
        h.take_commands().is_empty(),
        "c has not reported: placing now could duplicate its task"
    );
    h.sync(
        "c",
        resources(4.0, 4096),
        vec![instance(&ids[2], ContainerStatus::Running, &web.container)],
    );
    h.advance(Duration::from_secs(60));
    assert!(
        h.issued.is_empty(),
        "every task was already running: {:?}",
        h.issued_summary()
    );
}

#[test]
fn after_a_restart_an_agent_that_never_answers_is_abandoned_then_its_tasks_move() {
    let web = job("web", 2, 0.5, 64);
    let ids: Vec<_> = (0..2).map(|i| web.hash().container_id(i)).collect();
    let mut h = Harness::new(config());
    h.start(vec![web.clone()], &["a", "b"]);
    h.sync(
        "a",
        resources(4.0, 4096),
        vec![instance(&ids[0], ContainerStatus::Running, &web.container)],
    );
    for _ in 0..19 {
        h.advance(Duration::from_secs(1));
        let early: Vec<_> = h.take_commands().iter().map(summary).collect();
        assert!(early.is_empty(), "placed before b was abandoned: {early:?}");
        // b's stream attempts all fail.
        h.close_stream("b");
    }
    h.advance(Duration::from_secs(2));
    let commands = h.take_commands();
    assert_eq!(
        commands.iter().map(summary).collect::<Vec<_>>(),
        vec![format!("create {}@a", ids[1])]
    );
}

#[test]
fn a_silent_stream_counts_as_broken() {
    let mut h = started(&["a"]);
    h.mute("a");
    h.advance(Duration::from_secs(14));
    assert!(
        !h.log
            .iter()
            .any(|o| matches!(o, crate::Output::CloseStream { .. }))
    );
    h.advance(Duration::from_secs(2));
    assert!(
        h.log
            .iter()
            .any(|o| matches!(o, crate::Output::CloseStream { .. })),
        "15s of silence closes the stream"
    );
    assert_eq!(h.scheduler.metrics().agent_connections_lost, 1);
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    fn run() -> String {
        let mut h = started(&["a", "b", "c"]);
        let agents = [
            ("a", resources(4.0, 4096)),
            ("b", resources(4.0, 4096)),
            ("c", resources(2.0, 1024)),
        ];
        schedule_durably(&mut h, job("web", 7, 0.5, 64));
        schedule_durably(&mut h, job("db", 2, 1.0, 512));
        settle(&mut h, &agents);
        h.close_stream("b");
        h.advance(Duration::from_secs(30));
        settle(&mut h, &agents);
        format!("{:?}", h.log)
    }
    assert_eq!(run(), run());
}

#[test]
fn commands_per_reconcile_are_bounded_and_the_rest_follow_at_once() {
    let mut h = Harness::new(crate::SchedulerConfig {
        max_commands_per_reconcile: 10,
        max_commands_in_flight_per_agent: 100,
        ..config()
    });
    h.start(vec![], &["a"]);
    h.sync("a", resources(64.0, 65536), vec![]);
    h.schedule(job("web", 25, 0.1, 16));
    h.persist_all();
    assert_eq!(
        h.take_commands().len(),
        10,
        "one reconcile issues at most 10"
    );
    let (deadline, reason) = h.scheduler.poll_timeout().expect("always a deadline");
    assert_eq!(
        (deadline, reason.clone()),
        (h.now, crate::TimerReason::ContinueReconcile)
    );
    h.input(crate::Input::TimePassed);
    h.input(crate::Input::TimePassed);
    let creates: Vec<_> = h.issued.clone();
    let ids: std::collections::BTreeSet<_> = creates.iter().map(|c| c.container.clone()).collect();
    assert_eq!(ids.len(), 25, "no task placed twice");
}

#[test]
fn no_second_command_while_the_first_is_unanswered_even_if_confirmed() {
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    let create = h.take_commands().remove(0);
    // The stream confirms the create before its answer arrives.
    h.send_event(
        "a",
        resources(4.0, 4096),
        vec![instance(
            &create.container,
            ContainerStatus::Created,
            &web.container,
        )],
    );
    h.advance(Duration::from_secs(5));
    assert!(
        h.take_commands().is_empty(),
        "the start waits for the create's answer"
    );
    h.answer(&create, Ok(()));
    let start = h.take_commands();
    assert_eq!(
        start.iter().map(summary).collect::<Vec<_>>(),
        vec![format!("start {}@a", create.container)]
    );
}

#[test]
fn an_instance_that_could_not_start_counts_as_present() {
    // As in the original: the agent's restart policy, not the scheduler,
    // restarts processes; a task whose start failed is present (`failed`,
    // with `err`), and is neither replaced nor started again.
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    let id = web.hash().container_id(0);
    schedule_durably(&mut h, web.clone());
    let create = h.take_commands();
    play_agent(&mut h, "a", resources(4.0, 4096), &create);
    let start = h.take_commands().remove(0);
    h.answer(
        &start,
        Err(CommandError::ServerError("exec: no such file".into())),
    );
    let mut failed = instance(&id, ContainerStatus::Failed, &web.container);
    failed.process_state.err = Some("exec: no such file".into());
    h.send_event("a", resources(4.0, 4096), vec![failed]);
    h.advance(Duration::from_secs(300));
    assert_eq!(h.issued.len(), 2, "{:?}", h.issued_summary());
}

#[test]
fn a_burst_larger_than_the_command_budget_is_placed_in_one_placement_order() {
    let mut config = config();
    config.max_commands_per_reconcile = 2;
    let mut h = Harness::new(config);
    // By hash, the small job's tasks come first; placement order puts the
    // large ones first, across every reconcile the budget splits the burst
    // into, not only within each. (Both of the same mix of cpu and
    // memory, so that order is by size alone.)
    let small = job("aaa", 3, 0.1, 100);
    let large = job("zzz", 3, 1.0, 1000);
    h.start(vec![small.clone(), large.clone()], &["a"]);
    h.sync("a", resources(16.0, 16384), vec![]);
    assert_eq!(h.take_commands().len(), 2, "the budget holds per reconcile");
    h.advance(Duration::from_millis(1));
    let creates: Vec<String> = h
        .issued
        .iter()
        .filter(|command| matches!(command.action, CommandAction::Create(_)))
        .map(|command| command.container.to_string())
        .collect();
    let expected: Vec<String> = (0..3)
        .map(|index| large.hash().container_id(index).to_string())
        .chain((0..3).map(|index| small.hash().container_id(index).to_string()))
        .collect();
    assert_eq!(creates, expected);
}

#[test]
fn reconnects_do_not_grow_the_timers() {
    let mut h = started(&["a"]);
    h.advance(Duration::from_secs(1));
    let before = h.scheduler.occupancy().timers;
    for _ in 0..20 {
        h.close_stream("a");
        h.advance(Duration::from_secs(11));
        h.sync("a", resources(4.0, 4096), vec![]);
        h.advance(Duration::from_secs(1));
    }
    assert!(
        h.scheduler.occupancy().timers <= before + 1,
        "{} timers live after 20 reconnects, {before} before",
        h.scheduler.occupancy().timers
    );
}

#[test]
fn commands_beyond_an_agents_limit_wait_in_the_core_and_are_never_reissued_meanwhile() {
    let mut h = Harness::new(crate::SchedulerConfig {
        max_commands_in_flight_per_agent: 2,
        ..config()
    });
    h.start(vec![], &["a"]);
    h.sync("a", resources(64.0, 65536), vec![]);
    schedule_durably(&mut h, job("web", 5, 0.1, 16));
    let first = h.take_commands();
    assert_eq!(first.len(), 2, "two in flight at most: {first:?}");
    assert_eq!(h.scheduler.occupancy().commands_waiting, 3);
    // The agent is slow to answer: time queued behind the limit must not
    // count against the waiting commands' pending timeouts.
    h.advance(Duration::from_secs(15));
    assert!(h.take_commands().is_empty());
    for command in &first {
        h.answer(command, Ok(()));
    }
    let next = h.take_commands();
    assert_eq!(next.len(), 2, "each answer hands out the next: {next:?}");
    h.advance(Duration::from_secs(10));
    let creates: Vec<String> = h
        .issued_summary()
        .into_iter()
        .filter(|line| line.starts_with("create"))
        .collect();
    let distinct: std::collections::BTreeSet<&String> = creates.iter().collect();
    assert_eq!(
        creates.len(),
        distinct.len(),
        "a waiting create was reissued: {creates:?}"
    );
    assert!(h.scheduler.occupancy().within_bounds(2).is_empty());
}

#[test]
fn a_stream_that_breaks_after_each_first_event_backs_off_and_its_pending_commands_time_out() {
    let mut h = started(&["a", "b"]);
    h.advance(Duration::from_secs(1));
    schedule_durably(&mut h, job("web", 1, 0.5, 64));
    let create = h.take_commands().remove(0);
    let flapping = create.agent.as_str().to_owned();
    h.answer(&create, Ok(()));
    // From now on the agent's stream breaks right after each first event,
    // which never lists the container (still being prepared).
    let opened_before = h.scheduler.metrics().agent_connections_opened;
    for _ in 0..90 {
        h.close_stream(&flapping);
        h.advance(Duration::from_millis(100));
        if let Some((deadline, _)) = h.scheduler.poll_timeout() {
            h.now = h.now.max(deadline);
            h.input(crate::Input::TimePassed);
        }
        h.sync(&flapping, resources(4.0, 4096), vec![]);
        for command in h.take_commands() {
            h.answer(&command, Ok(()));
        }
    }
    let opened = h.scheduler.metrics().agent_connections_opened - opened_before;
    assert!(h.now.as_millis() >= 60_000, "ran for {}", h.now);
    let per_second = opened as f64 / (h.now.as_millis() as f64 / 1000.0);
    assert!(
        per_second < 1.0,
        "{opened} reconnects in {}: the back-off must grow while the stream flaps",
        h.now
    );
    let other = if flapping == "a" { "b" } else { "a" };
    assert!(
        h.issued_summary()
            .iter()
            .any(|line| line.starts_with("create") && line.ends_with(&format!("@{other}"))),
        "the unconfirmed create timed out and the task went to {other}: {:?}",
        h.issued_summary()
    );
}

/// How a broken agent treats every command sent to it.
#[derive(Clone, Copy)]
enum Broken {
    /// Answers 500.
    Fails,
    /// Accepts, and its stream never confirms.
    NeverConfirms,
}

/// Runs `a` broken as `how` and `b` healthy, with a job of ten tasks, for
/// `seconds`; returns the harness and whether `/metrics` would have shown
/// an avoided agent meanwhile.
fn broken_and_healthy(how: Broken, seconds: u64) -> (Harness, bool) {
    let mut h = started(&["a", "b"]);
    let mut avoided = false;
    schedule_durably(&mut h, job("web", 10, 0.1, 64));
    for _ in 0..seconds * 10 {
        let commands = h.take_commands();
        for command in commands.iter().filter(|c| c.agent.as_str() == "a") {
            match how {
                Broken::Fails => h.answer(command, Err(CommandError::ServerError("boom".into()))),
                Broken::NeverConfirms => h.answer(command, Ok(())),
            }
        }
        play_agent(&mut h, "b", resources(4.0, 4096), &commands);
        h.advance(Duration::from_millis(100));
        avoided |= h.scheduler.gauges().agents_avoided == 1;
    }
    (h, avoided)
}

fn running_on(h: &Harness, name: &str) -> usize {
    h.scheduler
        .agent(&agent(name))
        .map(|view| {
            view.containers()
                .filter(|c| c.status() == Some(ContainerStatus::Running))
                .count()
        })
        .unwrap_or(0)
}

fn creates_to(h: &Harness, name: &str) -> usize {
    h.issued_summary()
        .iter()
        .filter(|line| line.starts_with("create") && line.ends_with(&format!("@{name}")))
        .count()
}

fn traces(h: &Harness, subject: &str) -> Vec<String> {
    h.log
        .iter()
        .filter_map(|output| match output {
            crate::Output::Trace(trace) if trace.subject == subject => Some(trace.message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_agent_that_fails_every_command_is_avoided_and_its_tasks_run_elsewhere() {
    // Least-used always prefers the broken agent: its failed creates leave
    // it with the fewest containers.
    let (h, avoided) = broken_and_healthy(Broken::Fails, 30);
    assert_eq!(running_on(&h, "b"), 10, "{:?}", h.issued_summary());
    assert!(
        creates_to(&h, "a") <= 12,
        "{} creates to the broken agent in 30 s",
        creates_to(&h, "a")
    );
    assert!(avoided, "the gauge showed the avoided agent");
    let lines = traces(&h, "a");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("avoided for placement after 3 failed")),
        "{lines:?}"
    );
}

#[test]
fn an_agent_that_never_confirms_is_avoided_and_its_tasks_run_elsewhere() {
    // Creates time out after the pending timeout (20 s), then the tasks
    // back off before they are placed again.
    let (h, avoided) = broken_and_healthy(Broken::NeverConfirms, 60);
    assert_eq!(running_on(&h, "b"), 10, "{:?}", h.issued_summary());
    assert!(creates_to(&h, "a") <= 12, "{:?}", h.issued_summary());
    assert!(avoided, "the gauge showed the avoided agent");
}

#[test]
fn an_avoided_agent_is_tried_again_on_probation_and_a_confirmation_clears_it() {
    let (mut h, _) = broken_and_healthy(Broken::Fails, 2);
    assert_eq!(h.scheduler.gauges().agents_avoided, 1);
    // The first avoidance lasts 5-10 s; afterwards placement may use `a`
    // again, and a confirmed command clears its record.
    h.advance(Duration::from_secs(10));
    assert_eq!(h.scheduler.gauges().agents_avoided, 0);
    let more = job("more", 20, 0.1, 64);
    schedule_durably(&mut h, more);
    settle(
        &mut h,
        &[("a", resources(4.0, 4096)), ("b", resources(4.0, 4096))],
    );
    assert!(running_on(&h, "a") > 0, "{:?}", h.issued_summary());
    let a = h.scheduler.agent(&agent("a")).expect("a");
    assert_eq!(a.command_failures(), 0);
    let lines = traces(&h, "a");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("avoidance for placement over")),
        "{lines:?}"
    );
}

#[test]
fn an_unplaced_task_says_when_agents_are_avoided() {
    let mut h = started(&["a"]);
    schedule_durably(&mut h, job("web", 1, 0.1, 64));
    let id = job("web", 1, 0.1, 64).hash().container_id(0);
    for _ in 0..100 {
        for command in h.take_commands() {
            h.answer(&command, Err(CommandError::ServerError("boom".into())));
        }
        h.advance(Duration::from_millis(100));
    }
    let reason = h.scheduler.unplaced_reason(&id).expect("unplaced");
    assert_eq!(
        reason.reason,
        "no agents are available; 1 agent avoided after failing commands"
    );
}

#[test]
fn an_unconfirmed_stop_is_reissued_with_a_growing_back_off() {
    // An agent reports a container nobody scheduled, accepts every stop
    // and never stops it.
    let mut h = started(&["a"]);
    let stray = crate::wire::ContainerId::new("stray-1");
    h.send_event(
        "a",
        resources(4.0, 4096),
        vec![instance(
            &stray,
            ContainerStatus::Running,
            &job("stray", 1, 0.1, 64).container,
        )],
    );
    for _ in 0..600 {
        for command in h.take_commands() {
            h.answer(&command, Ok(()));
        }
        h.advance(Duration::from_secs(1));
    }
    let stops = h
        .issued_summary()
        .iter()
        .filter(|line| line.starts_with("stop stray-1"))
        .count();
    // 20 s pending timeout, then 1 s, 2 s, 4 s, ... up to 60 s of back-off
    // (with jitter): about a dozen in ten minutes; a fixed period of one
    // pending timeout gives nearly thirty.
    assert!((8..=14).contains(&stops), "{stops} stops in ten minutes");
}

#[test]
fn the_back_offs_of_one_container_on_two_agents_each_end_on_time() {
    // One container reported by two agents, both stops failing: the
    // records back off by one keyed timer. The periodic sweep is far off,
    // so only that timer brings each stop back.
    let mut h = Harness::new(crate::SchedulerConfig {
        tick: Duration::from_secs(600),
        ..config()
    });
    h.start(vec![], &["a", "b"]);
    let stray = crate::wire::ContainerId::new("stray-1");
    let config = job("stray", 1, 0.1, 64).container;
    for name in ["a", "b"] {
        h.sync(
            name,
            resources(4.0, 4096),
            vec![instance(&stray, ContainerStatus::Running, &config)],
        );
    }
    let fail = || Err(CommandError::ServerError("boom".into()));
    let mut held = None;
    let mut failed_on_b = 0;
    // b's stop fails three times (its back-off grows to 2-4 s) while a's
    // first stop is still unanswered.
    for _ in 0..200 {
        for command in h.take_commands() {
            if command.agent.as_str() == "a" {
                held = Some(command);
            } else if failed_on_b < 3 {
                failed_on_b += 1;
                h.answer(&command, fail());
            }
        }
        if failed_on_b == 3 {
            break;
        }
        h.advance(Duration::from_millis(100));
    }
    assert_eq!(failed_on_b, 3);
    // Now a's stop fails: its back-off (0.5-1 s) ends before b's.
    h.answer(&held.expect("a's stop"), fail());
    let mut stops_to_b = 0;
    for _ in 0..100 {
        for command in h.take_commands() {
            stops_to_b += usize::from(command.agent.as_str() == "b");
            h.answer(&command, Ok(()));
        }
        h.advance(Duration::from_millis(100));
    }
    assert_eq!(stops_to_b, 1, "b's stop came back when its back-off ended");
}

#[test]
fn a_created_container_whose_stop_was_refused_409_is_started_when_its_job_returns() {
    let mut h = started(&["a"]);
    let web = job("web", 1, 0.5, 64);
    schedule_durably(&mut h, web.clone());
    let create = h.take_commands().remove(0);
    play_agent(
        &mut h,
        "a",
        resources(4.0, 4096),
        std::slice::from_ref(&create),
    );
    let start = h.take_commands().remove(0);
    assert!(matches!(start.action, CommandAction::Start));
    h.answer(&start, Ok(()));
    // Unscheduled before the process came up: the agent cancels the start
    // and answers the stop 409, and the container stays `created`.
    h.unschedule(web.hash());
    h.persist_all();
    h.take_replies();
    let stop = h.take_commands().remove(0);
    assert!(matches!(stop.action, CommandAction::Stop));
    h.answer(&stop, Err(CommandError::AlreadyStopped));
    // The destroy's answer is lost and it is never confirmed; meanwhile the
    // job is scheduled again.
    for command in h.take_commands() {
        assert!(matches!(command.action, CommandAction::Destroy));
    }
    schedule_durably(&mut h, web.clone());
    h.advance(Duration::from_secs(45));
    assert!(
        h.issued_summary()
            .iter()
            .filter(|line| line.starts_with("start"))
            .count()
            >= 2,
        "the created instance is started again without waiting for a resync: {:?}",
        h.issued_summary()
    );
}
