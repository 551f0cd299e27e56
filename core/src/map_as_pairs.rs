//! Serde for maps whose keys are not strings (tuples, enums), as a
//! sequence of `(key, value)` pairs: JSON objects only take string keys,
//! and a checkpoint (`scheduler/checkpoint.rs`) is JSON.
//! `#[serde(with = "crate::map_as_pairs")]` on a `BTreeMap` field.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes the map as a sequence of pairs, in key order.
pub(crate) fn serialize<K, V, S>(map: &BTreeMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
where
    K: Serialize,
    V: Serialize,
    S: Serializer,
{
    serializer.collect_seq(map.iter())
}

/// Reads a sequence of pairs; a key given twice is an error, not a silent
/// overwrite, so a damaged checkpoint cannot restore a different state.
pub(crate) fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let pairs = Vec::<(K, V)>::deserialize(deserializer)?;
    let count = pairs.len();
    let map: BTreeMap<K, V> = pairs.into_iter().collect();
    if map.len() != count {
        return Err(serde::de::Error::custom("a key appears twice in a map"));
    }
    Ok(map)
}
