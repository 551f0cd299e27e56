//! The registry index and check-and-set (`?index=N`): a change made
//! against an index is accepted only if the registry is still there.

use super::harness::{Harness, config, job};

/// The registry index moves once per accepted change, with the write that
/// holds it, and the answer carries it.
#[test]
fn the_index_moves_once_per_accepted_change_and_is_in_the_answer() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    assert_eq!(h.scheduler.registry_index(), 0);
    let web = job("web", 1, 0.1, 1);
    h.schedule(web.clone());
    assert_eq!(h.scheduler.registry_index(), 1, "accepted");
    assert_eq!(h.scheduler.registry_sequence(), 0, "not durable yet");
    let persists = h.take_persists();
    assert_eq!(persists[0].0, 1, "the write carries the index");
    h.input(crate::Input::PersistCompleted {
        sequence: persists[0].0,
    });
    assert_eq!(h.scheduler.registry_sequence(), 1);
    let replies = h.take_replies();
    assert_eq!(replies[0].1.status_code, 202);
    assert_eq!(replies[0].1.index, Some(1));
    // A refused change (already scheduled) moves nothing.
    h.schedule(web.clone());
    assert!(h.take_persists().is_empty(), "nothing to write");
    let replies = h.take_replies();
    assert_eq!(replies[0].1.status_code, 409);
    assert_eq!(replies[0].1.index, Some(1));
    assert_eq!(h.scheduler.registry_index(), 1);
    h.unschedule(web.hash());
    h.persist_all();
    assert_eq!(h.scheduler.registry_sequence(), 2);
}

#[test]
fn a_change_against_the_current_index_is_accepted() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    let index = h.scheduler.registry_sequence();
    h.schedule_at(job("web", 1, 0.1, 1), index);
    h.persist_all();
    let replies = h.take_replies();
    assert_eq!(replies[0].1.status_code, 202, "{replies:?}");
    let index = h.scheduler.registry_sequence();
    h.unschedule_at(job("web", 1, 0.1, 1).hash(), index);
    h.persist_all();
    assert_eq!(h.take_replies()[0].1.status_code, 202);
    assert!(h.scheduler.jobs().is_empty());
}

#[test]
fn a_change_against_a_stale_index_is_refused_with_the_current_one() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    let planned = h.scheduler.registry_sequence();
    // Someone else's change lands between the plan and the apply.
    h.schedule(job("other", 1, 0.1, 1));
    h.persist_all();
    h.take_replies();
    let stale = h.schedule_at(job("web", 1, 0.1, 1), planned);
    let replies = h.take_replies();
    assert_eq!(replies.len(), 1, "{replies:?}");
    let (request, reply) = &replies[0];
    assert_eq!(*request, stale);
    assert_eq!(reply.status_code, 409);
    assert_eq!(reply.index, Some(1));
    assert!(
        reply.msg.contains("changed since index 0") && reply.msg.contains("index 1"),
        "{}",
        reply.msg
    );
    assert!(
        h.take_persists().is_empty(),
        "a refused change writes nothing"
    );
    assert_eq!(h.scheduler.jobs().len(), 1, "and changes nothing");
    // So is an unschedule.
    let other = job("other", 1, 0.1, 1).hash();
    h.unschedule_at(other, planned);
    assert_eq!(h.take_replies()[0].1.status_code, 409);
    assert_eq!(h.scheduler.jobs().len(), 1);
}

/// Two requests made against the same index, the first not yet durable
/// when the second arrives: the check is against the state the write will
/// apply to, so exactly one wins.
#[test]
fn of_two_racing_changes_against_one_index_exactly_one_wins() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    let index = h.scheduler.registry_sequence();
    let first = h.schedule_at(job("web", 1, 0.1, 1), index);
    let second = h.schedule_at(job("db", 1, 0.1, 1), index);
    assert!(
        h.take_replies().is_empty(),
        "both answers wait for the first write"
    );
    h.persist_all();
    let replies = h.take_replies();
    let status = |request| {
        replies
            .iter()
            .find(|(r, _)| *r == request)
            .map(|(_, reply)| reply.status_code)
    };
    assert_eq!(status(first), Some(202), "{replies:?}");
    assert_eq!(status(second), Some(409), "{replies:?}");
    let names: Vec<_> = h
        .scheduler
        .jobs()
        .values()
        .map(|job| job.container.job.clone())
        .collect();
    assert_eq!(names, ["web"]);
}

/// A 409 on a stale index depends on the registry, so it waits, like every
/// such answer, until the index it names is durable.
#[test]
fn a_stale_index_answer_waits_until_the_index_it_names_is_durable() {
    let mut h = Harness::new(config());
    h.start(vec![], &[]);
    h.schedule(job("other", 1, 0.1, 1));
    h.schedule_at(job("web", 1, 0.1, 1), 7);
    assert!(h.take_replies().is_empty());
    h.persist_all();
    let replies = h.take_replies();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[1].1.status_code, 409);
    assert_eq!(replies[1].1.index, Some(1));
    assert!(h.scheduler.registry_sequence() >= 1);
}
