//! The JSON registry format: one object, each job's hash mapping to its
//! config, as `GET /api/v0/registry` answers and the original Harpoon's
//! registry file holds. Read for import, written for export and by the
//! whole-file store.

use std::path::Path;

use harpoon_core::wire::JobConfig;
use tracing::{info, warn};

use super::{StoreError, StoredRegistry};
use crate::daemon::registry_file;

/// Decodes a JSON registry, ours or the original's; `path` names it in
/// errors.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Vec<JobConfig>, StoreError> {
    let entries = registry_file::parse(path, bytes).map_err(|error| StoreError::Corrupt {
        path: path.to_owned(),
        reason: error.problem,
    })?;
    Ok(rekey(entries))
}

/// The jobs of a loaded registry file. A key other than the job's hash
/// was written by one of our earlier versions (which hashed with SHA-256)
/// or by hand: the job is re-keyed under its hash, the original's, and the
/// log says so, job by job. The containers an earlier version started for
/// it are adopted by the core, which knows the legacy hash too.
fn rekey(entries: Vec<registry_file::RegistryEntry>) -> Vec<JobConfig> {
    entries
        .into_iter()
        .map(|entry| {
            let hash = entry.job.hash();
            if entry.key != hash.as_str() {
                if entry.key == entry.job.legacy_hash().as_str() {
                    info!(old = %entry.key, new = %hash, "registry: job re-keyed from an earlier version's hash; its containers are adopted");
                } else {
                    warn!(old = %entry.key, new = %hash, "registry: job re-keyed: its key was not its hash");
                }
            }
            entry.job
        })
        .collect()
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
        ..StoredRegistry::default()
    })
}

/// Encodes jobs as the original Harpoon writes its registry file, byte
/// for byte (see [`registry_file::encode_original`]).
pub fn encode(jobs: &[JobConfig]) -> Vec<u8> {
    registry_file::encode_original(jobs)
}
