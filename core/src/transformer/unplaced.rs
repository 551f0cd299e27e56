//! Tasks that could not be placed, grouped by the shape of their demand, so
//! that capacity appearing costs what changed, not the size of the backlog.
//!
//! Every unplaced task keeps its reason (for the API) and sits in the group
//! of its shape (cpu, memory, volumes). When capacity appears (an agent
//! syncs, a container goes away, the periodic tick), nothing is marked at
//! once: the next reconcile retries the first task of each shape that
//! fits the capacity that appeared (on the agent that freed or gained it;
//! every shape on the tick). Tasks of
//! one shape fail or succeed together (agents only fill up within a
//! reconcile), so a shape whose retried task is placed retries twice as
//! many next time, at once, and one whose task fails stops until capacity
//! appears again. An unrelated event next to a backlog of a hundred
//! thousand tasks of a few shapes then costs a few placement searches,
//! and a backlog that does fit drains in a logarithmic number of rounds.

use std::collections::{BTreeMap, BTreeSet};

use crate::algorithm::{Demand, Unplaced};
use crate::wire::{ContainerId, JobHash};

/// What placement reads of a task's demand, its job aside.
pub(crate) type Shape = (u64, u64, BTreeSet<String>);

/// The shape of `demand`.
pub(crate) fn shape_of(demand: &Demand) -> Shape {
    (demand.cpu_millis, demand.mem_mb, demand.volumes.clone())
}

/// The most tasks of one shape retried in one round.
const MOST_RETRIED: usize = 1024;

/// The unplaced tasks, their reasons and their shapes.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct UnplacedTasks {
    reasons: BTreeMap<ContainerId, (Unplaced, Shape)>,
    #[serde(with = "crate::map_as_pairs")]
    by_shape: BTreeMap<Shape, BTreeSet<ContainerId>>,
    /// How many of each shape the next retry takes (1 unless the last
    /// retry of that shape placed everything it took).
    #[serde(with = "crate::map_as_pairs")]
    retry: BTreeMap<Shape, usize>,
    /// Shapes to retry, because capacity that could fit them appeared since
    /// the last retry.
    due: BTreeSet<Shape>,
    /// The shapes taken by the last retry, and how many of each.
    #[serde(with = "crate::map_as_pairs")]
    retried: BTreeMap<Shape, usize>,
    /// How many tasks each constraint binds (by its metrics label).
    #[serde(deserialize_with = "constraint_counts")]
    by_constraint: BTreeMap<&'static str, u64>,
}

/// Reads back the counts by constraint label, each label one of
/// [`Constraint::LABELS`](crate::algorithm::Constraint::LABELS).
fn constraint_counts<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<&'static str, u64>, D::Error> {
    use serde::Deserialize as _;
    let counts = BTreeMap::<String, u64>::deserialize(deserializer)?;
    counts
        .into_iter()
        .map(|(label, count)| {
            crate::algorithm::Constraint::LABELS
                .iter()
                .find(|known| **known == label)
                .map(|known| (*known, count))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown constraint label {label:?}"))
                })
        })
        .collect()
}

impl UnplacedTasks {
    /// Records (or updates) an unplaced task.
    pub(crate) fn insert(&mut self, id: ContainerId, shape: Shape, reason: Unplaced) {
        if let Some((old_reason, old)) = self.reasons.get(&id) {
            if *old != shape {
                self.remove(&id);
            } else {
                let label = old_reason.constraint.label();
                self.uncount(label);
            }
        }
        *self
            .by_constraint
            .entry(reason.constraint.label())
            .or_default() += 1;
        self.by_shape
            .entry(shape.clone())
            .or_default()
            .insert(id.clone());
        self.reasons.insert(id, (reason, shape));
    }

    /// Forgets a task: placed, present, or no longer desired.
    pub(crate) fn remove(&mut self, id: &ContainerId) {
        let Some((reason, shape)) = self.reasons.remove(id) else {
            return;
        };
        self.uncount(reason.constraint.label());
        if let Some(ids) = self.by_shape.get_mut(&shape) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_shape.remove(&shape);
                self.retry.remove(&shape);
            }
        }
    }

    /// Forgets every task of `job` (it is no longer desired), found by the
    /// common prefix of its tasks' IDs.
    pub(crate) fn forget_job(&mut self, job: &JobHash) {
        for id in super::tasks_of(&self.reasons, job) {
            self.remove(&id);
        }
    }

    /// Capacity appeared somewhere (the periodic tick's safety net): the
    /// next reconcile retries every shape.
    pub(crate) fn capacity_appeared(&mut self) {
        self.due.extend(self.by_shape.keys().cloned());
    }

    /// Capacity appeared on one agent, which now has `free` cpu
    /// (milli-cores) and memory (MB) and offers `volumes`: the next
    /// reconcile retries the shapes that fit there. Costs the number of
    /// shapes, not of tasks.
    pub(crate) fn capacity_appeared_on(&mut self, free: (u64, u64), volumes: &[String]) {
        for shape in self.by_shape.keys() {
            let (cpu, mem, needs) = shape;
            if *cpu <= free.0 && *mem <= free.1 && needs.iter().all(|v| volumes.contains(v)) {
                self.due.insert(shape.clone());
            }
        }
    }

    /// The tasks to look at again: the first few of each shape due.
    pub(crate) fn take_retries(&mut self) -> Vec<ContainerId> {
        let mut taken = Vec::new();
        self.retried.clear();
        for shape in std::mem::take(&mut self.due) {
            let Some(ids) = self.by_shape.get(&shape) else {
                continue;
            };
            let count = self.retry.get(&shape).copied().unwrap_or(1).min(ids.len());
            taken.extend(ids.iter().take(count).cloned());
            self.retried.insert(shape, count);
        }
        taken
    }

    /// After placing: a retried shape none of whose tasks failed, and that
    /// still has tasks waiting, retries twice as many at once; returns
    /// whether another round is due. A shape that failed starts from one
    /// task again.
    pub(crate) fn after_placement(&mut self, failed: &[Shape]) -> bool {
        for (shape, count) in std::mem::take(&mut self.retried) {
            if failed.contains(&shape) {
                self.retry.remove(&shape);
            } else if self.by_shape.contains_key(&shape) {
                self.retry
                    .insert(shape.clone(), (count.max(1) * 2).min(MOST_RETRIED));
                self.due.insert(shape);
            }
        }
        !self.due.is_empty()
    }

    /// Whether a retry is due.
    pub(crate) fn retry_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// The reason of every unplaced task.
    pub(crate) fn reasons(&self) -> impl Iterator<Item = (&ContainerId, &Unplaced)> {
        self.reasons.iter().map(|(id, (reason, _))| (id, reason))
    }

    /// The reason `id` is unplaced, if it is.
    pub(crate) fn reason(&self, id: &ContainerId) -> Option<&Unplaced> {
        self.reasons.get(id).map(|(reason, _)| reason)
    }

    /// How many tasks are unplaced.
    pub(crate) fn len(&self) -> usize {
        self.reasons.len()
    }

    /// How many tasks each constraint binds, by label (those with none
    /// left out): kept as tasks come and go, so reading it is O(labels).
    pub(crate) fn by_constraint(&self) -> &BTreeMap<&'static str, u64> {
        &self.by_constraint
    }

    fn uncount(&mut self, label: &'static str) {
        if let Some(count) = self.by_constraint.get_mut(label) {
            *count -= 1;
            if *count == 0 {
                self.by_constraint.remove(label);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason() -> Unplaced {
        Unplaced {
            reason: "no agent fits".to_owned(),
            constraint: crate::algorithm::Constraint::Cpu,
        }
    }

    #[test]
    fn only_shapes_that_fit_the_capacity_that_appeared_are_retried_and_doubled_while_they_place() {
        let mut unplaced = UnplacedTasks::default();
        let small: Shape = (100, 64, BTreeSet::new());
        let huge: Shape = (1_000_000, 64, BTreeSet::new());
        for index in 0..10 {
            unplaced.insert(
                ContainerId::new(&format!("s-000000{index}-0")),
                small.clone(),
                reason(),
            );
            unplaced.insert(
                ContainerId::new(&format!("h-000000{index}-0")),
                huge.clone(),
                reason(),
            );
        }
        assert!(unplaced.take_retries().is_empty(), "nothing due yet");
        unplaced.capacity_appeared_on((500, 1024), &[]);
        let first = unplaced.take_retries();
        assert_eq!(
            first.len(),
            1,
            "one task of the one shape that fits: {first:?}"
        );
        assert!(first[0].as_str().starts_with("s-"));
        unplaced.remove(&first[0]);
        assert!(
            unplaced.after_placement(&[]),
            "it placed: retry more at once"
        );
        assert_eq!(unplaced.take_retries().len(), 2, "twice as many");
        assert!(!unplaced.after_placement(std::slice::from_ref(&small)));
        unplaced.capacity_appeared();
        assert_eq!(
            unplaced.take_retries().len(),
            2,
            "the tick retries one of each shape"
        );
        unplaced.forget_job(&JobHash::new("h-0000003"));
        assert_eq!(unplaced.len(), 18);
        assert_eq!(
            unplaced.by_constraint().get("cpu"),
            Some(&18),
            "counted by constraint as tasks come and go"
        );
    }
}
