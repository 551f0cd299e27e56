//! Job hashes and container IDs.
//!
//! A job is identified by `<job>-<7 hex>`, the first 28 bits of a SHA-256
//! over a canonical encoding of its config: JSON with object keys sorted,
//! durations in their canonical form, and absent, `null` and empty
//! collections all written as empty. The hash is the key of the persisted
//! registry, so it must never change across runs or versions: a test pins the
//! hash of the fixture job.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Field, JobConfig};
use crate::key_text::KeyText;

/// A job's content hash, e.g. `web-9c83741`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobHash(KeyText);

impl JobHash {
    /// Wraps a hash string as received (e.g. from `/unschedule/{hash}`).
    pub fn new(text: &str) -> JobHash {
        JobHash(KeyText::new(text))
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The container ID of task `index` (0-based) of this job.
    pub fn container_id(&self, index: u32) -> ContainerId {
        ContainerId(KeyText::from_arc(Arc::from(format!("{}-{index}", self.0))))
    }
}

impl fmt::Display for JobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container ID, `<job hash>-<task index>` for the containers this
/// scheduler places, or anything an agent reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContainerId(KeyText);

impl ContainerId {
    /// Wraps an ID as an agent reported it.
    pub fn new(text: &str) -> ContainerId {
        ContainerId(KeyText::new(text))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The job hash and task index this ID names, if it has the shape
    /// `<job>-<7 hex>-<index>`; `None` for a container this scheduler did not
    /// name.
    pub fn task(&self) -> Option<(JobHash, u32)> {
        self.task_parts()
            .map(|(hash, index)| (JobHash::new(hash), index))
    }

    /// [`ContainerId::task`] without allocating: the job hash as text.
    pub fn task_parts(&self) -> Option<(&str, u32)> {
        let (hash, index) = self.as_str().rsplit_once('-')?;
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if index.len() > 1 && index.starts_with('0') {
            return None;
        }
        let index: u32 = index.parse().ok()?;
        let (job, digest) = hash.rsplit_once('-')?;
        let is_digest = digest.len() == 7
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (is_digest && !job.is_empty()).then_some((hash, index))
    }
}

// Lookups by `&str` find the same key: ordering and equality of a JobHash
// are those of its text.
impl std::borrow::Borrow<str> for JobHash {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Lookups by `&str` (an agent reports IDs as strings) find the same key:
// ordering and equality of a ContainerId are those of its text.
impl std::borrow::Borrow<str> for ContainerId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Computes the hash of a job (see the module documentation).
pub(super) fn job_hash(job: &JobConfig) -> JobHash {
    let canonical = canonical_encoding(job);
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    JobHash::new(&format!("{}-{}", job.container.job, &hex[..7]))
}

/// The canonical encoding the hash is computed over.
pub(super) fn canonical_encoding(job: &JobConfig) -> String {
    fn fill<T: Default>(field: &mut Field<T>) {
        if !matches!(field, Field::Present(_)) {
            *field = Field::Present(T::default());
        }
    }
    let mut normal = job.clone();
    let config = &mut normal.container;
    fill(&mut config.health_checks);
    fill(&mut config.ports);
    fill(&mut config.env);
    fill(&mut config.command.exec);
    fill(&mut config.storage.tmp);
    fill(&mut config.storage.volumes);
    config.resources.fd.get_or_insert(0);
    let value = serde_json::to_value(&normal).expect("a job config always encodes as JSON");
    let mut out = String::new();
    write_sorted(&value, &mut out);
    out
}

/// Writes JSON with every object's keys sorted, whatever order the map type
/// keeps them in (serde_json's `preserve_order` feature may be switched on by
/// any crate in the build).
fn write_sorted(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_sorted(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn container_ids_name_their_task() {
        let hash = JobHash::new("web-9c83741");
        let id = hash.container_id(12);
        assert_eq!(id.as_str(), "web-9c83741-12");
        assert_eq!(id.task(), Some((hash, 12)));
        assert_eq!(
            ContainerId::new("my-job-name-0123abc-0").task(),
            Some((JobHash::new("my-job-name-0123abc"), 0))
        );
    }

    #[test]
    fn foreign_ids_name_no_task() {
        for text in [
            "c1",
            "web-9c83741",
            "web-9C83741-0",
            "web-9c8374-0",
            "-9c83741-0",
            "web-9c83741-01",
            "web-9c83741-x",
        ] {
            assert_eq!(ContainerId::new(text).task(), None, "{text}");
        }
    }
}
