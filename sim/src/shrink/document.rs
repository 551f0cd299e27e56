//! A scenario file as a document the shrinker edits: its TOML tree, with
//! the parts a world is made of (agents, jobs, timeline entries,
//! expectations) and the rules that keep references consistent when one
//! goes.
//!
//! The shrinker edits the file's own keys, not the validated
//! [`Scenario`](crate::Scenario), so that whatever a file may say (any
//! ContainerConfig field of a job, the extra keys of `scenarios/README.md`)
//! survives into the result unchanged, and every candidate is text that goes
//! through the same parser and validator as a file on disk.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;

use toml::{Table, Value};

use crate::scenario::{self, Scenario, ScenarioError};

/// The arrays of tables a scenario holds, in the order they are written.
const SECTIONS: [&str; 4] = ["agent", "job", "at", "expect"];
/// The tables a scenario holds, in the order they are written.
const TABLES: [&str; 2] = ["scheduler", "network"];
/// Timeline keys whose value is the name of one agent.
const AGENT_ACTIONS: [&str; 8] = [
    "drain",
    "undrain",
    "crash",
    "restart",
    "wipe",
    "drop_stream",
    "remove_agent",
    "report_stray",
];
/// Timeline keys whose value is a list of agent names.
const AGENT_LIST_ACTIONS: [&str; 2] = ["partition", "heal"];
/// Timeline keys whose value is a table naming one agent under `agent`.
const AGENT_TABLE_ACTIONS: [&str; 8] = [
    "slow",
    "fail_starts",
    "fail_commands",
    "never_confirm",
    "flap_stream",
    "shrink_agent",
    "lose_containers",
    "repeat_first_event",
];
/// Timeline keys whose value is the name of a job.
const JOB_ACTIONS: [&str; 3] = ["schedule", "unschedule", "abort_rollout"];
/// Expectation keys whose value is a table naming a job under `job` (or
/// an agent under `agent`).
const JOB_EXPECTATIONS: [&str; 6] = [
    "running",
    "placed",
    "unplaced",
    "placed_on",
    "instances_at_most",
    "agent_commands_at_most",
];

/// How big a world is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    /// Agents, declared and added by the timeline.
    pub agents: usize,
    /// Jobs.
    pub jobs: usize,
    /// Timeline entries, `add_agent` ones included.
    pub timeline: usize,
    /// Expectations.
    pub expectations: usize,
}

impl Size {
    /// True when no part of `self` is larger than in `other`.
    pub fn fits_in(&self, other: &Size) -> bool {
        self.agents <= other.agents
            && self.jobs <= other.jobs
            && self.timeline <= other.timeline
            && self.expectations <= other.expectations
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "{}, {}, {}, {}",
            plural(self.agents, "agent", "agents"),
            plural(self.jobs, "job", "jobs"),
            plural(self.timeline, "timeline entry", "timeline entries"),
            plural(self.expectations, "expectation", "expectations"),
        )
    }
}

/// A part of a world that can be removed as a whole.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// An agent (declared, or added by an `add_agent` entry), by name:
    /// every timeline entry and expectation naming it goes with it.
    Agent(String),
    /// A job, by name: its schedules, unschedules and expectations go too.
    Job(String),
    /// A timeline entry other than `add_agent`, by index in the file.
    Entry(usize),
    /// An expectation, by index in the file.
    Expectation(usize),
}

/// A scenario file's TOML tree, normalised so that each agent is one entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    table: Table,
}

impl Document {
    /// Parses and validates `source` (errors as for any scenario file), and
    /// expands `[[agent]]` entries with a `count` into one entry per agent,
    /// named as the parser names them, so that agents can go one by one.
    pub fn parse(source: &str, origin: &str) -> Result<Document, ScenarioError> {
        scenario::parse(source, origin)?;
        let mut table: Table = toml::from_str(source).map_err(|error| ScenarioError {
            origin: origin.to_owned(),
            line: 0,
            key: "(document)".to_owned(),
            message: error.message().to_owned(),
        })?;
        if let Some(Value::Array(agents)) = table.get_mut("agent") {
            let mut expanded = Vec::new();
            for agent in agents.drain(..) {
                let Value::Table(mut agent) = agent else {
                    expanded.push(agent);
                    continue;
                };
                match agent.remove("count").and_then(|count| count.as_integer()) {
                    None => expanded.push(Value::Table(agent)),
                    Some(count) => {
                        let name = agent
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        for index in 0..count {
                            let mut one = agent.clone();
                            one.insert("name".to_owned(), Value::from(format!("{name}{index}")));
                            expanded.push(Value::Table(one));
                        }
                    }
                }
            }
            *agents = expanded;
        }
        Ok(Document { table })
    }

    /// The document as a scenario file, keys in a fixed order: the
    /// top-level keys, `[scheduler]`, `[network]`, then every agent, job,
    /// timeline entry and expectation in document order.
    pub fn to_toml(&self) -> String {
        let mut text = String::new();
        let first = ["name", "seed", "duration"];
        write_keys(&mut text, &self.table, &first, |value| {
            !matches!(value, Value::Table(_) | Value::Array(_))
                || matches!(value, Value::Array(items) if !items.iter().any(Value::is_table))
        });
        for name in TABLES {
            if let Some(Value::Table(table)) = self.table.get(name)
                && !table.is_empty()
            {
                let _ = writeln!(text, "\n[{name}]");
                write_keys(&mut text, table, &[], |_| true);
            }
        }
        for name in SECTIONS {
            for entry in self.entries(name) {
                let _ = writeln!(text, "\n[[{name}]]");
                write_keys(&mut text, entry, &["name", "time"], |_| true);
            }
        }
        text
    }

    /// The validated scenario this document describes.
    pub fn scenario(&self, origin: &str) -> Result<Scenario, ScenarioError> {
        scenario::parse(&self.to_toml(), origin)
    }

    /// The seed of the run (`seed`, default 1 as for the parser).
    pub fn seed(&self) -> u64 {
        self.table
            .get("seed")
            .and_then(Value::as_integer)
            .map_or(1, |seed| seed as u64)
    }

    /// Sets the seed the file runs with.
    pub fn set_seed(&mut self, seed: u64) {
        // TOML integers are signed 64-bit; larger seeds keep their low bits.
        self.table
            .insert("seed".to_owned(), Value::Integer(seed as i64));
    }

    /// Sets the scenario's name.
    pub fn set_name(&mut self, name: String) {
        self.table.insert("name".to_owned(), Value::from(name));
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        self.table
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// How big the world is.
    pub fn size(&self) -> Size {
        Size {
            agents: self.agent_names().len(),
            jobs: self.entries("job").count(),
            timeline: self.entries("at").count(),
            expectations: self.entries("expect").count(),
        }
    }

    /// Every removable part: agents, jobs, timeline entries (other than
    /// `add_agent`, which go with their agent), expectations.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts: Vec<Part> = self.agent_names().into_iter().map(Part::Agent).collect();
        parts.extend(
            self.entries("job")
                .filter_map(|job| job.get("name")?.as_str())
                .map(|name| Part::Job(name.to_owned())),
        );
        parts.extend(
            self.entries("at")
                .enumerate()
                .filter(|(_, entry)| !entry.contains_key("add_agent"))
                .map(|(index, _)| Part::Entry(index)),
        );
        parts.extend((0..self.entries("expect").count()).map(Part::Expectation));
        parts
    }

    /// The document without `parts`, and without everything that refers to
    /// a removed agent or job: timeline entries naming it (a partition or
    /// heal loses the name, and goes when no name is left) and
    /// expectations naming it.
    pub fn without(&self, parts: &[Part]) -> Document {
        let mut agents = BTreeSet::new();
        let mut jobs = BTreeSet::new();
        let mut entries = BTreeSet::new();
        let mut expectations = BTreeSet::new();
        for part in parts {
            match part {
                Part::Agent(name) => {
                    agents.insert(name.as_str());
                }
                Part::Job(name) => {
                    jobs.insert(name.as_str());
                }
                Part::Entry(index) => {
                    entries.insert(*index);
                }
                Part::Expectation(index) => {
                    expectations.insert(*index);
                }
            }
        }
        let mut table = self.table.clone();
        retain(&mut table, "agent", |_, entry| !named_in(entry, &agents));
        retain(&mut table, "job", |_, entry| !named_in(entry, &jobs));
        retain(&mut table, "at", |index, entry| {
            !entries.contains(&index) && keep_entry(entry, &agents, &jobs)
        });
        retain(&mut table, "expect", |index, entry| {
            !expectations.contains(&index) && keep_expectation(entry, &agents, &jobs)
        });
        prune_agent_lists(&mut table, &agents);
        Document { table }
    }

    /// Agent names: declared ones, then those the timeline adds.
    pub fn agent_names(&self) -> Vec<String> {
        let declared = self
            .entries("agent")
            .filter_map(|agent| agent.get("name")?.as_str());
        let added = self
            .entries("at")
            .filter_map(|entry| entry.get("add_agent")?.as_table()?.get("name")?.as_str());
        declared.chain(added).map(str::to_owned).collect()
    }

    /// The entries of one array of tables (`agent`, `job`, `at`, `expect`).
    pub fn entries(&self, section: &str) -> impl Iterator<Item = &Table> {
        self.table
            .get(section)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_table)
    }

    /// The value at `path`, if there is one.
    pub fn get(&self, path: &Path) -> Option<&Value> {
        let mut value = self.table.get(path.key.as_str())?;
        if let Some(index) = path.index {
            value = value.as_array()?.get(index)?;
        }
        for key in &path.keys {
            value = value.as_table()?.get(key.as_str())?;
        }
        Some(value)
    }

    /// The document with `value` at `path` (`None` removes the key), or
    /// `None` when the path leads nowhere.
    pub fn with(&self, path: &Path, value: Option<Value>) -> Option<Document> {
        let mut document = self.clone();
        let Some((last, within)) = path.keys.split_last() else {
            // A top-level value (`duration`); top-level keys stay.
            document.table.insert(path.key.clone(), value?);
            return Some(document);
        };
        let mut table = if path.index.is_none() {
            document.table.get_mut(path.key.as_str())?.as_table_mut()?
        } else {
            document
                .table
                .get_mut(path.key.as_str())?
                .as_array_mut()?
                .get_mut(path.index?)?
                .as_table_mut()?
        };
        for key in within {
            table = table.get_mut(key.as_str())?.as_table_mut()?;
        }
        match value {
            Some(value) => {
                table.insert(last.clone(), value);
            }
            None => {
                table.remove(last.as_str())?;
            }
        }
        Some(document)
    }
}

/// Where a value sits in a document: a top-level key, an index when that
/// key holds an array of tables, then keys into nested tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// The top-level key (`duration`, `network`, `agent`, ...).
    pub key: String,
    /// The entry, for an array of tables.
    pub index: Option<usize>,
    /// Keys into the entry or table; empty for a top-level value.
    pub keys: Vec<String>,
}

impl Path {
    /// A top-level value (`duration`), or one in a top-level table
    /// (`network`, `latency`).
    pub fn top(key: &str, keys: &[&str]) -> Path {
        Path {
            key: key.to_owned(),
            index: None,
            keys: keys.iter().map(|&key| key.to_owned()).collect(),
        }
    }

    /// A value of entry `index` of an array of tables (`agent`, 2, `cpu`).
    pub fn entry(key: &str, index: usize, keys: &[&str]) -> Path {
        Path {
            key: key.to_owned(),
            index: Some(index),
            keys: keys.iter().map(|&key| key.to_owned()).collect(),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        if let Some(index) = self.index {
            write!(f, "[{index}]")?;
        }
        for key in &self.keys {
            write!(f, ".{key}")?;
        }
        Ok(())
    }
}

/// Writes `key = value` lines: `first` keys in that order, then the rest in
/// key order, of those values `include` accepts.
fn write_keys(text: &mut String, table: &Table, first: &[&str], include: impl Fn(&Value) -> bool) {
    let ordered = first
        .iter()
        .filter_map(|&key| table.get_key_value(key))
        .chain(
            table
                .iter()
                .filter(|(key, _)| !first.contains(&key.as_str())),
        );
    for (key, value) in ordered {
        if include(value) {
            let key = Value::from(key.as_str());
            let key = key
                .as_str()
                .filter(|key| is_bare_key(key))
                .map_or_else(|| key.to_string(), str::to_owned);
            let _ = writeln!(text, "{key} = {value}");
        }
    }
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether the entry's `name` is in `set`.
fn named_in(entry: &Table, set: &BTreeSet<&str>) -> bool {
    entry
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|name| set.contains(name))
}

/// Keeps the entries of array `section` for which `keep(index, entry)`.
fn retain(table: &mut Table, section: &str, keep: impl Fn(usize, &Table) -> bool) {
    let Some(Value::Array(items)) = table.get_mut(section) else {
        return;
    };
    let mut index = 0;
    items.retain(|item| {
        let kept = item.as_table().is_none_or(|entry| keep(index, entry));
        index += 1;
        kept
    });
    if items.is_empty() {
        table.remove(section);
    }
}

/// Whether a timeline entry survives the removal of `agents` and `jobs`;
/// a partition or heal loses the removed names first.
fn keep_entry(entry: &Table, agents: &BTreeSet<&str>, jobs: &BTreeSet<&str>) -> bool {
    let named = |key: &str, set: &BTreeSet<&str>| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|name| set.contains(name))
    };
    if AGENT_ACTIONS.iter().any(|key| named(key, agents))
        || JOB_ACTIONS.iter().any(|key| named(key, jobs))
    {
        return false;
    }
    for key in AGENT_TABLE_ACTIONS.iter().chain(&["add_agent"]) {
        let field = if *key == "add_agent" { "name" } else { "agent" };
        if entry
            .get(*key)
            .and_then(Value::as_table)
            .and_then(|table| table.get(field))
            .and_then(Value::as_str)
            .is_some_and(|name| agents.contains(name))
        {
            return false;
        }
    }
    // A rollout names two jobs.
    if let Some(migrate) = entry.get("migrate").and_then(Value::as_table)
        && ["from", "to"].iter().any(|field| {
            migrate
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|name| jobs.contains(name))
        })
    {
        return false;
    }
    for key in AGENT_LIST_ACTIONS {
        if let Some(list) = entry.get(key).and_then(Value::as_array)
            && !list
                .iter()
                .any(|name| name.as_str().is_some_and(|name| !agents.contains(name)))
        {
            return false;
        }
    }
    true
}

/// Whether an expectation survives the removal of `agents` and `jobs`.
fn keep_expectation(entry: &Table, agents: &BTreeSet<&str>, jobs: &BTreeSet<&str>) -> bool {
    let recovering = entry.get("failed_starts_recover").and_then(Value::as_str);
    if recovering.is_some_and(|job| jobs.contains(job)) {
        return false;
    }
    let rollout_to = entry
        .get("rollout")
        .and_then(Value::as_table)
        .and_then(|table| table.get("to"))
        .and_then(Value::as_str);
    if rollout_to.is_some_and(|job| jobs.contains(job)) {
        return false;
    }
    if let Some(names) = entry
        .get("min_running")
        .and_then(Value::as_table)
        .and_then(|table| table.get("jobs"))
        .and_then(Value::as_array)
        && names
            .iter()
            .any(|name| name.as_str().is_some_and(|name| jobs.contains(name)))
    {
        return false;
    }
    JOB_EXPECTATIONS.iter().all(|key| {
        let Some(table) = entry.get(*key).and_then(Value::as_table) else {
            return true;
        };
        let names = |field: &str, set: &BTreeSet<&str>| {
            table
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|name| set.contains(name))
        };
        !names("job", jobs) && !names("agent", agents)
    })
}

/// Removes the names of removed agents from partitions and heals (their
/// entries survive [`keep_entry`] only when a name is left).
fn prune_agent_lists(table: &mut Table, agents: &BTreeSet<&str>) {
    let Some(Value::Array(entries)) = table.get_mut("at") else {
        return;
    };
    for entry in entries.iter_mut().filter_map(Value::as_table_mut) {
        for key in AGENT_LIST_ACTIONS {
            if let Some(Value::Array(list)) = entry.get_mut(key) {
                list.retain(|name| name.as_str().is_none_or(|name| !agents.contains(name)));
            }
        }
    }
}

#[cfg(test)]
mod tests;
