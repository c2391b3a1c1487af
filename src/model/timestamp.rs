//! Timestamps on the wire: Unix milliseconds ([`UnixMillis`]) for experience
//! events, RFC 3339 ([`Rfc3339Time`], [`rfc3339`]) for journey payloads.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (1970-01-01T00:00:00Z), as the
/// experience payloads carry them (`"timestamp": 1771515006494`).
///
/// Negative values are instants before the epoch. Converting to
/// [`SystemTime`] is lossless; converting from it truncates below the
/// millisecond (towards the past, so `-0.5 ms` becomes `-1 ms`) and fails only
/// for instants more than about 292 million years from the epoch.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use hookwire::model::UnixMillis;
///
/// let ms = UnixMillis(1_771_515_006_494);
/// let at: SystemTime = ms.try_into().unwrap();
/// assert_eq!(at, UNIX_EPOCH + Duration::from_millis(1_771_515_006_494));
/// assert_eq!(UnixMillis::try_from(at), Ok(ms));
/// assert_eq!(serde_json::to_string(&ms).unwrap(), "1771515006494");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

/// A [`SystemTime`] too far from the Unix epoch for the target
/// representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("time is out of range")]
pub struct TimeOutOfRange;

/// Why a journey timestamp could not be read or written as RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The instant falls outside the years 0000..=9999.
    #[error("time is out of range for RFC 3339")]
    OutOfRange,
    /// The text is not an RFC 3339 date-time.
    #[error("invalid RFC 3339 timestamp {input:?}: {reason}")]
    Invalid {
        /// The text that was read.
        input: String,
        /// What the parser objected to.
        reason: String,
    },
}

impl UnixMillis {
    /// The Unix epoch.
    pub const EPOCH: UnixMillis = UnixMillis(0);

    /// The milliseconds as an integer.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// `at` in milliseconds, clamped to `i64::MIN..=i64::MAX` milliseconds
    /// (about 292 million years either side of the epoch).
    pub fn saturating_from(at: SystemTime) -> UnixMillis {
        match UnixMillis::try_from(at) {
            Ok(ms) => ms,
            Err(_) if at >= UNIX_EPOCH => UnixMillis(i64::MAX),
            Err(_) => UnixMillis(i64::MIN),
        }
    }

    /// This instant as a [`SystemTime`], or `None` where the platform cannot
    /// represent it (never on Unix-like targets).
    pub fn to_system_time(self) -> Option<SystemTime> {
        crate::clock::from_unix_millis(self.0)
    }
}

impl TryFrom<SystemTime> for UnixMillis {
    type Error = TimeOutOfRange;

    /// Rounds down to the millisecond (the crate's [Unix time
    /// rule](crate::clock#unix-time)).
    fn try_from(at: SystemTime) -> Result<Self, Self::Error> {
        crate::clock::checked_unix_millis(at)
            .map(UnixMillis)
            .ok_or(TimeOutOfRange)
    }
}

impl TryFrom<UnixMillis> for SystemTime {
    type Error = TimeOutOfRange;

    fn try_from(ms: UnixMillis) -> Result<Self, Self::Error> {
        ms.to_system_time().ok_or(TimeOutOfRange)
    }
}

impl From<i64> for UnixMillis {
    fn from(ms: i64) -> Self {
        UnixMillis(ms)
    }
}

impl From<UnixMillis> for i64 {
    fn from(ms: UnixMillis) -> Self {
        ms.0
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An RFC 3339 date-time that keeps the text it was read from: the instant
/// ([`at`](Self::at)) for computing, the text (its offset, its fraction
/// digits) for writing back, so `2026-01-26T10:12:45+14:00` is written as
/// `2026-01-26T10:12:45+14:00`, not as the same instant in UTC.
///
/// One built from a [`SystemTime`] has no text yet and is written in UTC
/// with `Z`, fractional seconds only when they are not zero (as
/// [`rfc3339::format`]). Two values are equal when they are the same instant
/// written the same way.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookwire::model::Rfc3339Time;
///
/// let read: Rfc3339Time = "2026-01-26T23:12:45+14:00".parse()?;
/// assert_eq!(read.at(), UNIX_EPOCH + Duration::from_secs(1_769_418_765));
/// assert_eq!(serde_json::to_string(&read)?, r#""2026-01-26T23:12:45+14:00""#);
///
/// let built = Rfc3339Time::from(read.at());
/// assert_eq!(built.to_rfc3339()?, "2026-01-26T09:12:45Z");
/// assert_ne!(built, read); // the same instant, written differently
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Rfc3339Time {
    at: SystemTime,
    text: Option<Box<str>>,
}

impl Rfc3339Time {
    /// `at`, to be written in UTC.
    pub fn new(at: SystemTime) -> Self {
        Rfc3339Time { at, text: None }
    }

    /// Parses an RFC 3339 date-time with any offset, keeping its text.
    ///
    /// # Errors
    ///
    /// As [`rfc3339::parse`].
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let at = rfc3339::parse(s)?;
        Ok(Rfc3339Time {
            at,
            text: Some(s.into()),
        })
    }

    /// The instant.
    pub fn at(&self) -> SystemTime {
        self.at
    }

    /// The text it was read from, if it was read rather than built.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The text it is written as: as read, or in UTC.
    ///
    /// # Errors
    ///
    /// [`TimestampError::OutOfRange`] for a built instant outside the years
    /// 0000..=9999.
    pub fn to_rfc3339(&self) -> Result<std::borrow::Cow<'_, str>, TimestampError> {
        match &self.text {
            Some(text) => Ok(std::borrow::Cow::Borrowed(text)),
            None => rfc3339::format(self.at).map(std::borrow::Cow::Owned),
        }
    }
}

impl From<SystemTime> for Rfc3339Time {
    fn from(at: SystemTime) -> Self {
        Rfc3339Time::new(at)
    }
}

impl From<Rfc3339Time> for SystemTime {
    fn from(t: Rfc3339Time) -> Self {
        t.at
    }
}

impl std::str::FromStr for Rfc3339Time {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rfc3339Time::parse(s)
    }
}

impl PartialEq for Rfc3339Time {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.to_rfc3339().ok() == other.to_rfc3339().ok()
    }
}

impl Eq for Rfc3339Time {}

impl std::hash::Hash for Rfc3339Time {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal values are the same instant.
        self.at.hash(state);
    }
}

impl fmt::Debug for Rfc3339Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Ok(text) => write!(f, "Rfc3339Time({text})"),
            Err(_) => write!(f, "Rfc3339Time({:?})", self.at),
        }
    }
}

impl Serialize for Rfc3339Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_rfc3339().map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Rfc3339Time {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let at = rfc3339::parse(&text).map_err(serde::de::Error::custom)?;
        Ok(Rfc3339Time {
            at,
            text: Some(text.into_boxed_str()),
        })
    }
}

/// Serde helpers for a [`SystemTime`] written as an RFC 3339 string in UTC,
/// as journey payloads carry it (`"timestamp": "2026-01-26T10:12:45Z"`).
///
/// Output is always UTC with `Z`, with fractional seconds only when they are
/// not zero (trailing zeros trimmed), so `2026-01-26T10:12:45Z` round-trips
/// exactly. Input may carry any offset (`+02:00`) and is normalised to UTC;
/// [`Rfc3339Time`] keeps the offset instead. Years outside 0000..=9999 cannot
/// be written.
///
/// Use with `#[serde(with = "hookwire::model::rfc3339")]`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookwire::model::rfc3339;
///
/// let at = UNIX_EPOCH + Duration::from_secs(1_769_422_365);
/// assert_eq!(rfc3339::format(at).unwrap(), "2026-01-26T10:12:45Z");
/// assert_eq!(rfc3339::parse("2026-01-26T11:12:45+01:00").unwrap(), at);
/// ```
pub mod rfc3339 {
    use std::time::SystemTime;

    use serde::{de, Deserialize, Deserializer, Serializer};

    use super::TimestampError;
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    /// Formats `at` as RFC 3339 in UTC.
    ///
    /// # Errors
    ///
    /// [`TimestampError::OutOfRange`] when `at` falls outside the years
    /// 0000..=9999.
    pub fn format(at: SystemTime) -> Result<String, TimestampError> {
        let nanos = crate::clock::unix_nanos(at);
        let dt = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| out_of_range())?;
        dt.format(&Rfc3339).map_err(|_| out_of_range())
    }

    /// Parses an RFC 3339 date-time with any offset.
    ///
    /// # Errors
    ///
    /// [`TimestampError::Invalid`] naming what is wrong with `s`, or
    /// [`TimestampError::OutOfRange`] when the platform cannot represent it.
    pub fn parse(s: &str) -> Result<SystemTime, TimestampError> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| TimestampError::Invalid {
                input: s.to_owned(),
                reason: e.to_string(),
            })?
            .to_offset(UtcOffset::UTC);
        crate::clock::from_unix_nanos(dt.unix_timestamp_nanos()).ok_or_else(out_of_range)
    }

    fn out_of_range() -> TimestampError {
        TimestampError::OutOfRange
    }

    /// Serializes `at` as an RFC 3339 string in UTC.
    ///
    /// # Errors
    ///
    /// When `at` falls outside the years 0000..=9999.
    pub fn serialize<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        let s = format(*at).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&s)
    }

    /// Deserializes an RFC 3339 string (any offset) into a [`SystemTime`].
    ///
    /// # Errors
    ///
    /// When the value is not a string or not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(deserializer)?;
        parse(&s).map_err(de::Error::custom)
    }
}
