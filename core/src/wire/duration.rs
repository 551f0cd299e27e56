//! Durations in the wire syntax, which is Go's `time.Duration` syntax:
//! `"250ms"`, `"2s"`, `"1m30s"`, `"1.5h"`. Parsing accepts everything Go's
//! `time.ParseDuration` accepts except negative values; formatting produces
//! exactly what Go's `Duration.String` produces, so that a config read from an
//! original agent is written back unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Duration;
pub use crate::time::format_nanos;

/// A duration as it travels on the wire, with nanosecond precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireDuration {
    nanos: u64,
}

impl WireDuration {
    /// A wire duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> WireDuration {
        WireDuration { nanos }
    }

    /// A wire duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> WireDuration {
        WireDuration {
            nanos: millis * 1_000_000,
        }
    }

    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The core's millisecond [`Duration`], rounding sub-millisecond parts up
    /// so that a non-zero wire duration never becomes zero.
    pub fn to_duration(self) -> Duration {
        Duration::from_millis(self.nanos.div_ceil(1_000_000))
    }
}

impl From<Duration> for WireDuration {
    fn from(duration: Duration) -> WireDuration {
        WireDuration::from_nanos(duration.as_millis().saturating_mul(1_000_000))
    }
}

impl fmt::Display for WireDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_nanos(u128::from(self.nanos)))
    }
}

impl std::str::FromStr for WireDuration {
    type Err = DurationError;
    fn from_str(text: &str) -> Result<WireDuration, DurationError> {
        parse_nanos(text).map(WireDuration::from_nanos)
    }
}

impl Serialize for WireDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WireDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireDuration, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a duration string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {problem} (expected e.g. \"250ms\", \"2s\" or \"1m30s\")")]
pub struct DurationError {
    text: String,
    problem: &'static str,
}

const NANOS_PER_UNIT: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{00b5}s", 1_000),
    ("\u{03bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses Go's duration syntax into nanoseconds.
pub fn parse_nanos(text: &str) -> Result<u64, DurationError> {
    let fail = |problem| DurationError {
        text: text.to_owned(),
        problem,
    };
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(fail("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(fail("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(fail("expected a number"));
        }
        let unit_len = after_number
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_number.len(), |(i, _)| i);
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(fail("missing unit"));
        }
        let scale = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| fail("unknown unit (use ns, us, ms, s, m or h)"))?;
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| fail("number too large"))?
        };
        let mut value = int_value
            .checked_mul(scale)
            .ok_or_else(|| fail("too large"))?;
        // Fractions beyond nanosecond precision are truncated, as Go does.
        let mut digit_scale = scale;
        for digit in frac_part.bytes() {
            digit_scale /= 10;
            if digit_scale == 0 {
                break;
            }
            value += u128::from(digit - b'0') * digit_scale;
        }
        total = total.checked_add(value).ok_or_else(|| fail("too large"))?;
        rest = after_unit;
    }
    u64::try_from(total)
        .ok()
        .filter(|&nanos| nanos <= i64::MAX as u64)
        .ok_or_else(|| fail("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let cases: [(u128, &str); 10] = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1\u{00b5}s"),
            (2_200_000, "2.2ms"),
            (250_000_000, "250ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_nanos(nanos), text, "formatting {nanos}ns");
        }
    }

    #[test]
    fn parses_like_go() {
        let cases: [(&str, u64); 11] = [
            ("0", 0),
            ("0s", 0),
            ("250ms", 250_000_000),
            ("2s", 2_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("+5s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1h0m0s", 3_600_000_000_000),
            ("3us", 3_000),
            ("3\u{00b5}s4ns", 3_004),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_nanos(text), Ok(nanos), "parsing {text:?}");
        }
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        for text in ["", "5", "s", "1x", "-1s", "1.s5", "99999999999h", "."] {
            let error = parse_nanos(text).expect_err(text);
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn format_then_parse_is_identity() {
        for nanos in [
            1u64,
            999,
            1_000,
            123_456_789,
            59_999_999_999,
            7_384_000_000_000,
        ] {
            assert_eq!(parse_nanos(&format_nanos(u128::from(nanos))), Ok(nanos));
        }
    }

    #[test]
    fn serde_uses_the_string_form() {
        let duration: WireDuration = serde_json::from_str("\"1m30s\"").unwrap();
        assert_eq!(duration.to_duration(), Duration::from_secs(90));
        assert_eq!(serde_json::to_string(&duration).unwrap(), "\"1m30s\"");
        let error = serde_json::from_str::<WireDuration>("\"soon\"").unwrap_err();
        assert!(
            error.to_string().contains("invalid duration \"soon\""),
            "{error}"
        );
    }
}
