//! The registry file: loaded at start, replaced atomically on every write.
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

use harpoon_core::Jobs;
use harpoon_core::wire::{JobConfig, JobHash};

use super::registry_file::{self, CorruptRegistry, RegistryEntry};

/// Why the registry file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading failed.
    #[error("cannot read the registry {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a registry; it is left untouched.
    #[error("{0}; it was left untouched: repair or move it, then start again")]
    Corrupt(#[from] CorruptRegistry),
    /// Writing failed.
    #[error("cannot write the registry {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Reads the registry at `path`, in our format or the original's (see
/// [`registry_file`](super::registry_file)): its jobs under the keys the
/// file gave them. A missing file is an empty registry.
pub fn load(path: &Path) -> Result<Vec<RegistryEntry>, PersistError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(PersistError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    Ok(registry_file::parse(path, &bytes)?)
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
pub struct Encoder {
    entries: BTreeMap<JobHash, Arc<[u8]>>,
}

impl Encoder {
    /// The registry file's content for `jobs`.
    pub fn encode(&mut self, jobs: &Jobs) -> Vec<u8> {
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

/// Replaces the registry at `path` with `bytes` (an encoded registry),
/// durably.
pub fn store_bytes(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let fail = |source| PersistError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(fail)
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
    fn store_then_load_round_trips_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        assert!(load(&path).unwrap().is_empty(), "missing file is empty");
        let jobs: Jobs = [job("a"), job("b")]
            .into_iter()
            .map(|j| (j.hash(), Arc::new(j)))
            .collect();
        store_bytes(&path, &Encoder::default().encode(&jobs)).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(
            error.contains("corrupt") && error.contains("registry.json"),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{not json");
    }
}
