//! The run's trace: one line per event, for a person, and a hash over every
//! line that proves two runs were the same, event for event.

use std::fmt::Write as _;

use harpoon_core::Instant;

/// FNV-1a, 64 bits: tiny, stable across versions and platforms, and good
/// enough to tell two traces apart.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// The formatted line: time, where, what and why.
    pub text: String,
    /// Routine lines (keep-alives, periodic ticks) that are hashed but left
    /// out of the default printout and the snapshots.
    pub quiet: bool,
}

/// Collects trace lines. Every line is hashed; lines are kept only when
/// someone will read them, so that swarm runs stay cheap.
#[derive(Debug)]
pub struct Tracer {
    hash: Fnv1a,
    lines: Option<Vec<TraceLine>>,
    count: u64,
    buffer: String,
}

impl Tracer {
    /// A tracer that keeps its lines when `keep` is true.
    pub fn new(keep: bool) -> Tracer {
        Tracer {
            hash: Fnv1a::default(),
            lines: keep.then(Vec::new),
            count: 0,
            buffer: String::new(),
        }
    }

    /// Records what happened at `at`, at `place` (an agent, `scheduler`,
    /// `network`, `user`...).
    pub fn line(&mut self, at: Instant, place: &str, text: &str) {
        self.record(at, place, text, false);
    }

    /// Records a routine line (see [`TraceLine::quiet`]).
    pub fn quiet(&mut self, at: Instant, place: &str, text: &str) {
        self.record(at, place, text, true);
    }

    fn record(&mut self, at: Instant, place: &str, text: &str, quiet: bool) {
        self.buffer.clear();
        let _ = write!(self.buffer, "{:>9} {:<10} {}", at.to_string(), place, text);
        self.hash.write(self.buffer.as_bytes());
        self.hash.write(b"\n");
        self.count += 1;
        if let Some(lines) = &mut self.lines {
            lines.push(TraceLine {
                text: self.buffer.clone(),
                quiet,
            });
        }
    }

    /// The hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// How many lines were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The kept lines, if kept.
    pub fn into_lines(self) -> Option<Vec<TraceLine>> {
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        let mut hash = Fnv1a::default();
        assert_eq!(hash.finish(), 0xcbf2_9ce4_8422_2325);
        hash.write(b"a");
        assert_eq!(hash.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn equal_lines_give_equal_hashes_and_quiet_lines_count() {
        let mut one = Tracer::new(true);
        let mut two = Tracer::new(false);
        for tracer in [&mut one, &mut two] {
            tracer.line(Instant::from_millis(1500), "a0", "created");
            tracer.quiet(Instant::from_millis(2000), "a0", "keep-alive");
        }
        assert_eq!(one.hash(), two.hash());
        let lines = one.into_lines().unwrap();
        assert_eq!(lines[0].text, "   1.500s a0         created");
        assert!(lines[1].quiet);
    }
}
