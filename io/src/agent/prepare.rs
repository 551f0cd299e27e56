//! Preparing a container before it can start: its directory, its artifact,
//! its volumes and scratch directories. Runs in the background after the PUT
//! has been answered; the state task learns the outcome from a message.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harpoon_core::wire::ContainerConfig;
use tokio_util::sync::CancellationToken;

use super::artifact::{self, ArtifactError, ArtifactLimits};
use super::confined::Root;

/// The root directory of the container whose directory is `dir`.
pub(crate) fn root_dir(dir: &Path) -> PathBuf {
    dir.join("root")
}

/// The log file of the container whose directory is `dir`.
pub(crate) fn log_file(dir: &Path) -> PathBuf {
    dir.join("container.log")
}

/// One container to prepare.
#[derive(Debug)]
pub(crate) struct Preparation {
    pub dir: PathBuf,
    pub config: Arc<ContainerConfig>,
    pub limits: ArtifactLimits,
    pub cancel: CancellationToken,
}

impl Preparation {
    /// Prepares the container, saying what went wrong if it could not.
    pub async fn run(&self) -> Result<(), String> {
        // A directory left by an interrupted earlier attempt starts afresh.
        if tokio::fs::try_exists(&self.dir).await.unwrap_or(false) {
            remove_dir(&self.dir).await;
        }
        let root = root_dir(&self.dir);
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(|error| format!("cannot create {}: {error}", root.display()))?;
        let scratch = self.dir.join("artifact.download");
        artifact::install(
            &self.config.artifact_url,
            &root,
            &scratch,
            self.limits,
            &self.cancel,
        )
        .await
        .map_err(|error| match error {
            ArtifactError::Cancelled => error.to_string(),
            error => format!("artifact {:?}: {error}", self.config.artifact_url),
        })?;
        // Blocking system calls, a handful per path.
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || make_storage(&root, &config))
            .await
            .unwrap_or_else(|error| Err(format!("preparing storage failed: {error}")))
    }
}

/// Makes the volumes' links and the scratch directories inside `root`,
/// walking every path without following links (see `confined`), so that
/// links the artifact planted cannot lead the agent out of the root.
fn make_storage(root: &Path, config: &ContainerConfig) -> Result<(), String> {
    let root = Root::open(root)
        .map_err(|error| format!("cannot open the container's root directory: {error}"))?;
    // Without a mount namespace, a symlink at the path the config names is
    // how the process finds a volume (working from its root directory). An
    // empty directory from the artifact is a mount point; anything else is
    // content that the volume would hide.
    for (container_path, host_path) in config.storage.volumes.get().iter() {
        root.replace_with_link(container_path, host_path)
            .map_err(|error| format!("volume path {container_path:?}: {error}"))?;
    }
    for path in config.storage.tmp.get().keys() {
        root.create_dir_all(path)
            .map_err(|error| format!("storage.tmp path {path:?}: {error}"))?;
    }
    Ok(())
}

/// Removes a container directory, logging (not failing) when it cannot:
/// leftovers are removed at the next start of the agent.
pub(crate) async fn remove_dir(dir: &Path) {
    if let Err(error) = tokio::fs::remove_dir_all(dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), %error, "cannot remove container directory");
    }
}
