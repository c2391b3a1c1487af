//! [`Extra`]: the fields a model struct does not know, each kept as its text.

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::RawJson;

/// The fields of a JSON object that a model struct does not name, each value
/// a [`RawJson`] keeping its text (`12.50`, a 30-digit integer, nested at any
/// depth). Written back as entries of the struct's own object, in key order
/// (the input's order of unknown fields is not kept, nor whitespace).
///
/// # Examples
///
/// ```
/// use hookwire::model::experience::Organization;
/// use hookwire::model::Extra;
///
/// let org: Organization = serde_json::from_str(
///     r#"{"id": "org_1", "name": "example", "shopId": "example.myshopify.com", "credit": 12.50}"#,
/// )?;
/// assert_eq!(org.extra.get("credit").map(|v| v.as_str()), Some("12.50"));
/// assert!(serde_json::to_string(&org)?.contains(r#""credit":12.50"#));
///
/// let mut extra = Extra::new();
/// extra.insert("seats", 12)?;
/// extra.insert("tags", ["a", "b"])?;
/// assert_eq!(extra.len(), 2);
/// assert_eq!(serde_json::to_string(&extra)?, r#"{"seats":12,"tags":["a","b"]}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Extra(BTreeMap<String, RawJson>);

impl Extra {
    /// No fields.
    pub fn new() -> Extra {
        Extra::default()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value of field `key`.
    pub fn get(&self, key: &str) -> Option<&RawJson> {
        self.0.get(key)
    }

    /// Whether field `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Sets field `key` to `value` as serde_json writes it, returning the
    /// value it replaces.
    ///
    /// # Errors
    ///
    /// serde_json's error when `value` cannot be written as JSON; the fields
    /// are then unchanged.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Serialize,
    ) -> Result<Option<RawJson>, serde_json::Error> {
        let raw = RawJson::from_serialize(&value)?;
        Ok(self.insert_raw(key, raw))
    }

    /// Sets field `key` to `value`, returning the value it replaces.
    pub fn insert_raw(&mut self, key: impl Into<String>, value: RawJson) -> Option<RawJson> {
        self.0.insert(key.into(), value)
    }

    /// Removes field `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<RawJson> {
        self.0.remove(key)
    }

    /// The fields, in key order.
    pub fn iter(&self) -> btree_map::Iter<'_, String, RawJson> {
        self.0.iter()
    }

    /// The field names, in order.
    pub fn keys(&self) -> btree_map::Keys<'_, String, RawJson> {
        self.0.keys()
    }

    /// The fields as a [`serde_json::Map`] (numbers as a `Value` keeps them).
    ///
    /// # Errors
    ///
    /// serde_json's error for a number beyond `f64`'s range.
    pub fn to_map(&self) -> Result<Map<String, Value>, serde_json::Error> {
        self.iter()
            .map(|(key, value)| Ok((key.clone(), value.to_value()?)))
            .collect()
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl From<Map<String, Value>> for Extra {
    /// Each value as serde_json writes it.
    fn from(map: Map<String, Value>) -> Self {
        map.into_iter()
            .map(|(key, value)| (key, RawJson::from(value)))
            .collect()
    }
}

impl FromIterator<(String, RawJson)> for Extra {
    fn from_iter<I: IntoIterator<Item = (String, RawJson)>>(iter: I) -> Self {
        Extra(iter.into_iter().collect())
    }
}

impl Extend<(String, RawJson)> for Extra {
    fn extend<I: IntoIterator<Item = (String, RawJson)>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Extra {
    type Item = (String, RawJson);
    type IntoIter = btree_map::IntoIter<String, RawJson>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Extra {
    type Item = (&'a String, &'a RawJson);
    type IntoIter = btree_map::Iter<'a, String, RawJson>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for Extra {
    /// A map of the fields; the model's structs flatten it into their own
    /// object.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Extra {
    /// An object, each value kept as its text (a repeated key keeps its last
    /// value).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::deserialize(deserializer).map(Extra)
    }
}
