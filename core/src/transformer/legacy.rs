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
//! Cost: a legacy hash (a SHA-256 over a canonical encoding) is computed
//! lazily, not at load: the loaded jobs are only grouped by job name, and
//! the legacy hashes of a name's jobs are computed the first time a
//! container is seen whose ID names no desired job but could be a legacy
//! name of that job name (`<job>-<7 hex>-<index>`). A start with many jobs
//! and no legacy containers computes none. A container is looked up here
//! only when its ID names no desired job (rare), and a desired task's
//! legacy name only once a container of its job has been seen under a
//! legacy name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::wire::{ContainerId, JobConfig, JobHash};

/// The legacy hashes of the jobs loaded at start, and which of them
/// have containers under a legacy name.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LegacyNames {
    /// Jobs loaded at start whose legacy hashes are not computed yet, by
    /// job name, in the order they were loaded (hash order).
    unresolved: BTreeMap<String, Vec<(JobHash, Arc<JobConfig>)>>,
    /// Legacy hash → hash, for every job loaded at start whose legacy hash
    /// was computed and differs from its hash.
    hashes: BTreeMap<JobHash, JobHash>,
    /// The same, hash → legacy hash: a job removed finds its legacy hash
    /// here instead of computing it (a SHA-256 over its whole config, at
    /// every unschedule).
    legacy_of: BTreeMap<JobHash, JobHash>,
    /// Hash → legacy hash, for the jobs a container was seen of under its
    /// legacy name.
    seen: BTreeMap<JobHash, JobHash>,
    /// Tasks with a legacy name looked at in the current reconcile: a task
    /// is marked under both its names, and must be planned for once.
    examined: BTreeSet<ContainerId>,
}

/// Hex digits a legacy hash keeps of its digest, after `<job>-`.
const LEGACY_DIGITS: usize = 7;

/// The job name a legacy hash `<job>-<7 hex>` would have been computed
/// for, or `None` if `legacy` cannot be one.
fn job_name_of(legacy: &JobHash) -> Option<&str> {
    let text = legacy.as_str();
    let split = text.len().checked_sub(LEGACY_DIGITS + 1)?;
    let (name, suffix) = (text.get(..split)?, text.get(split..)?);
    let digits = suffix.strip_prefix('-')?;
    digits
        .bytes()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        .then_some(name)
}

impl LegacyNames {
    /// Knows `job` (under `hash`), loaded at start, by its legacy hash too,
    /// once a container could bear it (see the module's cost).
    pub fn insert(&mut self, hash: &JobHash, job: &Arc<JobConfig>) {
        self.unresolved
            .entry(job.container.job.clone())
            .or_default()
            .push((hash.clone(), Arc::clone(job)));
    }

    /// Forgets the job `hash` (no longer desired): returns its legacy
    /// hash, whose containers are no longer adopted, if containers under
    /// it may have been looked at as the job's tasks.
    ///
    /// A job whose name was never resolved returns `None`: `adopt`
    /// resolves a name at the first look at a container that could bear
    /// one of its legacy hashes, so no container was taken for this job's
    /// task; one that comes later names no desired job and is removed as
    /// such. A job scheduled after start has no legacy hash to forget.
    pub fn remove(&mut self, hash: &JobHash, job: &JobConfig) -> Option<JobHash> {
        self.seen.remove(hash);
        let name = &job.container.job;
        if let Some(jobs) = self.unresolved.get_mut(name)
            && let Some(at) = jobs.iter().position(|(loaded, _)| loaded == hash)
        {
            jobs.remove(at);
            if jobs.is_empty() {
                self.unresolved.remove(name);
            }
            return None;
        }
        let legacy = self.legacy_of.remove(hash)?;
        self.hashes.remove(&legacy);
        Some(legacy)
    }

    /// The task that `task` (a container's, named after a legacy hash)
    /// stands for, remembering that its job has a container so named.
    pub fn adopt(&mut self, task: &Option<(JobHash, u32)>) -> Option<(JobHash, u32)> {
        if self.hashes.is_empty() && self.unresolved.is_empty() {
            return None;
        }
        let (legacy, index) = task.as_ref()?;
        self.resolve(job_name_of(legacy)?);
        let hash = self.hashes.get(legacy)?;
        if !self.seen.contains_key(hash) {
            self.seen.insert(hash.clone(), legacy.clone());
        }
        Some((hash.clone(), *index))
    }

    /// Computes the legacy hashes of the loaded jobs named `name`, once.
    fn resolve(&mut self, name: &str) {
        for (hash, job) in self.unresolved.remove(name).unwrap_or_default() {
            let legacy = job.legacy_hash();
            if legacy != hash {
                self.legacy_of.insert(hash.clone(), legacy.clone());
                self.hashes.insert(legacy, hash);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, scale: u32) -> Arc<JobConfig> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "job": name, "product": "p", "environment": "e", "scale": scale,
            }))
            .expect("a job config"),
        )
    }

    fn loaded(jobs: &[&Arc<JobConfig>]) -> LegacyNames {
        let mut names = LegacyNames::default();
        for job in jobs {
            names.insert(&job.hash(), job);
        }
        names
    }

    #[test]
    fn loading_computes_no_legacy_hash() {
        let (web, db) = (job("web", 1), job("db", 1));
        let names = loaded(&[&web, &db]);
        assert!(
            names.hashes.is_empty(),
            "legacy hashes wait for a container that could bear one"
        );
    }

    #[test]
    fn a_container_under_a_legacy_name_computes_the_hashes_of_its_job_name_only() {
        let (web, web_twice, db) = (job("web", 1), job("web", 2), job("db", 1));
        let mut names = loaded(&[&web, &web_twice, &db]);
        let task = Some((web_twice.legacy_hash(), 1));
        assert_eq!(names.adopt(&task), Some((web_twice.hash(), 1)));
        assert_eq!(
            names.hashes.len(),
            2,
            "both jobs named web are known by their legacy hashes, db is not yet"
        );
        assert!(names.involves(&web_twice.hash()) && !names.involves(&web.hash()));
        assert_eq!(
            names.legacy_id(&web_twice.hash(), 0),
            Some(web_twice.legacy_hash().container_id(0))
        );
        let other = Some((db.legacy_hash(), 0));
        assert_eq!(names.adopt(&other), Some((db.hash(), 0)));
    }

    #[test]
    fn containers_that_are_no_legacy_task_adopt_nothing() {
        let web = job("web", 1);
        let mut names = loaded(&[&web]);
        for task in [
            None,
            Some((web.hash(), 0)),
            Some((JobHash::new("web"), 0)),
            Some((JobHash::new("web-zzzzzzz"), 0)),
            Some((job("web", 3).legacy_hash(), 0)),
        ] {
            assert_eq!(names.adopt(&task), None, "{task:?}");
        }
    }

    #[test]
    fn a_job_removed_before_its_legacy_hash_was_needed_is_not_adopted() {
        let (web, other_web) = (job("web", 1), job("web", 2));
        let mut names = loaded(&[&web, &other_web]);
        assert_eq!(
            names.remove(&web.hash(), &web),
            None,
            "no container was looked at under its legacy name: nothing to look at again"
        );
        assert_eq!(names.adopt(&Some((web.legacy_hash(), 0))), None);
        assert_eq!(
            names.adopt(&Some((other_web.legacy_hash(), 0))),
            Some((other_web.hash(), 0))
        );
        assert_eq!(names.remove(&web.hash(), &web), None, "removed once");
    }

    #[test]
    fn a_job_removed_after_its_name_resolved_hands_back_its_legacy_hash() {
        let (web, other_web) = (job("web", 1), job("web", 2));
        let mut names = loaded(&[&web, &other_web]);
        assert_eq!(
            names.adopt(&Some((other_web.legacy_hash(), 0))),
            Some((other_web.hash(), 0))
        );
        for removed in [&web, &other_web] {
            assert_eq!(
                names.remove(&removed.hash(), removed),
                Some(removed.legacy_hash()),
                "its containers under the legacy name are looked at again"
            );
            assert_eq!(names.adopt(&Some((removed.legacy_hash(), 0))), None);
        }
        assert!(names.hashes.is_empty() && names.legacy_of.is_empty());
        assert_eq!(names.remove(&web.hash(), &web), None, "removed once");
    }
}
