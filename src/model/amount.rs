//! [`Amount`]: a JSON number kept exactly as written.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Number;

/// A number that may be fractional (a percentage, a price change, a
/// discount), kept exactly as the JSON had it: `50` stays `50`, `50.0` stays
/// `50.0`, `12.5` stays `12.5`.
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
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub Number);

impl Amount {
    /// A fractional amount; `None` for NaN and infinities, which JSON cannot
    /// carry.
    pub fn from_f64(value: f64) -> Option<Amount> {
        Number::from_f64(value).map(Amount)
    }

    /// The amount as an `f64` (may round very large integers).
    pub fn as_f64(&self) -> f64 {
        // A JSON number always has an f64 view when arbitrary precision is off.
        self.0.as_f64().unwrap_or(f64::NAN)
    }

    /// The amount as an `i64` when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.as_i64()
    }

    /// The underlying JSON number.
    pub fn as_number(&self) -> &Number {
        &self.0
    }
}

impl Default for Amount {
    /// Zero, written `0`.
    fn default() -> Self {
        Amount(Number::from(0))
    }
}

macro_rules! amount_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Amount {
            fn from(value: $t) -> Self {
                Amount(Number::from(value))
            }
        }
    )*};
}
amount_from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl From<Number> for Amount {
    fn from(value: Number) -> Self {
        Amount(value)
    }
}

impl From<Amount> for Number {
    fn from(value: Amount) -> Self {
        value.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
