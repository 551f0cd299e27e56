//! The agent's durable state: one JSON file per container in
//! `<data dir>/state/`, replaced atomically on every change, so that an
//! agent started again on the same directory knows every container it had.
//! Changes are applied in groups by the state writer (`writer`), off the
//! state task: every file of a group, then one flush of the directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use harpoon_core::wire::ContainerInstance;
use serde::{Deserialize, Serialize};

/// What is kept of one container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The container as clients see it.
    pub instance: ContainerInstance,
    /// Its directory (root directory and log file).
    pub dir: PathBuf,
    /// What the agent was doing with it.
    pub phase: RecordedPhase,
    /// Runs in a row that ended quickly, for the restart back-off.
    #[serde(default)]
    pub short_runs: u32,
}

/// The part of a container's phase that survives a restart of the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub(crate) enum RecordedPhase {
    /// Being prepared; `start_requested` if a start arrived meanwhile.
    Preparing { start_requested: bool },
    /// Prepared, and no process runs.
    Idle,
    /// A process runs: the pid and start time identify it.
    Running {
        pid: i32,
        start_time_ticks: u64,
        stop_requested: bool,
    },
    /// Waiting to restart after the process ended.
    RestartWait,
}

/// A change of one container's state file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Change {
    /// Write this record.
    Save(Box<Record>),
    /// Remove the file.
    Remove,
}

/// The directory of state files.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: PathBuf) -> io::Result<Store> {
        fs::create_dir_all(&dir)?;
        Ok(Store { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Applies `changes` durably, as one group: every file is written and
    /// flushed (or removed), then the directory is flushed once for all of
    /// them. Returns the containers whose change failed, with the reason;
    /// a failure to flush the directory fails them all.
    pub fn apply(&self, changes: &[(String, Change)]) -> BTreeMap<String, String> {
        let mut failed = BTreeMap::new();
        for (id, change) in changes {
            let result = match change {
                Change::Save(record) => self.write(record),
                Change::Remove => self.unlink(id),
            };
            if let Err(error) = result {
                failed.insert(id.clone(), error.to_string());
            }
        }
        if let Err(error) = sync_dir(&self.dir) {
            for (id, _) in changes {
                failed
                    .entry(id.clone())
                    .or_insert_with(|| format!("cannot flush {}: {error}", self.dir.display()));
            }
        }
        failed
    }

    /// Writes `record` so that a crash leaves either the old or the new
    /// file, never a torn one: write a temporary file, flush it to disk and
    /// rename it over the old one. The directory entry is flushed by
    /// [`Store::apply`].
    fn write(&self, record: &Record) -> io::Result<()> {
        let id = &record.instance.container_id;
        let temporary = self.dir.join(format!(".{id}.json.tmp"));
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        let mut file = File::create(&temporary)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&temporary, self.path(id))
    }

    /// Forgets container `id`.
    fn unlink(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.path(id)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Moves the unreadable state file of `id` aside (to `<id>.json.bad`),
    /// keeping it for a person to look at.
    pub fn set_aside(&self, id: &str) -> io::Result<()> {
        fs::rename(self.path(id), self.dir.join(format!("{id}.json.bad")))
    }

    /// Every record, by ID; a file that cannot be read or decoded is
    /// returned as an error so that the container is reported, not lost.
    pub fn load_all(&self) -> io::Result<Vec<(String, Result<Record, String>)>> {
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(id) = file_id(&path) else {
                continue; // A temporary file of an interrupted save.
            };
            let record = fs::read(&path)
                .map_err(|error| error.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<Record>(&bytes).map_err(|error| error.to_string())
                })
                .and_then(|record| {
                    if record.instance.container_id == id {
                        Ok(record)
                    } else {
                        Err(format!(
                            "it holds container {:?}",
                            record.instance.container_id
                        ))
                    }
                })
                .map_err(|error| format!("state file {} is unreadable: {error}", path.display()));
            records.push((id, record));
        }
        records.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(records)
    }
}

/// The container ID a state file is named after, if it is one.
fn file_id(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let id = name.strip_suffix(".json")?;
    (!id.starts_with('.')).then(|| id.to_owned())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use harpoon_core::wire::ContainerStatus;

    fn record(id: &str) -> Record {
        Record {
            instance: ContainerInstance {
                container_id: id.to_owned(),
                status: ContainerStatus::Running,
                config: Default::default(),
                process_state: Default::default(),
            },
            dir: PathBuf::from("/data/containers/x"),
            phase: RecordedPhase::Running {
                pid: 42,
                start_time_ticks: 7,
                stop_requested: false,
            },
            short_runs: 2,
        }
    }

    #[test]
    fn a_failed_change_is_reported_by_container() {
        let dir = std::env::temp_dir().join(format!("harpoon-store-fail-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(dir.clone()).unwrap();
        // A directory where the temporary file would go makes its write fail.
        fs::create_dir(dir.join(".bad.json.tmp")).unwrap();
        let changes = [
            ("bad".to_owned(), Change::Save(Box::new(record("bad")))),
            ("good".to_owned(), Change::Save(Box::new(record("good")))),
        ];
        let failed = store.apply(&changes);
        assert_eq!(failed.keys().collect::<Vec<_>>(), ["bad"]);
        assert!(dir.join("good.json").is_file());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn saves_loads_and_removes_and_reports_broken_files() {
        let dir = std::env::temp_dir().join(format!("harpoon-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(dir.clone()).unwrap();
        let save = |id: &str| (id.to_owned(), Change::Save(Box::new(record(id))));
        assert!(store.apply(&[save("a"), save("b")]).is_empty());
        fs::write(dir.join("broken.json"), "{").unwrap();
        fs::write(dir.join(".c.json.tmp"), "{").unwrap();
        let removals = [
            ("b".to_owned(), Change::Remove),
            ("never-existed".to_owned(), Change::Remove),
        ];
        assert!(store.apply(&removals).is_empty());
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0], ("a".to_owned(), Ok(record("a"))));
        assert_eq!(loaded[1].0, "broken");
        let error = loaded[1].1.clone().unwrap_err();
        assert!(error.contains("broken.json is unreadable"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }
}
