//! [`ConnectionTest`]: the event `Dispatcher::test_endpoint` sends.

use std::time::SystemTime;

use super::map_struct::map_deserialize;
use super::{Event, Extra, PayloadError, UnixMillis};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// The connection-test event: `{"action":"testWebhook","timestamp":<unix ms>}`.
///
/// [`Dispatcher::test_endpoint`](crate::dispatch::Dispatcher::test_endpoint)
/// sends exactly this value, signed like any delivery, to check that an
/// endpoint is reachable and verifies signatures; a receiver should answer it
/// 2xx and do nothing else. It is one of the shapes of
/// [`ExperienceWebhook`](super::ExperienceWebhook), so a receiver parsing
/// every body into that type accepts it. The body carries a top-level
/// `timestamp`, so the hex scheme's body-timestamp check passes too.
///
/// Fields other than `action` and `timestamp` are kept in `extra`; an
/// `action` other than `testWebhook` is an error.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use hookwire::model::{ConnectionTest, Event, UnixMillis};
///
/// let test = ConnectionTest::new(UNIX_EPOCH + Duration::from_millis(1_771_515_006_494));
/// let json = serde_json::to_string(&test)?;
/// assert_eq!(json, r#"{"action":"testWebhook","timestamp":1771515006494}"#);
/// assert_eq!(test.kind(), ConnectionTest::ACTION);
///
/// let back = ConnectionTest::from_json(json.as_bytes())?;
/// assert_eq!(back.timestamp, UnixMillis(1_771_515_006_494));
/// assert!(ConnectionTest::from_json(br#"{"action":"startExperience","timestamp":1}"#).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionTest {
    /// When the test was sent (`timestamp`, Unix milliseconds).
    pub timestamp: UnixMillis,
    /// Fields this version does not know, written back as they came.
    pub extra: Extra,
}

impl ConnectionTest {
    /// The event's `action`: `testWebhook`.
    pub const ACTION: &'static str = "testWebhook";

    /// A test sent `at` (truncated to the millisecond; clamped for instants
    /// more than 292 million years from the epoch).
    pub fn new(at: SystemTime) -> Self {
        ConnectionTest {
            timestamp: UnixMillis::saturating_from(at),
            extra: Extra::new(),
        }
    }

    /// Parses a connection test, reporting the JSON path of the first bad
    /// field.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] naming the path and what is wrong there (an `action`
    /// other than `testWebhook` included).
    pub fn from_json(bytes: &[u8]) -> Result<Self, PayloadError> {
        super::from_json(bytes)
    }
}

impl Event for ConnectionTest {
    /// `testWebhook`.
    fn kind(&self) -> &str {
        Self::ACTION
    }
}

/// The wire shape, written.
#[derive(Serialize)]
struct WireRef<'a> {
    action: &'static str,
    timestamp: UnixMillis,
    #[serde(flatten)]
    extra: &'a Extra,
}

/// The wire shape, read (directly, so that unknown fields keep their text).
struct Wire {
    action: String,
    timestamp: UnixMillis,
    extra: Extra,
}

map_deserialize!(Wire {
    action => "action",
    timestamp => "timestamp",
});

impl Serialize for ConnectionTest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireRef {
            action: Self::ACTION,
            timestamp: self.timestamp,
            extra: &self.extra,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ConnectionTest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        if wire.action != Self::ACTION {
            return Err(de::Error::invalid_value(
                de::Unexpected::Str(&wire.action),
                &"\"testWebhook\"",
            ));
        }
        Ok(ConnectionTest {
            timestamp: wire.timestamp,
            extra: wire.extra,
        })
    }
}
