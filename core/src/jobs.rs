//! The registry's jobs as a value, and the changes a registry write
//! persists: what the API lists and what a store applies. Its own module, below the registry and the outputs that
//! carry it, so that neither imports the other for it.

use std::sync::Arc;

use crate::ids::AgentId;
use crate::rollout::{Rollout, RolloutId};
use crate::wire::{JobConfig, JobHash};

/// A persistent (structure-sharing) ordered map: a snapshot for a write is
/// an O(1) clone, and replacing the durable jobs frees only the nodes a
/// change touched, so a schedule or unschedule costs O(log jobs), not
/// O(jobs). Ordered, so iteration is deterministic.
pub type Jobs = imbl::OrdMap<JobHash, Arc<JobConfig>>;

/// Rollouts by number, persisted with the jobs (structure-sharing, like
/// [`Jobs`]).
pub type Rollouts = imbl::OrdMap<RolloutId, Arc<Rollout>>;

/// Agents being drained, persisted with the jobs.
pub type Drains = imbl::OrdSet<AgentId>;

/// What one registry write changes, as [`crate::Output::Persist`] carries
/// it: each hash at most once, puts and removals in hash order.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegistryChanges {
    /// Jobs to store, whole, under their hash.
    pub put: Vec<(JobHash, Arc<JobConfig>)>,
    /// Hashes to remove; removing one the store does not hold is no error.
    pub removed: Vec<JobHash>,
    /// Rollouts to store, whole, under their number.
    pub rollouts_put: Vec<Arc<Rollout>>,
    /// Rollouts to remove (finished ones beyond those kept).
    pub rollouts_removed: Vec<RolloutId>,
    /// Agents that are now drained.
    pub drains_put: Vec<AgentId>,
    /// Agents no longer drained.
    pub drains_removed: Vec<AgentId>,
}

impl RegistryChanges {
    /// How many hashes, rollouts and drains the write touches.
    pub fn len(&self) -> usize {
        self.put.len()
            + self.removed.len()
            + self.rollouts_put.len()
            + self.rollouts_removed.len()
            + self.drains_put.len()
            + self.drains_removed.len()
    }

    /// Whether the write touches nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
