//! The simulated agent against the wire doc's "Observed on a real agent".

use std::sync::Arc;

use harpoon_core::wire::{ContainerConfig, ContainerStatus};
use rand::SeedableRng;

use super::*;
use crate::range::TimeRange;

fn agent() -> SimAgent {
    SimAgent::new(AgentSpec {
        name: "a0".to_owned(),
        cpu: 2.0,
        mem_mb: 1024,
        volumes: vec![],
        start_delay: TimeRange::fixed(Duration::from_millis(100)),
    })
}

fn config() -> Arc<ContainerConfig> {
    let mut config = ContainerConfig::default();
    config.resources.cpu = 0.5;
    config.resources.mem = 256;
    Arc::new(config)
}

/// Fires every timer the effects asked for, in order, as the world would.
fn settle(agent: &mut SimAgent, effects: Effects, rng: &mut ChaCha8Rng) -> Vec<String> {
    let _ = rng;
    let mut statuses = Vec::new();
    let mut pending = effects.timers;
    let mut now = Instant::ZERO;
    while let Some((delay, timer)) = pending.first().cloned() {
        pending.remove(0);
        now += delay;
        let mut more = Effects::default();
        agent.fire(&timer, now, &mut more);
        statuses.extend(more.changed.iter().map(|i| i.status.to_string()));
        pending.extend(more.timers);
    }
    statuses
}

#[test]
fn a_failed_start_goes_created_then_failed_then_stop_conflicts_and_delete_works() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = agent();
    let mut effects = Effects::default();
    let create = CommandAction::Create(config());
    agent
        .command(
            "web-1-0",
            &create,
            Behaviour::FailsToStart,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    assert_eq!(agent.instances().count(), 0, "hidden while preparing");
    assert_eq!(settle(&mut agent, effects, &mut rng), ["created"]);
    assert_eq!(agent.reserved_mem_mb(), 256);

    let mut effects = Effects::default();
    let start = agent.command(
        "web-1-0",
        &CommandAction::Start,
        Behaviour::FailsToStart,
        Instant::ZERO,
        &mut rng,
        &mut effects,
    );
    assert!(
        matches!(start, Err(CommandError::ServerError(_))),
        "{start:?}"
    );
    assert_eq!(effects.changed[0].status, ContainerStatus::Failed);
    assert!(effects.changed[0].process_state.err.is_some());

    let mut effects = Effects::default();
    let stop = agent.command(
        "web-1-0",
        &CommandAction::Stop,
        Behaviour::FailsToStart,
        Instant::ZERO,
        &mut rng,
        &mut effects,
    );
    assert_eq!(stop, Err(CommandError::AlreadyStopped));

    let mut effects = Effects::default();
    agent
        .command(
            "web-1-0",
            &CommandAction::Destroy,
            Behaviour::FailsToStart,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    assert_eq!(effects.changed[0].status, ContainerStatus::Deleted);
    assert_eq!(agent.reserved_mem_mb(), 0);
}

#[test]
fn a_running_container_cannot_be_deleted_and_a_second_create_conflicts() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = agent();
    let mut effects = Effects::default();
    let create = CommandAction::Create(config());
    agent
        .command(
            "web-1-0",
            &create,
            Behaviour::Runs,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    settle(&mut agent, effects, &mut rng);
    let mut effects = Effects::default();
    agent
        .command(
            "web-1-0",
            &CommandAction::Start,
            Behaviour::Runs,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    assert_eq!(settle(&mut agent, effects, &mut rng), ["running"]);
    let mut effects = Effects::default();
    assert!(matches!(
        agent.command(
            "web-1-0",
            &CommandAction::Destroy,
            Behaviour::Runs,
            Instant::ZERO,
            &mut rng,
            &mut effects
        ),
        Err(CommandError::Conflict(_))
    ));
    assert!(matches!(
        agent.command(
            "web-1-0",
            &create,
            Behaviour::Runs,
            Instant::ZERO,
            &mut rng,
            &mut effects
        ),
        Err(CommandError::Conflict(_))
    ));
    assert_eq!(
        agent.command(
            "web-9-0",
            &CommandAction::Start,
            Behaviour::Runs,
            Instant::ZERO,
            &mut rng,
            &mut effects
        ),
        Err(CommandError::NotFound)
    );
}

#[test]
fn preparation_failure_reports_deleted() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = agent();
    let mut effects = Effects::default();
    let create = CommandAction::Create(config());
    agent
        .command(
            "web-1-0",
            &create,
            Behaviour::FailsToPrepare,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    assert_eq!(settle(&mut agent, effects, &mut rng), ["deleted"]);
    assert_eq!(agent.reserved_cpu_millis(), 0);
}

#[test]
fn the_restart_policy_restarts_an_exited_process() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = agent();
    let mut config = (*config()).clone();
    config.restart = harpoon_core::wire::RestartPolicy::OnFailure;
    let behaviour = Behaviour::Exits {
        code: 1,
        after: Duration::from_secs(5),
    };
    let mut effects = Effects::default();
    agent
        .command(
            "web-1-0",
            &CommandAction::Create(Arc::new(config)),
            behaviour,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    settle(&mut agent, effects, &mut rng);
    let mut effects = Effects::default();
    agent
        .command(
            "web-1-0",
            &CommandAction::Start,
            behaviour,
            Instant::ZERO,
            &mut rng,
            &mut effects,
        )
        .unwrap();
    // The settle loop runs one timer chain; cap it by stopping after a few.
    let mut pending = effects.timers;
    let mut seen = Vec::new();
    let mut now = Instant::ZERO;
    while let Some((delay, timer)) = pending.first().cloned() {
        pending.remove(0);
        now += delay;
        let mut more = Effects::default();
        agent.fire(&timer, now, &mut more);
        seen.extend(more.changed.iter().map(|i| i.status.to_string()));
        pending.extend(more.timers);
        if seen.len() >= 4 {
            break;
        }
    }
    assert_eq!(seen, ["running", "failed", "running", "failed"]);
}

#[test]
fn a_shrunk_agent_keeps_its_containers_and_reports_the_smaller_totals() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = agent();
    for id in ["web-1-0", "web-1-1"] {
        let mut effects = Effects::default();
        let create = CommandAction::Create(config());
        agent
            .command(
                id,
                &create,
                Behaviour::Runs,
                Instant::ZERO,
                &mut rng,
                &mut effects,
            )
            .unwrap();
        settle(&mut agent, effects, &mut rng);
    }
    agent.stream = Some(7);
    agent.shrink(0.5, 128);
    assert_eq!(agent.stream, None, "a restart ends the stream");
    let state = agent.full_state();
    assert_eq!(state.containers.len(), 2);
    assert_eq!(state.resources.cpus.total, 0.5);
    assert_eq!(state.resources.cpus.reserved, 1.0);
    assert_eq!(state.resources.mem.total, 128);
    assert_eq!(state.resources.mem.reserved, 512);
}

#[test]
fn a_loss_deletes_some_containers_never_all_and_later_commands_get_404() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut agent = agent();
    let ids = ["web-1-0", "web-1-1", "web-1-2"];
    for id in ids {
        let mut effects = Effects::default();
        let create = CommandAction::Create(config());
        agent
            .command(
                id,
                &create,
                Behaviour::Runs,
                Instant::ZERO,
                &mut rng,
                &mut effects,
            )
            .unwrap();
        settle(&mut agent, effects, &mut rng);
    }
    let mut effects = Effects::default();
    assert_eq!(agent.lose_containers(5, &mut rng, &mut effects), 2);
    assert_eq!(effects.changed.len(), 2);
    assert!(
        effects
            .changed
            .iter()
            .all(|instance| instance.status == ContainerStatus::Deleted)
    );
    assert_eq!(agent.instances().count(), 1);
    assert_eq!(
        agent.reserved_mem_mb(),
        256,
        "lost containers release theirs"
    );
    let lost = &effects.changed[0].container_id;
    for action in [
        CommandAction::Start,
        CommandAction::Stop,
        CommandAction::Destroy,
    ] {
        let answer = agent.command(
            lost,
            &action,
            Behaviour::Runs,
            Instant::ZERO,
            &mut rng,
            &mut Effects::default(),
        );
        assert_eq!(answer, Err(CommandError::NotFound), "{}", action.name());
    }
    let mut effects = Effects::default();
    assert_eq!(agent.lose_containers(1, &mut rng, &mut effects), 0);
    assert_eq!(agent.instances().count(), 1, "never all of them");
}
