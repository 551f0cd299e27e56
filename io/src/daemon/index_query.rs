//! The check-and-set query of schedule, unschedule and migrate (`?index=N`), parsed
//! and validated once, where the request enters.

/// The `index` a request's query names, if any, or why the query is
/// refused: a value that is not a non-negative integer, the parameter given
/// twice, or a parameter this API does not know.
pub fn parse(query: Option<&str>) -> Result<Option<u64>, String> {
    let mut index = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "index" {
            return Err(format!(
                "unknown query parameter {name:?} (the only one is index=N, for check-and-set)"
            ));
        }
        if index.is_some() {
            return Err("the query gives index more than once".to_owned());
        }
        // Digits only: `u64::from_str` would also take a leading `+`.
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "index must be a registry index (a non-negative integer), not {value:?}"
            ));
        }
        let parsed = value
            .parse::<u64>()
            .map_err(|_| format!("index {value} is larger than any registry index"))?;
        index = Some(parsed);
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn an_index_is_a_non_negative_integer_given_once() {
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some("")), Ok(None));
        assert_eq!(parse(Some("index=0")), Ok(Some(0)));
        assert_eq!(parse(Some("index=42")), Ok(Some(42)));
        for bad in [
            "index=",
            "index",
            "index=-1",
            "index=+1",
            "index=1x",
            "index=0x10",
        ] {
            let error = parse(Some(bad)).expect_err(bad);
            assert!(error.contains("non-negative integer"), "{bad}: {error}");
        }
        assert!(
            parse(Some("index=99999999999999999999"))
                .unwrap_err()
                .contains("larger")
        );
        assert!(
            parse(Some("index=1&index=2"))
                .unwrap_err()
                .contains("more than once")
        );
        assert!(parse(Some("idx=1")).unwrap_err().contains("\"idx\""));
    }
}
