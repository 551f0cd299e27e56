//! Shared, immutable text for identifiers used as map keys (container IDs,
//! agent ids, job hashes).
//!
//! Ordered, compared and hashed exactly as its text. The first bytes are
//! also kept inline, so that comparing two keys (a map search compares a
//! dozen) rarely follows the pointer to the text: at a million containers
//! on ten thousand agents those texts are not in cache, and following them
//! was most of the cost of looking up a container record or an agent.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// How many bytes of the text are kept inline.
const INLINE: usize = 15;

/// The head's last byte for a text longer than [`INLINE`].
const LONG: u8 = u8::MAX;

/// Text with its first bytes inline. See the module documentation.
#[derive(Clone)]
pub struct KeyText {
    /// The text's first [`INLINE`] bytes, zero-padded, then its length if
    /// it fits (else [`LONG`]). Comparing heads bytewise orders texts as
    /// `str` does: zero padding sorts a shorter text before a longer one it
    /// starts, and so does the length byte when the first bytes tie. When
    /// both texts fit, the heads decide everything, equality included; two
    /// longer texts with the same first bytes tie, and their texts decide.
    head: [u8; INLINE + 1],
    text: Arc<str>,
}

impl KeyText {
    /// Keeps `text`.
    pub fn new(text: &str) -> KeyText {
        KeyText::from_arc(Arc::from(text))
    }

    /// Keeps `text`, without copying it again.
    pub fn from_arc(text: Arc<str>) -> KeyText {
        let mut head = [0u8; INLINE + 1];
        let len = text.len().min(INLINE);
        head[..len].copy_from_slice(&text.as_bytes()[..len]);
        head[INLINE] = u8::try_from(text.len())
            .ok()
            .filter(|&len| usize::from(len) <= INLINE)
            .unwrap_or(LONG);
        KeyText { head, text }
    }

    /// Whether the head holds the whole text.
    fn is_short(&self) -> bool {
        self.head[INLINE] != LONG
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Borrow<str> for KeyText {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl PartialEq for KeyText {
    fn eq(&self, other: &KeyText) -> bool {
        self.head == other.head && (self.is_short() || self.text == other.text)
    }
}

impl Eq for KeyText {}

impl Ord for KeyText {
    fn cmp(&self, other: &KeyText) -> Ordering {
        match self.head.cmp(&other.head) {
            Ordering::Equal if !self.is_short() => self.text.cmp(&other.text),
            decided => decided,
        }
    }
}

impl PartialOrd for KeyText {
    fn partial_cmp(&self, other: &KeyText) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for KeyText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the text hashes, which `Borrow<str>` requires.
        self.as_str().hash(state);
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for KeyText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<KeyText, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(KeyText::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edge_cases_order_as_their_texts() {
        let texts = [
            "",
            "\0",
            "a",
            "a\0",
            "ab",
            "ab\0",
            "abcdefghijklmn",
            "abcdefghijklmno",
            "abcdefghijklmno\0",
            "abcdefghijklmnop",
            "abcdefghijklmnoa",
            "abcdefghijklmnoz",
            "abcdefghijklmnozz",
            "abc\0\0\0\0\0\0\0\0\0\0\0\0x",
            "abc\0\0\0\0\0\0\0\0\0\0\0\0",
            "\u{ff}",
            "\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}",
        ];
        for a in texts {
            for b in texts {
                let (x, y) = (KeyText::new(a), KeyText::new(b));
                assert_eq!(x.cmp(&y), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(x == y, a == b, "{a:?} vs {b:?}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Keys order and compare exactly as their texts, whatever the
        /// inline head holds (shared prefixes, NULs, short texts).
        #[test]
        fn keys_order_as_their_texts(
            a in "(job-abcdef0-|job-abcdef0-1|http://10.0.1|\\x00|a|ab){0,4}[a-z0-9\\x00-]{0,20}",
            b in "(job-abcdef0-|job-abcdef0-1|http://10.0.1|\\x00|a|ab){0,4}[a-z0-9\\x00-]{0,20}",
        ) {
            let (x, y) = (KeyText::new(&a), KeyText::new(&b));
            prop_assert_eq!(x.cmp(&y), a.as_str().cmp(b.as_str()));
            prop_assert_eq!(x == y, a == b);
        }
    }
}
