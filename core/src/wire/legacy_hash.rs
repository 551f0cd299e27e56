//! The job hash earlier versions of this scheduler computed, kept frozen
//! so that the containers they started can be recognised and adopted
//! (see `Scheduler`'s adoption of legacy tasks): `<job>-<7 hex>`, the first
//! 28 bits of a SHA-256 over a canonical encoding of the config (JSON with
//! object keys sorted, durations in their canonical form, and absent,
//! `null` and empty collections all written as empty, unknown fields
//! included). Nothing new is ever named after it; a test pins it.

use sha2::{Digest, Sha256};

use super::{Field, JobConfig, JobHash};

/// The hash earlier versions gave `job`.
pub(super) fn legacy_job_hash(job: &JobConfig) -> JobHash {
    let canonical = canonical_encoding(job);
    let digest = Sha256::digest(canonical.as_bytes());
    super::hash::named_digest(&job.container.job, &digest)
}

/// The canonical encoding the legacy hash is computed over.
fn canonical_encoding(job: &JobConfig) -> String {
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
