//! The JSON registry format: one object, each job's hash mapping to its
//! config, as `GET /api/v0/registry` answers and the original Harpoon's
//! registry file holds. Read for import, written for export and by the
//! whole-file store.

use std::collections::BTreeMap;
use std::path::Path;

use harpoon_core::wire::JobConfig;

use super::{StoreError, StoredRegistry};

/// Decodes a JSON registry; `path` names it in errors.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Vec<JobConfig>, StoreError> {
    let jobs: BTreeMap<String, JobConfig> =
        serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
            path: path.to_owned(),
            reason: format!("not a JSON registry: {source}"),
        })?;
    Ok(jobs.into_values().collect())
}

/// Reads the JSON registry at `path`; a missing file is an empty registry.
pub(super) fn read(path: &Path) -> Result<StoredRegistry, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StoredRegistry::default());
        }
        Err(error) => {
            return Err(StoreError::Read {
                path: path.to_owned(),
                reason: error.to_string(),
            });
        }
    };
    Ok(StoredRegistry {
        jobs: decode(path, &bytes)?,
        sequence: 0,
    })
}

/// Encodes jobs as a JSON registry (pretty, by hash).
pub fn encode(jobs: &[JobConfig]) -> Vec<u8> {
    let by_hash: BTreeMap<String, &JobConfig> = jobs
        .iter()
        .map(|job| (job.hash().as_str().to_owned(), job))
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&by_hash).expect("jobs always encode");
    bytes.push(b'\n');
    bytes
}
