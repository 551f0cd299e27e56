//! Temporary files a killed scheduler may leave beside its registry, found
//! by name and removed at the next start.
//!
//! - `.NAME.PID.tmp`: the whole-file writer's next registry file (also the
//!   JSON registry writer of earlier versions, issue 11 item 10);
//! - `.NAME.import.tmp`: a store being imported from a JSON registry.
//!
//! Only files of exactly these names, beside the registry, are removed.
//! redb itself leaves nothing: its file is the whole store.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

/// The name a store is imported under before it is renamed to `store`.
pub(super) fn import_temporary(store: &Path) -> PathBuf {
    sibling(store, |name| format!(".{name}.import.tmp"))
}

/// The whole-file writer's temporary file for process `pid`.
pub(super) fn write_temporary(registry: &Path, pid: u32) -> PathBuf {
    sibling(registry, |name| format!(".{name}.{pid}.tmp"))
}

fn sibling(path: &Path, name: impl FnOnce(&str) -> String) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    directory_of(path).join(name(&file_name))
}

/// The directory `path` is in (`.` for a bare name).
pub(super) fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Whether `candidate` is a temporary file some writer of `registry` (the
/// path `--persist` names, or the store beside it) creates.
fn is_temporary_of(candidate: &str, registry_name: &str) -> bool {
    let Some(rest) = candidate
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(registry_name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
    else {
        return false;
    };
    rest == "import" || (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Removes the temporaries of `registry` and of the store beside it.
pub(super) fn remove_beside(registry: &Path) {
    let dir = directory_of(registry);
    let Some(name) = registry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return;
    };
    let names = [name.clone(), format!("{name}.redb")];
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let candidate = entry.file_name().to_string_lossy().into_owned();
        if !names.iter().any(|name| is_temporary_of(&candidate, name)) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_file(&path) {
            Ok(()) => {
                info!(file = %path.display(), "removed a temporary file a killed scheduler left")
            }
            Err(error) => {
                warn!(file = %path.display(), %error, "cannot remove a temporary file a killed scheduler left")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_writers_own_temporaries_match() {
        assert!(is_temporary_of(".registry.json.4242.tmp", "registry.json"));
        assert!(is_temporary_of(
            ".registry.json.import.tmp",
            "registry.json"
        ));
        for other in [
            "registry.json",
            ".registry.json.tmp",
            ".registry.json.42x.tmp",
            ".other.json.42.tmp",
            ".registry.json.42.tmp.keep",
            "registry.json.42.tmp",
        ] {
            assert!(!is_temporary_of(other, "registry.json"), "{other}");
        }
    }
}
