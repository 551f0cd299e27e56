//! The recording format: what `harpoon-scheduler --record DIR` writes and
//! `harpoon-sim replay DIR` reads, as bytes in and bytes out (the daemon
//! and the simulator do the files), so both sides share one codec.
//!
//! A recording is a directory of files `record-NNNNNN.hrec`, numbered in
//! the order they were begun. Each file is self-contained, so that the
//! oldest can be deleted when the directory keeps only the last K:
//!
//! 1. the magic bytes [`MAGIC`];
//! 2. a [`Header`] frame: the format version, which run and file this is,
//!    the index of the first input that follows, the seed and settings
//!    the run's scheduler was made with;
//! 3. a checkpoint frame: [`crate::Scheduler::checkpoint`] taken just
//!    before that input (the first file of a run takes it right after
//!    `Scheduler::new`), which replay restores to begin at this file;
//! 4. input frames ([`RecordedInput`]): every input the driver handed the
//!    core, numbered, with its time and the hash of the outputs it drained
//!    after it ([`OutputHash`]).
//!
//! Frames (`frame.rs`) are length-prefixed and checksummed, so a tail torn
//! by a crash is detected and left out rather than misread.

mod frame;
mod hash;

use serde::{Deserialize, Serialize};

use crate::scheduler::{Checkpoint, Input, SchedulerConfig};
use crate::time::Instant;

pub use frame::{
    Damage, Decoded, MAGIC, decode_file, encode_checkpoint, encode_header, encode_input, file_start,
};
pub use hash::OutputHash;

/// The version of the recording format; files of another are refused.
pub const FORMAT_VERSION: u32 = 1;

/// What a file starts with, after the magic bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT_VERSION`] when written.
    pub format: u32,
    /// Names the daemon's run: files of one run continue each other; a new
    /// run (a restart) begins from its own checkpoint.
    pub run: u64,
    /// The file's number in the directory (its name's `NNNNNN`).
    pub file: u64,
    /// The index of the first input frame that follows.
    pub first_input: u64,
    /// The seed the run's scheduler was constructed with.
    pub seed: u64,
    /// The settings the run's scheduler was constructed with.
    pub config: SchedulerConfig,
}

/// One input as recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedInput {
    /// Inputs are numbered from 0 in each run, without gaps.
    pub index: u64,
    /// The time it was handed to the core with.
    pub at: Instant,
    /// The hash of the outputs drained after it ([`OutputHash`]).
    pub outputs_hash: u64,
    /// The input.
    pub input: Input,
}

/// One frame of a file, decoded.
#[derive(Clone, Debug)]
pub enum Frame {
    /// The file's header.
    Header(Header),
    /// The state replay begins this file at.
    Checkpoint(Checkpoint),
    /// An input (boxed: most frames are inputs, but the header is larger).
    Input(Box<RecordedInput>),
}

#[cfg(test)]
mod tests;
