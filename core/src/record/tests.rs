//! The frame codec: what a crash can leave of a file is read up to the
//! damage, never past it.

use super::*;
use crate::ids::AgentId;
use crate::scheduler::Scheduler;
use crate::time::Instant;

fn file(inputs: u64) -> (Vec<u8>, Vec<usize>) {
    let scheduler = Scheduler::new(SchedulerConfig::default(), 3, Instant::ZERO);
    let header = Header {
        format: FORMAT_VERSION,
        run: 1,
        file: 1,
        first_input: 0,
        seed: 3,
        config: SchedulerConfig::default(),
    };
    let mut bytes = Vec::new();
    file_start(&header, &mut bytes);
    encode_checkpoint(&scheduler.checkpoint(), &mut bytes);
    let mut ends = vec![bytes.len()];
    for index in 0..inputs {
        let input = Input::StreamKeepAlive {
            agent: AgentId::new("a0"),
            session: index,
        };
        encode_input(
            index,
            Instant::from_millis(index * 10),
            &input,
            index * 7,
            &mut bytes,
        );
        ends.push(bytes.len());
    }
    (bytes, ends)
}

fn inputs(decoded: &Decoded) -> Vec<u64> {
    decoded
        .frames
        .iter()
        .filter_map(|frame| match frame {
            Frame::Input(input) => Some(input.index),
            _ => None,
        })
        .collect()
}

#[test]
fn a_whole_file_decodes_in_order() {
    let (bytes, _) = file(3);
    let decoded = decode_file(&bytes).expect("a recording");
    assert!(decoded.damage.is_none());
    assert!(matches!(decoded.frames[0], Frame::Header(ref h) if h.seed == 3));
    assert!(matches!(decoded.frames[1], Frame::Checkpoint(_)));
    assert_eq!(inputs(&decoded), [0, 1, 2]);
    let Frame::Input(last) = &decoded.frames[4] else {
        panic!("an input");
    };
    assert_eq!((last.at, last.outputs_hash), (Instant::from_millis(20), 14));
}

#[test]
fn a_torn_last_frame_is_left_out_wherever_it_tears() {
    let (bytes, ends) = file(3);
    let (last_start, end) = (ends[2], ends[3]);
    for cut in last_start + 1..end {
        let decoded = decode_file(&bytes[..cut]).expect("still a recording");
        assert_eq!(inputs(&decoded), [0, 1], "cut at {cut}");
        let damage = decoded.damage.expect("the torn frame is reported");
        assert_eq!(
            (damage.offset, damage.ignored_bytes),
            (last_start, cut - last_start)
        );
    }
    let decoded = decode_file(&bytes[..last_start]).expect("a recording");
    assert_eq!((inputs(&decoded), decoded.damage), (vec![0, 1], None));
}

#[test]
fn a_flipped_byte_ends_the_frames_at_its_frame() {
    let (bytes, ends) = file(3);
    for at in ends[1]..ends[2] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x20;
        let decoded = decode_file(&damaged).expect("still a recording");
        assert_eq!(inputs(&decoded), [0], "flipped at {at}");
        assert_eq!(decoded.damage.expect("reported").offset, ends[1]);
    }
}

#[test]
fn another_file_or_format_is_refused_with_the_reason() {
    assert!(
        decode_file(b"hello")
            .expect_err("no magic")
            .contains("not a harpoon recording")
    );
    let mut other = Vec::new();
    file_start(
        &Header {
            format: FORMAT_VERSION + 1,
            run: 1,
            file: 1,
            first_input: 0,
            seed: 0,
            config: SchedulerConfig::default(),
        },
        &mut other,
    );
    assert_eq!(
        decode_file(&other).expect_err("another format"),
        "recording format 2 is not the supported format 1"
    );
}
