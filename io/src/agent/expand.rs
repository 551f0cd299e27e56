//! `$NAME` and `${NAME}` in a container's command, replaced by its env, as
//! the original agent did (Go's `os.Expand`), so that a command can name the
//! port the agent picked: `["./server", "-listen", ":${PORT_HTTP}"]`.

use std::collections::BTreeMap;

/// `text` with every `$NAME` and `${NAME}` replaced by `env[NAME]`, or by
/// nothing when unset. A `$` not followed by a name stays as it is.
pub(crate) fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if consumed == 0 {
            out.push('$');
        } else if let Some(value) = env.get(name) {
            out.push_str(value);
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_the_original_agent() {
        let env = BTreeMap::from([
            ("PORT_HTTP".to_owned(), "31000".to_owned()),
            ("A".to_owned(), "x".to_owned()),
        ]);
        let cases = [
            ("-listen=:$PORT_HTTP", "-listen=:31000"),
            ("${A}y$A.z", "xyx.z"),
            ("$UNSET|", "|"),
            ("cost: 5$", "cost: 5$"),
            ("$ {A} ${A", "$ {A} ${A"),
            ("plain", "plain"),
        ];
        for (text, expected) in cases {
            assert_eq!(expand(text, &env), expected, "expanding {text:?}");
        }
    }
}
