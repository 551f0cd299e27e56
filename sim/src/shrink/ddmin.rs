//! Delta debugging (Zeller and Hildebrandt's ddmin, complement steps) over
//! a list of parts of the best world so far.

use super::{Part, Runner};

/// Removes as many of `parts` from the runner's best world as it can while
/// the world still fails the same way: chunks of a half, a quarter, … of
/// the parts still kept, down to single parts. After a successful removal
/// the granularity coarsens by one, as ddmin's does. Returns whether
/// anything was removed.
pub(super) fn remove_parts(runner: &mut Runner<'_>, parts: Vec<Part>) -> bool {
    // Every candidate is the world at the start minus what was removed so
    // far, so that the parts' indices keep referring to the same entries.
    let base = runner.best.clone();
    let mut kept = parts;
    let mut removed: Vec<Part> = Vec::new();
    let mut chunks = 2;
    while !kept.is_empty() && !runner.exhausted() {
        let chunks_now = chunks.min(kept.len());
        let size = kept.len().div_ceil(chunks_now);
        let mut reduced = false;
        let mut start = 0;
        while start < kept.len() {
            let end = (start + size).min(kept.len());
            let mut trial = removed.clone();
            trial.extend_from_slice(&kept[start..end]);
            if runner.try_candidate(base.without(&trial)) {
                removed = trial;
                kept.drain(start..end);
                reduced = true;
                break;
            }
            if runner.exhausted() {
                return !removed.is_empty();
            }
            start = end;
        }
        if reduced {
            chunks = chunks_now.saturating_sub(1).max(2);
        } else if chunks_now >= kept.len() {
            break;
        } else {
            chunks = (chunks_now * 2).min(kept.len());
        }
    }
    !removed.is_empty()
}
