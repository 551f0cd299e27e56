//! The registry file's format: one JSON object, job hash → JobConfig.
//!
//! The original Harpoon scheduler writes it with Go's
//! `json.NewEncoder(f).Encode(map[string]JobConfig)`: compact, keys
//! sorted, each config in its struct's field order (`scale` first, `fd`
//! always present), a newline at the end. Ours is the same object
//! pretty-printed, in our field order, with the fields the original does
//! not know kept. Each reads the other's: [`parse`] takes either, and
//! [`encode_original`] writes the original's byte for byte, so that a
//! registry can go back to the original scheduler.
//!
//! A key is what the writer took for the job's hash. Ours is the
//! original's, so a key that differs was written by one of our earlier
//! versions (see [`JobConfig::legacy_hash`]) or edited by hand: the
//! daemon re-keys such jobs on load and says so.

use std::path::{Path, PathBuf};

use harpoon_core::wire::{JobConfig, go_json};

/// One job of a registry file, under the key the file gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryEntry {
    /// The key as written (normally the job's hash).
    pub key: String,
    /// The job.
    pub job: JobConfig,
}

/// A registry file that cannot be read as one: which file, and what is
/// wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("the registry {path} is corrupt: {problem}")]
pub struct CorruptRegistry {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, naming the job's key when one entry is at fault.
    pub problem: String,
}

/// Reads the content of the registry file `path` (named in errors), in
/// either format, into its entries in key order.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<RegistryEntry>, CorruptRegistry> {
    let corrupt = |problem: String| CorruptRegistry {
        path: path.to_owned(),
        problem,
    };
    // An object of anything first, so that a bad entry is reported by its
    // key rather than by a position in a file of thousands of jobs.
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|error| corrupt(format!("not a JSON object of jobs by hash ({error})")))?;
    let mut entries = Vec::with_capacity(object.len());
    for (key, value) in object {
        match serde_json::from_value::<JobConfig>(value) {
            Ok(job) => entries.push(RegistryEntry { key, job }),
            Err(error) => {
                return Err(corrupt(format!(
                    "job {key:?} is not a job config ({error})"
                )));
            }
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(entries)
}

/// The registry file the original scheduler would write for `jobs`, byte
/// for byte: each under its hash, in hash order, encoded as the
/// original's struct (so the fields it does not know are left out).
pub fn encode_original<'a>(jobs: impl IntoIterator<Item = &'a JobConfig>) -> Vec<u8> {
    let mut keyed: Vec<(String, String)> = jobs
        .into_iter()
        .map(|job| (job.hash().as_str().to_owned(), job.original_json()))
        .collect();
    // Go sorts map keys by their bytes; one job per hash, as in a map.
    keyed.sort();
    keyed.dedup_by(|a, b| a.0 == b.0);
    let size: usize = keyed
        .iter()
        .map(|(key, json)| key.len() + json.len() + 4)
        .sum();
    let mut out = String::with_capacity(size + 3);
    out.push('{');
    for (index, (key, json)) in keyed.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        go_json::string(&mut out, key);
        out.push(':');
        out.push_str(json);
    }
    out.push_str("}\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry as the original scheduler writes it: the wire fixture's
    /// job under its hash, and one whose strings Go escapes (this text is
    /// what Go 1.19 writes for it, with the original's structs).
    const ORIGINAL: &str = concat!(
        r#"{"web-9c83741":{"scale":1,"product":"demo","environment":"dev","job":"web","#,
        r#""health_checks":[],"artifact_url":"http://127.0.0.1:18080/warhead.tgz","ports":{},"#,
        r#""env":{},"command":{"working_dir":"/","exec":["./true"]},"#,
        r#""resources":{"mem":64,"cpu":0.5,"fd":0},"storage":{"tmp":{},"volumes":{}},"#,
        r#""grace":{"startup":"1s","shutdown":"1s"},"restart":"no"},"#,
        r#""x-3c3d673":{"scale":2,"product":"p","environment":"e","job":"x","#,
        r#""health_checks":null,"artifact_url":"","ports":null,"#,
        r#""env":{"A":"\u003cb\u003e \u0026 \u2028"},"command":{"working_dir":"","exec":null},"#,
        r#""resources":{"mem":0,"cpu":1e-7,"fd":9},"storage":{"tmp":null,"volumes":null},"#,
        r#""grace":{"startup":"1m30s","shutdown":"0s"},"restart":"always"}}"#,
        "\n"
    );

    fn original() -> String {
        ORIGINAL.to_owned()
    }

    #[test]
    fn reads_the_originals_file_and_writes_it_back_byte_for_byte() {
        let text = original();
        let entries = parse(Path::new("r.json"), text.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key, "web-9c83741");
        assert_eq!(entries[0].job.hash().as_str(), "web-9c83741");
        assert_eq!(entries[0].job.container.resources.fd, Some(0));
        assert_eq!(entries[1].job.container.env.get()["A"], "<b> & \u{2028}");
        let written = encode_original(entries.iter().map(|entry| &entry.job));
        assert_eq!(String::from_utf8(written).unwrap(), text);
    }

    #[test]
    fn reads_ours_and_leaves_out_unknown_fields_when_writing_the_originals() {
        let job: JobConfig = serde_json::from_str(
            r#"{"job":"web","product":"demo","environment":"dev","scale":1,
            "artifact_url":"http://127.0.0.1:18080/warhead.tgz",
            "command":{"working_dir":"/","exec":["./true"]},"resources":{"mem":64,"cpu":0.5},
            "grace":{"startup":"1s","shutdown":"1s"},"restart":"no","health_checks":[],
            "ports":{},"env":{},"storage":{"tmp":{},"volumes":{}},"later":1}"#,
        )
        .unwrap();
        let ours = serde_json::to_vec_pretty(&std::collections::BTreeMap::from([(
            job.hash().as_str().to_owned(),
            &job,
        )]))
        .unwrap();
        let entries = parse(Path::new("r.json"), &ours).unwrap();
        assert_eq!(entries[0].job, job, "ours keeps every field");
        let first_of_original = original().split_once(",\"x-").unwrap().0.to_owned() + "}\n";
        assert_eq!(
            String::from_utf8(encode_original([&entries[0].job])).unwrap(),
            first_of_original,
            "the original's format has no room for unknown fields"
        );
    }

    #[test]
    fn corruption_names_the_file_and_the_entry_at_fault() {
        let path = Path::new("/var/lib/harpoon/registry.json");
        let error = parse(path, b"{not json").unwrap_err().to_string();
        assert!(error.contains("/var/lib/harpoon/registry.json"), "{error}");
        assert!(
            error.contains("not a JSON object of jobs by hash"),
            "{error}"
        );
        let error = parse(path, br#"{"a-1234567":{"scale":"many"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("job \"a-1234567\" is not a job config"),
            "{error}"
        );
        assert!(error.contains("invalid type"), "{error}");
        let error = parse(path, b"[]").unwrap_err().to_string();
        assert!(error.contains("not a JSON object"), "{error}");
    }

    #[test]
    fn an_empty_registry_is_an_empty_object() {
        assert_eq!(encode_original([]), b"{}\n");
        assert!(parse(Path::new("r"), b"{}\n").unwrap().is_empty());
    }
}
