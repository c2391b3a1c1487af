//! [`Amount`]: a JSON number kept exactly as written.

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Number;

/// A number that may be fractional (a percentage, a price change, a
/// discount), kept exactly as the JSON had it: `50` stays `50`, `12.50` stays
/// `12.50`, `1E2` stays `1E2`, `-0` stays `-0`, and an integer of any length
/// keeps every digit. Equality is by that text (`12.5` and `12.50` differ);
/// compare [`as_f64`](Self::as_f64) for numeric equality.
///
/// Parsed with serde_json (from bytes, a reader or a [`serde_json::Value`]),
/// the text is the input's; through serde's buffering (a type of yours with
/// `#[serde(flatten)]` or an untagged enum around hookwire's), it is what
/// serde_json writes for the number serde kept. Written back to serde_json as
/// the text itself. Numbers beyond `f64`'s range (`1e400`) are refused, as
/// serde_json refuses them.
///
/// # Examples
///
/// ```
/// use hookwire::model::Amount;
///
/// let whole = Amount::from(50);
/// assert_eq!(serde_json::to_string(&whole).unwrap(), "50");
/// let half = Amount::from_f64(12.5).unwrap();
/// assert_eq!(half.to_string(), "12.5");
/// assert_eq!(half.as_f64(), 12.5);
/// assert!(Amount::from_f64(f64::NAN).is_none());
///
/// let price: Amount = "12.50".parse().unwrap();
/// assert_eq!(serde_json::to_string(&price).unwrap(), "12.50");
/// assert_eq!(price.as_f64(), 12.5);
/// assert!("12.".parse::<Amount>().is_err());
/// ```
#[derive(Clone)]
pub struct Amount(Box<RawValue>);

/// Text that is not a JSON number (or is one beyond `f64`'s range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON number within range: {input:?}")]
pub struct AmountError {
    input: String,
}

impl Amount {
    /// A fractional amount; `None` for NaN and infinities, which JSON cannot
    /// carry.
    pub fn from_f64(value: f64) -> Option<Amount> {
        Number::from_f64(value).map(Amount::from)
    }

    /// The amount as an `f64` (may round: `0.1`, very large integers).
    pub fn as_f64(&self) -> f64 {
        // The text was checked to be a finite JSON number, which Rust's
        // float grammar includes.
        self.as_str().parse().unwrap_or(f64::NAN)
    }

    /// The amount as an `i64` when it is written as an integer that fits
    /// (`50`, not `50.0` or `5E1`).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_str().parse().ok()
    }

    /// The amount as a [`serde_json::Number`]: exact for integers that fit
    /// in 64 bits, the nearest `f64` otherwise (the text is in
    /// [`as_str`](Self::as_str)).
    pub fn to_number(&self) -> Number {
        serde_json::from_str(self.as_str())
            .ok()
            .or_else(|| Number::from_f64(self.as_f64()))
            .unwrap_or_else(|| Number::from(0))
    }

    /// The number's JSON text, as received or built.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Wraps checked text.
    fn from_checked(text: String) -> Amount {
        match RawValue::from_string(text) {
            Ok(raw) => Amount(raw),
            // Checked text is one JSON number, which RawValue accepts.
            Err(_) => Amount::default(),
        }
    }
}

/// Whether `s` is exactly one JSON number (RFC 8259's grammar, no
/// whitespace) that `f64` can hold.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len() && s.parse::<f64>().is_ok_and(f64::is_finite)
}

impl FromStr for Amount {
    type Err = AmountError;

    /// Parses JSON number text, kept as it is.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match is_json_number(s) {
            true => Ok(Amount::from_checked(s.to_owned())),
            false => Err(AmountError {
                input: s.chars().take(64).collect(),
            }),
        }
    }
}

impl Default for Amount {
    /// Zero, written `0`.
    fn default() -> Self {
        Amount::from(0)
    }
}

macro_rules! amount_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Amount {
            fn from(value: $t) -> Self {
                Amount::from_checked(value.to_string())
            }
        }
    )*};
}
amount_from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl From<Number> for Amount {
    /// The number as serde_json writes it.
    fn from(value: Number) -> Self {
        Amount::from_checked(value.to_string())
    }
}

impl From<Amount> for Number {
    /// See [`Amount::to_number`].
    fn from(value: Amount) -> Self {
        value.to_number()
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Amount {}

impl std::hash::Hash for Amount {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.as_str())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = super::raw::capture(deserializer)?;
        if is_json_number(raw.get()) {
            return Ok(Amount(raw));
        }
        Err(de::Error::custom(format_args!(
            "invalid type: {}, expected a number",
            describe(raw.get())
        )))
    }
}

/// What a JSON value that is not a usable number is, for the error message
/// (strings shown, cut at 64 characters).
fn describe(text: &str) -> String {
    match text.as_bytes().first() {
        Some(b'"') => format!("string {}", text.chars().take(64).collect::<String>()),
        Some(b'{') => "map".to_owned(),
        Some(b'[') => "sequence".to_owned(),
        Some(b't' | b'f') => "boolean".to_owned(),
        Some(b'n') => "null".to_owned(),
        _ => "number out of range".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_number_grammar() {
        for ok in [
            "0",
            "-0",
            "12.50",
            "1E2",
            "1e-2",
            "-1.5E+3",
            "123456789012345678901234567890",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "1e", "1e+", " 1", "1 ", "0x10", "NaN", "inf",
            "1e400", "--1", "1.2.3",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
