//! The one error type of verification.

use http::StatusCode;

/// Why a request was not verified. Never contains a secret.
///
/// The messages are short and lowercase so a receiver can send them back in
/// the response whose status [`status`](Self::status) gives:
///
/// | variant | status | why |
/// | --- | --- | --- |
/// | [`MissingHeader`](Self::MissingHeader), [`MalformedHeader`](Self::MalformedHeader) | 401 Unauthorized | no usable signature: the request is not authenticated |
/// | [`NoMatchingSignature`](Self::NoMatchingSignature) | 401 Unauthorized | wrong secret, or a tampered request |
/// | [`TimestampTooOld`](Self::TimestampTooOld), [`TimestampInFuture`](Self::TimestampInFuture) | 401 Unauthorized | outside the tolerance: a replay, or a clock far off |
/// | [`InvalidBodyTimestamp`](Self::InvalidBodyTimestamp) | 401 Unauthorized | a hex-signed JSON body whose freshness cannot be established |
/// | [`BodyTooLarge`](Self::BodyTooLarge) | 413 Payload Too Large | refused before hashing |
/// | [`InvalidJson`](Self::InvalidJson) | 400 Bad Request | signed, but not JSON, or not the expected type |
///
/// A hookwire sender treats every one of these as a failed attempt and
/// retries it by its policy (only 410, 429 and 5xx are classed otherwise).
///
/// # Examples
///
/// ```
/// use hookwire::http::StatusCode;
/// use hookwire::signature::{VerifyError, HEADER_WEBHOOK_SIGNATURE};
///
/// let e = VerifyError::MissingHeader { name: HEADER_WEBHOOK_SIGNATURE };
/// assert_eq!(e.to_string(), "missing header webhook-signature");
/// assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {name}")]
    MissingHeader {
        /// The header's name (or `a or b` when either would do).
        name: &'static str,
    },
    /// A header is present but cannot be used.
    #[error("malformed header {name}: {reason}")]
    MalformedHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header parsed, but no signature in it matches any configured secret.
    #[error("no signature in header {name} matches a configured secret")]
    NoMatchingSignature {
        /// The signature header checked.
        name: &'static str,
    },
    /// The signed timestamp is older than the tolerance allows.
    #[error("timestamp is {age_secs}s old, beyond the {tolerance_secs}s tolerance")]
    TimestampTooOld {
        /// How far behind the clock the timestamp is, in whole seconds.
        age_secs: u64,
        /// The tolerance, in whole seconds.
        tolerance_secs: u64,
    },
    /// The signed timestamp is further in the future than the tolerance allows.
    #[error("timestamp is {ahead_secs}s in the future, beyond the {tolerance_secs}s tolerance")]
    TimestampInFuture {
        /// How far ahead of the clock the timestamp is, in whole seconds.
        ahead_secs: u64,
        /// The tolerance, in whole seconds.
        tolerance_secs: u64,
    },
    /// The body is larger than the verifier accepts; nothing was hashed.
    #[error("body is {size} bytes, the limit is {limit}")]
    BodyTooLarge {
        /// The body's size in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The body's signature (hex scheme alone) is valid and the body is JSON,
    /// but it has no usable top-level `timestamp` (Unix milliseconds or
    /// RFC 3339 text) for the freshness check. A body that is not JSON is
    /// [`InvalidJson`](Self::InvalidJson) instead.
    #[error("body has no usable timestamp: {message}")]
    InvalidBodyTimestamp {
        /// The JSON parser's message.
        message: String,
    },
    /// The body's signature is valid but the body is not JSON, or does not
    /// parse as the expected type.
    #[error("body is not valid JSON for the expected type at `{path}`: {message}")]
    InvalidJson {
        /// The JSON path of the culprit (`experience.variations[0].percentage`),
        /// or `.` for the document itself (not JSON, trailing characters), as
        /// [`PayloadError::path`](crate::model::PayloadError::path) gives it.
        path: String,
        /// What is wrong there (the JSON parser's message, with line and column).
        message: String,
    },
}

impl VerifyError {
    /// The HTTP status a receiver answers this error with (see the
    /// [table](Self)): 400 for a body that is not the expected JSON, 413 for
    /// one too large, 401 for every signature, header and timestamp failure.
    pub fn status(&self) -> StatusCode {
        match self {
            VerifyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            VerifyError::InvalidJson { .. } => StatusCode::BAD_REQUEST,
            VerifyError::MissingHeader { .. }
            | VerifyError::MalformedHeader { .. }
            | VerifyError::NoMatchingSignature { .. }
            | VerifyError::TimestampTooOld { .. }
            | VerifyError::TimestampInFuture { .. }
            | VerifyError::InvalidBodyTimestamp { .. } => StatusCode::UNAUTHORIZED,
        }
    }
}

impl From<crate::model::PayloadError> for VerifyError {
    fn from(e: crate::model::PayloadError) -> Self {
        VerifyError::InvalidJson {
            path: e.path().to_owned(),
            message: e.message().to_owned(),
        }
    }
}
