//! [`ExperienceWebhook`]: every body an experience webhook endpoint receives.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::{ConnectionTest, Event, EventAction, ExperienceEvent, PayloadError};

/// Any body sent to an experience webhook endpoint, by its `action`:
///
/// | `action` | variant |
/// | --- | --- |
/// | `createExperience`, `startExperience`, `pauseExperience`, `endExperience`, `updateExperience`, `deleteExperience` | [`Event`](Self::Event) |
/// | `testWebhook` ([`ConnectionTest::ACTION`]) | [`ConnectionTest`](Self::ConnectionTest) |
/// | anything else | [`Unknown`](Self::Unknown), kept verbatim |
///
/// A new action is never an error: its body is kept as received and written
/// back byte for byte, so a receiver can log it, forward it, or answer 2xx
/// and ignore it. A body whose `action` is known but whose fields do not fit
/// is an error, as is a body with no string `action`.
///
/// [`from_json`](Self::from_json) (and [`Verifier::verify_json`](crate::signature::Verifier::verify_json))
/// report the JSON path of a bad field; through serde alone (an extractor
/// generic over `T: DeserializeOwned` calling `serde_json::from_slice`) the
/// same path is inside the error's message.
///
/// # Examples
///
/// ```
/// use hookwire::model::ExperienceWebhook;
///
/// let test = ExperienceWebhook::from_json(br#"{"action":"testWebhook","timestamp":1771515006494}"#)?;
/// assert!(matches!(test, ExperienceWebhook::ConnectionTest(_)));
/// assert_eq!(test.action(), "testWebhook");
///
/// let body = br#"{"action":"archiveExperience","timestamp":1771515006494,"price":12.50}"#;
/// let new = ExperienceWebhook::from_json(body)?;
/// assert_eq!(new.action(), "archiveExperience");
/// assert_eq!(serde_json::to_vec(&new)?, body); // written back as received
///
/// let err = ExperienceWebhook::from_json(br#"{"action":"startExperience","timestamp":"soon"}"#)
///     .unwrap_err();
/// assert_eq!(err.path(), "timestamp");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExperienceWebhook {
    /// One of the six lifecycle events; its `action` is always a named
    /// [`EventAction`].
    Event(Box<ExperienceEvent>),
    /// The connection test [`Dispatcher::test_endpoint`](crate::dispatch::Dispatcher::test_endpoint)
    /// sends.
    ConnectionTest(ConnectionTest),
    /// An action this version does not know, kept verbatim.
    Unknown(UnknownWebhook),
}

impl ExperienceWebhook {
    /// Parses a body, reporting the JSON path of the first bad field.
    ///
    /// # Errors
    ///
    /// [`PayloadError`] when the body is not JSON, has no string `action`, or
    /// has a known action whose fields do not fit (the path names the field).
    pub fn from_json(bytes: &[u8]) -> Result<Self, PayloadError> {
        super::from_json(bytes)
    }

    /// The body's `action`.
    pub fn action(&self) -> &str {
        match self {
            ExperienceWebhook::Event(event) => event.action.as_str(),
            ExperienceWebhook::ConnectionTest(_) => ConnectionTest::ACTION,
            ExperienceWebhook::Unknown(unknown) => unknown.action(),
        }
    }

    fn from_raw(raw: Box<RawValue>) -> Result<Self, PayloadError> {
        let action = action_of(&raw)?;
        if action == ConnectionTest::ACTION {
            return super::from_json(raw.get().as_bytes()).map(ExperienceWebhook::ConnectionTest);
        }
        if EventAction::from(action.as_str()).is_known() {
            return super::from_json(raw.get().as_bytes())
                .map(|event| ExperienceWebhook::Event(Box::new(event)));
        }
        Ok(ExperienceWebhook::Unknown(UnknownWebhook { action, raw }))
    }
}

impl Event for ExperienceWebhook {
    /// The action, for example `startExperience`.
    fn kind(&self) -> &str {
        self.action()
    }
}

impl From<ExperienceEvent> for ExperienceWebhook {
    /// An event with an unknown action becomes [`Unknown`](Self::Unknown),
    /// as it would parse.
    fn from(event: ExperienceEvent) -> Self {
        if event.action.is_known() {
            return ExperienceWebhook::Event(Box::new(event));
        }
        match serde_json::value::to_raw_value(&event) {
            Ok(raw) => ExperienceWebhook::Unknown(UnknownWebhook {
                action: event.action.as_str().to_owned(),
                raw,
            }),
            // An experience event always serializes (string keys, no floats
            // that JSON cannot hold); keep it typed if that ever changes.
            Err(_) => ExperienceWebhook::Event(Box::new(event)),
        }
    }
}

impl From<ConnectionTest> for ExperienceWebhook {
    fn from(test: ConnectionTest) -> Self {
        ExperienceWebhook::ConnectionTest(test)
    }
}

/// The top-level `action` of a JSON object.
fn action_of(raw: &RawValue) -> Result<String, PayloadError> {
    #[derive(Deserialize)]
    struct Action {
        action: String,
    }
    // The text starts at the value (serde_json skips leading whitespace), and
    // a derived struct would also accept an array.
    if !raw.get().starts_with('{') {
        return Err(PayloadError {
            path: ".".to_owned(),
            message: "expected a JSON object with a string `action`".to_owned(),
        });
    }
    let found: Action = super::from_json(raw.get().as_bytes())?;
    Ok(found.action)
}

impl Serialize for ExperienceWebhook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExperienceWebhook::Event(event) => event.serialize(serializer),
            ExperienceWebhook::ConnectionTest(test) => test.serialize(serializer),
            ExperienceWebhook::Unknown(unknown) => unknown.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ExperienceWebhook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = super::raw::capture(deserializer)?;
        Self::from_raw(raw).map_err(de::Error::custom)
    }
}

/// A webhook whose action this version does not know: its `action` and the
/// whole body's JSON text, exactly as received.
///
/// # Examples
///
/// ```
/// use hookwire::model::ExperienceWebhook;
///
/// let body = r#"{"timestamp":1E2,"action":"archiveExperience"}"#;
/// let ExperienceWebhook::Unknown(unknown) = ExperienceWebhook::from_json(body.as_bytes())? else {
///     unreachable!()
/// };
/// assert_eq!(unknown.action(), "archiveExperience");
/// assert_eq!(unknown.json(), body);
/// assert_eq!(unknown.to_value()?["timestamp"], 100.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct UnknownWebhook {
    action: String,
    raw: Box<RawValue>,
}

impl UnknownWebhook {
    /// The body's `action`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The body's JSON text, as received.
    pub fn json(&self) -> &str {
        self.raw.get()
    }

    /// The body as a [`serde_json::Value`] (numbers as serde_json reads
    /// them: the text is in [`json`](Self::json)).
    ///
    /// # Errors
    ///
    /// Never for a body that parsed; the type is serde_json's.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.raw.get())
    }

    /// Parses the body as `T` (a type this version's caller knows).
    ///
    /// # Errors
    ///
    /// [`PayloadError`] naming the path and what is wrong there.
    pub fn parse<T: de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
        super::from_json(self.raw.get().as_bytes())
    }
}

impl fmt::Debug for UnknownWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnknownWebhook")
            .field("action", &self.action)
            .field("json", &self.raw.get())
            .finish()
    }
}

impl PartialEq for UnknownWebhook {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action && self.raw.get() == other.raw.get()
    }
}

impl Eq for UnknownWebhook {}

impl Serialize for UnknownWebhook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for UnknownWebhook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = super::raw::capture(deserializer)?;
        let action = action_of(&raw).map_err(de::Error::custom)?;
        Ok(UnknownWebhook { action, raw })
    }
}
