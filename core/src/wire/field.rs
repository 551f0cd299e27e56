//! Exact round-tripping of fields that Go may omit or write as `null`.
//!
//! The original programs are written in Go, which writes a nil slice or map
//! as `null`, and the clients that write job files often leave fields out.
//! To re-encode what an agent or client sent without changing it (the
//! fixtures test this), a collection field remembers which of the three it
//! was. Code that only reads the value uses [`Field::get`], which treats
//! absent and `null` as empty.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON field that may be absent, `null`, or hold a value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Field<T> {
    /// The field was not in the object; it is not written back.
    #[default]
    Absent,
    /// The field was `null`; it is written back as `null`.
    Null,
    /// The field held a value.
    Present(T),
}

impl<T> Field<T> {
    /// True when the field was not in the object (used by
    /// `skip_serializing_if`).
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The value, if there is one.
    pub fn as_option(&self) -> Option<&T> {
        match self {
            Field::Present(value) => Some(value),
            Field::Absent | Field::Null => None,
        }
    }
}

impl<T: Default + Clone> Field<T> {
    /// The value, or the empty value when absent or `null`.
    pub fn get(&self) -> std::borrow::Cow<'_, T> {
        match self {
            Field::Present(value) => std::borrow::Cow::Borrowed(value),
            Field::Absent | Field::Null => std::borrow::Cow::Owned(T::default()),
        }
    }
}

impl<T> From<T> for Field<T> {
    fn from(value: T) -> Field<T> {
        Field::Present(value)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Present(value) => value.serialize(serializer),
            Field::Absent | Field::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Field<T>, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(value) => Field::Present(value),
            None => Field::Null,
        })
    }
}

/// Serializes an `f64` as Go's `encoding/json` does: a whole number without
/// a fraction (`4`, not `4.0`), so that `"cpus":{"total":4}` survives a round
/// trip through our types as the same JSON value.
pub mod go_float {
    use serde::Serializer;

    /// Serializer for `#[serde(serialize_with = "go_float::serialize")]`.
    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
        if value.fract() == 0.0 && value.abs() < EXACT_INTEGER_LIMIT {
            // Exact: |value| < 2^53 and it has no fraction.
            serializer.serialize_i64(*value as i64)
        } else {
            serializer.serialize_f64(*value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(default, skip_serializing_if = "Field::is_absent")]
        list: Field<Vec<u8>>,
    }

    #[test]
    fn absent_null_and_present_round_trip() {
        for text in [
            r#"{}"#,
            r#"{"list":null}"#,
            r#"{"list":[1,2]}"#,
            r#"{"list":[]}"#,
        ] {
            let holder: Holder = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&holder).unwrap(), text);
        }
    }

    #[test]
    fn get_treats_absent_and_null_as_empty() {
        assert!(Field::<Vec<u8>>::Absent.get().is_empty());
        assert!(Field::<Vec<u8>>::Null.get().is_empty());
        assert_eq!(*Field::Present(vec![3u8]).get(), vec![3]);
    }
}
