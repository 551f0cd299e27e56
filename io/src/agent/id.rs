//! Container IDs as this agent accepts them.
//!
//! An ID names a file and a directory under the data directory and travels
//! in URL paths, so only a conservative set of characters is accepted. Every
//! ID the scheduler makes (`<job>-<7 hex>-<index>`, with the job name
//! restricted by validation) passes.

/// Longest accepted ID; leaves room under the usual 255-byte file name
/// limit for the suffixes the agent adds.
pub(crate) const ID_MAX_LEN: usize = 200;

/// Checks that `id` can be used as a container ID, saying why not.
pub(crate) fn check(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".to_owned());
    }
    if id.len() > ID_MAX_LEN {
        return Err(format!("it is longer than {ID_MAX_LEN} bytes"));
    }
    if id.starts_with('.') {
        return Err("it starts with '.'".to_owned());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("it may only contain letters, digits, '-', '_' and '.'".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_ids_pass_and_path_tricks_do_not() {
        for good in ["web-9c83741-0", "c1", "a.b_c-d"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        let long = "x".repeat(ID_MAX_LEN + 1);
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "%2e%2e", &long] {
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
