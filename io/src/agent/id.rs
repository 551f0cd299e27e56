//! Container IDs as this agent accepts them: the one rule the scheduler's
//! validation also applies to job names (`harpoon_core::wire::name`), so
//! that every ID the scheduler makes for a valid job (`<job>-<7 hex>-<index>`)
//! is accepted here, and nothing else names a file or directory under the
//! data directory.

use harpoon_core::wire::validate_container_id;

/// Checks that `id` can be used as a container ID, saying why not.
pub(crate) fn check(id: &str) -> Result<(), String> {
    validate_container_id(id).map_err(|error| format!("it {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harpoon_core::wire::{CONTAINER_ID_MAX_LEN, JOB_NAME_MAX_LEN, JobHash};

    #[test]
    fn scheduler_ids_pass_and_path_tricks_do_not() {
        let longest_job = "j".repeat(JOB_NAME_MAX_LEN);
        let longest = JobHash::new(&format!("{longest_job}-9c83741")).container_id(999);
        for good in ["web-9c83741-0", "c1", "a.b_c-d", longest.as_str()] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        let long = "x".repeat(CONTAINER_ID_MAX_LEN + 1);
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "%2e%2e", &long] {
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(check(".."), Err("it may not start with '.'".to_owned()));
    }
}
