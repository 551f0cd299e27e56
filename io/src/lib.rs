//! IO adapters that run the harpoon core for real.
