//! Agent discovery: agents named on the command line, in an agents file
//! (one URL a line; re-read on SIGHUP), and the daemon's local agents.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harpoon_core::AgentId;

/// Where the daemon learns of agents.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// Agents given with `--agent`, and local agents.
    pub fixed: Vec<String>,
    /// The agents file, if any.
    pub agents_file: Option<PathBuf>,
}

/// The agents file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the agents file {path}: {source}")]
pub struct AgentsFileError {
    path: PathBuf,
    source: std::io::Error,
}

impl Discovery {
    /// Every agent listed now.
    pub fn list(&self) -> Result<BTreeSet<AgentId>, AgentsFileError> {
        let mut agents: BTreeSet<AgentId> = self
            .fixed
            .iter()
            .map(|url| AgentId::new(&normalize(url)))
            .collect();
        if let Some(path) = &self.agents_file {
            agents.extend(read_agents_file(path)?);
        }
        Ok(agents)
    }
}

/// Reads an agents file: one URL a line; blank lines and `#` comments are
/// skipped.
pub fn read_agents_file(path: &Path) -> Result<Vec<AgentId>, AgentsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| AgentsFileError {
        path: path.to_owned(),
        source,
    })?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(|url| AgentId::new(&normalize(url)))
        .collect())
}

/// An agent URL without a trailing slash, with `http://` added when no
/// scheme is given.
pub fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_file_skips_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agents");
        std::fs::write(
            &path,
            "# agents\nhttp://10.0.0.1:3333/\n\n  127.0.0.1:3334  # local\n",
        )
        .unwrap();
        let discovery = Discovery {
            fixed: vec!["http://a:1".into()],
            agents_file: Some(path),
        };
        let names: Vec<String> = discovery
            .list()
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            names,
            vec![
                "http://10.0.0.1:3333",
                "http://127.0.0.1:3334",
                "http://a:1"
            ]
        );
    }

    #[test]
    fn a_missing_agents_file_is_an_error_naming_it() {
        let discovery = Discovery {
            fixed: vec![],
            agents_file: Some("/nonexistent/agents".into()),
        };
        assert!(
            discovery
                .list()
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/agents")
        );
    }
}
