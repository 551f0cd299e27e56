//! The one rule for job names and container IDs, shared by the scheduler's
//! validation and the agent.
//!
//! A container ID names a file and a directory on its agent and travels in
//! every command URL, so both are held to the same conservative rule: ASCII
//! letters, digits, `-`, `_` and `.`, not starting with `.` (so neither `.`,
//! `..` nor hidden files), at most [`CONTAINER_ID_MAX_LEN`] bytes. A job name
//! is limited to [`JOB_NAME_MAX_LEN`], which leaves room for the longest
//! `-<7 hex>-<task index>` the scheduler appends, so that every container ID
//! of a valid job is a valid ID on every agent.

use super::JobConfig;

/// The longest container ID: room under the usual 255-byte file name limit
/// for the suffixes an agent adds to the ID in its data directory, and a
/// command URL far below any server's limit.
pub const CONTAINER_ID_MAX_LEN: usize = 200;

/// The longest suffix a task adds to its job name: `-` and the 7 hex
/// digits of the job hash, `-` and the largest task index.
const TASK_SUFFIX_MAX_LEN: usize = 1 + 7 + 1 + decimal_digits(JobConfig::MAX_SCALE as u64 - 1);

/// The longest job name, so that the longest container ID of a job still
/// passes [`validate_container_id`].
pub const JOB_NAME_MAX_LEN: usize = CONTAINER_ID_MAX_LEN - TASK_SUFFIX_MAX_LEN;

/// Why a job name or container ID breaks the rule. The message completes a
/// sentence that starts with the name: `job name "..": may not start with '.'`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing at all.
    #[error("is empty")]
    Empty,
    /// Longer than the limit.
    #[error("is {len} bytes long; the limit is {max}")]
    TooLong {
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Starts with `.`.
    #[error("may not start with '.'")]
    LeadingDot,
    /// Holds a character outside the allowed set.
    #[error("may only contain letters, digits, '-', '_' and '.'")]
    Characters,
}

/// Checks a job name (the `job` field of a config) against the rule.
pub fn validate_job_name(name: &str) -> Result<(), NameError> {
    validate(name, JOB_NAME_MAX_LEN)
}

/// Checks a container ID against the rule.
pub fn validate_container_id(id: &str) -> Result<(), NameError> {
    validate(id, CONTAINER_ID_MAX_LEN)
}

fn validate(text: &str, max: usize) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(NameError::Characters);
    }
    if text.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    if text.len() > max {
        return Err(NameError::TooLong {
            len: text.len(),
            max,
        });
    }
    Ok(())
}

const fn decimal_digits(mut value: u64) -> usize {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::JobHash;

    #[test]
    fn the_limits_leave_room_for_every_task_of_the_longest_name() {
        assert_eq!(TASK_SUFFIX_MAX_LEN, "-0123abc-999".len());
        assert_eq!(JOB_NAME_MAX_LEN, 188);
        let name = "n".repeat(JOB_NAME_MAX_LEN);
        assert_eq!(validate_job_name(&name), Ok(()));
        let hash = JobHash::new(&format!("{name}-0123abc"));
        let last_task = u32::try_from(JobConfig::MAX_SCALE - 1).unwrap();
        assert_eq!(
            validate_container_id(hash.container_id(last_task).as_str()),
            Ok(())
        );
    }

    #[test]
    fn names_and_ids_that_agents_refuse_are_refused() {
        for good in ["web", "a.b_c-D9", "web.", "x"] {
            assert_eq!(validate_job_name(good), Ok(()), "{good}");
        }
        assert_eq!(validate_container_id("web-9c83741-0"), Ok(()));
        let cases = [
            ("", NameError::Empty),
            (".", NameError::LeadingDot),
            ("..", NameError::LeadingDot),
            (".hidden", NameError::LeadingDot),
            ("a/b", NameError::Characters),
            ("a b", NameError::Characters),
            ("%2e%2e", NameError::Characters),
            ("café", NameError::Characters),
        ];
        for (bad, expected) in cases {
            assert_eq!(validate_job_name(bad), Err(expected.clone()), "{bad:?}");
            assert_eq!(validate_container_id(bad), Err(expected), "{bad:?}");
        }
        let long = "x".repeat(300);
        assert_eq!(
            validate_job_name(&long),
            Err(NameError::TooLong { len: 300, max: 188 })
        );
        assert_eq!(
            validate_container_id(&long).unwrap_err().to_string(),
            "is 300 bytes long; the limit is 200"
        );
        assert!(validate_job_name(&"x".repeat(100_000)).is_err());
    }
}
