//! Adoption of the containers that earlier versions of this scheduler
//! named. They hashed jobs with SHA-256 ([`JobConfig::legacy_hash`]), so a
//! task they started runs as `<legacy hash>-<index>`; the same job now
//! hashes as the original does, and its task is `<hash>-<index>`.
//!
//! For every job loaded from the registry at start, the transformer knows
//! its legacy hash. A container named after it stands for the task of the
//! same index: its config is the job's, since the legacy hash is a digest
//! of it. Such a container counts as the task being present, and is
//! started, kept or removed as an instance of that task would be; only
//! when neither name has an instance is the task placed, under its own
//! name. Where both names have instances, the one under the task's own
//! name is kept. Nothing is stored: after a restart the legacy hashes are
//! computed again from the registry, so adoption survives any number of
//! restarts until the adopted containers go.
//!
//! Cost: a container is looked up here only when its ID names no desired
//! job (rare), and a desired task's legacy name only once a container of
//! its job has been seen under a legacy name.

use std::collections::{BTreeMap, BTreeSet};

use crate::wire::{ContainerId, JobConfig, JobHash};

/// The legacy hashes of the jobs loaded at start, and which of them
/// have containers under a legacy name.
#[derive(Clone, Debug, Default)]
pub struct LegacyNames {
    /// Legacy hash → hash, for every job loaded at start whose two differ.
    hashes: BTreeMap<JobHash, JobHash>,
    /// Hash → legacy hash, for the jobs a container was seen of under its
    /// legacy name.
    seen: BTreeMap<JobHash, JobHash>,
    /// Tasks with a legacy name looked at in the current reconcile: a task
    /// is marked under both its names, and must be planned for once.
    examined: BTreeSet<ContainerId>,
}

impl LegacyNames {
    /// Knows `job` (under `hash`) by its legacy hash too.
    pub fn insert(&mut self, hash: &JobHash, job: &JobConfig) {
        let legacy = job.legacy_hash();
        if legacy != *hash {
            self.hashes.insert(legacy, hash.clone());
        }
    }

    /// Forgets the job `hash` (no longer desired): returns its legacy
    /// hash, whose containers are no longer adopted.
    pub fn remove(&mut self, hash: &JobHash, job: &JobConfig) -> Option<JobHash> {
        let legacy = job.legacy_hash();
        self.seen.remove(hash);
        self.hashes.remove(&legacy).map(|_| legacy)
    }

    /// The task that `task` (a container's, named after a legacy hash)
    /// stands for, remembering that its job has a container so named.
    pub fn adopt(&mut self, task: &Option<(JobHash, u32)>) -> Option<(JobHash, u32)> {
        if self.hashes.is_empty() {
            return None;
        }
        let (legacy, index) = task.as_ref()?;
        let hash = self.hashes.get(legacy)?;
        if !self.seen.contains_key(hash) {
            self.seen.insert(hash.clone(), legacy.clone());
        }
        Some((hash.clone(), *index))
    }

    /// Whether the job `hash` has a container under its legacy name: its
    /// tasks are looked at under both names.
    pub fn involves(&self, hash: &JobHash) -> bool {
        !self.seen.is_empty() && self.seen.contains_key(hash)
    }

    /// A reconcile begins: no task has been looked at yet.
    pub fn begin_reconcile(&mut self) {
        self.examined.clear();
    }

    /// Whether this is the first look at task `id` (by its own name) in
    /// this reconcile.
    pub fn first_look(&mut self, id: &ContainerId) -> bool {
        self.examined.insert(id.clone())
    }

    /// The legacy name of task `index` of `hash`, if a container of that
    /// job was seen under a legacy name.
    pub fn legacy_id(&self, hash: &JobHash, index: u32) -> Option<ContainerId> {
        if self.seen.is_empty() {
            return None;
        }
        self.seen.get(hash).map(|legacy| legacy.container_id(index))
    }
}
