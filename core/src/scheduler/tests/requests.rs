//! Schedule and unschedule requests: validation, conflicts, and replies
//! held until the registry write that holds them is durable.

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
    assert_eq!(persists[0].1, vec![web.clone()]);
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
    assert_eq!(second[0].1.len(), 3);
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
    assert!(h.take_persists().is_empty());
    // The same job can be scheduled again.
    h.schedule(web);
    assert_eq!(h.take_persists().len(), 1);
}
