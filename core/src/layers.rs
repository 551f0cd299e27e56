//! A test that the crate's modules form layers: each imports only from
//! modules in layers below its own (ARCHITECTURE.md states the rule), so
//! no module imports from a module that imports it.

use std::path::{Path, PathBuf};

/// The layers, lowest first: module paths as they appear after `crate::`.
/// A file belongs to the longest path that prefixes its own.
const LAYERS: &[&[&str]] = &[
    &["key_text", "map_as_pairs"],
    &["time", "ids"],
    &["wire", "backoff", "metrics"],
    &["rollout"],
    &["jobs", "scheduler::input", "algorithm"],
    &["scheduler::output", "scheduler::config", "agent"],
    &["registry"],
    &[
        "scheduler::agent_map",
        "scheduler::locations",
        "scheduler::dispatch",
        "scheduler::timer",
        "scheduler::view",
    ],
    &["transformer"],
    &["scheduler"],
    &["record"],
];

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(layer, modules)| modules.iter().map(move |m| (layer, *m)))
        .filter(|(_, m)| module == *m || module.starts_with(&format!("{m}::")))
        .max_by_key(|(_, m)| m.len())
}

fn module_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("below src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_import_only_from_layers_below_their_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    let mut broken = Vec::new();
    for file in all {
        let module = module_of(&root, &file);
        let Some((own, own_name)) = layer_of(&module) else {
            continue; // the crate root and this test
        };
        let text = std::fs::read_to_string(&file).expect("readable");
        for (number, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let path = path.trim_end_matches(':');
                let Some((theirs, their_name)) = layer_of(path) else {
                    continue;
                };
                let same_module = own_name == their_name;
                if theirs > own || (theirs == own && !same_module && own_name != "scheduler") {
                    broken.push(format!(
                        "{}:{}: {module} (layer {own}) imports crate::{path} (layer {theirs})",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layers:\n{}",
        broken.join("\n")
    );
}
