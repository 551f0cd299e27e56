//! The registry's jobs as a value: what a registry write persists and what
//! the API lists. Its own module, below the registry and the outputs that
//! carry it, so that neither imports the other for it.

use std::sync::Arc;

use crate::wire::{JobConfig, JobHash};

/// A persistent (structure-sharing) ordered map: a snapshot for a write is
/// an O(1) clone, and replacing the durable jobs frees only the nodes a
/// change touched, so a schedule or unschedule costs O(log jobs), not
/// O(jobs). Ordered, so iteration is deterministic.
pub type Jobs = imbl::OrdMap<JobHash, Arc<JobConfig>>;
