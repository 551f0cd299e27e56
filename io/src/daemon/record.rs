//! `--record DIR`: writes every input the core task hands the core, with
//! its time and the hash of the outputs it caused, so that `harpoon-sim
//! replay DIR` can run the same core on them and check every decision
//! (the format is `harpoon_core::record`).
//!
//! Off the hot path: the core task only clones the input and the outputs
//! it drained (configs and changes are shared, so a clone is cheap) and
//! hands them over a bounded channel to a writer thread, which hashes,
//! encodes and appends them through a buffered file, flushed whenever the
//! channel is momentarily empty (one flush per batch, not per input). If
//! the writer falls behind by [`QUEUE`] inputs, the core task waits for
//! it: a gap would make the rest of the log unreplayable, so a slow disk
//! slows the scheduler rather than silently breaking the recording. A
//! write error stops the recording (logged once); the scheduler goes on.
//!
//! Bounded on disk: a file whose inputs reach `max_file_bytes` is
//! followed by a new one, and only the newest `keep_files` are kept, so a
//! recording takes at most `keep_files` × (`max_file_bytes` + a
//! checkpoint), plus what the writer had queued when it asked to rotate. Each file begins
//! with a checkpoint of the core's whole state
//! ([`harpoon_core::Scheduler::checkpoint`]) taken just before its first
//! input, so any kept file is a place replay can begin. The checkpoint is
//! taken on the core task when the writer asks for one (after the input
//! that filled the file), so it describes exactly the state the next
//! input meets; its encoding is done there too, the only cost of rotation
//! the scheduler itself pays (a rotation per `max_file_bytes` of inputs).
//!
//! Files are `DIR/record-NNNNNN.hrec`, numbered on from the highest
//! already there, so a restarted daemon begins a new run (named by its
//! first file's number) beside the old one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use harpoon_core::record::{self, Header, OutputHash};
use harpoon_core::{Checkpoint, Input, Instant, Output, Scheduler, SchedulerConfig};
use tracing::{info, warn};

/// Inputs that may wait for the writer before the core task waits too.
pub const QUEUE: usize = 8192;

/// What `--record` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOptions {
    /// The directory the files go into (created if missing).
    pub dir: PathBuf,
    /// A file whose inputs reach this many bytes is followed by a new one
    /// (`--record-file-mib`); each file holds its checkpoint besides.
    pub max_file_bytes: u64,
    /// How many files are kept, the newest (`--record-keep`).
    pub keep_files: usize,
}

impl RecordOptions {
    /// The defaults: files of 64 MiB, the last 8 kept (at most about half
    /// a gigabyte, plus the checkpoints).
    pub fn new(dir: PathBuf) -> RecordOptions {
        RecordOptions {
            dir,
            max_file_bytes: 64 << 20,
            keep_files: 8,
        }
    }
}

/// Why recording could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot record into {dir}: {source}")]
pub struct RecordError {
    dir: String,
    source: std::io::Error,
}

// Nearly every job is an input: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Job {
    Input {
        index: u64,
        at: Instant,
        input: Input,
        outputs: Vec<Output>,
    },
    /// Begin the next file at input `first_input` from this state.
    Rotate {
        first_input: u64,
        checkpoint: Checkpoint,
    },
}

/// The core task's end of the recording.
#[derive(Debug)]
pub(crate) struct Recorder {
    sender: Option<SyncSender<Job>>,
    /// Set by the writer when the current file is full.
    rotate_wanted: Arc<AtomicBool>,
    /// Set by the writer when it stopped after an error.
    stopped: Arc<AtomicBool>,
    /// Inputs the writer has appended (to its buffered file).
    appended: Arc<AtomicU64>,
    next_index: u64,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Recorder {
    /// Writes the run's first file (its header and the checkpoint of
    /// `scheduler`, not yet fed) and starts the writer.
    pub(crate) fn start(
        options: &RecordOptions,
        seed: u64,
        scheduler: &Scheduler,
    ) -> Result<Recorder, RecordError> {
        let fail = |source| RecordError {
            dir: options.dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&options.dir).map_err(fail)?;
        let number = highest_file(&options.dir)
            .map_err(fail)?
            .map_or(1, |n| n + 1);
        let mut files = Files {
            dir: options.dir.clone(),
            run: number,
            seed,
            config: scheduler.config().clone(),
            keep: options.keep_files.max(1),
            number,
            file: None,
            written: 0,
        };
        files
            .begin(number, 0, &scheduler.checkpoint())
            .map_err(fail)?;
        info!(dir = %options.dir.display(), run = number, "recording the core's inputs");
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let rotate_wanted = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let appended = Arc::new(AtomicU64::new(0));
        let writer = {
            let flags = WriterFlags {
                rotate_wanted: Arc::clone(&rotate_wanted),
                stopped: Arc::clone(&stopped),
                appended: Arc::clone(&appended),
            };
            let max = options.max_file_bytes.max(1);
            std::thread::Builder::new()
                .name("harpoon-record".to_owned())
                .spawn(move || write_loop(files, &receiver, max, &flags))
                .map_err(fail)?
        };
        Ok(Recorder {
            sender: Some(sender),
            rotate_wanted,
            stopped,
            appended,
            next_index: 0,
            writer: Some(writer),
        })
    }

    /// Whether inputs are being recorded: the caller then clones each
    /// input and its outputs for [`Recorder::record`].
    pub(crate) fn is_recording(&self) -> bool {
        self.sender.is_some()
    }

    /// Records one input and the outputs drained after it; then, if the
    /// writer asked for it, the checkpoint the next file begins at.
    pub(crate) fn record(
        &mut self,
        at: Instant,
        input: Input,
        outputs: Vec<Output>,
        scheduler: &Scheduler,
    ) {
        let index = self.next_index;
        self.next_index += 1;
        self.send(Job::Input {
            index,
            at,
            input,
            outputs,
        });
        if self.rotate_wanted.swap(false, Ordering::AcqRel) {
            let checkpoint = scheduler.checkpoint();
            self.send(Job::Rotate {
                first_input: self.next_index,
                checkpoint,
            });
        }
    }

    fn send(&mut self, job: Job) {
        let gone = self.stopped.load(Ordering::Acquire)
            || self.sender.as_ref().is_some_and(|s| s.send(job).is_err());
        if gone {
            self.sender = None;
        }
    }

    /// How many inputs the writer has appended so far: it lags the core
    /// by what the channel holds, so a file may outgrow `max_file_bytes`
    /// by up to [`QUEUE`] inputs before the next one begins.
    pub(crate) fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Waits for the writer to write and sync what it was given.
    pub(crate) fn finish(mut self) {
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        info!(inputs = self.appended(), "recording finished");
    }
}

/// The files of one run, as the writer keeps them.
struct Files {
    dir: PathBuf,
    run: u64,
    seed: u64,
    config: SchedulerConfig,
    keep: usize,
    number: u64,
    file: Option<BufWriter<File>>,
    /// Bytes of inputs in the current file (its header and checkpoint
    /// not counted: a checkpoint larger than `max_file_bytes` must not
    /// make every file full at once).
    written: u64,
}

impl Files {
    /// Ends the current file and begins file `number` at `first_input`,
    /// then removes the oldest beyond the number kept.
    fn begin(
        &mut self,
        number: u64,
        first_input: u64,
        checkpoint: &Checkpoint,
    ) -> std::io::Result<()> {
        self.close()?;
        let header = Header {
            format: record::FORMAT_VERSION,
            run: self.run,
            file: number,
            first_input,
            seed: self.seed,
            config: self.config.clone(),
        };
        let mut bytes = Vec::new();
        record::file_start(&header, &mut bytes);
        record::encode_checkpoint(checkpoint, &mut bytes);
        let path = file_path(&self.dir, number);
        let mut file = BufWriter::with_capacity(1 << 16, File::create_new(&path)?);
        file.write_all(&bytes)?;
        file.flush()?;
        self.file = Some(file);
        self.number = number;
        self.written = 0;
        self.prune()
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            file.write_all(bytes)?;
            self.written += bytes.len() as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    /// Flushes and syncs the current file: a file that is followed by
    /// another is whole on disk.
    fn close(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
            file.get_ref().sync_all()?;
        }
        Ok(())
    }

    fn prune(&self) -> std::io::Result<()> {
        let mut numbers = file_numbers(&self.dir)?;
        numbers.sort_unstable();
        let excess = numbers.len().saturating_sub(self.keep);
        for number in &numbers[..excess] {
            std::fs::remove_file(file_path(&self.dir, *number))?;
        }
        Ok(())
    }
}

/// What the writer tells the core task.
struct WriterFlags {
    rotate_wanted: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    appended: Arc<AtomicU64>,
}

fn write_loop(
    mut files: Files,
    receiver: &Receiver<Job>,
    max_file_bytes: u64,
    flags: &WriterFlags,
) {
    let mut bytes = Vec::with_capacity(1 << 12);
    let mut asked = false;
    let mut step = |files: &mut Files, job: Job| -> std::io::Result<()> {
        match job {
            Job::Input {
                index,
                at,
                input,
                outputs,
            } => {
                let mut hash = OutputHash::default();
                for output in &outputs {
                    hash.add(output);
                }
                bytes.clear();
                record::encode_input(index, at, &input, hash.finish(), &mut bytes);
                files.append(&bytes)?;
                if files.written >= max_file_bytes && !asked {
                    asked = true;
                    flags.rotate_wanted.store(true, Ordering::Release);
                }
                flags.appended.fetch_add(1, Ordering::AcqRel);
            }
            Job::Rotate {
                first_input,
                checkpoint,
            } => {
                asked = false;
                files.begin(files.number + 1, first_input, &checkpoint)?;
            }
        }
        Ok(())
    };
    let mut outcome = Ok(());
    'run: while let Ok(job) = receiver.recv() {
        outcome = step(&mut files, job);
        // Everything already queued goes into the same flush.
        loop {
            if outcome.is_err() {
                break 'run;
            }
            match receiver.try_recv() {
                Ok(job) => outcome = step(&mut files, job),
                Err(TryRecvError::Empty) => {
                    outcome = files.flush();
                    continue 'run;
                }
                Err(TryRecvError::Disconnected) => break 'run,
            }
        }
    }
    let outcome = outcome.and_then(|()| files.close());
    if let Err(error) = outcome {
        flags.stopped.store(true, Ordering::Release);
        warn!(%error, dir = %files.dir.display(), "recording stopped: the log cannot be written; the scheduler goes on");
    }
}

/// `DIR/record-NNNNNN.hrec`.
pub fn file_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("record-{number:06}.hrec"))
}

/// The numbers of the recording files in `dir`.
fn file_numbers(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let number = name
            .to_str()
            .and_then(|name| name.strip_prefix("record-"))
            .and_then(|rest| rest.strip_suffix(".hrec"))
            .and_then(|digits| digits.parse::<u64>().ok());
        numbers.extend(number);
    }
    Ok(numbers)
}

fn highest_file(dir: &Path) -> std::io::Result<Option<u64>> {
    Ok(file_numbers(dir)?.into_iter().max())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use harpoon_core::record::{Frame, decode_file};
    use harpoon_core::wire::JobConfig;
    use harpoon_core::{AgentId, RequestId, UnscheduleTarget};

    use super::*;

    fn job(name: &str) -> JobConfig {
        let json = harpoon_testkit::JobJson::new(name).scale(2).json();
        serde_json::from_value(json).expect("a job")
    }

    /// A run of a scheduler with one agent whose stream opens, and users
    /// who schedule and unschedule, for `steps` inputs.
    fn inputs(steps: u64) -> Vec<(Instant, Input)> {
        let agent = AgentId::new("http://a0");
        let mut inputs = vec![
            Input::RegistryLoaded {
                rollouts: Vec::new(),
                drains: Vec::new(),
                jobs: Vec::new(),
                sequence: 0,
            },
            Input::AgentsDiscovered {
                agents: BTreeSet::from([agent.clone()]),
            },
        ];
        for step in 0..steps {
            inputs.push(match step % 4 {
                0 => Input::Schedule {
                    request: RequestId(step),
                    job: job(&format!("job{}", step % 12)),
                    index: None,
                },
                1 => Input::PersistCompleted {
                    sequence: step / 4 + 1,
                },
                2 => Input::Unschedule {
                    request: RequestId(step),
                    target: UnscheduleTarget::Config(job(&format!("job{}", step % 7))),
                    index: None,
                },
                _ => Input::TimePassed,
            });
        }
        inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| (Instant::from_millis(i as u64 * 100), input))
            .collect()
    }

    fn files(dir: &Path) -> Vec<u64> {
        let mut numbers = file_numbers(dir).expect("readable");
        numbers.sort_unstable();
        numbers
    }

    #[test]
    fn rotation_keeps_the_last_files_and_the_newest_replays_from_its_checkpoint() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = RecordOptions {
            dir: dir.path().join("rec"),
            max_file_bytes: 16 << 10,
            keep_files: 3,
        };
        let config = SchedulerConfig::default();
        let mut scheduler = Scheduler::new(config.clone(), 11, Instant::ZERO);
        let mut recorder = Recorder::start(&options, 11, &scheduler).expect("recording");
        let run = inputs(2000);
        for (at, input) in run.clone() {
            scheduler.handle(at, input.clone());
            let outputs: Vec<Output> = std::iter::from_fn(|| scheduler.poll_output()).collect();
            recorder.record(at, input, outputs, &scheduler);
            // Lets the writer keep up now and then, as it does with inputs
            // at the pace of a real cluster, so that files rotate.
            let recorded = recorder.next_index;
            if !recorded.is_multiple_of(50) {
                continue;
            }
            harpoon_testkit::wait_for(
                "the writer to append the input",
                std::time::Duration::from_secs(10),
                || (recorder.appended() == recorded).then_some(()),
            );
        }
        recorder.finish();

        let numbers = files(&options.dir);
        assert_eq!(numbers.len(), 3, "kept {numbers:?}");
        assert!(numbers[0] > 1, "the oldest were removed: {numbers:?}");
        assert_eq!(numbers, (numbers[0]..numbers[0] + 3).collect::<Vec<_>>());

        let newest = std::fs::read(file_path(&options.dir, numbers[2])).expect("readable");
        let decoded = decode_file(&newest).expect("a recording");
        assert_eq!(decoded.damage, None);
        let mut frames = decoded.frames.into_iter();
        let Some(Frame::Header(header)) = frames.next() else {
            panic!("a header first");
        };
        assert_eq!((header.run, header.file, header.seed), (1, numbers[2], 11));
        assert!(header.first_input > 0);
        let Some(Frame::Checkpoint(checkpoint)) = frames.next() else {
            panic!("a checkpoint second");
        };
        let mut replayed = Scheduler::restore(&checkpoint, header.config.trace).expect("restores");
        let mut next = header.first_input;
        for frame in frames {
            let Frame::Input(recorded) = frame else {
                panic!("only inputs after the checkpoint");
            };
            assert_eq!(recorded.index, next);
            let (at, input) = run[usize::try_from(next).expect("small")].clone();
            assert_eq!(recorded.at, at);
            assert_eq!(format!("{:?}", recorded.input), format!("{input:?}"));
            replayed.handle(recorded.at, recorded.input);
            let mut hash = OutputHash::default();
            while let Some(output) = replayed.poll_output() {
                hash.add(&output);
            }
            assert_eq!(hash.finish(), recorded.outputs_hash, "input {next}");
            next += 1;
        }
        assert_eq!(
            next,
            run.len() as u64,
            "the newest file ends with the last input"
        );
        assert_eq!(replayed.checkpoint(), scheduler.checkpoint());
    }

    #[test]
    fn a_checkpoint_larger_than_a_file_does_not_make_every_file_full() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = RecordOptions {
            dir: dir.path().to_owned(),
            max_file_bytes: 2 << 10,
            keep_files: 100,
        };
        let mut scheduler = Scheduler::new(SchedulerConfig::default(), 1, Instant::ZERO);
        let jobs = (0..40).map(|i| job(&format!("job{i}"))).collect();
        scheduler.handle(
            Instant::ZERO,
            Input::RegistryLoaded {
                jobs,
                rollouts: Vec::new(),
                drains: Vec::new(),
                sequence: 0,
            },
        );
        while scheduler.poll_output().is_some() {}
        assert!(scheduler.checkpoint().as_bytes().len() > 8 * options.max_file_bytes as usize);
        let mut recorder = Recorder::start(&options, 1, &scheduler).expect("recording");
        for step in 1..=10u64 {
            let at = Instant::from_millis(step * 10);
            scheduler.handle(at, Input::TimePassed);
            let outputs: Vec<Output> = std::iter::from_fn(|| scheduler.poll_output()).collect();
            recorder.record(at, Input::TimePassed, outputs, &scheduler);
            harpoon_testkit::wait_for(
                "the writer to append the input",
                std::time::Duration::from_secs(10),
                || (recorder.appended() == step).then_some(()),
            );
        }
        recorder.finish();
        assert_eq!(files(dir.path()), [1], "ten small inputs fit in one file");
    }

    #[test]
    fn a_new_run_numbers_its_files_after_those_already_there() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = RecordOptions::new(dir.path().to_owned());
        for _ in 0..2 {
            let scheduler = Scheduler::new(SchedulerConfig::default(), 1, Instant::ZERO);
            Recorder::start(&options, 1, &scheduler)
                .expect("recording")
                .finish();
        }
        assert_eq!(files(dir.path()), [1, 2]);
        let second = std::fs::read(file_path(dir.path(), 2)).expect("readable");
        let decoded = decode_file(&second).expect("a recording");
        assert!(matches!(&decoded.frames[0], Frame::Header(h) if h.run == 2 && h.first_input == 0));
    }
}
