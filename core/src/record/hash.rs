//! The hash of the outputs one input caused: what a recording keeps of
//! them, so that replay can check it made the same decisions without the
//! log holding every output.
//!
//! Each output is hashed as its JSON encoding (deterministic: every map in
//! it is ordered), FNV-1a over 64 bits, with a separator between outputs
//! so that their boundaries count. Routine decision traces
//! ([`TraceLevel::Detail`]) are left out: they are emitted only when
//! tracing is on, which changes no decision, so a run recorded without
//! them replays with them (`harpoon-sim replay --trace`) and still
//! matches.

use crate::scheduler::{Output, TraceLevel};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hashes the outputs of one input, in the order they were drained.
#[derive(Clone, Debug)]
pub struct OutputHash {
    state: u64,
}

impl Default for OutputHash {
    fn default() -> OutputHash {
        OutputHash { state: FNV_OFFSET }
    }
}

impl OutputHash {
    /// Counts `output` in, unless it is a routine trace.
    pub fn add(&mut self, output: &Output) {
        if let Output::Trace(trace) = output
            && trace.level == TraceLevel::Detail
        {
            return;
        }
        serde_json::to_writer(&mut *self, output).expect("an output always encodes");
        self.bytes(&[0xff]);
    }

    /// The hash of what was added.
    pub fn finish(&self) -> u64 {
        self.state
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.state ^= u64::from(byte);
            self.state = self.state.wrapping_mul(FNV_PRIME);
        }
    }
}

/// serde_json writes into the hash directly: nothing is allocated per
/// output. (`std::io::Write` is only the trait here; nothing is written
/// anywhere.)
impl std::io::Write for OutputHash {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AgentId;
    use crate::scheduler::Trace;
    use crate::time::Instant;

    fn trace(level: TraceLevel) -> Output {
        Output::Trace(Trace {
            at: Instant::ZERO,
            subject: "a".to_owned(),
            message: "m".to_owned(),
            level,
        })
    }

    #[test]
    fn routine_traces_are_left_out_and_everything_else_counts() {
        let empty = OutputHash::default().finish();
        let mut detail = OutputHash::default();
        detail.add(&trace(TraceLevel::Detail));
        assert_eq!(detail.finish(), empty);
        let mut change = OutputHash::default();
        change.add(&trace(TraceLevel::Change));
        assert_ne!(change.finish(), empty);
        let open = |session| Output::OpenStream {
            agent: AgentId::new("a"),
            session,
        };
        let (mut one, mut two) = (OutputHash::default(), OutputHash::default());
        one.add(&open(1));
        two.add(&open(2));
        assert_ne!(one.finish(), two.finish());
    }
}
