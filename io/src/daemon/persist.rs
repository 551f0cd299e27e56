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

use harpoon_core::Jobs;
use harpoon_core::wire::JobConfig;

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
    #[error(
        "the registry {path} is corrupt ({source}); it was left untouched: repair or move it, then start again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// Writing failed.
    #[error("cannot write the registry {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Reads the registry at `path`: jobs by hash, as `GET /registry` shows
/// them. A missing file is an empty registry.
pub fn load(path: &Path) -> Result<Vec<JobConfig>, PersistError> {
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
    let jobs: BTreeMap<String, JobConfig> =
        serde_json::from_slice(&bytes).map_err(|source| PersistError::Corrupt {
            path: path.to_owned(),
            source,
        })?;
    Ok(jobs.into_values().collect())
}

/// Replaces the registry at `path` with `jobs`, durably.
pub fn store(path: &Path, jobs: &Jobs) -> Result<(), PersistError> {
    let fail = |source| PersistError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(jobs).expect("jobs always encode");
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
        file.write_all(&bytes)?;
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
    use std::sync::Arc;

    use super::*;

    fn job(name: &str) -> JobConfig {
        serde_json::from_value(
            serde_json::json!({"job": name, "product": "p", "environment": "e", "scale": 1}),
        )
        .unwrap()
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
        store(&path, &jobs).unwrap();
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
