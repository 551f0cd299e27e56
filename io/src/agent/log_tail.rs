//! Follows a container's log file into its [`ContainerLog`].
//!
//! Processes write stdout and stderr straight into the log file, not into a
//! pipe to the agent: a process must survive a restart of the agent, and a
//! pipe whose reader died would kill it with SIGPIPE on its next line. The
//! agent reads the file by polling, which needs no platform-specific
//! notification API and costs one `stat` per container per interval.

use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::OFlag;
use tokio::time::MissedTickBehavior;

use super::logs::ContainerLog;

/// Most bytes read in one step, so that one step's memory is bounded.
const READ_CHUNK_BYTES: u64 = 1024 * 1024;

/// How much of an existing file is read again after an agent restart, to
/// refill the in-memory history.
const RECENT_BYTES: u64 = 256 * 1024;

/// Where to start reading.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StartAt {
    /// A new container: everything in the file is new.
    Beginning,
    /// After an agent restart: only the recent end of the file.
    Recent,
}

/// The read position in one log file.
#[derive(Debug)]
pub(crate) struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// Skipping the rest of a line that was too long (or that started
    /// before the recent end of the file).
    discarding: bool,
    line_max_bytes: usize,
    file_max_bytes: u64,
}

impl Tail {
    pub fn new(path: PathBuf, start: StartAt, line_max_bytes: usize, file_max_bytes: u64) -> Tail {
        let mut tail = Tail {
            path,
            offset: 0,
            partial: Vec::new(),
            discarding: false,
            line_max_bytes,
            file_max_bytes,
        };
        if let StartAt::Recent = start {
            let len = std::fs::metadata(&tail.path).map_or(0, |meta| meta.len());
            tail.offset = len.saturating_sub(RECENT_BYTES);
            tail.discarding = tail.offset > 0;
        }
        tail
    }

    /// Reads what was appended since the last step. Returns the complete
    /// lines, and whether more is waiting to be read.
    pub fn step(&mut self) -> io::Result<(Vec<String>, bool)> {
        // Not through a link a container's process may have planted there.
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(&self.path)
        {
            Ok(file) => file,
            // The process has not been started yet.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok((Vec::new(), false));
            }
            Err(error) => return Err(error),
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated, by us or by an operator: start over.
            self.offset = 0;
            self.partial.clear();
            self.discarding = false;
        }
        if len == self.offset {
            // The writer paused mid-line for a whole interval (or exited
            // without a final newline): show what it wrote rather than hide
            // it; if it goes on, the rest becomes a line of its own.
            let pending = !self.partial.is_empty() && !self.discarding;
            let lines = if pending {
                vec![self.take_line()]
            } else {
                Vec::new()
            };
            return Ok((lines, false));
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buffer = Vec::new();
        file.take(READ_CHUNK_BYTES).read_to_end(&mut buffer)?;
        self.offset += buffer.len() as u64;
        let lines = self.split(&buffer);
        if self.offset >= self.file_max_bytes && self.offset >= len {
            // Everything has been read: bound the file by emptying it. The
            // process appends (O_APPEND), so it continues at the new end;
            // only bytes written between our read and this truncation are
            // lost, and the recent lines stay in memory.
            OpenOptions::new()
                .write(true)
                .custom_flags(OFlag::O_NOFOLLOW.bits())
                .open(&self.path)?
                .set_len(0)?;
            self.offset = 0;
        }
        Ok((lines, self.offset < len))
    }

    fn split(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for piece in bytes.split_inclusive(|byte| *byte == b'\n') {
            let complete = piece.ends_with(b"\n");
            let content = piece.strip_suffix(b"\n").unwrap_or(piece);
            if !self.discarding {
                let room = self.line_max_bytes.saturating_sub(self.partial.len());
                self.partial
                    .extend_from_slice(&content[..content.len().min(room)]);
                if content.len() > room {
                    // Too long: keep the start, drop the rest of the line.
                    lines.push(self.take_line());
                    self.discarding = true;
                }
            }
            if complete {
                if !self.discarding {
                    lines.push(self.take_line());
                }
                self.discarding = false;
            }
        }
        lines
    }

    fn take_line(&mut self) -> String {
        let bytes = std::mem::take(&mut self.partial);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(&bytes);
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Follows `tail` into `log` every `poll` until the task is aborted.
pub(crate) async fn run(mut tail: Tail, log: Arc<ContainerLog>, poll: Duration) {
    let mut interval = tokio::time::interval(poll);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_error = None;
    loop {
        interval.tick().await;
        loop {
            let step = tokio::task::spawn_blocking(move || {
                let result = tail.step();
                (tail, result)
            })
            .await;
            let Ok((returned, result)) = step else {
                return; // Cancelled with the runtime, or a bug: stop quietly.
            };
            tail = returned;
            match result {
                Ok((lines, more)) => {
                    lines.iter().for_each(|line| log.push(line));
                    last_error = None;
                    if !more {
                        break;
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    if last_error.as_ref() != Some(&message) {
                        tracing::warn!(path = %tail.path.display(), %error, "cannot read log file");
                        last_error = Some(message);
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("harpoon-tail-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("container.log")
    }

    fn append(path: &PathBuf, bytes: &[u8]) {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    #[test]
    fn yields_complete_lines_cuts_long_ones_and_empties_a_full_file() {
        let path = temp_file("lines");
        let mut tail = Tail::new(path.clone(), StartAt::Beginning, 5, 20);
        assert_eq!(tail.step().unwrap(), (vec![], false), "no file yet");
        append(&path, b"one\r\ntwo\nthree-is-long\npart");
        assert_eq!(tail.step().unwrap().0, ["one", "two", "three"]);
        // 27 bytes were read, more than the 20 allowed: the file was emptied,
        // and the unfinished line goes on in the emptied file.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        append(&path, b"ial\n");
        assert_eq!(tail.step().unwrap().0, ["parti"]);
        append(&path, b"after\n");
        assert_eq!(tail.step().unwrap().0, ["after"]);
        append(&path, b"end");
        assert_eq!(tail.step().unwrap().0, Vec::<String>::new());
        assert_eq!(tail.step().unwrap().0, ["end"], "shown after a quiet step");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn recent_start_skips_the_cut_first_line() {
        let path = temp_file("recent");
        let filler = "x".repeat(usize::try_from(RECENT_BYTES).unwrap());
        append(&path, format!("{filler}\nlast\n").as_bytes());
        let mut tail = Tail::new(path.clone(), StartAt::Recent, 100, u64::MAX);
        assert_eq!(tail.step().unwrap().0, ["last"]);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
