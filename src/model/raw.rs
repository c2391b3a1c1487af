//! Capturing a JSON value's text as received.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The name under which serde_json's deserializers hand a value's raw text to
/// a visitor (its `RawValue` protocol: a one-entry map from this name to the
/// text). `RawValue` itself cannot be used where serde buffers the input
/// (`#[serde(flatten)]`, untagged enums); this visitor falls back to a
/// [`Value`] there. `tests/model.rs` fails if serde_json stops honouring it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The next value's JSON text: verbatim from serde_json's deserializers (and
/// re-serialized from a [`Value`]); re-serialized from any other deserializer,
/// such as serde's buffered content, whose numbers may have lost their text.
pub(crate) fn capture<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Box<RawValue>, D::Error> {
    deserializer.deserialize_newtype_struct(RAW_VALUE_TOKEN, Capture)
}

struct Capture;

fn to_raw<E: de::Error>(value: &Value) -> Result<Box<RawValue>, E> {
    serde_json::value::to_raw_value(value).map_err(E::custom)
}

impl<'de> Visitor<'de> for Capture {
    type Value = Box<RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return to_raw(&Value::Object(Map::new()));
        };
        if key == RAW_VALUE_TOKEN {
            let text: String = map.next_value()?;
            return RawValue::from_string(text).map_err(de::Error::custom);
        }
        // An ordinary map from a deserializer without the raw protocol.
        let mut object = Map::new();
        object.insert(key, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        to_raw(&Value::Object(object))
    }

    // Deserializers that answer the newtype request with a plain value.
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        to_raw(&Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        to_raw(&Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        to_raw(&Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        to_raw(&Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        to_raw(&Value::from(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        to_raw(&Value::Null)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        let value = Value::deserialize(deserializer)?;
        to_raw(&value)
    }
}
