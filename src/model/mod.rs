//! Typed payloads: experience lifecycle events and journey webhooks.
//!
//! - [`ExperienceWebhook`]: what a receiver parses every experience-webhook
//!   body into: a lifecycle event, the [`ConnectionTest`], or an unknown
//!   action kept verbatim.
//! - [`experience`]: `{"action", "timestamp", "experience", "organization"}`
//!   events ([`ExperienceEvent`]), with every field the product's payloads show.
//! - [`journey`]: the payload a journey step sends ([`JourneyPayload`]), the
//!   host-side [`Profile`] it is built from, and the step itself
//!   ([`JourneyStep`]: method, URL template, auth, consent rule).
//!
//! Forward compatibility: every struct keeps unknown fields in `extra` (an
//! [`Extra`]) and writes them back, and closed sets of strings are open enums
//! whose `Other` variant keeps values this version does not know, so parsing a
//! newer payload and serializing it again loses nothing.
//!
//! Lossless includes the text, without serde_json features that would change
//! the host's own parsing: every number and string in every field keeps the
//! text it was read with. An [`Amount`] keeps its number as written (`12.50`,
//! `1E2`, `-0`, a 30-digit integer); an unknown field and a field whose shape
//! no example shows (`onsiteEdits`, ...) is a [`RawJson`] keeping its whole
//! text at any depth; a journey timestamp ([`Rfc3339Time`]) keeps its offset;
//! an [`ExperienceWebhook`] of an unknown action keeps its whole body. Not
//! kept: the order of unknown fields (written by key, after the known ones)
//! and whitespace between a struct's own fields (inside a `RawJson` it is
//! kept).
//!
//! That holds when parsing with serde_json from bytes, a string or a reader
//! (`from_json`, `serde_json::from_slice`/`from_str`/`from_reader`). From a
//! [`serde_json::Value`] (`serde_json::from_value`), numbers are what the
//! `Value` kept: integers exactly up to 64 bits, other numbers the nearest
//! `f64`; the same inside serde's buffering (a type of yours with
//! `#[serde(flatten)]` or an untagged enum around hookwire's).

mod amount;
mod connection_test;
pub mod experience;
mod extra;
pub mod journey;
pub(crate) mod map_struct;
pub(crate) mod open_enum;
mod raw;
mod raw_json;
mod timestamp;
mod webhook;

pub use amount::{Amount, AmountError};
pub use connection_test::ConnectionTest;
pub use experience::{EventAction, ExperienceEvent};
pub use extra::Extra;
pub use journey::{JourneyPayload, JourneyStep, Profile};
pub use raw_json::RawJson;
pub use timestamp::{rfc3339, Rfc3339Time, TimeOutOfRange, TimestampError, UnixMillis};
pub use webhook::{ExperienceWebhook, UnknownWebhook};

/// An event the dispatcher can publish: serializable, with a kind endpoints
/// subscribe to.
pub trait Event: serde::Serialize {
    /// The kind endpoints subscribe to (for example `startExperience`).
    fn kind(&self) -> &str;
}

/// A payload that could not be parsed, with the JSON path of the culprit.
///
/// # Examples
///
/// ```
/// use hookwire::model::ExperienceEvent;
///
/// let err = ExperienceEvent::from_json(br#"{"action": "startExperience", "timestamp": 1.5}"#)
///     .unwrap_err();
/// assert_eq!(err.path(), "timestamp");
/// assert!(err.to_string().starts_with("invalid payload at `timestamp`: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid payload at `{path}`: {message}")]
pub struct PayloadError {
    path: String,
    message: String,
}

impl PayloadError {
    /// The JSON path of the field that failed (`experience.variations[0].percentage`),
    /// or `.` for the document itself.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong there (serde_json's message, with line and column).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Parses `bytes` as `T`, reporting the JSON path of the first error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| payload_error(e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| PayloadError {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// The error at `path`. A [`PayloadError`] raised below it (a type that parses
/// its captured text again, as [`ExperienceWebhook`] does) reaches serde as a
/// message; its path is joined to this one and its message kept as it was.
fn payload_error(path: String, e: &serde_json::Error) -> PayloadError {
    let full = e.to_string();
    let own = match e.line() {
        0 => full.as_str(),
        line => full
            .strip_suffix(&format!(" at line {line} column {}", e.column()))
            .unwrap_or(&full),
    };
    let nested = own
        .strip_prefix("invalid payload at `")
        .and_then(|rest| rest.split_once("`: "));
    match nested {
        Some((inner, message)) => PayloadError {
            path: join_path(&path, inner),
            message: message.to_owned(),
        },
        None => PayloadError {
            path,
            message: full,
        },
    }
}

fn join_path(outer: &str, inner: &str) -> String {
    match (outer, inner) {
        (".", _) => inner.to_owned(),
        (_, ".") => outer.to_owned(),
        _ if inner.starts_with('[') => format!("{outer}{inner}"),
        _ => format!("{outer}.{inner}"),
    }
}
