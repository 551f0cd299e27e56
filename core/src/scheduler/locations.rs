//! Where each container is: the index from a container ID to the agents
//! (by number, see [`AgentNo`]) that have a record of it, and how many
//! tasks of each job the durable
//! registry desires. It lets a reconcile look at one task without visiting
//! every agent, and is kept in step with the agents' records by the
//! scheduler (every insert and removal of a record goes through it) and
//! with the registry (every durable change of a job sets its count).
//!
//! Tasks are stored by job, then densely by task index: a lookup is one
//! search among jobs (thousands, whose hashes stay in cache) and an array
//! index, where a map keyed by container ID would chase a pointer to a
//! different string at every comparison of a twenty-level search through a
//! million keys: the cost that made a reconcile at a million tasks twice
//! as slow as at a thousand. It also stores no container ID per task.
//! Jobs are numbered, and each record of a task carries its job's number
//! and its index (a [`TaskSlot`]): from a record, the task's holders and
//! whether it is desired are two array indexes away, with no ID parsed and
//! no search (the anti-entropy sweep's path, a few cache misses fewer per
//! container at a million tasks). Containers this scheduler did not name
//! (or with an index beyond any valid scale) are kept by ID.

use std::collections::BTreeMap;

use crate::ids::{AgentNo, TaskSlot};
use crate::wire::{ContainerId, JobConfig, JobHash};

/// Task indexes below this are stored densely.
const DENSE_INDEXES: u32 = JobConfig::MAX_SCALE as u32;

/// Container ID → agents holding a record of it (usually one; several
/// while a duplicate is being resolved), and how many tasks of each job
/// are desired.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Locations {
    /// Jobs by number: every job with a task located or desired.
    jobs: Vec<JobTasks>,
    /// The number of each job in `jobs`.
    numbers: BTreeMap<JobHash, u32>,
    /// Numbers no job uses, reused first.
    free: Vec<u32>,
    /// Every holder of each task held by more than one agent (a duplicate
    /// being resolved: rare), by job number and index. The task's entry in
    /// its job's `holders` keeps the first of them.
    #[serde(with = "crate::map_as_pairs")]
    shared: BTreeMap<(u32, u16), Vec<AgentNo>>,
    /// Every other container (rare: one this scheduler did not name), by
    /// ID, with its holders in number order (never empty).
    others: BTreeMap<ContainerId, Vec<AgentNo>>,
    /// Containers located, in both.
    len: usize,
    /// Tasks desired, over every job.
    desired_total: u64,
}

/// The located tasks of one job, from [`Locations::job`].
pub struct JobLocations<'a> {
    locations: &'a Locations,
    job: &'a JobHash,
    number: Option<u32>,
}

impl<'a> JobLocations<'a> {
    /// As [`Locations::of_task`].
    pub fn of_task(&self, index: u32) -> &'a [AgentNo] {
        match (self.number, u16::try_from(index)) {
            (Some(job), Ok(index)) if u32::from(index) < DENSE_INDEXES => {
                self.locations.held(job, index)
            }
            (None, _) if index < DENSE_INDEXES => &[],
            _ => self.locations.of_task(self.job, index),
        }
    }
}

/// One job's tasks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct JobTasks {
    hash: JobHash,
    /// Tasks desired by the durable registry: indexes below this.
    desired: u32,
    /// The holder of each task, by index (no trailing `None`); the first
    /// of them for a task in `Locations::shared`. One agent number, not a
    /// list: four bytes a task (the option's tag fits in the number's
    /// zero).
    holders: Vec<Option<AgentNo>>,
}

impl JobTasks {
    fn new(hash: JobHash) -> JobTasks {
        JobTasks {
            hash,
            desired: 0,
            holders: Vec::new(),
        }
    }

    fn is_unused(&self) -> bool {
        self.desired == 0 && self.holders.is_empty()
    }
}

/// Adds `agent` to `holders`, kept in number order.
fn hold(holders: &mut Vec<AgentNo>, agent: AgentNo) {
    if let Err(at) = holders.binary_search(&agent) {
        holders.insert(at, agent);
    }
}

/// Where a container is stored: a task's job and index, or by ID.
fn dense(container: &ContainerId) -> Option<(&str, u16)> {
    container
        .task_parts()
        .filter(|&(_, index)| index < DENSE_INDEXES)
        .and_then(|(hash, index)| Some((hash, u16::try_from(index).ok()?)))
}

impl Locations {
    /// The number of `hash`'s entry, made if there is none.
    fn number(&mut self, hash: &JobHash) -> u32 {
        if let Some(&number) = self.numbers.get(hash) {
            return number;
        }
        let tasks = JobTasks::new(hash.clone());
        let number = match self.free.pop() {
            Some(number) => {
                self.jobs[number as usize] = tasks;
                number
            }
            None => {
                self.jobs.push(tasks);
                u32::try_from(self.jobs.len() - 1).expect("fewer than 2^32 jobs")
            }
        };
        self.numbers.insert(hash.clone(), number);
        number
    }

    /// Drops job `number`'s entry if nothing is left in it.
    fn release_if_unused(&mut self, number: u32) {
        let tasks = &mut self.jobs[number as usize];
        if tasks.is_unused() {
            // The entry keeps no text or allocation while unused.
            let tasks = std::mem::replace(tasks, JobTasks::new(JobHash::new("")));
            self.numbers.remove(&tasks.hash);
            self.free.push(number);
        }
    }

    /// Records that `agent` has a record of `container`. Returns where the
    /// container's task is kept, for its record ([`Locations::at`]).
    pub fn add(&mut self, container: &ContainerId, agent: AgentNo) -> Option<TaskSlot> {
        let Some((hash, index)) = dense(container) else {
            if let Some(holders) = self.others.get_mut(container) {
                hold(holders, agent);
            } else {
                self.others.insert(container.clone(), vec![agent]);
                self.len += 1;
            }
            return None;
        };
        // A `JobHash` probe: its search compares inline heads, where a
        // `&str` would follow every key's pointer.
        let job = self.number(&JobHash::new(hash));
        let tasks = &mut self.jobs[job as usize];
        let at = usize::from(index);
        if tasks.holders.len() <= at {
            // Room for every desired task at once, and no more: doubling
            // would leave a quarter of a hundred tasks' entries unused.
            let wanted = (at + 1).max(tasks.desired as usize);
            tasks.holders.reserve_exact(wanted - tasks.holders.len());
            tasks.holders.resize_with(at + 1, || None);
        }
        match &tasks.holders[at] {
            None => {
                tasks.holders[at] = Some(agent);
                self.len += 1;
            }
            Some(first) if *first == agent => {}
            Some(first) => {
                let all = self
                    .shared
                    .entry((job, index))
                    .or_insert_with(|| vec![*first]);
                hold(all, agent);
            }
        }
        Some(TaskSlot { job, index })
    }

    /// Sets how many tasks of `job` the durable registry desires (0: the
    /// job is not desired).
    pub fn set_desired(&mut self, job: &JobHash, tasks: u32) {
        if tasks == 0 && !self.numbers.contains_key(job) {
            return;
        }
        let number = self.number(job);
        let old = std::mem::replace(&mut self.jobs[number as usize].desired, tasks);
        self.desired_total = self.desired_total - u64::from(old) + u64::from(tasks);
        self.release_if_unused(number);
    }

    /// Tasks desired, over every job of the durable registry.
    pub fn desired_total(&self) -> u64 {
        self.desired_total
    }

    /// The agents holding a record of the task kept at `slot` (which a
    /// record of it carries), and whether the task is desired.
    pub fn at(&self, slot: TaskSlot) -> (&[AgentNo], bool) {
        let desired = u32::from(slot.index) < self.jobs[slot.job as usize].desired;
        (self.held(slot.job, slot.index), desired)
    }

    /// The agents holding task `index` of job `number`.
    fn held(&self, number: u32, index: u16) -> &[AgentNo] {
        match self.jobs[number as usize].holders.get(usize::from(index)) {
            // Most of the time nothing is shared: no search.
            Some(Some(first)) if self.shared.is_empty() => std::slice::from_ref(first),
            Some(Some(first)) => self
                .shared
                .get(&(number, index))
                .map_or(std::slice::from_ref(first), Vec::as_slice),
            _ => &[],
        }
    }

    /// The job kept at `slot`, for checks.
    pub fn job_at(&self, slot: TaskSlot) -> &JobHash {
        &self.jobs[slot.job as usize].hash
    }

    /// Every job whose desired task count was set, with that count.
    #[cfg(debug_assertions)]
    pub fn desired(&self) -> impl Iterator<Item = (&JobHash, u32)> + '_ {
        self.numbers
            .iter()
            .map(|(hash, &number)| (hash, self.jobs[number as usize].desired))
            .filter(|&(_, tasks)| tasks > 0)
    }

    /// Records that `agent` no longer has a record of `container`.
    pub fn remove(&mut self, container: &ContainerId, agent: AgentNo) {
        let Some((hash, index)) = dense(container) else {
            let Some(holders) = self.others.get_mut(container) else {
                return;
            };
            holders.retain(|held| *held != agent);
            if holders.is_empty() {
                self.others.remove(container);
                self.len -= 1;
            }
            return;
        };
        let Some(&number) = self.numbers.get(&JobHash::new(hash)) else {
            return;
        };
        let at = usize::from(index);
        let left = match self.shared.get_mut(&(number, index)) {
            Some(all) => {
                all.retain(|held| *held != agent);
                let first = all.first().copied();
                if all.len() < 2 {
                    self.shared.remove(&(number, index));
                }
                first
            }
            None => match self.jobs[number as usize].holders.get(at) {
                Some(Some(held)) if *held == agent => None,
                _ => return,
            },
        };
        let holders = &mut self.jobs[number as usize].holders;
        if left.is_none() {
            self.len -= 1;
        }
        holders[at] = left;
        while holders.last().is_some_and(Option::is_none) {
            holders.pop();
        }
        self.release_if_unused(number);
    }

    /// The agents that have a record of `container`, by number, in number order.
    pub fn of(&self, container: &ContainerId) -> &[AgentNo] {
        match dense(container) {
            Some((hash, index)) => self.of_task(&JobHash::new(hash), u32::from(index)),
            None => self.others.get(container).map_or(&[], Vec::as_slice),
        }
    }

    /// The agents that have a record of task `index` of `job`, by number,
    /// in number order (as [`Locations::of`] its container ID, without
    /// making the ID).
    pub fn of_task(&self, job: &JobHash, index: u32) -> &[AgentNo] {
        if index >= DENSE_INDEXES {
            return self.of(&job.container_id(index));
        }
        match self.numbers.get(job) {
            Some(&number) => self.held(number, index as u16),
            None => &[],
        }
    }

    /// The located tasks of `job`: one search for many lookups.
    pub fn job<'a>(&'a self, job: &'a JobHash) -> JobLocations<'a> {
        JobLocations {
            locations: self,
            job,
            number: self.numbers.get(job).copied(),
        }
    }

    /// Every located container, in a fixed order: tasks by job and
    /// index, then the others by ID.
    pub fn containers(&self) -> impl Iterator<Item = ContainerId> + '_ {
        let tasks = self.numbers.iter().flat_map(|(hash, &number)| {
            self.jobs[number as usize]
                .holders
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.is_some())
                .map(|(index, _)| hash.container_id(index as u32))
        });
        tasks.chain(self.others.keys().cloned())
    }

    /// Number of located containers.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no container is located.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(index: usize) -> AgentNo {
        AgentNo::at(index)
    }

    #[test]
    fn keeps_agents_sorted_and_drops_empty_entries() {
        for id in [
            "web-abcdef0-0",
            "web-abcdef0-7",
            "foreign",
            "web-abcdef0-5000",
        ] {
            let mut locations = Locations::default();
            let id = ContainerId::new(id);
            locations.add(&id, agent(2));
            locations.add(&id, agent(1));
            locations.add(&id, agent(2));
            assert_eq!(locations.of(&id), &[agent(1), agent(2)]);
            assert_eq!(locations.len(), 1);
            locations.remove(&id, agent(1));
            assert_eq!(locations.of(&id), &[agent(2)]);
            locations.remove(&id, agent(2));
            assert!(locations.is_empty(), "{id}");
            assert!(locations.of(&id).is_empty());
            assert!(locations.numbers.is_empty() && locations.others.is_empty());
            assert!(locations.shared.is_empty());
        }
    }

    #[test]
    fn a_task_slot_reaches_the_holders_and_desired_state_until_the_job_is_unused() {
        let mut locations = Locations::default();
        let web = JobHash::new("web-abcdef0");
        let task = ContainerId::new("web-abcdef0-3");
        let slot = locations.add(&task, agent(1)).expect("a task");
        assert_eq!(slot.index, 3);
        assert_eq!(locations.job_at(slot), &web);
        assert_eq!(locations.at(slot), (&[agent(1)][..], false));
        locations.set_desired(&web, 4);
        assert!(locations.at(slot).1);
        locations.set_desired(&web, 3);
        assert!(!locations.at(slot).1, "index 3 is beyond a scale of 3");
        assert_eq!(locations.desired().collect::<Vec<_>>(), [(&web, 3)]);
        // A job stays numbered while desired, with no task located...
        locations.remove(&task, agent(1));
        assert_eq!(locations.at(slot), (&[][..], false));
        assert_eq!(locations.job_at(slot), &web);
        // ...and its number is reused once it is neither.
        locations.set_desired(&web, 0);
        assert!(locations.numbers.is_empty());
        assert_eq!(locations.desired().count(), 0);
        let api = ContainerId::new("api-1234567-0");
        let reused = locations.add(&api, agent(2)).expect("a task");
        assert_eq!(reused.job, slot.job);
        assert_eq!(locations.job_at(reused).as_str(), "api-1234567");
        assert_eq!(locations.add(&ContainerId::new("foreign"), agent(2)), None);
        assert_eq!(
            locations.add(&ContainerId::new("api-1234567-5000"), agent(2)),
            None,
            "indexes beyond any scale are kept by ID"
        );
    }

    #[test]
    fn iterates_every_container_once_in_a_fixed_order() {
        let mut locations = Locations::default();
        let ids: Vec<ContainerId> = [
            "web-abcdef0-0",
            "web-abcdef0-3",
            "api-1234567-2",
            "foreign-b",
            "foreign-a",
            "api-1234567-99999",
        ]
        .into_iter()
        .map(ContainerId::new)
        .collect();
        for id in &ids {
            locations.add(id, agent(1));
        }
        let all: Vec<ContainerId> = locations.containers().collect();
        let names: Vec<&str> = all.iter().map(ContainerId::as_str).collect();
        assert_eq!(
            names,
            [
                "api-1234567-2",
                "web-abcdef0-0",
                "web-abcdef0-3",
                "api-1234567-99999",
                "foreign-a",
                "foreign-b"
            ]
        );
    }
}
