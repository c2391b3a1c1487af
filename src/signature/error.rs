//! The one error type of verification.

/// Why a request was not verified. Never contains a secret.
///
/// The messages are short and lowercase so a receiver can send them back in a
/// `401` (or `400` for [`VerifyError::InvalidJson`]) response.
///
/// # Examples
///
/// ```
/// use hookwire::signature::{VerifyError, HEADER_WEBHOOK_SIGNATURE};
///
/// let e = VerifyError::MissingHeader { name: HEADER_WEBHOOK_SIGNATURE };
/// assert_eq!(e.to_string(), "missing header webhook-signature");
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
    /// The body's signature is valid but the body has no usable top-level
    /// `timestamp` (Unix milliseconds) for the freshness check.
    #[error("body has no usable timestamp: {message}")]
    InvalidBodyTimestamp {
        /// The JSON parser's message.
        message: String,
    },
    /// The body's signature is valid but the body does not parse as the
    /// expected JSON type.
    #[error("body is not valid JSON for the expected type: {message}")]
    InvalidJson {
        /// The JSON parser's message.
        message: String,
    },
}
