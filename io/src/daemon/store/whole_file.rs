//! The whole-file store: the registry as one JSON file (jobs by hash),
//! replaced atomically on every write. This was the daemon's registry
//! before the embedded store; it is kept as the baseline `harpoon-bench`
//! measures the embedded store against, and a write costs the size of the
//! whole registry.
//!
//! A write goes to a temporary file in the same directory, is fsynced, is
//! renamed over the registry file, and the directory is fsynced, so that
//! after a crash the file holds either the old or the new registry, never a
//! mix. A missing file is an empty registry; a file that cannot be parsed
//! stops the daemon and is never overwritten.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use harpoon_core::wire::{JobConfig, JobHash};
use harpoon_core::{Jobs, RegistryChanges};

use super::{StoreError, StoredRegistry, json_registry, leftovers};

/// The registry file, and the registry its writes so far leave.
#[derive(Debug)]
pub struct WholeFileStore {
    path: PathBuf,
    jobs: Jobs,
    encoder: Encoder,
}

impl WholeFileStore {
    /// Reads the registry file at `path` (missing: empty).
    pub fn open(path: &Path) -> Result<(WholeFileStore, StoredRegistry), StoreError> {
        let registry = json_registry::read(path)?;
        let jobs = registry
            .jobs
            .iter()
            .map(|job| (job.hash(), Arc::new(job.clone())))
            .collect();
        let store = WholeFileStore {
            path: path.to_owned(),
            jobs,
            encoder: Encoder::default(),
        };
        Ok((store, registry))
    }

    /// The registry file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the changes and rewrites the whole file. On failure the
    /// changes stay applied in memory: the core retries them (whole values,
    /// so applying them again is harmless).
    pub fn apply(&mut self, changes: &RegistryChanges) -> Result<(), StoreError> {
        // The file's format is the original's: jobs by hash, nothing else.
        // A rollout or drain it cannot keep is refused, changing nothing,
        // rather than acknowledged and lost at the next start.
        if !(changes.rollouts_put.is_empty()
            && changes.rollouts_removed.is_empty()
            && changes.drains_put.is_empty()
            && changes.drains_removed.is_empty())
        {
            return Err(StoreError::Write {
                path: self.path.clone(),
                reason: "the whole-file registry holds jobs only, not rollouts or drains; run with the embedded store".to_owned(),
            });
        }
        for (hash, job) in &changes.put {
            self.jobs.insert(hash.clone(), Arc::clone(job));
        }
        for hash in &changes.removed {
            self.jobs.remove(hash);
        }
        let bytes = self.encoder.encode(&self.jobs);
        store_bytes(&self.path, &bytes)
    }
}

/// Encodes registries as the registry file holds them (pretty JSON, jobs
/// by hash), remembering each job's encoding between writes.
///
/// Every write replaces the whole file, but a write usually adds or removes
/// a few jobs among thousands: encoding them all again was most of the
/// daemon's CPU under a stream of schedules (`harpoon-bench` part 7). A job
/// is immutable under its hash, so its encoding is kept and a write copies
/// bytes for the jobs it has seen before. The output is byte for byte what
/// `serde_json::to_vec_pretty` writes (a test checks it).
#[derive(Debug, Default)]
struct Encoder {
    entries: BTreeMap<JobHash, Arc<[u8]>>,
}

impl Encoder {
    /// The registry file's content for `jobs`.
    fn encode(&mut self, jobs: &Jobs) -> Vec<u8> {
        let size: usize = self.entries.values().map(|entry| entry.len() + 2).sum();
        let mut out = Vec::with_capacity(size + 4);
        out.push(b'{');
        let mut kept = Vec::with_capacity(jobs.len());
        for (index, (hash, job)) in jobs.iter().enumerate() {
            let entry = self
                .entries
                .remove(hash)
                .unwrap_or_else(|| encode_entry(hash, job));
            out.extend_from_slice(if index == 0 { b"\n" } else { b",\n" });
            out.extend_from_slice(&entry);
            kept.push((hash.clone(), entry));
        }
        if !jobs.is_empty() {
            out.push(b'\n');
        }
        out.push(b'}');
        // Jobs gone are forgotten; the rest, in order, build the map in one go.
        self.entries = kept.into_iter().collect();
        out
    }
}

/// One job as a member of the registry object: `  "hash": {...}`, nested
/// one level as pretty JSON nests it. JSON text holds no raw newline
/// inside strings, so indenting every line is exact.
fn encode_entry(hash: &JobHash, job: &JobConfig) -> Arc<[u8]> {
    let key = serde_json::to_vec(hash.as_str()).expect("a string encodes");
    let value = serde_json::to_vec_pretty(job).expect("jobs always encode");
    let mut entry = Vec::with_capacity(value.len() + value.len() / 8 + key.len() + 4);
    entry.extend_from_slice(b"  ");
    entry.extend_from_slice(&key);
    entry.extend_from_slice(b": ");
    for &byte in &value {
        entry.push(byte);
        if byte == b'\n' {
            entry.extend_from_slice(b"  ");
        }
    }
    entry.into()
}

/// Replaces the file at `path` with `bytes`, durably.
pub(super) fn store_bytes(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = leftovers::write_temporary(path, std::process::id());
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        sync_directory_of(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(|error| StoreError::Write {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Fsyncs the directory holding `path`, so that a rename into it is
/// durable.
pub(super) fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(leftovers::directory_of(path))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> JobConfig {
        serde_json::from_value(
            serde_json::json!({"job": name, "product": "p", "environment": "e", "scale": 1}),
        )
        .unwrap()
    }

    #[test]
    fn the_encoder_writes_what_serde_json_writes_as_jobs_come_and_go() {
        let mut encoder = Encoder::default();
        let mut jobs = Jobs::new();
        assert_eq!(
            encoder.encode(&jobs),
            serde_json::to_vec_pretty(&jobs).unwrap()
        );
        for round in ["a", "b", "c", "d"] {
            let job = job(round);
            jobs.insert(job.hash(), Arc::new(job));
            if round == "c" {
                jobs.remove(&job_hash("a"));
            }
            let encoded = encoder.encode(&jobs);
            assert_eq!(
                String::from_utf8(encoded).unwrap(),
                String::from_utf8(serde_json::to_vec_pretty(&jobs).unwrap()).unwrap(),
                "after adding {round}"
            );
        }
        assert_eq!(encoder.entries.len(), jobs.len(), "jobs gone are forgotten");
    }

    fn job_hash(name: &str) -> JobHash {
        job(name).hash()
    }

    #[test]
    fn writes_then_open_round_trip_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let (mut store, loaded) = WholeFileStore::open(&path).unwrap();
        assert!(loaded.jobs.is_empty(), "missing file is empty");
        let changes = RegistryChanges {
            put: [job("a"), job("b")]
                .into_iter()
                .map(|j| (j.hash(), Arc::new(j)))
                .collect(),
            removed: vec![],
            ..RegistryChanges::default()
        };
        store.apply(&changes).unwrap();
        store
            .apply(&RegistryChanges {
                put: vec![],
                removed: vec![job_hash("a")],
                ..RegistryChanges::default()
            })
            .unwrap();
        let (_, loaded) = WholeFileStore::open(&path).unwrap();
        assert_eq!(loaded.jobs, vec![job("b")]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = WholeFileStore::open(&path).unwrap_err().to_string();
        assert!(
            error.contains("corrupt") && error.contains("registry.json"),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{not json");
    }
}
