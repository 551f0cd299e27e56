//! Decoding a store's jobs on several threads at once: at start-up every
//! stored job's JSON is decoded, the largest part of reading a large
//! store, and each decodes independently of the others.
//!
//! The jobs come back in the order they were read (key order), and a
//! failure names the first job in that order that does not decode, as a
//! decoding on one thread would. Threads are bounded
//! ([`MAX_THREADS`], and the machine's parallelism); a small store, or a
//! machine that cannot spawn a thread, decodes on the calling thread.

use std::ops::Range;

use harpoon_core::wire::JobConfig;

/// At most this many threads decode.
pub const MAX_THREADS: usize = 8;
/// Below this many jobs per thread, starting a thread costs more than it
/// saves.
const MIN_JOBS_PER_THREAD: usize = 2048;

/// The stored jobs, read out of the store: every key and value in one
/// buffer, so that reading costs no allocation per job.
#[derive(Debug, Default)]
pub struct RawJobs {
    bytes: Vec<u8>,
    /// Each job's key and JSON value, as ranges of `bytes`.
    entries: Vec<(Range<usize>, Range<usize>)>,
}

impl RawJobs {
    /// Room for `jobs` entries.
    pub fn with_capacity(jobs: usize) -> RawJobs {
        RawJobs {
            bytes: Vec::new(),
            entries: Vec::with_capacity(jobs),
        }
    }

    /// Adds the job stored under `key` as `json`.
    pub fn push(&mut self, key: &str, json: &[u8]) {
        let key_range = self.append(key.as_bytes());
        let json_range = self.append(json);
        self.entries.push((key_range, json_range));
    }

    fn append(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// Decodes every job, in order; on failure, the first job that does
    /// not decode: `job <key>: <what is wrong>`.
    pub fn decode(&self) -> Result<Vec<JobConfig>, String> {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(MAX_THREADS)
            .min(self.entries.len() / MIN_JOBS_PER_THREAD)
            .max(1);
        if threads == 1 {
            return self.decode_part(&self.entries);
        }
        let per_thread = self.entries.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let mut parts = Vec::with_capacity(threads);
            for part in self.entries.chunks(per_thread) {
                let spawned = std::thread::Builder::new()
                    .name("registry-decode".to_owned())
                    .spawn_scoped(scope, move || self.decode_part(part));
                match spawned {
                    Ok(handle) => parts.push(Ok(handle)),
                    // No thread to be had: this part decodes here, in turn.
                    Err(_) => parts.push(Err(part)),
                }
            }
            let mut jobs = Vec::with_capacity(self.entries.len());
            for part in parts {
                let decoded = match part {
                    Ok(handle) => handle.join().unwrap_or_else(|panic| {
                        std::panic::resume_unwind(panic);
                    }),
                    Err(part) => self.decode_part(part),
                };
                jobs.extend(decoded?);
            }
            Ok(jobs)
        })
    }

    fn decode_part(&self, part: &[(Range<usize>, Range<usize>)]) -> Result<Vec<JobConfig>, String> {
        part.iter()
            .map(|(key, json)| {
                serde_json::from_slice(&self.bytes[json.clone()]).map_err(|error| {
                    let key = String::from_utf8_lossy(&self.bytes[key.clone()]);
                    format!("job {key}: {error}")
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_json(name: &str) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({"job": name, "product": "p", "environment": "e", "scale": 1}),
        )
        .unwrap()
    }

    fn raw(count: usize, broken: &[usize]) -> RawJobs {
        let mut raw = RawJobs::with_capacity(count);
        for index in 0..count {
            let key = format!("key-{index:06}");
            if broken.contains(&index) {
                raw.push(&key, b"{\"job\": ");
            } else {
                raw.push(&key, &job_json(&format!("job-{index:06}")));
            }
        }
        raw
    }

    #[test]
    fn jobs_come_back_in_the_order_they_were_read_on_many_threads_or_one() {
        for count in [0, 1, MIN_JOBS_PER_THREAD * MAX_THREADS * 2 + 7] {
            let jobs = raw(count, &[]).decode().unwrap();
            let names: Vec<_> = jobs.iter().map(|job| job.container.job.clone()).collect();
            let expected: Vec<_> = (0..count).map(|index| format!("job-{index:06}")).collect();
            assert_eq!(names, expected, "{count} jobs");
        }
    }

    #[test]
    fn the_first_job_that_does_not_decode_is_named() {
        let count = MIN_JOBS_PER_THREAD * MAX_THREADS * 2;
        let last_part = count - 3;
        let error = raw(count, &[last_part, count / 2 + 1, count / 2])
            .decode()
            .unwrap_err();
        assert!(
            error.starts_with(&format!("job key-{:06}: ", count / 2)),
            "{error}"
        );
    }
}
