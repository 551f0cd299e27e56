//! An ordered set of agents that finds, without visiting every agent, the
//! first one in its order with room for a task.
//!
//! Entries are kept sorted by key in blocks of a few dozen, and each block
//! keeps a [`Summary`] of its entries: enough to tell, from a handful of
//! numbers, that no agent in it has room for a task. A search walks forward
//! from a starting key, skips every block its summary rules out, and scans
//! only the others, entry by entry, in contiguous memory. A summary can
//! only rule out, never rule in, so the search is exact whatever the
//! summaries say; they decide how fast it is, and the worst case is a scan
//! of every entry, never worse than the linear scan it replaces.
//!
//! The most free cpu and the most free memory alone summarise badly: as a
//! cluster fills, its nearly full agents each have one resource left, cpu
//! on some and memory on others, so a block's two maxima come from
//! different agents and rule out nothing, and a search for a small task
//! would read every nearly full agent. So a summary also keeps, for a
//! ladder of memory-per-core ratios, the most any agent has of
//! `min(cpu × ratio, memory)`: an agent with room for a task has at least
//! as much of this as the task needs, for every ratio, while an agent with
//! only cpu or only memory left has little of it at any ratio.
//!
//! Blocks rather than a balanced tree: at ten thousand agents a search reads
//! a couple of hundred block summaries at most, an update moves a few
//! hundred bytes within one block, and everything is a `Vec`, which keeps the
//! code short and the memory access predictable.

use std::cell::Cell;

/// How many entries a block holds after a split; blocks hold between a
/// quarter of this (or two) and twice this. Tests use tiny blocks so that
/// small random clusters exercise splits, merges and skipping.
const BLOCK_LEN: usize = if cfg!(test) { 4 } else { 32 };

/// A block this small is merged with a neighbour.
const MERGE_BELOW: usize = if BLOCK_LEN / 4 > 2 { BLOCK_LEN / 4 } else { 2 };

/// The memory-per-core ratios a [`Summary`] looks along, in MB per core:
/// 256 MB, 1 GB, 4 GB and 16 GB per core, so that a task's own ratio is
/// within a factor of four of one of them. More ratios rule out a little
/// more but cost every summary more to keep; four measured best.
const RATIOS: usize = 4;

fn ratio_mb_per_core(index: usize) -> u64 {
    256 << (2 * index)
}

/// One agent in the order: its key (unique, usually ending in the agent's
/// index so that ties go to the lowest index), what it has free, and which
/// volumes it offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry<K> {
    /// The position in the order.
    pub key: K,
    /// Free CPU in milli-cores.
    pub cpu_free_millis: u64,
    /// Free memory in MB.
    pub mem_free_mb: u64,
    /// The agent's index in [`super::Cluster::agents`].
    pub agent: u32,
    /// The number of the agent's set of volumes, for an order whose
    /// searches filter by volume (random-fit's); zero in orders that hold
    /// only agents offering what their searches need.
    pub volume_set: u32,
}

/// What a task needs, as a search asks it.
#[derive(Clone, Debug)]
pub(super) struct Need {
    cpu_millis: u64,
    mem_mb: u64,
    /// `reach(cpu_millis, mem_mb)` along every ratio.
    reach: [u64; RATIOS],
    /// Which volume sets offer the task's volumes, or `None` when it needs
    /// none (every set does).
    compatible: Option<Vec<bool>>,
    /// The same as a mask of volume set numbers (modulo 64).
    mask: u64,
}

impl Need {
    /// A task needing `cpu_millis` and `mem_mb` on an agent whose volume
    /// set is one of those `compatible` marks (`None`: any).
    pub(super) fn new(cpu_millis: u64, mem_mb: u64, compatible: Option<Vec<bool>>) -> Need {
        let mask = match &compatible {
            None => u64::MAX,
            Some(table) => table
                .iter()
                .enumerate()
                .filter(|(_, ok)| **ok)
                .fold(0, |mask, (set, _)| mask | volume_bit(set)),
        };
        Need {
            cpu_millis,
            mem_mb,
            reach: reach(cpu_millis, mem_mb),
            compatible,
            mask,
        }
    }

    /// A task needing `cpu_millis` and `mem_mb`, on any agent.
    pub(super) fn room(cpu_millis: u64, mem_mb: u64) -> Need {
        Need::new(cpu_millis, mem_mb, None)
    }

    /// The cpu and memory needed.
    pub(super) fn size(&self) -> (u64, u64) {
        (self.cpu_millis, self.mem_mb)
    }

    fn admits<K>(&self, entry: &Entry<K>) -> bool {
        self.cpu_millis <= entry.cpu_free_millis
            && self.mem_mb <= entry.mem_free_mb
            && self
                .compatible
                .as_ref()
                .is_none_or(|table| table[entry.volume_set as usize])
    }
}

/// The bit standing for volume set `set` in a mask; sets beyond 63 share
/// bits, which only makes a summary rule out less.
fn volume_bit(set: usize) -> u64 {
    1 << (set % 64)
}

/// How much of a task of every ratio `cpu_millis` and `mem_mb` could hold,
/// in units of MB × 1000: `min(cpu × ratio, memory)`. Monotone in both,
/// so an agent with room for a task reaches at least as far as the task
/// along every ratio. Saturating keeps it monotone for absurd sizes.
fn reach(cpu_millis: u64, mem_mb: u64) -> [u64; RATIOS] {
    let mem = mem_mb.saturating_mul(1000);
    std::array::from_fn(|index| cpu_millis.saturating_mul(ratio_mb_per_core(index)).min(mem))
}

/// The most any entry of a block has of each thing a task may need: an
/// entry with room for a task exists only if the summary has that much of
/// every one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Summary {
    cpu_free_millis: u64,
    mem_free_mb: u64,
    reach: [u64; RATIOS],
    volume_sets: u64,
}

impl Summary {
    const EMPTY: Summary = Summary {
        cpu_free_millis: 0,
        mem_free_mb: 0,
        reach: [0; RATIOS],
        volume_sets: 0,
    };

    fn of<K>(entry: &Entry<K>) -> Summary {
        Summary {
            cpu_free_millis: entry.cpu_free_millis,
            mem_free_mb: entry.mem_free_mb,
            reach: reach(entry.cpu_free_millis, entry.mem_free_mb),
            volume_sets: volume_bit(entry.volume_set as usize),
        }
    }

    fn add(&mut self, other: &Summary) {
        self.cpu_free_millis = self.cpu_free_millis.max(other.cpu_free_millis);
        self.mem_free_mb = self.mem_free_mb.max(other.mem_free_mb);
        for (mine, theirs) in self.reach.iter_mut().zip(&other.reach) {
            *mine = (*mine).max(*theirs);
        }
        self.volume_sets |= other.volume_sets;
    }

    /// Whether `part` (one entry's summary) holds one of the maxima, so
    /// that the summary may shrink when that entry leaves or shrinks.
    fn is_held_by(&self, part: &Summary) -> bool {
        part.cpu_free_millis == self.cpu_free_millis
            || part.mem_free_mb == self.mem_free_mb
            || part.reach.iter().zip(&self.reach).any(|(a, b)| a == b)
    }

    /// Whether some entry might satisfy `need`: false means none does.
    fn may_admit(&self, need: &Need) -> bool {
        need.cpu_millis <= self.cpu_free_millis
            && need.mem_mb <= self.mem_free_mb
            && need.mask & self.volume_sets != 0
            && need
                .reach
                .iter()
                .zip(&self.reach)
                .all(|(need, most)| need <= most)
    }
}

/// A run of entries, sorted by key, and their summary.
///
/// When an entry holding one of the maxima leaves or shrinks, the summary
/// is not recomputed there and then: it is only marked stale, which is
/// safe (a summary too large rules out too little, never too much). A
/// search that reads a stale block to the end without finding what it
/// looks for recomputes it, so summaries are tightened only when their
/// looseness cost a wasted scan, and placing a task, which shrinks the
/// agent that had the most room nearly every time, costs no recomputation.
/// Searches only read, hence the cells.
#[derive(Clone, Debug)]
struct Block<K> {
    entries: Vec<Entry<K>>,
    summary: Cell<Summary>,
    stale: Cell<bool>,
}

impl<K: Copy> Block<K> {
    fn new(entries: Vec<Entry<K>>) -> Block<K> {
        let block = Block {
            entries,
            summary: Cell::new(Summary::EMPTY),
            stale: Cell::new(false),
        };
        block.summarise();
        block
    }

    /// Recomputes the summary from the entries.
    fn summarise(&self) {
        let mut summary = Summary::EMPTY;
        for entry in &self.entries {
            summary.add(&Summary::of(entry));
        }
        self.summary.set(summary);
        self.stale.set(false);
    }

    /// Counts `part` (an entry's summary, new or grown) in the summary.
    fn grow(&self, part: &Summary) {
        let mut summary = self.summary.get();
        summary.add(part);
        self.summary.set(summary);
    }

    /// Notes that an entry summarised by `part` left or shrank.
    fn shrink(&self, part: &Summary) {
        if self.summary.get().is_held_by(part) {
            self.stale.set(true);
        }
    }

    fn last_key(&self) -> K {
        self.entries.last().expect("blocks are never empty").key
    }
}

/// Agents sorted by a unique key, searchable by free capacity.
#[derive(Clone, Debug)]
pub(super) struct Ranked<K> {
    blocks: Vec<Block<K>>,
    /// The last key of each block, kept beside the blocks so that finding a
    /// key's block is a binary search over contiguous memory.
    last_keys: Vec<K>,
}

impl<K: Ord + Copy> Ranked<K> {
    /// The entries, in any order; keys must be unique.
    pub(super) fn new(mut entries: Vec<Entry<K>>) -> Ranked<K> {
        entries.sort_unstable_by_key(|entry| entry.key);
        debug_assert!(
            entries.windows(2).all(|pair| pair[0].key < pair[1].key),
            "keys must be unique"
        );
        let blocks: Vec<Block<K>> = entries
            .chunks(BLOCK_LEN)
            .map(|chunk| Block::new(chunk.to_vec()))
            .collect();
        let last_keys = blocks.iter().map(Block::last_key).collect();
        Ranked { blocks, last_keys }
    }

    /// The entries that satisfy `need`, in key order, starting at the
    /// first key not less than `from`.
    pub(super) fn fitting<'a>(&'a self, from: &K, need: &'a Need) -> Fitting<'a, K> {
        let block = self.last_keys.partition_point(|key| key < from);
        let position = self
            .blocks
            .get(block)
            .map_or(0, |b| b.entries.partition_point(|e| e.key < *from));
        Fitting {
            blocks: &self.blocks,
            block,
            position,
            need,
        }
    }

    /// Adds an entry whose key is not in the set.
    pub(super) fn insert(&mut self, entry: Entry<K>) {
        if self.blocks.is_empty() {
            self.blocks.push(Block::new(vec![entry]));
            self.last_keys.push(entry.key);
            return;
        }
        let index = self
            .last_keys
            .partition_point(|key| *key < entry.key)
            .min(self.blocks.len() - 1);
        let block = &mut self.blocks[index];
        let position = block.entries.partition_point(|e| e.key < entry.key);
        debug_assert!(
            block
                .entries
                .get(position)
                .is_none_or(|e| e.key != entry.key),
            "key inserted twice"
        );
        block.entries.insert(position, entry);
        block.grow(&Summary::of(&entry));
        self.last_keys[index] = block.last_key();
        if block.entries.len() > 2 * BLOCK_LEN {
            self.split(index);
        }
    }

    /// Removes the entry with `key`, which must be in the set.
    pub(super) fn remove(&mut self, key: &K) -> Entry<K> {
        let (index, position) = self.locate(key);
        let block = &mut self.blocks[index];
        let entry = block.entries.remove(position);
        if block.entries.is_empty() {
            self.blocks.remove(index);
            self.last_keys.remove(index);
            return entry;
        }
        block.shrink(&Summary::of(&entry));
        self.last_keys[index] = block.last_key();
        if block.entries.len() < MERGE_BELOW && self.blocks.len() > 1 {
            // Merge with the next block (or the previous, for the last), and
            // split again if that made one too large, so that blocks stay
            // big enough for skipping them to pay.
            let first = index.min(self.blocks.len() - 2);
            let second = self.blocks.remove(first + 1);
            self.last_keys.remove(first + 1);
            let merged = &mut self.blocks[first];
            merged.entries.extend(second.entries);
            merged.grow(&second.summary.get());
            merged.stale.set(merged.stale.get() || second.stale.get());
            self.last_keys[first] = merged.last_key();
            if merged.entries.len() > 2 * BLOCK_LEN {
                self.split(first);
            }
        }
        entry
    }

    /// Sets what the entry with `key` (which must be in the set) has free,
    /// keeping its place.
    pub(super) fn set_free(&mut self, key: &K, cpu_free_millis: u64, mem_free_mb: u64) {
        let (index, position) = self.locate(key);
        self.set_free_at(index, position, cpu_free_millis, mem_free_mb);
    }

    /// Sets what the `nth` entry in the order has free, in a set nothing
    /// was ever inserted into or removed from, whose blocks are therefore
    /// still the full ones [`Ranked::new`] made: no search for the key.
    pub(super) fn set_free_nth(&mut self, nth: usize, cpu_free_millis: u64, mem_free_mb: u64) {
        let (index, position) = (nth / BLOCK_LEN, nth % BLOCK_LEN);
        debug_assert!(
            self.blocks[..index]
                .iter()
                .all(|block| block.entries.len() == BLOCK_LEN),
            "set_free_nth on a set that was changed"
        );
        self.set_free_at(index, position, cpu_free_millis, mem_free_mb);
    }

    fn set_free_at(
        &mut self,
        index: usize,
        position: usize,
        cpu_free_millis: u64,
        mem_free_mb: u64,
    ) {
        let block = &mut self.blocks[index];
        let entry = &mut block.entries[position];
        let before = Summary::of(entry);
        entry.cpu_free_millis = cpu_free_millis;
        entry.mem_free_mb = mem_free_mb;
        let after = Summary::of(entry);
        block.shrink(&before);
        block.grow(&after);
    }

    /// The block and position of `key`, which must be in the set.
    fn locate(&self, key: &K) -> (usize, usize) {
        let index = self.last_keys.partition_point(|k| k < key);
        let position = self
            .blocks
            .get(index)
            .and_then(|block| block.entries.binary_search_by(|e| e.key.cmp(key)).ok())
            .expect("the key is in the set");
        (index, position)
    }

    /// Splits block `index` in two halves.
    fn split(&mut self, index: usize) {
        let block = &mut self.blocks[index];
        let upper = block.entries.split_off(block.entries.len() / 2);
        block.summarise();
        self.last_keys[index] = block.last_key();
        let upper = Block::new(upper);
        self.last_keys.insert(index + 1, upper.last_key());
        self.blocks.insert(index + 1, upper);
    }

    /// Every entry in key order (for tests).
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<Entry<K>> {
        self.blocks
            .iter()
            .flat_map(|b| b.entries.iter().copied())
            .collect()
    }

    /// Asserts that the blocks are sorted, non-empty and summarised right.
    #[cfg(test)]
    pub(super) fn check(&self) {
        assert_eq!(self.blocks.len(), self.last_keys.len());
        for (block, last) in self.blocks.iter().zip(&self.last_keys) {
            assert!(!block.entries.is_empty(), "empty block");
            assert!(block.entries.len() <= 2 * BLOCK_LEN, "oversized block");
            assert!(block.last_key() == *last, "stale last key");
            // A summary may be looser than its entries (volume bits are
            // not cleared when an entry leaves, and a stale one keeps the
            // maxima of entries gone) but never tighter.
            let summary = block.summary.get();
            let mut exact = Summary::EMPTY;
            for entry in &block.entries {
                exact.add(&Summary::of(entry));
            }
            let mut loose = exact;
            loose.add(&summary);
            assert_eq!(loose, summary, "a summary rules out an entry");
            if !block.stale.get() {
                assert_eq!(
                    (summary.cpu_free_millis, summary.mem_free_mb, summary.reach),
                    (exact.cpu_free_millis, exact.mem_free_mb, exact.reach),
                    "stale maxima in a block not marked stale"
                );
            }
        }
        let entries = self.entries();
        assert!(entries.windows(2).all(|pair| pair[0].key < pair[1].key));
    }
}

/// The entries of a [`Ranked`] that satisfy a [`Need`], in key order.
#[derive(Clone, Debug)]
pub(super) struct Fitting<'a, K> {
    blocks: &'a [Block<K>],
    block: usize,
    position: usize,
    need: &'a Need,
}

impl<'a, K: Copy> Iterator for Fitting<'a, K> {
    type Item = &'a Entry<K>;

    fn next(&mut self) -> Option<&'a Entry<K>> {
        loop {
            let block = self.blocks.get(self.block)?;
            if block.summary.get().may_admit(self.need) {
                while let Some(entry) = block.entries.get(self.position) {
                    self.position += 1;
                    if self.need.admits(entry) {
                        return Some(entry);
                    }
                }
                // Read to the end for nothing: if the summary let us in
                // only because it is stale, tighten it for the next search.
                if block.stale.get() {
                    block.summarise();
                }
            }
            self.block += 1;
            self.position = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::{Entry, Need, Ranked};

    /// Free amounts in coarse steps of a size where the ratios matter:
    /// cpu in quarter cores, memory in 512 MB.
    fn free() -> impl Strategy<Value = (u64, u64)> {
        (0..8u64, 0..8u64).prop_map(|(c, m)| (c * 250, m * 512))
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, (u64, u64)),
        Remove(usize),
        SetFree(usize, (u64, u64)),
        Search(u16, (u64, u64), Option<[bool; 3]>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u16>(), free()).prop_map(|(k, f)| Op::Insert(k, f)),
            any::<usize>().prop_map(Op::Remove),
            (any::<usize>(), free()).prop_map(|(i, f)| Op::SetFree(i, f)),
            (any::<u16>(), free(), any::<Option<[bool; 3]>>())
                .prop_map(|(k, f, v)| Op::Search(k, f, v)),
        ]
    }

    /// An entry whose agent is its key, in one of three volume sets.
    fn entry(key: u16, (cpu, mem): (u64, u64)) -> Entry<u16> {
        Entry {
            key,
            cpu_free_millis: cpu,
            mem_free_mb: mem,
            agent: u32::from(key),
            volume_set: u32::from(key % 3),
        }
    }

    proptest! {
        /// Any sequence of operations leaves the set equal to a plain
        /// ordered map, and every search finds what a scan of the map finds.
        #[test]
        fn behaves_like_an_ordered_map(
            initial in prop::collection::btree_map(any::<u16>(), free(), 0..40),
            ops in prop::collection::vec(op(), 0..200),
        ) {
            let mut model: BTreeMap<u16, (u64, u64)> = initial.clone();
            let mut ranked = Ranked::new(initial.iter().map(|(&k, &f)| entry(k, f)).collect());
            ranked.check();
            for op in ops {
                match op {
                    Op::Insert(key, free) => {
                        if model.insert(key, free).is_some() {
                            ranked.remove(&key);
                        }
                        ranked.insert(entry(key, free));
                    }
                    Op::Remove(nth) if !model.is_empty() => {
                        let key = *model.keys().nth(nth % model.len()).unwrap();
                        let free = model.remove(&key).unwrap();
                        prop_assert_eq!(ranked.remove(&key), entry(key, free));
                    }
                    Op::SetFree(nth, (cpu, mem)) if !model.is_empty() => {
                        let key = *model.keys().nth(nth % model.len()).unwrap();
                        model.insert(key, (cpu, mem));
                        ranked.set_free(&key, cpu, mem);
                    }
                    Op::Search(from, (cpu, mem), volumes) => {
                        let expected: Vec<u16> = model
                            .range(from..)
                            .filter(|(_, (c, m))| cpu <= *c && mem <= *m)
                            .filter(|(k, _)| volumes.is_none_or(|v| v[usize::from(**k % 3)]))
                            .map(|(k, _)| *k)
                            .collect();
                        let need = Need::new(cpu, mem, volumes.map(|v| v.to_vec()));
                        let found: Vec<u16> = ranked.fitting(&from, &need).map(|e| e.key).collect();
                        prop_assert_eq!(found, expected);
                    }
                    Op::Remove(_) | Op::SetFree(..) => {}
                }
                ranked.check();
                let expected: Vec<Entry<u16>> = model.iter().map(|(&k, &f)| entry(k, f)).collect();
                prop_assert_eq!(ranked.entries(), expected);
            }
        }
    }
}
