//! Simplification of single fields: shorter, fewer, smaller, plainer.
//!
//! Each field has a floor (the simplest value that still makes sense) and a
//! granularity. A field goes straight to its floor when the world still
//! fails the same way there; otherwise a few bisection steps look for a
//! smaller value that still fails (the run may not be monotonic in the
//! value, so the search keeps only values it saw fail). Later rounds go on
//! from where the steps stopped.

use toml::Value;

use super::{Document, Path, Runner};
use crate::range::{TimeRange, parse_duration};

/// Bisection steps per field and round.
const STEPS_PER_FIELD: u32 = 4;

/// How a field can be simplified.
#[derive(Clone, Copy, Debug)]
enum Field {
    /// A duration string, in milliseconds.
    Duration { floor: u64, step: u64 },
    /// A range of durations: made fixed at its start, else its end lowered.
    Range,
    /// A float, in thousandths.
    Float { floor: u64, step: u64 },
    /// An integer.
    Integer { floor: u64, step: u64 },
    /// A probability: towards 0, in thousandths.
    Probability,
    /// A string that has a plainest value.
    Plain(&'static str),
    /// A key that can go (a job's `volumes`).
    Optional,
    /// A list whose items can go, keeping at least `keep`.
    List { keep: usize },
}

/// One round over every field of the runner's best world.
pub(super) fn pass(runner: &mut Runner<'_>) {
    for (path, field) in fields(&runner.best) {
        if runner.exhausted() {
            return;
        }
        simplify(runner, &path, field);
    }
}

/// The fields of `document` worth simplifying, in document order.
fn fields(document: &Document) -> Vec<(Path, Field)> {
    let ms = |floor: u64, step: u64| Field::Duration { floor, step };
    let mut fields = vec![
        (Path::top("network", &["latency"]), Field::Range),
        (Path::top("network", &["drop"]), Field::Probability),
        (Path::top("network", &["stream_drop"]), Field::Probability),
        (
            Path::top("scheduler", &["persist_fail"]),
            Field::Probability,
        ),
        (Path::top("scheduler", &["persist_latency"]), Field::Range),
    ];
    for index in 0..document.entries("agent").count() {
        let at = |keys: &[&str]| Path::entry("agent", index, keys);
        fields.extend([
            (
                at(&["cpu"]),
                Field::Float {
                    floor: 500,
                    step: 500,
                },
            ),
            (
                at(&["mem"]),
                Field::Integer {
                    floor: 256,
                    step: 256,
                },
            ),
            (at(&["volumes"]), Field::List { keep: 0 }),
            (at(&["start_delay"]), Field::Range),
        ]);
    }
    for index in 0..document.entries("job").count() {
        let at = |keys: &[&str]| Path::entry("job", index, keys);
        fields.extend([
            (at(&["scale"]), Field::Integer { floor: 1, step: 1 }),
            (
                at(&["cpu"]),
                Field::Float {
                    floor: 50,
                    step: 50,
                },
            ),
            (
                at(&["mem"]),
                Field::Integer {
                    floor: 16,
                    step: 16,
                },
            ),
            (at(&["behaviour"]), Field::Plain("runs")),
            (at(&["restart"]), Field::Plain("no")),
            (at(&["volumes"]), Field::Optional),
        ]);
    }
    for (index, entry) in document.entries("at").enumerate() {
        let at = |keys: &[&str]| Path::entry("at", index, keys);
        fields.push((at(&["time"]), ms(0, 1_000)));
        let lasting = [
            "fail_starts",
            "fail_commands",
            "never_confirm",
            "flap_stream",
            "repeat_first_event",
        ]
        .into_iter()
        .find(|key| entry.contains_key(*key));
        let lasting_for: [(&[&str], Field); 1];
        let more: &[(&[&str], Field)] = if let Some(key) = lasting {
            lasting_for = [(
                match key {
                    "fail_starts" => &["fail_starts", "for"],
                    "fail_commands" => &["fail_commands", "for"],
                    "never_confirm" => &["never_confirm", "for"],
                    "repeat_first_event" => &["repeat_first_event", "for"],
                    _ => &["flap_stream", "for"],
                },
                ms(1_000, 1_000),
            )];
            &lasting_for
        } else if entry.contains_key("scheduler_crash") {
            &[(&["scheduler_crash", "down"], ms(1_000, 1_000))]
        } else if entry.contains_key("slow") {
            &[(&["slow", "latency"], Field::Range)]
        } else if entry.contains_key("partition") {
            &[(&["partition"], Field::List { keep: 1 })]
        } else if entry.contains_key("heal") {
            &[(&["heal"], Field::List { keep: 1 })]
        } else if entry.contains_key("add_agent") {
            &[
                (
                    &["add_agent", "cpu"],
                    Field::Float {
                        floor: 500,
                        step: 500,
                    },
                ),
                (
                    &["add_agent", "mem"],
                    Field::Integer {
                        floor: 256,
                        step: 256,
                    },
                ),
            ]
        } else {
            &[]
        };
        fields.extend(more.iter().map(|(keys, field)| (at(keys), *field)));
    }
    // The run's length last: a shorter run leaves less room for the rest
    // to shrink in (two instances of a smaller job may not both exist by
    // the end of a run cut short for three).
    fields.push((Path::top("duration", &[]), ms(1_000, 1_000)));
    fields.retain(|(path, _)| document.get(path).is_some());
    fields
}

/// Simplifies one field of the runner's best world as far as it can.
fn simplify(runner: &mut Runner<'_>, path: &Path, field: Field) {
    let Some(value) = runner.best.get(path).cloned() else {
        return;
    };
    match field {
        Field::Duration { floor, step } => {
            let Some(ms) = value.as_str().and_then(|text| parse_duration(text).ok()) else {
                return;
            };
            lower(runner, path, ms.as_millis(), floor, step, |ms| {
                Value::from(format_millis(ms))
            });
        }
        Field::Range => {
            let Some(range) = value.as_str().and_then(|text| TimeRange::parse(text).ok()) else {
                return;
            };
            let (min, max) = (range.min.as_millis(), range.max.as_millis());
            if min == max {
                return;
            }
            lower(runner, path, max, min, 1, |max| {
                Value::from(if max == min {
                    format_millis(min)
                } else {
                    format!("{}..{}", format_millis(min), format_millis(max))
                })
            });
        }
        Field::Float { floor, step } => {
            let Some(number) = value.as_float().or(value.as_integer().map(|n| n as f64)) else {
                return;
            };
            let thousandths = (number * 1000.0).round().max(0.0) as u64;
            lower(runner, path, thousandths, floor, step, |thousandths| {
                Value::Float(thousandths as f64 / 1000.0)
            });
        }
        Field::Integer { floor, step } => {
            let Some(number) = value.as_integer() else {
                return;
            };
            lower(runner, path, number.max(0) as u64, floor, step, |n| {
                Value::Integer(n as i64)
            });
        }
        Field::Probability => {
            let Some(p) = value.as_float() else {
                return;
            };
            let thousandths = (p * 1000.0).round().max(0.0) as u64;
            lower(runner, path, thousandths, 0, 1, |thousandths| {
                Value::Float(thousandths as f64 / 1000.0)
            });
        }
        Field::Plain(plain) => {
            if value.as_str() != Some(plain)
                && let Some(candidate) = runner.best.with(path, Some(Value::from(plain)))
            {
                runner.try_candidate(candidate);
            }
        }
        Field::Optional => {
            if let Some(candidate) = runner.best.with(path, None) {
                runner.try_candidate(candidate);
            }
        }
        Field::List { keep } => {
            let Some(items) = value.as_array() else {
                return;
            };
            // Items one at a time, from the end, so indices stay valid.
            let mut items = items.clone();
            for index in (0..items.len()).rev() {
                if items.len() <= keep || runner.exhausted() {
                    break;
                }
                let mut fewer = items.clone();
                fewer.remove(index);
                let Some(candidate) = runner.best.with(path, Some(Value::Array(fewer.clone())))
                else {
                    return;
                };
                if runner.try_candidate(candidate) {
                    items = fewer;
                }
            }
        }
    }
}

/// Lowers a number from `current` towards `floor`: the floor itself if the
/// world still fails there, else a few bisection steps (granularity
/// `step`) between the highest value seen to pass and the lowest seen to
/// fail.
fn lower(
    runner: &mut Runner<'_>,
    path: &Path,
    current: u64,
    floor: u64,
    step: u64,
    value: impl Fn(u64) -> Value,
) {
    if current <= floor {
        return;
    }
    let try_value = |runner: &mut Runner<'_>, n: u64| {
        runner
            .best
            .with(path, Some(value(n)))
            .is_some_and(|candidate| runner.try_candidate(candidate))
    };
    if try_value(runner, floor) {
        return;
    }
    let (mut passes, mut fails) = (floor, current);
    for _ in 0..STEPS_PER_FIELD {
        if fails - passes <= step.max(1) || runner.exhausted() {
            return;
        }
        let middle = passes + (fails - passes) / 2;
        let middle = middle - middle % step.max(1);
        if middle <= passes || middle >= fails {
            return;
        }
        if try_value(runner, middle) {
            fails = middle;
        } else {
            passes = middle;
        }
    }
}

/// A whole number of milliseconds in the scenario syntax: `90s`, `250ms`.
fn format_millis(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
