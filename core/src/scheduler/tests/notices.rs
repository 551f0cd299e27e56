//! Which traced decisions are marked for operators, and that they come out
//! with tracing off too.

use super::harness::*;
use crate::scheduler::{Output, SchedulerConfig, TraceLevel};
use crate::time::Duration;

/// Plays a short life: agent `a` syncs, `b` cannot be reached (three
/// times) and is abandoned, `a` takes a task it never confirms, then loses
/// its stream and stays away past the abandon timeout. Returns every trace as `(level, subject,
/// message)`.
fn life(trace: bool) -> Vec<(TraceLevel, String, String)> {
    let mut h = Harness::new(SchedulerConfig { trace, ..config() });
    h.start(vec![], &["a", "b"]);
    h.sync("a", resources(4.0, 4096), vec![]);
    for _ in 0..3 {
        let session = h.session("b");
        h.input(crate::Input::StreamClosed {
            agent: agent("b"),
            session,
            reason: "connection refused".into(),
        });
        h.advance(Duration::from_secs(1));
    }
    h.advance(config().abandon_timeout);
    h.schedule(job("web", 1, 0.5, 64));
    h.persist_all();
    for command in h.take_commands() {
        h.answer(&command, Ok(()));
    }
    h.advance(config().pending_timeout + Duration::from_secs(1));
    h.close_stream("a");
    h.advance(config().abandon_timeout + Duration::from_secs(1));
    h.log
        .iter()
        .filter_map(|output| match output {
            Output::Trace(trace) => Some((
                trace.level.clone(),
                trace.subject.clone(),
                trace.message.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn agent_changes_and_unconfirmed_commands_are_marked_and_emitted_with_tracing_off() {
    let quiet = life(false);
    let lines: Vec<String> = quiet
        .iter()
        .map(|(level, subject, message)| {
            let level = match level {
                TraceLevel::Detail => "detail".to_owned(),
                TraceLevel::Change => "change".to_owned(),
                TraceLevel::Unconfirmed { agent } => format!("unconfirmed on {agent}"),
            };
            // Back-off delays are jittered: keep what comes before them.
            let message = message.split("; reconnecting").next().unwrap_or(message);
            format!("{level} {subject}: {message}")
        })
        .collect();
    let hash = job("web", 1, 0.5, 64).hash();
    assert_eq!(
        lines,
        [
            "change a: discovered: opening its stream".to_owned(),
            "change b: discovered: opening its stream".to_owned(),
            "change a: synced: first event lists 0 containers".to_owned(),
            // Only the first failure to reach b: not every retry.
            "change b: stream down (connection refused)".to_owned(),
            "change b: abandoned after 20s unsynced: 0 containers count as lost".to_owned(),
            format!("unconfirmed on a {hash}-0: create #1 on a unconfirmed after 20s"),
            "change a: stream down (test)".to_owned(),
            // Placed again on a, unconfirmed again (the pending timeout runs
            // whatever the stream does), so nothing is left to lose.
            format!("unconfirmed on a {hash}-0: create #2 on a unconfirmed after 20s"),
            "change a: abandoned after 20s unsynced: 0 containers count as lost".to_owned(),
        ],
    );
    // With tracing on, the same marked lines come out, among the details.
    let traced = life(true);
    let marked: Vec<_> = traced
        .iter()
        .filter(|(level, _, _)| *level != TraceLevel::Detail)
        .collect();
    assert_eq!(marked, quiet.iter().collect::<Vec<_>>());
    assert!(traced.len() > quiet.len(), "details are traced too");
}
