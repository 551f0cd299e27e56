//! Preparing a container before it can start: its directory, its artifact,
//! its volumes and scratch directories. Runs in the background after the PUT
//! has been answered; the state task learns the outcome from a message.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harpoon_core::wire::ContainerConfig;
use tokio_util::sync::CancellationToken;

use super::artifact::{self, ArtifactError, ArtifactLimits};
use super::launch::inside;

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
        for (container_path, host_path) in self.config.storage.volumes.get().iter() {
            link_volume(&root, container_path, host_path).await?;
        }
        for path in self.config.storage.tmp.get().keys() {
            let dir = inside(&root, path)
                .ok_or_else(|| format!("storage.tmp path {path:?} leaves the container"))?;
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|error| format!("cannot create storage.tmp {path:?}: {error}"))?;
        }
        Ok(())
    }
}

/// Makes `container_path` inside the root a symlink to the host's
/// `host_path`: without a mount namespace, that is how the process finds a
/// volume at the path its config names (working from its root directory).
async fn link_volume(root: &Path, container_path: &str, host_path: &str) -> Result<(), String> {
    let link = inside(root, container_path)
        .filter(|link| link != root)
        .ok_or_else(|| {
            format!("volume path {container_path:?} is not a path inside the container")
        })?;
    if let Some(parent) = link.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|error| {
            format!("cannot create the parent of volume {container_path:?}: {error}")
        })?;
    }
    // An empty directory from the artifact is a mount point; anything else
    // is content that the volume would hide.
    let _ = tokio::fs::remove_dir(&link).await;
    tokio::fs::symlink(host_path, &link)
        .await
        .map_err(|error| format!("cannot link volume {container_path:?} to {host_path:?}: {error}"))
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
