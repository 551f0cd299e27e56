//! Schedule and unschedule requests: validation, conflicts, and replies
//! held until the registry write that holds them is durable.

use std::sync::Arc;

use super::harness::*;
use crate::time::Duration;

#[test]
fn a_schedule_is_acknowledged_only_after_its_write_completes() {
    let mut h = Harness::new(config());
    h.start(vec![], &["a"]);
    h.sync("a", resources(4.0, 4096), vec![]);
    let web = job("web", 2, 0.5, 64);
    let request = h.schedule(web.clone());
    assert!(
        h.take_replies().is_empty(),
        "no reply before the write is durable"
    );
    assert!(
        h.take_commands().is_empty(),
        "nothing is placed before the write is durable"
    );
    let persists = h.take_persists();
    assert_eq!(persists.len(), 1);
    assert_eq!(persists[0].1.put, vec![(web.hash(), Arc::new(web.clone()))]);
    assert!(persists[0].1.removed.is_empty());
    h.input(crate::Input::PersistCompleted {
        sequence: persists[0].0,
    });
    let replies = h.take_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, request);
    assert_eq!(replies[0].1.status_code, 202);
    assert_eq!(
        replies[0].1.msg,
        format!(
            "request to schedule 'web' ({}) has been accepted",
            web.hash()
        )
    );
    let creates = h.take_commands();
    assert_eq!(creates.len(), 2, "both tasks placed once durable");
}

#[test]
fn writes_are_group_committed() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    h.schedule(job("one", 1, 0.1, 1));
    let first = h.take_persists();
    assert_eq!(first.len(), 1);
    // Two more requests while the first write is under way: one write
    // holds both.
    h.schedule(job("two", 1, 0.1, 1));
    h.schedule(job("three", 1, 0.1, 1));
    assert!(h.take_persists().is_empty(), "one write at a time");
    h.input(crate::Input::PersistCompleted {
        sequence: first[0].0,
    });
    assert_eq!(
        h.take_replies().len(),
        1,
        "only the first request is durable"
    );
    let second = h.take_persists();
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0].1.len(),
        2,
        "a write carries what changed since the last"
    );
    h.input(crate::Input::PersistCompleted {
        sequence: second[0].0,
    });
    let replies = h.take_replies();
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|(_, reply)| reply.status_code == 202));
}

#[test]
fn errors_use_the_wire_messages() {
    let mut h = Harness::new(config());
    h.start(vec![job("web", 1, 0.5, 64)], &[]);
    let web = job("web", 1, 0.5, 64);
    h.schedule(web.clone());
    let missing = job("gone", 1, 0.5, 64);
    h.unschedule(missing.hash());
    h.schedule(job("bad", 0, 0.0, 64));
    let replies: Vec<_> = h
        .take_replies()
        .into_iter()
        .map(|(_, r)| (r.status_code, r.msg))
        .collect();
    assert_eq!(
        replies,
        vec![
            (409, format!("{} already scheduled", web.hash())),
            (404, format!("{} not scheduled", missing.hash())),
            (
                400,
                "scale of 0 is invalid; resources.cpu of 0 is invalid (must be at least 0.001: \
                 cpu is counted in whole milli-cores, rounded up)"
                    .to_owned()
            ),
        ]
    );
    assert!(
        h.take_persists().is_empty(),
        "failed requests write nothing"
    );
}

#[test]
fn requests_before_the_registry_is_loaded_are_refused() {
    let mut h = Harness::new(config());
    h.schedule(job("web", 1, 0.5, 64));
    let replies = h.take_replies();
    assert_eq!(replies[0].1.status_code, 503);
}

#[test]
fn a_failing_write_is_retried_then_rolled_back_with_500() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    let web = job("web", 1, 0.5, 64);
    h.schedule(web.clone());
    let attempts = h.scheduler.config().max_persist_attempts;
    for attempt in 1..=attempts {
        let persists = h.take_persists();
        assert_eq!(persists.len(), 1, "attempt {attempt} writes");
        h.input(crate::Input::PersistFailed {
            sequence: persists[0].0,
            error: "disk full".into(),
        });
        h.advance(Duration::from_secs(120));
    }
    let replies = h.take_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].1.status_code, 500);
    assert!(
        replies[0].1.msg.contains("disk full"),
        "{}",
        replies[0].1.msg
    );
    assert!(h.scheduler.jobs().is_empty(), "the change was rolled back");
    // A failed write may have been applied: the durable value (absent) is
    // written again, with no request waiting for it.
    let restore = h.take_persists();
    assert_eq!(restore.len(), 1);
    assert_eq!(restore[0].1.removed, vec![web.hash()]);
    assert!(restore[0].1.put.is_empty());
    h.input(crate::Input::PersistCompleted {
        sequence: restore[0].0,
    });
    assert!(h.take_replies().is_empty());
    assert!(h.take_persists().is_empty(), "nothing more to write");
    // The same job can be scheduled again.
    h.schedule(web);
    assert_eq!(h.take_persists().len(), 1);
}

#[test]
fn a_retried_write_carries_the_failed_changes_merged_with_newer_ones() {
    let mut h = Harness::new(config());
    h.start(vec![job("old", 1, 0.1, 1)], &[]);
    let (old, one, two) = (
        job("old", 1, 0.1, 1),
        job("one", 1, 0.1, 1),
        job("two", 1, 0.1, 1),
    );
    h.schedule(one.clone());
    let first = h.take_persists();
    // Meanwhile `two` is scheduled and `old` unscheduled.
    h.schedule(two.clone());
    h.unschedule(old.hash());
    h.input(crate::Input::PersistFailed {
        sequence: first[0].0,
        error: "disk full".into(),
    });
    h.advance(Duration::from_secs(10));
    let retry = h.take_persists();
    assert_eq!(retry.len(), 1);
    assert!(retry[0].0 > first[0].0, "sequence numbers increase");
    let mut put: Vec<_> = retry[0]
        .1
        .put
        .iter()
        .map(|(hash, _)| hash.clone())
        .collect();
    put.sort();
    let mut expected = vec![one.hash(), two.hash()];
    expected.sort();
    assert_eq!(put, expected);
    assert_eq!(retry[0].1.removed, vec![old.hash()]);
    h.input(crate::Input::PersistCompleted {
        sequence: retry[0].0,
    });
    let replies = h.take_replies();
    assert_eq!(replies.len(), 3);
    assert!(replies.iter().all(|(_, reply)| reply.status_code == 202));
}

#[test]
fn sequence_numbers_continue_above_the_loaded_one() {
    let mut h = Harness::new(config());
    h.input(crate::Input::RegistryLoaded {
        jobs: vec![],
        rollouts: vec![],
        drains: vec![],
        sequence: 41,
    });
    h.schedule(job("web", 1, 0.1, 1));
    let persists = h.take_persists();
    assert_eq!(persists[0].0, 42);
    h.input(crate::Input::PersistCompleted { sequence: 42 });
    assert_eq!(h.take_replies()[0].1.status_code, 202);
    assert_eq!(h.scheduler.registry_sequence(), 42);
}

/// How long after a failure the retried write is issued, in milliseconds
/// (stepping through time in 10 ms steps).
fn retry_delay_ms(seed: u64, config: crate::SchedulerConfig) -> u64 {
    let mut h = Harness::with_seed(config, seed);
    h.start(vec![], &[]);
    h.schedule(job("web", 1, 0.1, 1));
    let first = h.take_persists();
    h.input(crate::Input::PersistFailed {
        sequence: first[0].0,
        error: "disk full".into(),
    });
    let start = h.now;
    while h.take_persists().is_empty() {
        assert!(h.now - start < Duration::from_secs(60), "no retry in 60 s");
        h.advance(Duration::from_millis(10));
    }
    (h.now - start).as_millis()
}

#[test]
fn write_retries_use_their_own_jittered_back_off() {
    let config = crate::SchedulerConfig {
        persist_backoff_min: Duration::from_millis(400),
        persist_backoff_max: Duration::from_secs(5),
        task_backoff_min: Duration::from_secs(3),
        ..config()
    };
    let delays: std::collections::BTreeSet<u64> = (0..8)
        .map(|seed| retry_delay_ms(seed, config.clone()))
        .collect();
    assert!(
        delays.iter().all(|&ms| (200..=410).contains(&ms)),
        "first retry within the persist back-off's jitter band: {delays:?}"
    );
    assert!(delays.len() > 1, "retries are jittered: {delays:?}");
}
