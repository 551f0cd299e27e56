//! `harpoon-sim replay DIR`: runs the core on what a daemon recorded with
//! `--record DIR` and checks that it decides exactly what the daemon's
//! core decided, input by input.
//!
//! The files (`harpoon_core::record` has the format) are read in the order
//! they were begun. Replay begins at the oldest kept file (or `--from`),
//! restoring the scheduler from its checkpoint; a following file of the
//! same run continues from the replayed state, which must then equal the
//! file's own checkpoint (a second, whole-state check); a file of another
//! run (the daemon restarted) begins again from its checkpoint. For every
//! input the replayed core's outputs are hashed as the recorder hashed
//! them; the first input whose hash differs is the divergence, reported
//! with its index, time, the input, both hashes and the replayed outputs.
//!
//! With `--trace` each input and the core's decisions are printed as a
//! simulated run prints them (`trace.rs`'s lines), with routine decisions
//! turned on: tracing changes no decision, so the hashes still match.
//! `to_scenario.rs` writes the recorded world as a scenario file.

pub mod to_scenario;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use harpoon_core::record::{Damage, Frame, Header, OutputHash, RecordedInput, decode_file};
use harpoon_core::{Checkpoint, Input, Output, Scheduler};

use crate::trace::{TraceLine, Tracer};

/// One recording file, decoded.
#[derive(Debug)]
pub struct RecordingFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// The state it begins at.
    pub checkpoint: Checkpoint,
    /// Its inputs, in order.
    pub inputs: Vec<RecordedInput>,
    /// What was left out at its end (a torn last frame), if anything.
    pub damage: Option<Damage>,
}

/// A directory's recording files, oldest first.
#[derive(Debug)]
pub struct Recording {
    /// The files.
    pub files: Vec<RecordingFile>,
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not a readable recording.
    #[error("{path}: {problem}")]
    Format {
        /// Which file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Nothing to replay.
    #[error("{0} holds no recording files (record-NNNNNN.hrec)")]
    Empty(String),
}

/// Reads every `record-NNNNNN.hrec` of `dir`, in number order.
pub fn load(dir: &Path) -> Result<Recording, LoadError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| LoadError::Io { path, source }
    };
    let mut paths: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix("record-"))
            .and_then(|rest| rest.strip_suffix(".hrec"))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(number) = number {
            paths.push((number, path));
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(LoadError::Empty(dir.display().to_string()));
    }
    let files = paths
        .into_iter()
        .map(|(_, path)| load_file(&path))
        .collect::<Result<_, _>>()?;
    Ok(Recording { files })
}

/// Reads one recording file.
pub fn load_file(path: &Path) -> Result<RecordingFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let format = |problem: String| LoadError::Format {
        path: path.display().to_string(),
        problem,
    };
    let decoded = decode_file(&bytes).map_err(format)?;
    let mut frames = decoded.frames.into_iter();
    let Some(Frame::Header(header)) = frames.next() else {
        return Err(format("no header".to_owned()));
    };
    let Some(Frame::Checkpoint(checkpoint)) = frames.next() else {
        return Err(format("no checkpoint after the header".to_owned()));
    };
    let mut inputs = Vec::new();
    for frame in frames {
        match frame {
            Frame::Input(input) => {
                let expected = header.first_input + inputs.len() as u64;
                if input.index != expected {
                    return Err(format(format!(
                        "input {} where input {expected} belongs",
                        input.index
                    )));
                }
                inputs.push(*input);
            }
            Frame::Header(_) | Frame::Checkpoint(_) => {
                return Err(format("a second header or checkpoint".to_owned()));
            }
        }
    }
    Ok(RecordingFile {
        path: path.to_owned(),
        header,
        checkpoint,
        inputs,
        damage: decoded.damage,
    })
}

/// The first input whose outputs differ from the recorded ones.
#[derive(Debug)]
pub struct Divergence {
    /// The file it is in.
    pub file: PathBuf,
    /// Its index in the run.
    pub index: u64,
    /// Its time.
    pub at: harpoon_core::Instant,
    /// The input, as JSON.
    pub input: String,
    /// The recorded hash of its outputs.
    pub expected: u64,
    /// The replayed hash.
    pub actual: u64,
    /// The replayed outputs, as JSON (routine traces left out, as in the
    /// hash).
    pub outputs: Vec<String>,
}

/// How a replay went.
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// Inputs replayed whose outputs matched.
    pub matched: u64,
    /// Files replayed.
    pub files: usize,
    /// What was worth saying on the way: where replay began, torn tails
    /// left out.
    pub notes: Vec<String>,
    /// The first divergence, if any; replay stops there.
    pub divergence: Option<Divergence>,
    /// A file boundary where the replayed state was not the file's
    /// checkpoint, if any; replay stops there.
    pub state_mismatch: Option<String>,
    /// With `trace`: the trace, as a simulated run prints it.
    pub trace: Vec<TraceLine>,
}

impl ReplayReport {
    /// Whether every input replayed as recorded.
    pub fn matched_all(&self) -> bool {
        self.divergence.is_none() && self.state_mismatch.is_none()
    }

    /// The report, for a person.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for note in &self.notes {
            let _ = writeln!(text, "  {note}");
        }
        if let Some(mismatch) = &self.state_mismatch {
            let _ = writeln!(text, "  STATE MISMATCH: {mismatch}");
        }
        if let Some(d) = &self.divergence {
            let _ = writeln!(
                text,
                "  DIVERGED at input {} ({}, in {}):",
                d.index,
                d.at,
                d.file.display()
            );
            let _ = writeln!(text, "    input:    {}", d.input);
            let _ = writeln!(text, "    expected: outputs hash {:016x}", d.expected);
            let _ = writeln!(
                text,
                "    actual:   outputs hash {:016x}, from {} outputs:",
                d.actual,
                d.outputs.len()
            );
            for output in &d.outputs {
                let _ = writeln!(text, "      {output}");
            }
        }
        let _ = writeln!(
            text,
            "  {} inputs matched over {} files",
            self.matched, self.files
        );
        text
    }
}

/// Where replay begins.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Begin at this file (a path or a file name in the directory) instead
    /// of the oldest.
    pub from: Option<PathBuf>,
    /// Keep the trace.
    pub trace: bool,
}

/// Replays `recording`.
pub fn replay(recording: &Recording, options: &ReplayOptions) -> Result<ReplayReport, String> {
    let start = match &options.from {
        None => 0,
        Some(from) => recording
            .files
            .iter()
            .position(|file| file.path == *from || file.path.file_name() == Some(from.as_os_str()))
            .ok_or_else(|| format!("--from {}: not a file of the recording", from.display()))?,
    };
    let mut report = ReplayReport::default();
    let mut tracer = Tracer::new(options.trace);
    // The scheduler being replayed, with its run and next input index.
    let mut current: Option<(Scheduler, u64, u64)> = None;
    for file in &recording.files[start..] {
        let header = &file.header;
        let restored = Scheduler::restore(&file.checkpoint, options.trace)
            .map_err(|error| format!("{}: {error}", file.path.display()))?;
        let continues = current
            .as_ref()
            .is_some_and(|(_, run, next)| *run == header.run && *next == header.first_input);
        match current.take() {
            Some((scheduler, _, _)) if continues => {
                if scheduler.checkpoint() != restored.checkpoint() {
                    report.state_mismatch = Some(format!(
                        "the state replayed up to input {} is not the checkpoint {} begins with",
                        header.first_input,
                        file.path.display()
                    ));
                    break;
                }
                current = Some((scheduler, header.run, header.first_input));
            }
            _ => {
                report.notes.push(format!(
                    "run {}: begins at input {} from the checkpoint of {}",
                    header.run,
                    header.first_input,
                    file.path.display()
                ));
                current = Some((restored, header.run, header.first_input));
            }
        }
        let (scheduler, _, next) = current.as_mut().expect("set above");
        report.files += 1;
        for recorded in &file.inputs {
            if options.trace {
                trace_input(&mut tracer, recorded);
            }
            scheduler.handle(recorded.at, recorded.input.clone());
            let mut hash = OutputHash::default();
            let mut outputs = Vec::new();
            while let Some(output) = scheduler.poll_output() {
                hash.add(&output);
                if options.trace {
                    trace_output(&mut tracer, recorded.at, &output);
                }
                outputs.push(output);
            }
            *next = recorded.index + 1;
            if hash.finish() != recorded.outputs_hash {
                report.divergence = Some(Divergence {
                    file: file.path.clone(),
                    index: recorded.index,
                    at: recorded.at,
                    input: json(&recorded.input),
                    expected: recorded.outputs_hash,
                    actual: hash.finish(),
                    outputs: outputs
                        .iter()
                        .filter(|output| !is_routine(output))
                        .map(json)
                        .collect(),
                });
                break;
            }
            report.matched += 1;
        }
        if let Some(damage) = &file.damage {
            report.notes.push(format!(
                "{}: {} bytes at offset {} left out ({})",
                file.path.display(),
                damage.ignored_bytes,
                damage.offset,
                damage.problem
            ));
        }
        if report.divergence.is_some() {
            break;
        }
    }
    if let Some(lines) = tracer.into_lines() {
        report.trace = lines;
    }
    Ok(report)
}

fn is_routine(output: &Output) -> bool {
    matches!(output, Output::Trace(trace) if trace.level == harpoon_core::TraceLevel::Detail)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("(does not encode: {error})"))
}

/// The input as the simulator's trace would say it happened.
fn trace_input(tracer: &mut Tracer, recorded: &RecordedInput) {
    let at = recorded.at;
    match &recorded.input {
        Input::RegistryLoaded { jobs, sequence, .. } => tracer.line(
            at,
            "disk",
            &format!("registry loaded: {} jobs, sequence {sequence}", jobs.len()),
        ),
        Input::Schedule {
            request,
            job,
            index,
        } => tracer.line(
            at,
            "user",
            &format!(
                "schedule {} (request {}{})",
                job.hash(),
                request.0,
                if_index(*index)
            ),
        ),
        Input::Unschedule {
            request,
            target,
            index,
        } => {
            let what = match target {
                harpoon_core::UnscheduleTarget::Config(job) => job.hash().to_string(),
                harpoon_core::UnscheduleTarget::Hash(hash) => hash.to_string(),
            };
            tracer.line(
                at,
                "user",
                &format!(
                    "unschedule {what} (request {}{})",
                    request.0,
                    if_index(*index)
                ),
            );
        }
        Input::PersistCompleted { sequence } => {
            tracer.line(
                at,
                "disk",
                &format!("registry write #{sequence} is durable"),
            );
        }
        Input::PersistFailed { sequence, error } => tracer.line(
            at,
            "disk",
            &format!("registry write #{sequence} failed: {error}"),
        ),
        Input::Migrate {
            request, from, to, ..
        } => {
            let from = match from {
                harpoon_core::UnscheduleTarget::Config(job) => job.hash().to_string(),
                harpoon_core::UnscheduleTarget::Hash(hash) => hash.to_string(),
            };
            tracer.line(
                at,
                "user",
                &format!("migrate {from} to {} (request {})", to.hash(), request.0),
            );
        }
        Input::AbortRollout { request, rollout } => tracer.line(
            at,
            "user",
            &format!("abort rollout {rollout:?} (request {})", request.0),
        ),
        Input::Drain {
            request,
            agent,
            drain,
        } => tracer.line(
            at,
            "user",
            &format!(
                "{} {agent} (request {})",
                if *drain { "drain" } else { "undrain" },
                request.0
            ),
        ),
        Input::AgentsDiscovered { agents } => {
            tracer.line(at, "discovery", &format!("{} agents listed", agents.len()))
        }
        Input::StreamOpened { agent, session } => {
            tracer.line(at, agent.as_str(), &format!("stream {session} open"));
        }
        Input::StreamEvent {
            agent,
            session,
            event,
        } => tracer.line(
            at,
            agent.as_str(),
            &format!(
                "stream {session}: event of {} containers",
                event.containers.len()
            ),
        ),
        Input::StreamKeepAlive { agent, session } => {
            tracer.quiet(at, agent.as_str(), &format!("stream {session}: keep-alive"));
        }
        Input::StreamClosed {
            agent,
            session,
            reason,
        } => tracer.line(
            at,
            agent.as_str(),
            &format!("stream {session} closed: {reason}"),
        ),
        Input::CommandResult {
            agent,
            command,
            result,
        } => {
            let outcome = match result {
                Ok(()) => "accepted".to_owned(),
                Err(error) => format!("refused: {error}"),
            };
            tracer.line(at, agent.as_str(), &format!("command {command} {outcome}"));
        }
        Input::TimePassed => tracer.quiet(at, "clock", "time passed"),
    }
}

/// A decision, as the simulator's driver traces it.
fn trace_output(tracer: &mut Tracer, at: harpoon_core::Instant, output: &Output) {
    match output {
        Output::Trace(trace) => {
            tracer.line(
                at,
                "scheduler",
                &format!("{}: {}", trace.subject, trace.message),
            );
        }
        Output::Command(command) => tracer.line(
            at,
            "scheduler",
            &format!(
                "{} {} on {} (command {})",
                command.action.name(),
                command.container,
                command.agent,
                command.id
            ),
        ),
        Output::OpenStream { agent, session } => tracer.line(
            at,
            "scheduler",
            &format!("open the stream of {agent} (session {session})"),
        ),
        Output::CloseStream { agent } => {
            tracer.line(at, "scheduler", &format!("close the stream of {agent}"));
        }
        Output::Persist { sequence, changes } => tracer.line(
            at,
            "disk",
            &format!(
                "registry write #{sequence} begins ({} put, {} removed)",
                changes.put.len(),
                changes.removed.len()
            ),
        ),
        Output::Reply { request, reply } => tracer.line(
            at,
            "user",
            &format!(
                "request {} answered {}: {}",
                request.0, reply.status_code, reply.msg
            ),
        ),
    }
}

#[cfg(test)]
mod tests;

/// `, if the registry is at index N` for a check-and-set request.
fn if_index(index: Option<u64>) -> String {
    index.map_or_else(String::new, |index| {
        format!(", if the registry is at index {index}")
    })
}
