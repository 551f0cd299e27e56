//! Paths inside a container's root directory, resolved without following
//! symbolic links.
//!
//! An artifact can plant links (`esc -> /outside`) and a container's
//! process can rearrange its tree between runs, so a path the agent creates
//! or enters for a config (`storage.tmp`, a volume's mount point,
//! `working_dir`) is never resolved as text. It is walked one component at a
//! time from a handle on the root directory, each step an `openat` with
//! `O_NOFOLLOW | O_DIRECTORY` relative to the directory opened before: a
//! component that is a link (even one pointing inside the root) or a file
//! stops the walk with an error naming it. What the walk ends on is held
//! open, so nothing can swap a link in between the check and the use.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, symlinkat, unlinkat};

/// Flags of every directory opened during a walk.
const DIRECTORY: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Why a path inside the root could not be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ConfinedError {
    /// The path climbs out with `..`.
    Climbs,
    /// The path names the root directory itself where an entry is needed.
    IsRoot,
    /// A component (the path up to it, as in the container) is a symbolic
    /// link.
    Link(String),
    /// A component is not a directory.
    NotDirectory(String),
    /// A component does not exist (and was not to be created).
    Missing(String),
    /// Something other than an empty directory is where a link should go.
    Occupied(String),
    /// The operating system refused a step on the component.
    Os(String, Errno),
}

impl fmt::Display for ConfinedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfinedError::Climbs => f.write_str("it climbs out of the container with \"..\""),
            ConfinedError::IsRoot => f.write_str("it is the container's root directory"),
            ConfinedError::Link(at) => write!(
                f,
                "{at:?} is a symbolic link in the container, and the agent follows no links \
                 in the paths it creates or enters"
            ),
            ConfinedError::NotDirectory(at) => write!(f, "{at:?} is not a directory"),
            ConfinedError::Missing(at) => write!(f, "{at:?} does not exist in the container"),
            ConfinedError::Occupied(at) => write!(
                f,
                "{at:?} is already there and is not an empty directory, which the link would hide"
            ),
            ConfinedError::Os(at, errno) => write!(f, "cannot use {at:?}: {}", errno.desc()),
        }
    }
}

/// An open handle on a container's root directory.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
}

/// What a walk does with a component that does not exist.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Fail,
    Create,
}

impl Root {
    /// Opens the root directory at `path`, which the agent made (its last
    /// component may not be a link either).
    pub fn open(path: &Path) -> Result<Root, ConfinedError> {
        let at = path.display().to_string();
        openat(AT_FDCWD, path, DIRECTORY, Mode::empty())
            .map(|fd| Root { fd })
            .map_err(|errno| classify(errno, at))
    }

    /// The directory at container path `path`, which must exist.
    pub fn open_dir(&self, path: &str) -> Result<OwnedFd, ConfinedError> {
        let parts = components(path)?;
        self.walk(&parts, Missing::Fail)
    }

    /// Creates the directory at container path `path` and every missing
    /// parent, as `mkdir -p` does, and returns it opened.
    pub fn create_dir_all(&self, path: &str) -> Result<OwnedFd, ConfinedError> {
        let parts = components(path)?;
        self.walk(&parts, Missing::Create)
    }

    /// Makes container path `path` a symbolic link to `target`, creating its
    /// parents. An empty directory already there (a mount point in the
    /// artifact) is replaced; anything else is an error, since the link
    /// would hide it.
    pub fn replace_with_link(&self, path: &str, target: &str) -> Result<(), ConfinedError> {
        let parts = components(path)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(ConfinedError::IsRoot);
        };
        let parent = self.walk(parents, Missing::Create)?;
        let at = shown(&parts);
        match unlinkat(&parent, *name, UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            // A link or a file (left alone, never followed) or a directory
            // with content.
            Err(Errno::ENOTDIR | Errno::ENOTEMPTY | Errno::EEXIST) => {
                return Err(ConfinedError::Occupied(at));
            }
            Err(errno) => return Err(ConfinedError::Os(at, errno)),
        }
        symlinkat(target, &parent, *name).map_err(|errno| match errno {
            Errno::EEXIST => ConfinedError::Occupied(at),
            errno => ConfinedError::Os(at, errno),
        })
    }

    /// Walks `parts` from the root, one `openat` per component, creating
    /// missing directories if told to.
    fn walk(&self, parts: &[&str], missing: Missing) -> Result<OwnedFd, ConfinedError> {
        // Reopening "." gives a handle of our own without leaving the root.
        let mut current = openat(&self.fd, ".", DIRECTORY, Mode::empty())
            .map_err(|errno| ConfinedError::Os("/".to_owned(), errno))?;
        for (index, part) in parts.iter().enumerate() {
            let at = shown(&parts[..=index]);
            let opened = match openat(&current, *part, DIRECTORY, Mode::empty()) {
                Err(Errno::ENOENT) if missing == Missing::Create => {
                    match mkdirat(&current, *part, Mode::from_bits_truncate(0o755)) {
                        // Made by someone else meanwhile: opened below as
                        // anything else would be, without following it.
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(errno) => return Err(ConfinedError::Os(at, errno)),
                    }
                    openat(&current, *part, DIRECTORY, Mode::empty())
                }
                other => other,
            };
            current = match opened {
                Ok(fd) => fd,
                Err(errno) => return Err(classify_at(&current, part, errno, at)),
            };
        }
        Ok(current)
    }
}

/// The path at which a process started now finds the directory `fd`: the
/// kernel resolves `/proc/self/fd/N` to the open directory itself, not by
/// walking a path again, so the process enters exactly what was checked.
/// The handle must stay open until the process has started; it is
/// close-on-exec, so the process does not keep it.
pub(crate) fn proc_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// The normal components of `path` (absolute or relative, as in the
/// container); `.` and the leading `/` are dropped and `..` refused.
fn components(path: &str) -> Result<Vec<&str>, ConfinedError> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => return Err(ConfinedError::Climbs),
            },
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(ConfinedError::Climbs),
        }
    }
    Ok(parts)
}

/// `parts` as the container would write the path: `/a/b`.
fn shown(parts: &[&str]) -> String {
    format!("/{}", parts.join("/"))
}

/// Names what an `openat` of a directory with `O_NOFOLLOW` found instead.
fn classify(errno: Errno, at: String) -> ConfinedError {
    match errno {
        Errno::ENOENT => ConfinedError::Missing(at),
        Errno::ELOOP => ConfinedError::Link(at),
        Errno::ENOTDIR => ConfinedError::NotDirectory(at),
        errno => ConfinedError::Os(at, errno),
    }
}

/// As [`classify`], telling a link from a file by looking at the entry
/// itself: with `O_DIRECTORY`, some kernels report a link as `ENOTDIR`.
fn classify_at(dir: &OwnedFd, name: &str, errno: Errno, at: String) -> ConfinedError {
    if errno == Errno::ENOTDIR || errno == Errno::ELOOP {
        let is_link = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|stat| {
            SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFLNK
        });
        if is_link {
            return ConfinedError::Link(at);
        }
        return ConfinedError::NotDirectory(at);
    }
    classify(errno, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("harpoon-confined-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        dir
    }

    #[test]
    fn walks_create_inside_and_stop_at_links_and_files() {
        let dir = temp_root("walk");
        let root_path = dir.join("root");
        std::os::unix::fs::symlink(dir.join("outside"), root_path.join("esc")).unwrap();
        std::os::unix::fs::symlink("inner", root_path.join("near")).unwrap();
        std::fs::write(root_path.join("file"), "").unwrap();
        let root = Root::open(&root_path).unwrap();

        root.create_dir_all("/a/./b/c").unwrap();
        assert!(root_path.join("a/b/c").is_dir());
        root.open_dir("a/b").unwrap();
        root.open_dir("/").unwrap();
        for (path, expected) in [
            ("/esc/x", ConfinedError::Link("/esc".to_owned())),
            ("/near/x", ConfinedError::Link("/near".to_owned())),
            ("/file/x", ConfinedError::NotDirectory("/file".to_owned())),
            ("/a/../../x", ConfinedError::Climbs),
        ] {
            assert_eq!(root.create_dir_all(path).unwrap_err(), expected, "{path}");
        }
        assert_eq!(
            root.open_dir("/nope").unwrap_err(),
            ConfinedError::Missing("/nope".to_owned())
        );
        assert_eq!(
            root.replace_with_link("/esc/x", "/srv").unwrap_err(),
            ConfinedError::Link("/esc".to_owned())
        );
        assert_eq!(
            std::fs::read_dir(dir.join("outside")).unwrap().count(),
            0,
            "nothing was made outside"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn links_replace_empty_mount_points_only() {
        let dir = temp_root("link");
        let root_path = dir.join("root");
        std::fs::create_dir_all(root_path.join("mnt/empty")).unwrap();
        std::fs::create_dir_all(root_path.join("mnt/full/content")).unwrap();
        let root = Root::open(&root_path).unwrap();
        root.replace_with_link("/mnt/empty", "/srv/data").unwrap();
        root.replace_with_link("/new/parent/vol", "/srv/data")
            .unwrap();
        for link in ["mnt/empty", "new/parent/vol"] {
            assert_eq!(
                std::fs::read_link(root_path.join(link)).unwrap(),
                Path::new("/srv/data")
            );
        }
        std::fs::write(root_path.join("mnt/file"), "").unwrap();
        for occupied in ["/mnt/full", "/mnt/file", "/mnt/empty"] {
            assert_eq!(
                root.replace_with_link(occupied, "/srv/data").unwrap_err(),
                ConfinedError::Occupied(occupied.to_owned())
            );
        }
        assert!(root_path.join("mnt/full/content").is_dir());
        assert_eq!(
            root.replace_with_link("/", "/srv").unwrap_err(),
            ConfinedError::IsRoot
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_process_enters_the_directory_it_was_given() {
        let dir = temp_root("proc");
        std::fs::create_dir_all(dir.join("root/work")).unwrap();
        let root = Root::open(&dir.join("root")).unwrap();
        let work = root.open_dir("/work").unwrap();
        let output = std::process::Command::new("/bin/pwd")
            .arg("-P")
            .current_dir(proc_path(&work))
            .output()
            .unwrap();
        let printed = String::from_utf8(output.stdout).unwrap();
        assert_eq!(
            Path::new(printed.trim()),
            std::fs::canonicalize(dir.join("root/work")).unwrap()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
