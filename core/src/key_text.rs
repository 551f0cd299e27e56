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
const INLINE: usize = 16;

/// Text with its first bytes inline. See the module documentation.
#[derive(Clone)]
pub struct KeyText {
    /// The text's first [`INLINE`] bytes, zero-padded. Comparing these
    /// bytewise orders texts as `str` does, up to a tie (a shared prefix, a
    /// text with a NUL), which the texts then break: zero padding sorts a
    /// shorter text before a longer one it starts.
    head: [u8; INLINE],
    text: Arc<str>,
}

impl KeyText {
    /// Keeps `text`.
    pub fn new(text: &str) -> KeyText {
        KeyText::from_arc(Arc::from(text))
    }

    /// Keeps `text`, without copying it again.
    pub fn from_arc(text: Arc<str>) -> KeyText {
        let mut head = [0u8; INLINE];
        let len = text.len().min(INLINE);
        head[..len].copy_from_slice(&text.as_bytes()[..len]);
        KeyText { head, text }
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
        self.head == other.head && self.text == other.text
    }
}

impl Eq for KeyText {}

impl Ord for KeyText {
    fn cmp(&self, other: &KeyText) -> Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.text.cmp(&other.text))
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

    proptest! {
        /// Keys order and compare exactly as their texts, whatever the
        /// inline head holds (shared prefixes, NULs, short texts).
        #[test]
        fn keys_order_as_their_texts(
            a in "(job-abcdef0-|job-abcdef0-1|\\x00|a|ab){0,4}[a-z0-9\\x00-]{0,20}",
            b in "(job-abcdef0-|job-abcdef0-1|\\x00|a|ab){0,4}[a-z0-9\\x00-]{0,20}",
        ) {
            let (x, y) = (KeyText::new(&a), KeyText::new(&b));
            prop_assert_eq!(x.cmp(&y), a.as_str().cmp(b.as_str()));
            prop_assert_eq!(x == y, a == b);
        }
    }
}
