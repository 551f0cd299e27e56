//! What a simulated job's process does once started, as scenario files
//! name it: `runs`, `exits 0 after 30s`, `exits 1 after 5s`,
//! `fails to start`, or `fails to prepare`.

use std::fmt;
use std::str::FromStr;

use harpoon_core::Duration;

use crate::range::parse_duration;

/// How the process of every instance of a job behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs until stopped.
    #[default]
    Runs,
    /// Runs for `after`, then exits with `code` (0: `finished`, else
    /// `failed`); the restart policy decides what follows.
    Exits {
        /// The exit code.
        code: i32,
        /// How long the process runs first.
        after: Duration,
    },
    /// Every start fails: the instance goes `failed` with an error.
    FailsToStart,
    /// The artifact cannot be prepared: after a create, the agent reports
    /// the container `deleted` (as a real agent does for a bad config).
    FailsToPrepare,
}

impl FromStr for Behaviour {
    type Err = String;
    fn from_str(text: &str) -> Result<Behaviour, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["runs"] => Ok(Behaviour::Runs),
            ["fails", "to", "start"] => Ok(Behaviour::FailsToStart),
            ["fails", "to", "prepare"] => Ok(Behaviour::FailsToPrepare),
            ["exits", code, "after", after] => {
                let code = code
                    .parse()
                    .map_err(|_| format!("exit code {code:?} is not an integer"))?;
                let after = parse_duration(after)?;
                Ok(Behaviour::Exits { code, after })
            }
            _ => Err(format!(
                "unknown behaviour {text:?} (use \"runs\", \"exits CODE after DURATION\", \
                 \"fails to start\" or \"fails to prepare\")"
            )),
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Runs => f.write_str("runs"),
            Behaviour::Exits { code, after } => write!(f, "exits {code} after {after}"),
            Behaviour::FailsToStart => f.write_str("fails to start"),
            Behaviour::FailsToPrepare => f.write_str("fails to prepare"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_behaviour_and_round_trips() {
        for text in [
            "runs",
            "exits 0 after 30s",
            "exits 1 after 5s",
            "fails to start",
            "fails to prepare",
        ] {
            let behaviour: Behaviour = text.parse().unwrap();
            assert_eq!(behaviour.to_string(), text);
        }
        assert!("explodes".parse::<Behaviour>().is_err());
    }
}
