//! The registry's store: where the durable registry lives, behind the
//! persistence contract of `harpoon_core::registry` (a write applies one
//! group of changes atomically and durably; at most one is outstanding).
//!
//! - `embedded`: the default, a redb database in one file. A write is one
//!   transaction costing the size of its changes, fsynced at commit.
//! - `whole_file`: the former JSON registry file, rewritten whole on every
//!   write. Kept as `harpoon-bench`'s baseline; the daemon uses it only
//!   when asked (`StoreKind::WholeFile`).
//! - `json_registry`: the JSON registry format (ours and the original
//!   Harpoon's: an object of job configs by hash), for import and export.
//! - `leftovers`: temporary files a killed process may have left.
//! - `parallel_decode`: the stored jobs' JSON decoded on several threads
//!   at start-up, in key order, naming the first job that fails.
//!
//! A replicated store (the high-availability issue's etcd) is another
//! variant of [`RegistryStore`] behind the same contract.
//!
//! # Which file `--persist PATH` names
//!
//! - a harpoon store (a redb file): it is opened;
//! - a JSON registry (ours or the original's): it is imported once into the
//!   store `PATH.redb` beside it, and never modified; when `PATH.redb`
//!   exists already (imported before) that store is used and the JSON file
//!   is not read;
//! - nothing: a new, empty store is created at `PATH` (at `PATH.redb` when
//!   `PATH` ends in `.json`, as for an import);
//! - anything else: the daemon stops with an error naming the file and is
//!   never overwritten.

mod embedded;
mod json_registry;
mod leftovers;
mod parallel_decode;
mod whole_file;

use std::path::{Path, PathBuf};

use harpoon_core::RegistryChanges;
use harpoon_core::wire::JobConfig;

pub use embedded::EmbeddedStore;
pub use json_registry::{decode as decode_json_registry, encode as encode_json_registry};
pub use whole_file::WholeFileStore;

/// Which kind of store the daemon keeps its registry in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded database (redb): writes cost what changed.
    #[default]
    Embedded,
    /// The whole JSON file, rewritten on every write: the baseline the
    /// benchmark compares with.
    WholeFile,
}

/// The registry as a store holds it.
#[derive(Clone, Debug, Default)]
pub struct StoredRegistry {
    /// Every job.
    pub jobs: Vec<JobConfig>,
    /// Every rollout, finished ones included.
    pub rollouts: Vec<harpoon_core::rollout::Rollout>,
    /// Every agent being drained.
    pub drains: Vec<harpoon_core::AgentId>,
    /// The sequence number of the last durable write (0 for a new store).
    pub sequence: u64,
}

/// Why the registry's store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or opening failed for a reason outside the file's content.
    #[error("cannot read the registry {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file is not a registry, or a damaged one; it is left untouched.
    #[error(
        "the registry {path} is corrupt ({reason}); it was left untouched: repair or move it, then start again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The store is open in another process.
    #[error(
        "the registry {path} is in use by another process (a running scheduler?); stop it first"
    )]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write the registry {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The store of the daemon's registry.
#[derive(Debug)]
pub enum RegistryStore {
    /// The embedded database.
    Embedded(EmbeddedStore),
    /// The whole JSON file.
    WholeFile(WholeFileStore),
}

impl RegistryStore {
    /// Opens the store `path` names (see the module's rules), importing a
    /// JSON registry when it names one, and reads what it holds. Removes
    /// temporary files a killed process left beside it first.
    pub fn open(
        path: &Path,
        kind: StoreKind,
    ) -> Result<(RegistryStore, StoredRegistry), StoreError> {
        leftovers::remove_beside(path);
        match kind {
            StoreKind::WholeFile => {
                let (store, registry) = WholeFileStore::open(path)?;
                Ok((RegistryStore::WholeFile(store), registry))
            }
            StoreKind::Embedded => {
                let (store, registry) = embedded::open_or_import(path)?;
                Ok((RegistryStore::Embedded(store), registry))
            }
        }
    }

    /// Applies one write's changes atomically and durably.
    pub fn apply(&mut self, sequence: u64, changes: &RegistryChanges) -> Result<(), StoreError> {
        match self {
            RegistryStore::Embedded(store) => store.apply(sequence, changes),
            RegistryStore::WholeFile(store) => store.apply(changes),
        }
    }

    /// The file the registry lives in.
    pub fn path(&self) -> &Path {
        match self {
            RegistryStore::Embedded(store) => store.path(),
            RegistryStore::WholeFile(store) => store.path(),
        }
    }
}

/// Writes the registry `path` names in the original's JSON format to
/// `out` (durably, replacing it) or, without `out`, returns the bytes.
/// The store is opened read-only: it must not be in use by a running
/// scheduler (`GET /api/v0/registry` answers the same from one).
pub fn export(path: &Path) -> Result<Vec<u8>, StoreError> {
    let registry = match embedded::locate(path)? {
        embedded::Located::Store(store_path) => EmbeddedStore::read_only(&store_path)?,
        embedded::Located::Json(json) => json_registry::read(&json)?,
        embedded::Located::Nothing => StoredRegistry::default(),
    };
    Ok(json_registry::encode(&registry.jobs))
}

/// Replaces `path` with `bytes` durably: a temporary file beside it,
/// fsynced, renamed over it, and the directory fsynced.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    whole_file::store_bytes(path, bytes)
}
