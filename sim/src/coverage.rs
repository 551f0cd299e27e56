//! What a swarm reached of the core's state machines: the rows of the
//! container transition table taken and the timer reasons fired, summed
//! over every seed and scheduler process, beside the rows that no run can
//! reach and why ([`unreachable`]). A row neither reached nor explained is
//! a gap: a transition the simulator never tests.

use std::fmt::Write as _;

use harpoon_core::wire::ContainerStatus;
use harpoon_core::{Coverage, TransitionRow};

/// Why no driver can make the core take `row`, or `None` if one can. Each
/// reason is a rule the core or every driver keeps (the daemon's agent
/// client and the simulator's network alike).
pub fn unreachable(row: &TransitionRow) -> Option<&'static str> {
    let answer = row.input.starts_with("answer ") || row.input == "pending timeout";
    match (row.status, row.pending) {
        (_, None) if answer => Some(
            "an answer or a pending timeout is applied only to the record whose pending command it names",
        ),
        (_, Some(_))
            if answer
                && row.pending.is_some_and(|(_, accepted)| accepted)
                && row.input != "pending timeout" =>
        {
            Some(
                "a command is answered once: after the answer that accepted it (or a lost one, which counts as accepted) no other comes",
            )
        }
        (None, Some((action, _))) if action != "create" => Some(
            "a start, stop or destroy goes only to a container the stream reported: a record not seen yet exists only for a create",
        ),
        (Some(_), Some(("create", _))) => Some(
            "any status the stream reports confirms a create: a create is pending only on a record not seen yet",
        ),
        (_, Some((action, _))) if row.input == "answer 409-stopped" && action != "stop" => {
            Some("drivers read a 409 as already stopped only in answer to a stop")
        }
        (_, Some(("stop", _))) if row.input == "answer 409" => {
            Some("drivers read a 409 to a stop as already stopped, never as a conflict")
        }
        (None, Some(("create", _)))
            if matches!(
                row.input.as_str(),
                "event running" | "event failed" | "event finished"
            ) =>
        {
            Some(
                "a container is created in status created, and only the scheduler starts it, after seeing that status",
            )
        }
        (Some(status), Some(("start", _))) if status != ContainerStatus::Created => Some(
            "the scheduler starts only a container reported created, and any later status but created confirms the start",
        ),
        (Some(ContainerStatus::Failed | ContainerStatus::Finished), Some(("stop", _))) => Some(
            "the scheduler stops only a running container (or a created one whose start is accepted), and failed or finished confirms the stop",
        ),
        (None, None) => Some("a record always has a status or a pending create"),
        _ => None,
    }
}

/// A summary line, and with `list` every timer reason with its count, every
/// row not reached (a gap, or unreachable and why) and every row reached
/// with its count.
pub fn render(coverage: &Coverage, list: bool) -> String {
    let rows: Vec<TransitionRow> = coverage.transitions().collect();
    let timers: Vec<(&str, u64)> = coverage.timers().collect();
    let reached = rows.iter().filter(|row| row.count > 0).count();
    let unreachable_rows = rows.iter().filter(|row| unreachable(row).is_some()).count();
    let gaps: Vec<&TransitionRow> = rows
        .iter()
        .filter(|row| row.count == 0 && unreachable(row).is_none())
        .collect();
    let timers_reached = timers.iter().filter(|(_, count)| *count > 0).count();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "coverage: {reached} of {} transition rows reached, {unreachable_rows} unreachable, {} not reached (gaps); \
         {timers_reached} of {} timer reasons fired",
        rows.len(),
        gaps.len(),
        timers.len()
    );
    if let Some(wrong) = rows
        .iter()
        .find(|row| row.count > 0 && unreachable(row).is_some())
    {
        let _ = writeln!(
            text,
            "coverage: WRONG RULE: {wrong} was reached {} times but is called unreachable",
            wrong.count
        );
    }
    if list {
        for (name, count) in &timers {
            let _ = writeln!(text, "  timer {name:<24} {count}");
        }
        for row in &gaps {
            let _ = writeln!(text, "  gap   {row}");
        }
        for row in rows.iter().filter(|row| row.count > 0) {
            let _ = writeln!(text, "  row   {:<48} {}", row.to_string(), row.count);
        }
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for reason in rows.iter().filter_map(unreachable) {
            match reasons.iter_mut().find(|(known, _)| *known == reason) {
                Some((_, count)) => *count += 1,
                None => reasons.push((reason, 1)),
            }
        }
        for (reason, count) in reasons {
            let _ = writeln!(text, "  unreachable {count:>3} rows: {reason}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules call unreachable only what no run reaches: the rows a
    /// handful of swarm seeds reach are all outside them.
    #[test]
    fn no_row_a_swarm_reaches_is_called_unreachable() {
        let mut coverage = Coverage::default();
        for seed in 0..40 {
            coverage.merge(&crate::swarm::run_seed(seed, false).report.coverage);
        }
        let reached: Vec<TransitionRow> =
            coverage.transitions().filter(|row| row.count > 0).collect();
        assert!(reached.len() > 30, "the seeds exercise the table");
        for row in reached {
            assert_eq!(unreachable(&row), None, "{row} was reached");
        }
    }
}
