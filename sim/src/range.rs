//! Durations and random ranges of durations as scenario files write them:
//! `"250ms"`, or `"1ms..20ms"` for "uniformly random within".

use std::fmt;

use harpoon_core::Duration;
use harpoon_core::wire::WireDuration;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Parses one duration in the wire syntax (Go's), e.g. `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<WireDuration>()
        .map(WireDuration::to_duration)
        .map_err(|error| error.to_string())
}

/// A duration drawn uniformly from `min..=max` (in whole milliseconds), or
/// a fixed one when both ends are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// The shortest duration drawn.
    pub min: Duration,
    /// The longest duration drawn.
    pub max: Duration,
}

impl TimeRange {
    /// Always the same duration.
    pub const fn fixed(duration: Duration) -> TimeRange {
        TimeRange {
            min: duration,
            max: duration,
        }
    }

    /// Parses `"5s"` or `"1ms..20ms"`.
    pub fn parse(text: &str) -> Result<TimeRange, String> {
        match text.split_once("..") {
            None => parse_duration(text).map(TimeRange::fixed),
            Some((low, high)) => {
                let min = parse_duration(low)?;
                let max = parse_duration(high)?;
                if min > max {
                    return Err(format!(
                        "range {text:?} is empty: its start is after its end"
                    ));
                }
                Ok(TimeRange { min, max })
            }
        }
    }

    /// Draws a duration. A fixed range draws nothing from the generator, so
    /// that making one delay fixed does not shift every later random choice.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        if self.min == self.max {
            self.min
        } else {
            Duration::from_millis(rng.random_range(self.min.as_millis()..=self.max.as_millis()))
        }
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixed_and_ranged_durations() {
        assert_eq!(
            TimeRange::parse("1ms..20ms").unwrap(),
            TimeRange {
                min: Duration::from_millis(1),
                max: Duration::from_millis(20)
            }
        );
        assert_eq!(
            TimeRange::parse("1m30s").unwrap(),
            TimeRange::fixed(Duration::from_secs(90))
        );
        assert!(TimeRange::parse("2s..1s").unwrap_err().contains("empty"));
        assert!(TimeRange::parse("soon").is_err());
    }
}
