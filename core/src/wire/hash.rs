//! Job hashes and container IDs.
//!
//! A job is identified by `<job>-<7 hex>`, the original Harpoon
//! scheduler's hash, exactly: the first 7 hex digits of the MD5 digest of
//! the config as Go's `encoding/json` encodes the original's `JobConfig`
//! struct (`shared/wire/harpoon-v0.md`). Clients compute it on their side
//! and agents run containers named after it, so it must never change: the
//! tests check every config of `shared/wire/job-hashes/`.

use std::fmt;
use std::sync::Arc;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::go_json::{self, Object};
use super::{HealthCheck, JobConfig, WireDuration};
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
    let digest = Md5::digest(go_encoding(job).as_bytes());
    named_digest(&job.container.job, &digest)
}

/// `<job>-<the first 7 hex digits of digest>`, the form of both our hash
/// and the legacy one. Written digit by digit: formatting every byte of
/// the digest into a string of its own cost a tenth of loading a large
/// registry.
pub(super) fn named_digest(job: &str, digest: &[u8]) -> JobHash {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(job.len() + 8);
    text.push_str(job);
    text.push('-');
    for nibble in digest
        .iter()
        .flat_map(|byte| [byte >> 4, byte & 0x0f])
        .take(7)
    {
        text.push(char::from(DIGITS[usize::from(nibble)]));
    }
    JobHash::new(&text)
}

/// The bytes the original hashes: `json.NewEncoder(h).Encode(c)` of its
/// `JobConfig` struct, whose fields are, in order, `scale` and the
/// embedded `ContainerConfig`'s. Fields the original's structs do not
/// have (our `extra`) are not written: the original drops them when it
/// decodes. Where we remember absent or `null` (a nil slice or map in Go)
/// apart from empty, Go writes `null` for the first two.
pub(super) fn go_encoding(job: &JobConfig) -> String {
    let config = &job.container;
    let mut out = String::with_capacity(512);
    let mut object = Object::open(&mut out);
    object.member("scale").push_str(&job.scale.to_string());
    go_json::string(object.member("product"), &config.product);
    go_json::string(object.member("environment"), &config.environment);
    go_json::string(object.member("job"), &config.job);
    let checks = config.health_checks.as_option().map(Vec::as_slice);
    go_json::slice(object.member("health_checks"), checks, health_check);
    go_json::string(object.member("artifact_url"), &config.artifact_url);
    go_json::map(
        object.member("ports"),
        config.ports.as_option(),
        |out, port| {
            out.push_str(&port.to_string());
        },
    );
    go_json::map(
        object.member("env"),
        config.env.as_option(),
        |out, value| {
            go_json::string(out, value);
        },
    );
    let mut command = Object::open(object.member("command"));
    go_json::string(command.member("working_dir"), &config.command.working_dir);
    let exec = config.command.exec.as_option().map(Vec::as_slice);
    go_json::slice(command.member("exec"), exec, |out, arg| {
        go_json::string(out, arg)
    });
    command.close();
    let mut resources = Object::open(object.member("resources"));
    resources
        .member("mem")
        .push_str(&config.resources.mem.to_string());
    go_json::float(resources.member("cpu"), config.resources.cpu);
    // `fd` has no `omitempty` in the original: an absent one is 0.
    resources
        .member("fd")
        .push_str(&config.resources.fd.unwrap_or(0).to_string());
    resources.close();
    let mut storage = Object::open(object.member("storage"));
    go_json::map(
        storage.member("tmp"),
        config.storage.tmp.as_option(),
        |out, size| {
            out.push_str(&size.to_string());
        },
    );
    go_json::map(
        storage.member("volumes"),
        config.storage.volumes.as_option(),
        |out, host| go_json::string(out, host),
    );
    storage.close();
    let mut grace = Object::open(object.member("grace"));
    duration(grace.member("startup"), config.grace.startup);
    duration(grace.member("shutdown"), config.grace.shutdown);
    grace.close();
    go_json::string(object.member("restart"), config.restart.as_str());
    object.close();
    // `Encoder.Encode` ends every value with a newline.
    out.push('\n');
    out
}

/// A `HealthCheck` as the original's struct encodes it: `http_path` and
/// `http_acceptable_responses` carry `omitempty`.
fn health_check(out: &mut String, check: &HealthCheck) {
    let mut object = Object::open(out);
    go_json::string(object.member("protocol"), &check.protocol);
    go_json::string(object.member("port"), &check.port);
    duration(object.member("initial_delay"), check.initial_delay);
    duration(object.member("timeout"), check.timeout);
    duration(object.member("interval"), check.interval);
    if let Some(path) = check.http_path.as_deref().filter(|path| !path.is_empty()) {
        go_json::string(object.member("http_path"), path);
    }
    if let Some(codes) = check
        .http_acceptable_responses
        .as_deref()
        .filter(|codes| !codes.is_empty())
    {
        go_json::slice(
            object.member("http_acceptable_responses"),
            Some(codes),
            |out, code| {
                out.push_str(&code.to_string());
            },
        );
    }
    object.close();
}

/// A `JSONDuration`: its `MarshalJSON` writes `Duration.String()` quoted.
fn duration(out: &mut String, duration: WireDuration) {
    go_json::string(out, &duration.to_string());
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
    fn a_digest_names_its_job_by_its_first_seven_hex_digits() {
        let digest = [0x9c, 0x83, 0x74, 0x1f, 0x00, 0xab];
        assert_eq!(named_digest("web", &digest).as_str(), "web-9c83741");
        assert_eq!(named_digest("", &[0x0a; 4]).as_str(), "-0a0a0a0");
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
