//! The embedded store: a redb database in one file.
//!
//! Two tables: `jobs` maps each job's hash to its config as JSON (the
//! encoding of `GET /api/v0/registry`, so that export is a copy), and
//! `meta` holds the format version and the sequence number of the last
//! durable write (the registry's index, monotonic across restarts). One
//! write of the core is one write transaction: its puts, its removals and
//! the new sequence commit together or not at all, and the commit returns
//! only once fsynced. Quick repair is on, so that opening after a kill -9
//! reads the saved allocator state instead of walking the whole file; every
//! open checks the checksums of the committed pages, so that a damaged file
//! is reported, not trusted.

use std::path::{Path, PathBuf};

use harpoon_core::RegistryChanges;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tracing::info;

use super::parallel_decode::RawJobs;
use super::{StoreError, StoredRegistry, json_registry};

const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Rollouts by number → the rollout's JSON. Absent from stores written
/// before rollouts existed, which read as holding none.
const ROLLOUTS: TableDefinition<u64, &[u8]> = TableDefinition::new("rollouts");
/// Agents being drained (the value is unused).
const DRAINS: TableDefinition<&str, ()> = TableDefinition::new("drains");
const FORMAT_KEY: &str = "format_version";
const SEQUENCE_KEY: &str = "sequence";
/// The layout described above.
const FORMAT_VERSION: u64 = 1;
/// The first bytes of every redb file.
const REDB_MAGIC: &[u8] = b"redb\x1a\x0a\xa9\x0d\x0a";

/// An open embedded store.
pub struct EmbeddedStore {
    path: PathBuf,
    /// `None` after a failed write: redb refuses further writes on a
    /// handle that saw an I/O error, so the next write reopens the file
    /// (recovering it to its last commit) before trying again.
    db: Option<Database>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What `--persist PATH` turned out to name.
pub(super) enum Located {
    /// A store, at this path (`PATH`, or `PATH.redb` beside a JSON file).
    Store(PathBuf),
    /// A JSON registry not imported yet.
    Json(PathBuf),
    /// Nothing yet.
    Nothing,
}

/// The store beside a JSON registry: `PATH.redb`.
pub(super) fn beside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".redb");
    PathBuf::from(name)
}

/// Applies the module rules of `super` to `path`.
pub(super) fn locate(path: &Path) -> Result<Located, StoreError> {
    match first_bytes(path)? {
        Some(head) if head.starts_with(REDB_MAGIC) => Ok(Located::Store(path.to_owned())),
        Some(head) if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => {
            let store = beside(path);
            Ok(if first_bytes(&store)?.is_some() {
                Located::Store(store)
            } else {
                Located::Json(path.to_owned())
            })
        }
        Some(head) if head.is_empty() => Err(StoreError::Corrupt {
            path: path.to_owned(),
            reason: "the file is empty: neither a harpoon store nor a JSON registry".to_owned(),
        }),
        Some(_) => Err(StoreError::Corrupt {
            path: path.to_owned(),
            reason: "neither a harpoon store (a redb database) nor a JSON registry".to_owned(),
        }),
        None if path.extension().is_some_and(|ext| ext == "json") => {
            let store = beside(path);
            Ok(if first_bytes(&store)?.is_some() {
                Located::Store(store)
            } else {
                Located::Nothing
            })
        }
        None => Ok(Located::Nothing),
    }
}

/// Up to 64 bytes from the start of `path`, or `None` if it does not exist.
fn first_bytes(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    use std::io::Read as _;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(read_error(path, error)),
    };
    let mut head = Vec::with_capacity(64);
    file.by_ref()
        .take(64)
        .read_to_end(&mut head)
        .map_err(|error| read_error(path, error))?;
    Ok(Some(head))
}

fn read_error(path: &Path, error: impl std::fmt::Display) -> StoreError {
    StoreError::Read {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// Opens the store `path` names, importing a JSON registry into a new one
/// beside it, or creating an empty one.
pub(super) fn open_or_import(path: &Path) -> Result<(EmbeddedStore, StoredRegistry), StoreError> {
    match locate(path)? {
        Located::Store(store) => {
            if store != path {
                info!(json = %path.display(), store = %store.display(), "using the store imported from this JSON registry before; the JSON file is not read");
            }
            EmbeddedStore::open(&store)
        }
        Located::Json(json) => import(&json),
        Located::Nothing => {
            let store = if path.extension().is_some_and(|ext| ext == "json") {
                beside(path)
            } else {
                path.to_owned()
            };
            info!(store = %store.display(), "no registry yet: creating an empty store");
            create_new(&store, &StoredRegistry::default())?;
            EmbeddedStore::open(&store)
        }
    }
}

/// Imports the JSON registry at `json` into a new store beside it, in one
/// transaction, written under a temporary name and renamed into place, so
/// that a crash during the import leaves no half-imported store (and the
/// temporary is removed at the next start). The JSON file is only read.
fn import(json: &Path) -> Result<(EmbeddedStore, StoredRegistry), StoreError> {
    let registry = json_registry::read(json)?;
    let store = beside(json);
    create_new(&store, &registry)?;
    info!(
        json = %json.display(),
        store = %store.display(),
        jobs = registry.jobs.len(),
        "imported the JSON registry into the store beside it; the JSON file was not modified and is no longer read"
    );
    EmbeddedStore::open(&store)
}

/// Writes a new store holding `registry` at `path`, atomically: it appears
/// complete or not at all.
fn create_new(path: &Path, registry: &StoredRegistry) -> Result<(), StoreError> {
    let temp = super::leftovers::import_temporary(path);
    let write = |error: &dyn std::fmt::Display| StoreError::Write {
        path: path.to_owned(),
        reason: error.to_string(),
    };
    let _ = std::fs::remove_file(&temp);
    let result = (|| {
        let db = Database::create(&temp).map_err(|e| write(&e))?;
        let txn = db.begin_write().map_err(|e| write(&e))?;
        {
            let mut jobs = txn.open_table(JOBS).map_err(|e| write(&e))?;
            for job in &registry.jobs {
                let json = serde_json::to_vec(job).expect("jobs always encode");
                jobs.insert(job.hash().as_str(), json.as_slice())
                    .map_err(|e| write(&e))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| write(&e))?;
            meta.insert(FORMAT_KEY, FORMAT_VERSION)
                .map_err(|e| write(&e))?;
            meta.insert(SEQUENCE_KEY, registry.sequence)
                .map_err(|e| write(&e))?;
        }
        txn.commit().map_err(|e| write(&e))?;
        drop(db);
        std::fs::rename(&temp, path).map_err(|e| write(&e))?;
        super::whole_file::sync_directory_of(path).map_err(|e| write(&e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

impl EmbeddedStore {
    /// Opens an existing store and reads it.
    pub fn open(path: &Path) -> Result<(EmbeddedStore, StoredRegistry), StoreError> {
        let db = open_for_writing(path)?;
        let registry = read_from(path, &db)?;
        let store = EmbeddedStore {
            path: path.to_owned(),
            db: Some(db),
        };
        Ok((store, registry))
    }

    /// Reads the store at `path` without opening it for writing.
    pub fn read_only(path: &Path) -> Result<StoredRegistry, StoreError> {
        let db = Database::builder()
            .open_read_only(path)
            .map_err(|error| open_error(path, error))?;
        read_from(path, &db)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies one write in one transaction, fsynced at commit.
    pub fn apply(&mut self, sequence: u64, changes: &RegistryChanges) -> Result<(), StoreError> {
        let write = |error: &dyn std::fmt::Display| StoreError::Write {
            path: self.path.clone(),
            reason: error.to_string(),
        };
        let db = match self.db.take() {
            Some(db) => db,
            None => open_for_writing(&self.path).map_err(|e| write(&e))?,
        };
        let result = apply_to(&db, sequence, changes).map_err(|e| write(&e));
        if result.is_ok() {
            self.db = Some(db);
        }
        result
    }
}

fn open_for_writing(path: &Path) -> Result<Database, StoreError> {
    Database::builder()
        .set_check_integrity_on_open(true)
        .open(path)
        .map_err(|error| open_error(path, error))
}

/// One write as one transaction.
fn apply_to(db: &Database, sequence: u64, changes: &RegistryChanges) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_quick_repair(true);
    {
        let mut jobs = txn.open_table(JOBS)?;
        for (hash, job) in &changes.put {
            let json = serde_json::to_vec(&**job).expect("jobs always encode");
            jobs.insert(hash.as_str(), json.as_slice())?;
        }
        for hash in &changes.removed {
            jobs.remove(hash.as_str())?;
        }
        let mut rollouts = txn.open_table(ROLLOUTS)?;
        for rollout in &changes.rollouts_put {
            let json = serde_json::to_vec(&**rollout).expect("rollouts always encode");
            rollouts.insert(rollout.id, json.as_slice())?;
        }
        for id in &changes.rollouts_removed {
            rollouts.remove(*id)?;
        }
        let mut drains = txn.open_table(DRAINS)?;
        for agent in &changes.drains_put {
            drains.insert(agent.as_str(), ())?;
        }
        for agent in &changes.drains_removed {
            drains.remove(agent.as_str())?;
        }
        let mut meta = txn.open_table(META)?;
        meta.insert(SEQUENCE_KEY, sequence)?;
    }
    txn.commit()?;
    Ok(())
}

fn open_error(path: &Path, error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.to_owned(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Io(error)) => read_error(path, error),
        other => StoreError::Corrupt {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

fn read_from(path: &Path, db: &impl ReadableDatabase) -> Result<StoredRegistry, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let txn = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
    let meta = txn
        .open_table(META)
        .map_err(|e| corrupt(format!("no metadata table: {e}")))?;
    let format = meta
        .get(FORMAT_KEY)
        .map_err(|e| corrupt(e.to_string()))?
        .map(|value| value.value());
    match format {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(corrupt(format!(
                "format version {other}, this scheduler reads version {FORMAT_VERSION}"
            )));
        }
        None => return Err(corrupt("no format version: not a harpoon store".to_owned())),
    }
    let sequence = meta
        .get(SEQUENCE_KEY)
        .map_err(|e| corrupt(e.to_string()))?
        .map_or(0, |value| value.value());
    let table = txn
        .open_table(JOBS)
        .map_err(|e| corrupt(format!("no jobs table: {e}")))?;
    // Read first, decode afterwards on several threads: decoding is most
    // of the cost of reading a large store.
    let mut raw = RawJobs::with_capacity(table.len().unwrap_or(0) as usize);
    for entry in table.iter().map_err(|e| corrupt(e.to_string()))? {
        let (hash, json) = entry.map_err(|e| corrupt(e.to_string()))?;
        raw.push(hash.value(), json.value());
    }
    let jobs = raw.decode().map_err(corrupt)?;
    let mut rollouts = Vec::new();
    match txn.open_table(ROLLOUTS) {
        Ok(table) => {
            for entry in table.iter().map_err(|e| corrupt(e.to_string()))? {
                let (id, json) = entry.map_err(|e| corrupt(e.to_string()))?;
                let rollout = serde_json::from_slice(json.value())
                    .map_err(|e| corrupt(format!("rollout {}: {e}", id.value())))?;
                rollouts.push(rollout);
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(corrupt(format!("rollouts table: {e}"))),
    }
    let mut drains = Vec::new();
    match txn.open_table(DRAINS) {
        Ok(table) => {
            for entry in table.iter().map_err(|e| corrupt(e.to_string()))? {
                let (agent, _) = entry.map_err(|e| corrupt(e.to_string()))?;
                drains.push(harpoon_core::AgentId::new(agent.value()));
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(corrupt(format!("drains table: {e}"))),
    }
    Ok(StoredRegistry {
        jobs,
        rollouts,
        drains,
        sequence,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use harpoon_core::wire::JobConfig;

    use super::*;

    fn job(name: &str) -> JobConfig {
        serde_json::from_value(
            serde_json::json!({"job": name, "product": "p", "environment": "e", "scale": 1}),
        )
        .unwrap()
    }

    fn put(jobs: &[&JobConfig]) -> RegistryChanges {
        RegistryChanges {
            put: jobs
                .iter()
                .map(|job| (job.hash(), Arc::new((*job).clone())))
                .collect(),
            removed: vec![],
            ..RegistryChanges::default()
        }
    }

    #[test]
    fn rollouts_and_drains_are_kept_with_the_jobs_and_survive_a_reopen() {
        use harpoon_core::AgentId;
        use harpoon_core::rollout::{Rollout, RolloutParams, RolloutStatus, Wanted};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.redb");
        let (mut store, _) = open_or_import(&path).unwrap();
        let (a, b) = (job("a"), job("b"));
        let rollout = Rollout {
            id: 1,
            from: a.hash(),
            from_job: "a".to_owned(),
            from_scale: 1,
            to: b.hash(),
            to_job: "b".to_owned(),
            to_scale: 1,
            params: RolloutParams::default(),
            status: RolloutStatus::Running,
            wanted: Wanted { from: 1, to: 1 },
            step: 1,
            outcome: None,
        };
        let mut changes = put(&[&a, &b]);
        changes.rollouts_put.push(Arc::new(rollout.clone()));
        changes.drains_put = vec![
            AgentId::new("http://a0:7777"),
            AgentId::new("http://a1:7777"),
        ];
        store.apply(1, &changes).unwrap();
        let removal = RegistryChanges {
            drains_removed: vec![AgentId::new("http://a1:7777")],
            ..RegistryChanges::default()
        };
        store.apply(2, &removal).unwrap();
        drop(store);
        let (_, loaded) = open_or_import(&path).unwrap();
        assert_eq!(loaded.rollouts, vec![rollout]);
        assert_eq!(loaded.drains, vec![AgentId::new("http://a0:7777")]);
        assert_eq!(loaded.sequence, 2);
    }

    #[test]
    fn writes_apply_their_changes_and_the_sequence_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.redb");
        let (mut store, loaded) = open_or_import(&path).unwrap();
        assert!(
            loaded.jobs.is_empty() && loaded.sequence == 0,
            "a missing store is empty"
        );
        let (a, b) = (job("a"), job("b"));
        store.apply(3, &put(&[&a, &b])).unwrap();
        let removal = RegistryChanges {
            put: vec![],
            removed: vec![a.hash(), job("never-stored").hash()],
            ..RegistryChanges::default()
        };
        store.apply(4, &removal).unwrap();
        drop(store);
        let (_, loaded) = open_or_import(&path).unwrap();
        assert_eq!(loaded.jobs, vec![b]);
        assert_eq!(loaded.sequence, 4);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "one file"
        );
    }

    #[test]
    fn a_missing_json_registry_gets_its_store_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("registry.json");
        let (store, _) = open_or_import(&json).unwrap();
        assert_eq!(store.path(), dir.path().join("registry.json.redb"));
        assert!(!json.exists(), "no JSON file is created");
    }

    #[test]
    fn a_json_registry_is_imported_and_its_store_used_from_then_on() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("registry.json");
        std::fs::write(&json, json_registry::encode(&[job("a")])).unwrap();
        let (mut store, loaded) = open_or_import(&json).unwrap();
        let hashes: Vec<_> = loaded.jobs.iter().map(JobConfig::hash).collect();
        assert_eq!(
            hashes,
            vec![job("a").hash()],
            "the job, in the original's encoding"
        );
        store.apply(1, &put(&[&job("b")])).unwrap();
        drop(store);
        let (_, loaded) = open_or_import(&json).unwrap();
        assert_eq!(
            loaded.jobs.len(),
            2,
            "the store, not the JSON file, is read"
        );
        assert_eq!(
            std::fs::read(&json).unwrap(),
            json_registry::encode(&[job("a")])
        );
    }
}
