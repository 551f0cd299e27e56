//! Rollout and drain requests: answered once, after the write holding
//! their effect is durable, with the registry's checks.

use super::harness::*;
use crate::Input;
use crate::ids::RequestId;
use crate::rollout::{RolloutParams, RolloutStatus};
use crate::scheduler::UnscheduleTarget;

fn migrate(
    h: &mut Harness,
    request: u64,
    from: &crate::wire::JobConfig,
    to: &crate::wire::JobConfig,
) {
    h.input(Input::Migrate {
        request: RequestId(request),
        from: UnscheduleTarget::Hash(from.hash()),
        to: to.clone(),
        params: RolloutParams::default(),
        index: None,
    });
}

#[test]
fn a_migrate_is_answered_once_after_the_write_holding_the_new_job_and_the_rollout() {
    let mut h = Harness::new(config());
    let (web, web2) = (job("web", 2, 0.1, 16), job("web2", 2, 0.1, 16));
    h.start(vec![web.clone()], &[]);
    migrate(&mut h, 1, &web, &web2);
    assert!(
        h.take_replies().is_empty(),
        "no answer before the write is durable"
    );
    let persists = h.take_persists();
    assert_eq!(persists.len(), 1);
    let changes = &persists[0].1;
    assert_eq!(changes.put.len(), 1, "the new job");
    assert_eq!(
        changes.rollouts_put.len(),
        1,
        "and its rollout, in one write"
    );
    assert_eq!(
        changes.rollouts_put[0].wanted.to, 0,
        "no new task wanted yet"
    );
    h.input(Input::PersistCompleted {
        sequence: persists[0].0,
    });
    let replies = h.take_replies();
    assert_eq!(replies.len(), 1, "answered exactly once");
    assert_eq!(replies[0].1.status_code, 202, "{:?}", replies[0].1);
    // A second rollout of the same old job, and unscheduling it, are refused.
    let web3 = job("web3", 2, 0.1, 16);
    migrate(&mut h, 2, &web, &web3);
    let id = RequestId(3);
    h.input(Input::Unschedule {
        index: None,
        request: id,
        target: UnscheduleTarget::Hash(web.hash()),
    });
    h.persist_all();
    let codes: Vec<u16> = h
        .take_replies()
        .iter()
        .map(|(_, r)| r.status_code)
        .collect();
    assert_eq!(codes, vec![409, 409]);
}

#[test]
fn an_abort_removes_the_new_job_in_the_write_that_ends_the_rollout() {
    let mut h = Harness::new(config());
    let (web, web2) = (job("web", 2, 0.1, 16), job("web2", 2, 0.1, 16));
    h.start(vec![web.clone()], &[]);
    migrate(&mut h, 1, &web, &web2);
    h.persist_all();
    h.take_replies();
    let id = h
        .scheduler
        .rollouts()
        .next()
        .expect("one rollout")
        .rollout
        .id;
    h.input(Input::AbortRollout {
        request: RequestId(2),
        rollout: id,
    });
    let persists = h.take_persists();
    let changes = &persists.last().expect("a write").1;
    assert_eq!(changes.removed, vec![web2.hash()]);
    assert_eq!(changes.rollouts_put[0].status, RolloutStatus::Aborted);
    assert!(
        h.take_replies().is_empty(),
        "no answer before the write is durable"
    );
    let sequence = persists.last().expect("a write").0;
    h.input(Input::PersistCompleted { sequence });
    assert_eq!(h.take_replies()[0].1.status_code, 202);
    assert!(h.scheduler.jobs().contains_key(&web.hash()));
    h.input(Input::AbortRollout {
        request: RequestId(3),
        rollout: id,
    });
    h.persist_all();
    assert_eq!(h.take_replies()[0].1.status_code, 409, "ended already");
}

#[test]
fn invalid_rollout_parameters_are_refused_at_once_with_every_problem() {
    let mut h = Harness::new(config());
    let (web, web2) = (job("web", 2, 0.1, 16), job("web2", 2, 0.1, 16));
    h.start(vec![web.clone()], &[]);
    h.input(Input::Migrate {
        request: RequestId(1),
        from: UnscheduleTarget::Hash(web.hash()),
        to: web2,
        params: RolloutParams {
            max_surge: 0,
            max_unavailable: 0,
            min_healthy_ms: 60_000,
            progress_deadline_ms: 30_000,
            auto_revert: true,
        },
        index: None,
    });
    let replies = h.take_replies();
    assert_eq!(replies[0].1.status_code, 400);
    let msg = &replies[0].1.msg;
    assert!(
        msg.contains("both 0") && msg.contains("must be longer"),
        "{msg}"
    );
    assert!(h.take_persists().is_empty(), "nothing changed");
}
