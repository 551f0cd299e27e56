//! What an agent offers and how it behaves: resources, ports, limits.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Everything an [`Agent`](super::Agent) needs to know, with the machine's
/// own resources and conservative limits as defaults.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// Where container state, root directories and logs are kept. An agent
    /// started again on the same directory recovers its containers.
    pub data_dir: PathBuf,
    /// Ports handed to containers that ask for port 0.
    pub port_range: PortRange,
    /// CPU cores offered to containers (bookkeeping only).
    pub cpu: f64,
    /// Memory offered to containers, in MB (bookkeeping only).
    pub mem_mb: u64,
    /// Host paths that containers may ask for as volumes.
    pub volumes: Vec<String>,
    /// Time between keep-alive comments on event and log streams, so that
    /// proxies and clients can tell a quiet stream from a dead one.
    pub keepalive_interval: Duration,
    /// Largest request body accepted; larger ones are answered 413.
    pub request_body_max_bytes: usize,
    /// Largest artifact archive fetched, before decompression.
    pub artifact_max_bytes: u64,
    /// Largest total size of the files unpacked from one artifact.
    pub unpacked_max_bytes: u64,
    /// How long fetching one artifact may take.
    pub fetch_timeout: Duration,
    /// Log lines kept in memory per container.
    pub log_lines_max: usize,
    /// Longest log line kept; longer lines are cut.
    pub log_line_max_bytes: usize,
    /// Bytes of log lines kept in memory per container.
    pub log_bytes_max: usize,
    /// Size at which a container's log file is truncated (its recent lines
    /// stay in memory).
    pub log_file_max_bytes: u64,
    /// How often log files are read for new lines.
    pub log_poll_interval: Duration,
    /// How often the process of a container adopted after an agent restart
    /// is checked (it is not our child, so we cannot wait for it).
    pub adopted_poll_interval: Duration,
    /// Events queued for one subscriber before it is dropped as too slow.
    pub subscriber_queue_len: usize,
    /// Event and log streams open at once.
    pub subscribers_max: usize,
    /// HTTP connections held at once. A new connection is always accepted:
    /// past this many, the one that has waited longest on its client (idle,
    /// or sending its head or body) is closed to make room, so stalled
    /// clients cannot lock new ones out.
    pub connections_max: usize,
    /// How long a client may take to send a request head, and how long an
    /// idle connection is kept between requests.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body; a late one is
    /// answered 408.
    pub body_read_timeout: Duration,
    /// First delay before a restart; it doubles with each failure in a row.
    pub restart_backoff_initial: Duration,
    /// Longest delay before a restart.
    pub restart_backoff_max: Duration,
    /// A process that ran at least this long resets the back-off.
    pub restart_backoff_reset: Duration,
}

impl AgentOptions {
    /// Options for an agent keeping its state in `data_dir` and offering
    /// all of this machine's CPUs and memory.
    pub fn new(data_dir: impl Into<PathBuf>) -> AgentOptions {
        let cpu = std::thread::available_parallelism().map_or(1, usize::from);
        AgentOptions {
            data_dir: data_dir.into(),
            port_range: PortRange::DEFAULT,
            // Exact: a machine has far fewer than 2^52 CPUs.
            cpu: cpu as f64,
            mem_mb: super::procfs::total_memory_mb().unwrap_or(1024),
            volumes: Vec::new(),
            keepalive_interval: Duration::from_secs(5),
            request_body_max_bytes: 1024 * 1024,
            artifact_max_bytes: 1024 * 1024 * 1024,
            unpacked_max_bytes: 4 * 1024 * 1024 * 1024,
            fetch_timeout: Duration::from_secs(300),
            log_lines_max: 10_000,
            log_line_max_bytes: 16 * 1024,
            log_bytes_max: 2 * 1024 * 1024,
            log_file_max_bytes: 64 * 1024 * 1024,
            log_poll_interval: Duration::from_millis(100),
            adopted_poll_interval: Duration::from_millis(250),
            subscriber_queue_len: 64,
            subscribers_max: 256,
            connections_max: 512,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            restart_backoff_initial: Duration::from_millis(500),
            restart_backoff_max: Duration::from_secs(60),
            restart_backoff_reset: Duration::from_secs(10),
        }
    }
}

/// An inclusive range of TCP ports, written `31000-32000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// The first port of the range.
    pub first: u16,
    /// The last port of the range (inclusive).
    pub last: u16,
}

impl PortRange {
    /// The range used unless told otherwise.
    pub const DEFAULT: PortRange = PortRange {
        first: 31000,
        last: 32000,
    };

    /// A range from `first` to `last`, both included.
    pub fn new(first: u16, last: u16) -> Result<PortRange, PortRangeError> {
        if first == 0 || first > last {
            return Err(PortRangeError(format!("{first}-{last}")));
        }
        Ok(PortRange { first, last })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// A port range that could not be parsed or is empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid port range {0:?} (expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 31000-32000)"
)]
pub struct PortRangeError(String);

impl FromStr for PortRange {
    type Err = PortRangeError;
    fn from_str(text: &str) -> Result<PortRange, PortRangeError> {
        let fail = || PortRangeError(text.to_owned());
        let (first, last) = text.split_once('-').ok_or_else(fail)?;
        let first = first.trim().parse().map_err(|_| fail())?;
        let last = last.trim().parse().map_err(|_| fail())?;
        PortRange::new(first, last).map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_and_reject_nonsense() {
        assert_eq!("31000-32000".parse(), Ok(PortRange::DEFAULT));
        assert_eq!("5-5".parse(), PortRange::new(5, 5));
        for bad in ["", "1", "0-10", "10-5", "1-70000", "a-b", "-5"] {
            let error = bad.parse::<PortRange>().expect_err(bad);
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }
}
