//! A checkpoint: the [`Scheduler`]'s whole state as an opaque value that a
//! log can store and a later process restore, so that a recording (see
//! `record/`) can begin anywhere, not only at the start of a run.
//!
//! It holds everything an input's outcome depends on: the settings, the
//! generator's state, the clock, the registry (jobs, the write in flight,
//! replies waiting), every agent's representation and container records,
//! the location index, the transformer's marks, queue, back-offs and
//! unplaced tasks, commands in flight and waiting, the timers and the
//! outputs not yet drained. Two things are left out because they are
//! functions of the rest: the placement algorithm (stateless, rebuilt from
//! the settings) and the placement view's cluster (a cache: a restored
//! scheduler builds it afresh at its next placement, which equals the
//! kept one, as `transformer/view.rs` asserts in debug builds). So a
//! restored scheduler fed the same inputs gives the same outputs as the
//! one checkpointed, which `tests/checkpoint.rs` checks on random runs.
//!
//! The encoding is JSON (the wire types' serde is JSON's), versioned by
//! [`FORMAT`]; it is deterministic (every map is ordered), so two
//! schedulers in the same state give the same bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::agent_map::Agents;
use super::drain::RunningSince;
use super::rollouts::LiveRollout;
use super::timer::TimerTable;
use super::{Dispatch, Scheduler, SchedulerConfig};
use crate::ids::AgentId;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::rollout::RolloutId;
use crate::time::Instant;
use crate::transformer::Transformer;
use crate::wire::ContainerId;

/// The version of a checkpoint's encoding; restoring another is refused.
const FORMAT: u32 = 1;

/// The [`Scheduler`]'s whole state, encoded: take it with
/// [`Scheduler::checkpoint`], store its bytes, and give them back to
/// [`Scheduler::restore`].
#[derive(Clone, PartialEq, Eq)]
pub struct Checkpoint {
    bytes: Vec<u8>,
}

/// Its size, not its bytes: a checkpoint holds the whole state.
impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checkpoint({} bytes)", self.bytes.len())
    }
}

impl Checkpoint {
    /// The encoded state, to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A checkpoint read back from storage; [`Scheduler::restore`] checks
    /// it.
    pub fn from_bytes(bytes: Vec<u8>) -> Checkpoint {
        Checkpoint { bytes }
    }
}

/// Why a checkpoint could not be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Written by another version of the encoding.
    #[error("checkpoint format {found} is not the supported format {FORMAT}")]
    Format {
        /// The version found.
        found: u32,
    },
    /// Not a checkpoint, or a damaged one.
    #[error("the checkpoint does not decode: {0}")]
    Decode(String),
}

/// What is written: borrowed from the scheduler, so taking a checkpoint
/// copies nothing but the bytes.
#[derive(Serialize)]
struct StateRef<'a> {
    format: u32,
    config: &'a SchedulerConfig,
    rng: &'a ChaCha8Rng,
    now: Instant,
    registry: &'a Registry,
    desired: &'a Jobs,
    #[serde(with = "crate::map_as_pairs")]
    rollout_live: &'a BTreeMap<RolloutId, LiveRollout>,
    moving: &'a BTreeMap<ContainerId, bool>,
    move_since: &'a BTreeMap<ContainerId, RunningSince>,
    drained_applied: &'a BTreeSet<AgentId>,
    agents: &'a Agents,
    transformer: &'a Transformer,
    dispatch: &'a Dispatch,
    next_command: u64,
    next_session: u64,
    timers: &'a TimerTable,
    outputs: &'a VecDeque<super::Output>,
    metrics: &'a Metrics,
    reconcile_needed: bool,
    discovered: bool,
    placement_gate_open: bool,
}

/// What is read back: the same fields, owned.
#[derive(Deserialize)]
struct State {
    format: u32,
    config: SchedulerConfig,
    rng: ChaCha8Rng,
    now: Instant,
    registry: Registry,
    desired: Jobs,
    #[serde(with = "crate::map_as_pairs")]
    rollout_live: BTreeMap<RolloutId, LiveRollout>,
    moving: BTreeMap<ContainerId, bool>,
    move_since: BTreeMap<ContainerId, RunningSince>,
    drained_applied: BTreeSet<AgentId>,
    agents: Agents,
    transformer: Transformer,
    dispatch: Dispatch,
    next_command: u64,
    next_session: u64,
    timers: TimerTable,
    outputs: VecDeque<super::Output>,
    metrics: Metrics,
    reconcile_needed: bool,
    discovered: bool,
    placement_gate_open: bool,
}

/// Only the version, read first so that another format is named as such
/// rather than as a decoding error.
#[derive(Deserialize)]
struct Version {
    format: u32,
}

impl Scheduler {
    /// The whole state, to restore later with [`Scheduler::restore`]. Costs
    /// an encoding of every job and record: for a log's rotation, not for
    /// every input.
    pub fn checkpoint(&self) -> Checkpoint {
        let state = StateRef {
            format: FORMAT,
            config: &self.config,
            rng: &self.rng,
            now: self.now,
            registry: &self.registry,
            desired: &self.desired,
            rollout_live: &self.rollout_live,
            moving: &self.moving,
            move_since: &self.move_since,
            drained_applied: &self.drained_applied,
            agents: &self.agents,
            transformer: &self.transformer,
            dispatch: &self.dispatch,
            next_command: self.next_command,
            next_session: self.next_session,
            timers: &self.timers,
            outputs: &self.outputs,
            metrics: &self.metrics,
            reconcile_needed: self.reconcile_needed,
            discovered: self.discovered,
            placement_gate_open: self.placement_gate_open,
        };
        let bytes = serde_json::to_vec(&state).expect("the scheduler's state always encodes");
        Checkpoint { bytes }
    }

    /// The scheduler `checkpoint` was taken of, in the same state: fed the
    /// same inputs, it gives the same outputs. `trace` says whether it
    /// emits routine decisions ([`SchedulerConfig::trace`]), which changes
    /// no decision, so a replay can explain a run recorded without them.
    pub fn restore(checkpoint: &Checkpoint, trace: bool) -> Result<Scheduler, RestoreError> {
        let version: Version = serde_json::from_slice(&checkpoint.bytes)
            .map_err(|error| RestoreError::Decode(error.to_string()))?;
        if version.format != FORMAT {
            return Err(RestoreError::Format {
                found: version.format,
            });
        }
        let state: State = serde_json::from_slice(&checkpoint.bytes)
            .map_err(|error| RestoreError::Decode(error.to_string()))?;
        debug_assert_eq!(state.format, FORMAT);
        let mut config = state.config;
        config.trace = trace;
        Ok(Scheduler {
            algorithm: config.algorithm.build(),
            config,
            rng: state.rng,
            now: state.now,
            registry: state.registry,
            desired: Arc::new(state.desired),
            rollout_live: state.rollout_live,
            moving: state.moving,
            move_since: state.move_since,
            drained_applied: state.drained_applied,
            agents: state.agents,
            transformer: state.transformer,
            dispatch: state.dispatch,
            next_command: state.next_command,
            next_session: state.next_session,
            timers: state.timers,
            outputs: state.outputs,
            metrics: state.metrics,
            // What a process went through is not part of the state that
            // decides: a restored scheduler counts from its restore.
            coverage: super::Coverage::default(),
            reconcile_needed: state.reconcile_needed,
            discovered: state.discovered,
            placement_gate_open: state.placement_gate_open,
        })
    }
}
