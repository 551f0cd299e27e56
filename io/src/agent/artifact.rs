//! Installing a container's artifact: a `.tar.gz`, `.tgz` or `.tar`
//! archive named by an `http://` or `file://` URL (empty: no artifact),
//! unpacked into the container's root directory.
//!
//! Archives come from clients, so every step is bounded: the archive's size,
//! the total size of what it unpacks to, and the entries' paths, which may
//! not climb out of the root directory with `..` (absolute paths are taken
//! inside it, as `tar` does).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use tokio_util::sync::CancellationToken;

use super::download;

/// Bounds on fetching and unpacking one artifact.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArtifactLimits {
    pub max_bytes: u64,
    pub unpacked_max_bytes: u64,
    pub fetch_timeout: Duration,
}

/// Why an artifact could not be installed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArtifactError {
    #[error(
        "unsupported artifact URL {0:?}: use an http:// or file:// URL of a .tar.gz, .tgz or .tar archive"
    )]
    Unsupported(String),
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the artifact is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the artifact unpacks to more than the limit of {0} bytes")]
    UnpackedTooLarge(u64),
    #[error("artifact entry {0:?} climbs out of the container's directory")]
    Escapes(String),
    #[error("cannot unpack the artifact: {0}")]
    Unpack(String),
    #[error("preparation was cancelled")]
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Gzip,
    Plain,
}

impl Format {
    /// The format named by the extension of a URL's path, if supported.
    fn of(path: &str) -> Option<Format> {
        if path.ends_with(".tar.gz") || path.ends_with(".tgz") {
            Some(Format::Gzip)
        } else if path.ends_with(".tar") {
            Some(Format::Plain)
        } else {
            None
        }
    }
}

/// Fetches the archive at `url` (into `scratch` when it is remote) and
/// unpacks it into `root`, which must exist.
pub(crate) async fn install(
    url: &str,
    root: &Path,
    scratch: &Path,
    limits: ArtifactLimits,
    cancel: &CancellationToken,
) -> Result<(), ArtifactError> {
    if url.is_empty() {
        return Ok(());
    }
    let unsupported = || ArtifactError::Unsupported(url.to_owned());
    // Decided on the URL's path (not its query or fragment) and before
    // anything is fetched: an archive that cannot be unpacked is not worth
    // downloading.
    let path_part = url.split(['?', '#']).next().unwrap_or(url);
    let format = Format::of(path_part).ok_or_else(unsupported)?;
    let (archive, remote) = if let Some(path) = path_part.strip_prefix("file://") {
        // `file:///p` and `file://localhost/p` both name `/p`.
        let path = path.strip_prefix("localhost").unwrap_or(path);
        (
            PathBuf::from(percent_decode(path).ok_or_else(unsupported)?),
            false,
        )
    } else if url.starts_with("http://") {
        download::fetch(url, scratch, limits, cancel).await?;
        (scratch.to_path_buf(), true)
    } else {
        return Err(unsupported());
    };
    let root = root.to_path_buf();
    let cancel = cancel.clone();
    let result = tokio::task::spawn_blocking(move || {
        let file = File::open(&archive).map_err(|error| ArtifactError::Fetch {
            url: archive.display().to_string(),
            reason: error.to_string(),
        })?;
        let limited = LimitedReader {
            inner: file,
            left: limits.max_bytes,
            limit: limits.max_bytes,
        };
        unpack(limited, format, &root, limits.unpacked_max_bytes, &cancel)
    })
    .await
    .unwrap_or_else(|error| Err(ArtifactError::Unpack(error.to_string())));
    if remote {
        // The unpacked tree is what counts; a leftover archive would only
        // take space until the container is deleted.
        let _ = tokio::fs::remove_file(scratch).await;
    }
    result
}

fn unpack(
    reader: impl Read,
    format: Format,
    dest: &Path,
    unpacked_max_bytes: u64,
    cancel: &CancellationToken,
) -> Result<(), ArtifactError> {
    let failed = |error: io::Error| match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<TooLarge>())
    {
        Some(TooLarge(limit)) => ArtifactError::TooLarge(*limit),
        None => ArtifactError::Unpack(error.to_string()),
    };
    let reader: Box<dyn Read> = match format {
        Format::Gzip => Box::new(GzDecoder::new(reader)),
        Format::Plain => Box::new(reader),
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(failed)? {
        if cancel.is_cancelled() {
            return Err(ArtifactError::Cancelled);
        }
        let mut entry = entry.map_err(failed)?;
        let path = entry.path().map_err(failed)?.into_owned();
        check_stays_inside(&path)?;
        if entry.header().entry_type().is_hard_link()
            && let Some(target) = entry.link_name().map_err(failed)?
        {
            check_stays_inside(&target)?;
        }
        total = total.saturating_add(entry.size());
        if total > unpacked_max_bytes {
            return Err(ArtifactError::UnpackedTooLarge(unpacked_max_bytes));
        }
        // `unpack_in` also refuses to write through a symlink that points
        // out of `dest`, which an earlier entry may have planted.
        if !entry.unpack_in(dest).map_err(failed)? {
            return Err(ArtifactError::Escapes(path.display().to_string()));
        }
    }
    Ok(())
}

fn check_stays_inside(path: &Path) -> Result<(), ArtifactError> {
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(ArtifactError::Escapes(path.display().to_string()));
    }
    Ok(())
}

/// Decodes `%XX` escapes of a URL path; `None` if one is malformed.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The marker error of a [`LimitedReader`] past its limit.
#[derive(Debug, thiserror::Error)]
#[error("the artifact is larger than the limit of {0} bytes")]
struct TooLarge(u64);

/// A reader that fails once more than `limit` bytes were read.
struct LimitedReader<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(read as u64)
            .ok_or_else(|| io::Error::other(TooLarge(self.limit)))?;
        Ok(read)
    }
}

#[cfg(test)]
mod tests;
