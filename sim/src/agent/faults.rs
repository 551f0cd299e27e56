//! Faults that change what an agent has behind the scheduler's back: a
//! restart with less cpu and memory than its containers reserve
//! (`shrink_agent`), and containers lost without any command
//! (`lose_containers`).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{Effects, SimAgent, deleted};

impl SimAgent {
    /// The agent process restarts on a smaller machine: from now on it
    /// reports `cpu` cores and `mem_mb` MB in total, while the containers
    /// it runs keep running and keep their reservations (which may now
    /// exceed the totals). The caller breaks its stream, as a restart does.
    pub fn shrink(&mut self, cpu: f64, mem_mb: u64) {
        self.spec.cpu = cpu;
        self.spec.mem_mb = mem_mb;
        self.stream = None;
    }

    /// Deletes up to `count` of the agent's containers, never all of them
    /// (a loss of everything is a `wipe`), chosen with `rng`: each is
    /// reported `deleted` on the stream (one still being prepared too, as
    /// when its preparation fails) and its resources are released; later
    /// commands naming it are answered 404. Returns how many were lost.
    pub fn lose_containers(
        &mut self,
        count: u64,
        rng: &mut ChaCha8Rng,
        effects: &mut Effects,
    ) -> usize {
        let keep_one = self.containers.len().saturating_sub(1);
        let count = usize::try_from(count).unwrap_or(usize::MAX).min(keep_one);
        for _ in 0..count {
            let index = rng.random_range(0..self.containers.len());
            let id = self
                .containers
                .keys()
                .nth(index)
                .expect("index within the containers")
                .clone();
            let container = self.containers.remove(&id).expect("listed above");
            effects.changed.push(deleted(&id, &container));
            effects
                .notes
                .push(format!("{id}: lost behind the scheduler's back"));
        }
        count
    }
}
