//! The root `harpoon` package holds no code of its own: it exists so that
//! `tests/` at the workspace root can hold end-to-end tests that span the
//! `harpoon-core`, `harpoon-io` and `harpoon-sim` crates.
