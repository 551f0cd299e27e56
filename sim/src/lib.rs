//! The deterministic harpoon simulator.
