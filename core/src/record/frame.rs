//! Frames: how a recording file's parts are laid out in bytes.
//!
//! A frame is `length` (u32, little-endian: the body's size), `crc` (u32,
//! little-endian: CRC-32 of the body), then the body: one kind byte (`H`
//! header, `C` checkpoint, `I` input) and its payload (JSON for the header
//! and inputs, the checkpoint's own bytes). Frames are only ever appended,
//! so a crash can tear at most the last one: decoding stops at the first
//! frame that is short or whose checksum does not match, and says where
//! ([`Damage`]), rather than reading garbage as an input.

use super::{FORMAT_VERSION, Frame, Header, RecordedInput};
use crate::scheduler::{Checkpoint, Input};
use crate::time::Instant;

/// The first bytes of every recording file.
pub const MAGIC: &[u8; 8] = b"HRPNREC\n";

/// A frame body larger than this is taken as damage, not allocated: far
/// above any checkpoint a scheduler's bounded tables give.
const MAX_BODY: usize = 1 << 31;

const HEADER: u8 = b'H';
const CHECKPOINT: u8 = b'C';
const INPUT: u8 = b'I';

/// The magic bytes and the header frame a file begins with.
pub fn file_start(header: &Header, out: &mut Vec<u8>) {
    out.extend_from_slice(MAGIC);
    encode_header(header, out);
}

/// Appends a header frame.
pub fn encode_header(header: &Header, out: &mut Vec<u8>) {
    let payload = serde_json::to_vec(header).expect("a header always encodes");
    push_frame(HEADER, &payload, out);
}

/// Appends a checkpoint frame.
pub fn encode_checkpoint(checkpoint: &Checkpoint, out: &mut Vec<u8>) {
    push_frame(CHECKPOINT, checkpoint.as_bytes(), out);
}

/// Appends an input frame.
pub fn encode_input(index: u64, at: Instant, input: &Input, outputs_hash: u64, out: &mut Vec<u8>) {
    #[derive(serde::Serialize)]
    struct InputRef<'a> {
        index: u64,
        at: Instant,
        outputs_hash: u64,
        input: &'a Input,
    }
    let frame = InputRef {
        index,
        at,
        outputs_hash,
        input,
    };
    let payload = serde_json::to_vec(&frame).expect("an input always encodes");
    push_frame(INPUT, &payload, out);
}

fn push_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(payload.len() + 1).expect("a frame below 4 GiB");
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(payload);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
}

/// Where decoding a file stopped short of its end, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The offset of the frame that could not be read.
    pub offset: usize,
    /// The bytes from there to the end, left out.
    pub ignored_bytes: usize,
    /// What was wrong with it.
    pub problem: String,
}

/// A file, decoded: its frames in order, and the damage that ended it
/// early, if any (a torn last frame after a crash).
#[derive(Clone, Debug)]
pub struct Decoded {
    /// Every frame read whole.
    pub frames: Vec<Frame>,
    /// Why the rest was left out, if something was.
    pub damage: Option<Damage>,
}

/// Decodes a whole file. A file that does not start with [`MAGIC`] and a
/// header of this format version is refused with the reason; damage after
/// that ends the frames (see [`Decoded::damage`]).
pub fn decode_file(bytes: &[u8]) -> Result<Decoded, String> {
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err("not a harpoon recording (its first bytes are not the magic)".to_owned());
    };
    let mut frames = Vec::new();
    let mut damage = None;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        match next_frame(rest) {
            Ok((frame, after)) => {
                frames.push(frame);
                rest = after;
            }
            Err(problem) => {
                damage = Some(Damage {
                    offset,
                    ignored_bytes: rest.len(),
                    problem,
                });
                break;
            }
        }
    }
    match frames.first() {
        Some(Frame::Header(header)) if header.format == FORMAT_VERSION => {}
        Some(Frame::Header(header)) => {
            return Err(format!(
                "recording format {} is not the supported format {FORMAT_VERSION}",
                header.format
            ));
        }
        _ => return Err("the file does not begin with a readable header frame".to_owned()),
    }
    Ok(Decoded { frames, damage })
}

fn next_frame(bytes: &[u8]) -> Result<(Frame, &[u8]), String> {
    let (Some(length), Some(crc)) = (read_u32(bytes, 0), read_u32(bytes, 4)) else {
        return Err(format!("a frame head of {} bytes, short of 8", bytes.len()));
    };
    let length = length as usize;
    if length == 0 || length > MAX_BODY {
        return Err(format!("a frame length of {length} bytes"));
    }
    let Some(body) = bytes.get(8..8 + length) else {
        return Err(format!(
            "a frame of {length} bytes with {} left (torn)",
            bytes.len() - 8
        ));
    };
    if crc32fast::hash(body) != crc {
        return Err("a frame whose checksum does not match".to_owned());
    }
    let (kind, payload) = (body[0], &body[1..]);
    let frame = match kind {
        HEADER => Frame::Header(
            serde_json::from_slice(payload).map_err(|error| format!("a header frame: {error}"))?,
        ),
        CHECKPOINT => Frame::Checkpoint(Checkpoint::from_bytes(payload.to_vec())),
        INPUT => Frame::Input(Box::new(
            serde_json::from_slice::<RecordedInput>(payload)
                .map_err(|error| format!("an input frame: {error}"))?,
        )),
        other => return Err(format!("a frame of unknown kind {other:#04x}")),
    };
    Ok((frame, &bytes[8 + length..]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}
