//! [`RawJson`]: any JSON value kept as its exact text.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value of any shape kept exactly as it was written: `12.50` stays
/// `12.50`, `1E2` stays `1E2`, `-0` stays `-0`, a 30-digit integer keeps
/// every digit, and a string keeps its escapes (`"\u00e9"` is not rewritten
/// as `"é"`), at any depth. Whitespace between tokens is not kept (the text
/// starts and ends with the value itself, but inner whitespace is kept as
/// received).
///
/// The model uses it for fields whose shape no example shows (`onsiteEdits`,
/// `shippingDiscount`, ...) and, in [`Extra`](super::Extra), for fields this
/// version does not know. Parsed with serde_json from bytes, a string or a
/// reader, the text is the input's; from a [`serde_json::Value`] (or through
/// serde's buffering: `#[serde(flatten)]` or an untagged enum in a type of
/// yours), it is what serde_json writes for the value, whose numbers were
/// already integers up to 64 bits or the nearest `f64`. Written back to
/// serde_json as the text itself. Equality is by that text (`1.0` and `1`
/// differ; compare [`to_value`](Self::to_value) for equality of values).
///
/// # Examples
///
/// ```
/// use hookwire::model::RawJson;
/// use serde_json::json;
///
/// let raw: RawJson = serde_json::from_str(r#"{"price": 12.50, "big": 123456789012345678901234567890}"#)?;
/// assert_eq!(raw.as_str(), r#"{"price": 12.50, "big": 123456789012345678901234567890}"#);
/// assert_eq!(serde_json::to_string(&raw)?, raw.as_str());
///
/// // Reading it as a type or a `Value` goes through serde_json as usual.
/// assert_eq!(raw.to_value()?["price"], json!(12.5));
/// let edits: RawJson = RawJson::from_text("[1, 2]")?;
/// assert_eq!(edits.parse::<Vec<u8>>()?, vec![1, 2]);
///
/// // Built from a value, it is that value as serde_json writes it.
/// assert_eq!(RawJson::from(json!({"a": [true, null]})).as_str(), r#"{"a":[true,null]}"#);
/// assert!(RawJson::from_text("{").is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// JSON text, checked to be exactly one JSON value (surrounding
    /// whitespace is trimmed).
    ///
    /// # Errors
    ///
    /// serde_json's error when `text` is not one JSON value.
    pub fn from_text(text: impl Into<String>) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text.into()).map(RawJson)
    }

    /// A value as serde_json writes it (compact).
    pub fn from_value(value: &Value) -> RawJson {
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => RawJson(raw),
            // A `Value` always serializes: its keys are strings and its
            // numbers finite.
            Err(_) => RawJson::null(),
        }
    }

    /// Any serializable value as serde_json writes it.
    ///
    /// # Errors
    ///
    /// serde_json's error when `value` cannot be written as JSON (a map with
    /// keys that are not strings, a failing `Serialize` impl).
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<RawJson, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(RawJson)
    }

    /// `null`.
    pub fn null() -> RawJson {
        RawJson::from_value(&Value::Null)
    }

    /// The value's JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The value as serde_json's [`RawValue`].
    pub fn as_raw_value(&self) -> &RawValue {
        &self.0
    }

    /// The value as a [`serde_json::Value`] (integers exact up to 64 bits,
    /// other numbers the nearest `f64`).
    ///
    /// # Errors
    ///
    /// serde_json's error for a number beyond `f64`'s range (`1e400`), which
    /// the text may hold but a `Value` cannot.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The value read as `T` from its text (so a `T` that keeps text, such
    /// as [`Amount`](super::Amount), keeps it).
    ///
    /// # Errors
    ///
    /// serde_json's error when the value is not a valid `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.as_str() == "null"
    }

    /// The value as URL text when it is a scalar: a string's contents, a
    /// number or boolean as written; `None` for `null`, arrays and objects.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self.as_str().as_bytes().first()? {
            b'"' => self.parse::<String>().ok(),
            b'n' | b'[' | b'{' => None,
            _ => Some(self.as_str().to_owned()),
        }
    }
}

impl Default for RawJson {
    /// `null`.
    fn default() -> Self {
        RawJson::null()
    }
}

impl From<Value> for RawJson {
    /// See [`RawJson::from_value`].
    fn from(value: Value) -> Self {
        RawJson::from_value(&value)
    }
}

impl From<&Value> for RawJson {
    /// See [`RawJson::from_value`].
    fn from(value: &Value) -> Self {
        RawJson::from_value(value)
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(value: Box<RawValue>) -> Self {
        RawJson(value)
    }
}

impl From<RawJson> for Box<RawValue> {
    fn from(value: RawJson) -> Self {
        value.0
    }
}

impl TryFrom<&str> for RawJson {
    type Error = serde_json::Error;

    /// See [`RawJson::from_text`].
    fn try_from(text: &str) -> Result<Self, Self::Error> {
        RawJson::from_text(text)
    }
}

impl TryFrom<String> for RawJson {
    type Error = serde_json::Error;

    /// See [`RawJson::from_text`].
    fn try_from(text: String) -> Result<Self, Self::Error> {
        RawJson::from_text(text)
    }
}

impl FromStr for RawJson {
    type Err = serde_json::Error;

    /// See [`RawJson::from_text`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RawJson::from_text(text)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawJson {}

impl std::hash::Hash for RawJson {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.as_str())
    }
}

impl fmt::Display for RawJson {
    /// The JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        super::raw::capture(deserializer).map(RawJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_text_of_each_shape() {
        let text = |s: &str| RawJson::from_text(s).unwrap().scalar_text();
        assert_eq!(text(r#""a\u00e9""#).as_deref(), Some("aé"));
        assert_eq!(text("12.50").as_deref(), Some("12.50"));
        assert_eq!(text("-0").as_deref(), Some("-0"));
        assert_eq!(text("true").as_deref(), Some("true"));
        assert_eq!(text("null"), None);
        assert_eq!(text("[1]"), None);
        assert_eq!(text("{}"), None);
    }

    #[test]
    fn text_is_checked_and_trimmed() {
        assert_eq!(RawJson::from_text(" [1, 2] ").unwrap().as_str(), "[1, 2]");
        for bad in ["", "{", "1 2", "01", "[1,]", "'a'"] {
            assert!(RawJson::from_text(bad).is_err(), "{bad}");
        }
        assert!(RawJson::from_text("1e400").unwrap().to_value().is_err());
    }
}
