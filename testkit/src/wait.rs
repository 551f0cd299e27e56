//! Waiting on a condition with a deadline.

use std::time::{Duration, Instant};

/// How often a condition is checked again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Checks `check` until it gives `Ok`, or gives its last `Err` once
/// `limit` has passed. The one loop behind the functions below.
fn poll<T, E>(limit: Duration, mut check: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Checks `check` until it gives a value, or `None` after `limit`.
pub fn wait_within<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    poll(limit, || check().ok_or(())).ok()
}

/// As [`wait_within`], panicking after `limit` with `what` was awaited.
pub fn wait_for<T>(what: &str, limit: Duration, check: impl FnMut() -> Option<T>) -> T {
    wait_within(limit, check)
        .unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// Checks `check` until it gives `Ok`, panicking after `limit` with `what`
/// was awaited and the last `Err` it gave (what was seen instead).
pub fn wait_until<T>(what: &str, limit: Duration, check: impl FnMut() -> Result<T, String>) -> T {
    poll(limit, check)
        .unwrap_or_else(|last| panic!("timed out after {limit:?} waiting for {what}; last: {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_becomes_true_is_awaited() {
        let mut calls = 0;
        let value = wait_within(Duration::from_secs(10), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(value, Some(3));
    }

    #[test]
    fn a_condition_that_never_holds_gives_up_after_the_limit_and_reports_the_last_value() {
        assert_eq!(wait_within(Duration::ZERO, || None::<()>), None);
        let mut calls = 0;
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until("the impossible", Duration::ZERO, || {
                calls += 1;
                Err::<(), _>(format!("seen {calls}"))
            })
        }))
        .expect_err("it gives up");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains("the impossible") && message.contains("seen 1"),
            "{message}"
        );
    }
}
