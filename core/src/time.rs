//! The core's own notion of time.
//!
//! The core never reads a clock: every input carries `now`, an [`Instant`]
//! that the driver made up (the daemon from its monotonic clock, the
//! simulator from its virtual one). Both types count whole milliseconds,
//! which is finer than any timeout the scheduler uses.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in time: milliseconds since an arbitrary epoch chosen by the
/// driver. Only differences between instants mean anything.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0;
        write!(f, "{}.{:03}s", millis / 1000, millis % 1000)
    }
}

/// A span of time in milliseconds.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Duration {
        Duration(millis)
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(secs * 1000)
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self * factor`, saturating at the largest duration.
    pub fn saturating_mul(self, factor: u64) -> Duration {
        Duration(self.0.saturating_mul(factor))
    }

    /// The shorter of two durations.
    pub fn min(self, other: Duration) -> Duration {
        Duration(self.0.min(other.0))
    }
}

impl fmt::Display for Duration {
    /// Formats in the wire syntax, e.g. `1m30s` or `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_nanos(u128::from(self.0) * 1_000_000))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

/// Formats nanoseconds exactly as Go's `time.Duration.String` does.
pub fn format_nanos(nanos: u128) -> String {
    fn fraction(value: u128, precision: u32) -> (String, u128) {
        let divisor = 10u128.pow(precision);
        let frac = value % divisor;
        if frac == 0 {
            return (String::new(), value / divisor);
        }
        let digits = format!("{frac:0width$}", width = precision as usize);
        (
            format!(".{}", digits.trim_end_matches('0')),
            value / divisor,
        )
    }
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, precision) = match nanos {
            n if n < 1_000 => ("ns", 0),
            n if n < 1_000_000 => ("\u{00b5}s", 3),
            _ => ("ms", 6),
        };
        let (frac, whole) = fraction(nanos, precision);
        return format!("{whole}{frac}{unit}");
    }
    let (frac, whole_secs) = fraction(nanos, 9);
    let secs = whole_secs % 60;
    let minutes = whole_secs / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{secs}{frac}s"),
        (0, m) => format!("{m}m{secs}{frac}s"),
        (h, m) => format!("{h}h{m}m{secs}{frac}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let late = Instant::from_millis(u64::MAX - 1);
        assert_eq!((late + Duration::from_secs(5)).as_millis(), u64::MAX);
        assert_eq!(Instant::ZERO - late, Duration::ZERO);
        assert_eq!(
            Instant::from_millis(1500) - Instant::from_millis(500),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn displays_in_wire_syntax() {
        assert_eq!(Duration::from_millis(90_000).to_string(), "1m30s");
        assert_eq!(Duration::from_millis(250).to_string(), "250ms");
        assert_eq!(Instant::from_millis(61_005).to_string(), "61.005s");
    }
}
