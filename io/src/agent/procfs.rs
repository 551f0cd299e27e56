//! The few facts the agent reads from Linux's `/proc`.
//!
//! A pid alone does not identify a process across an agent restart: pids
//! are reused. A pid together with the process's start time (in clock ticks
//! since boot, field 22 of `/proc/<pid>/stat`) does.

use std::io;

/// What `/proc/<pid>/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// One-letter state: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// Start time in clock ticks since boot.
    pub start_time_ticks: u64,
}

/// Reads the state and start time of process `pid`.
pub(crate) fn stat(pid: i32) -> io::Result<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected format of /proc/{pid}/stat"),
        )
    })
}

/// Parses the text of a `stat` file. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; the start time is field 22.
    let start_time_ticks = fields.nth(22 - 4)?.parse().ok()?;
    Some(ProcStat {
        state,
        start_time_ticks,
    })
}

/// True when process `pid` exists, is not a zombie, and started at
/// `start_time_ticks`, i.e. it is the very process that was recorded.
pub(crate) fn is_alive(pid: i32, start_time_ticks: u64) -> bool {
    match stat(pid) {
        Ok(stat) => stat.start_time_ticks == start_time_ticks && !matches!(stat.state, 'Z' | 'X'),
        Err(_) => false,
    }
}

/// The machine's memory in MB, from `/proc/meminfo`.
pub(crate) fn total_memory_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kilobytes: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let text = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        assert_eq!(
            parse_stat(text),
            Some(ProcStat {
                state: 'S',
                start_time_ticks: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let own = stat(pid).unwrap();
        assert!(is_alive(pid, own.start_time_ticks));
        assert!(!is_alive(pid, own.start_time_ticks + 1));
        assert!(total_memory_mb().unwrap() > 0);
    }
}
