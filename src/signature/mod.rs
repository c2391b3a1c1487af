//! Signing and verification: secrets, the hex scheme, the Standard Webhooks
//! scheme, [`Signer`] for senders and [`Verifier`] for receivers.
//!
//! Two schemes, chosen per endpoint, both at once during a migration:
//!
//! | scheme | headers | signed bytes | key |
//! |---|---|---|---|
//! | hex | `x-intelligems-signature: <64 lowercase hex>` | the raw body | current secret |
//! | Standard Webhooks | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> ...` | `id.timestamp.body` | every secret (rotation) |
//!
//! [`Signer::sign_into`] always writes `webhook-id` too. Receivers deduplicate
//! on [`Verified::dedupe_key`], derived from the signed body, which is the same
//! for every attempt of a delivery under either scheme; never on `webhook-id`
//! alone, which the hex scheme does not sign.
//!
//! # Examples
//!
//! A round trip with both schemes:
//!
//! ```
//! use hookwire::clock::ManualClock;
//! use hookwire::http::HeaderMap;
//! use hookwire::id::DeliveryId;
//! use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
//!
//! let secret = SigningSecret::generate();
//! let body = br#"{"action":"startExperience","timestamp":1700000000000}"#;
//! let id = DeliveryId::generate();
//!
//! let mut headers = HeaderMap::new();
//! Signer::new(secret.clone()).sign_into(&mut headers, Schemes::BOTH, &id, 1_700_000_000, body);
//!
//! let verifier = Verifier::new(secret).with_clock(ManualClock::at_unix(1_700_000_060));
//! let (verified, event): (_, serde_json::Value) = verifier.verify_json(&headers, body)?;
//! assert_eq!(verified.id, id.as_str());
//! assert!(verified.dedupe_key.starts_with("sha256_"));
//! assert_eq!(verified.schemes, Schemes::BOTH);
//! assert_eq!(event["action"], "startExperience");
//! # Ok::<(), hookwire::signature::VerifyError>(())
//! ```

use std::fmt;
use std::str::FromStr;

mod error;
pub mod hex;
mod secret;
mod signer;
pub mod standard;
mod verifier;

pub use error::VerifyError;
pub use secret::{
    SecretError, SigningSecret, DEFAULT_SECRET_LEN, MAX_GENERATED_LEN, MAX_SECRET_LEN,
    MIN_GENERATED_LEN, SECRET_PREFIX,
};
pub use signer::{Signer, SignerError};
pub use standard::MAX_SIGNATURES;
pub use verifier::{
    Verified, Verifier, DEFAULT_BODY_TOLERANCE, DEFAULT_MAX_BODY_SIZE, DEFAULT_TOLERANCE,
};

/// Header carrying the hex scheme's signature.
pub const HEADER_HEX_SIGNATURE: &str = "x-intelligems-signature";
/// Standard Webhooks id header (sent with every scheme).
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks timestamp header (Unix seconds).
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks signature header.
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The header names, parsed once (looking a `&str` up in a `HeaderMap` parses
/// it every time).
pub(crate) mod names {
    use http::header::HeaderName;

    pub(crate) const HEX_SIGNATURE: HeaderName =
        HeaderName::from_static(super::HEADER_HEX_SIGNATURE);
    pub(crate) const WEBHOOK_ID: HeaderName = HeaderName::from_static(super::HEADER_WEBHOOK_ID);
    pub(crate) const WEBHOOK_TIMESTAMP: HeaderName =
        HeaderName::from_static(super::HEADER_WEBHOOK_TIMESTAMP);
    pub(crate) const WEBHOOK_SIGNATURE: HeaderName =
        HeaderName::from_static(super::HEADER_WEBHOOK_SIGNATURE);
}

/// Which signature schemes to sign with, or to accept.
///
/// Parses from and displays as `hex`, `standard` or `both` (`none` when
/// neither is set).
///
/// # Examples
///
/// ```
/// use hookwire::signature::Schemes;
///
/// assert_eq!("both".parse::<Schemes>(), Ok(Schemes::BOTH));
/// assert_eq!(Schemes::HEX.to_string(), "hex");
/// assert!("sha1".parse::<Schemes>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Schemes {
    /// The hex scheme (`x-intelligems-signature`).
    pub hex: bool,
    /// The Standard Webhooks scheme (`webhook-signature`).
    pub standard: bool,
}

impl Schemes {
    /// Hex only.
    pub const HEX: Self = Self {
        hex: true,
        standard: false,
    };
    /// Standard Webhooks only.
    pub const STANDARD: Self = Self {
        hex: false,
        standard: true,
    };
    /// Both.
    pub const BOTH: Self = Self {
        hex: true,
        standard: true,
    };
}

impl fmt::Display for Schemes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.hex, self.standard) {
            (true, true) => "both",
            (true, false) => "hex",
            (false, true) => "standard",
            (false, false) => "none",
        })
    }
}

/// A string that names no signature scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signature scheme {input:?}, expected hex, standard or both")]
pub struct ParseSchemesError {
    /// The string given.
    pub input: String,
}

impl FromStr for Schemes {
    type Err = ParseSchemesError;

    /// `hex`, `standard` or `both`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, ParseSchemesError> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Ok(Self::HEX),
            "standard" => Ok(Self::STANDARD),
            "both" => Ok(Self::BOTH),
            _ => Err(ParseSchemesError {
                input: s.chars().take(64).collect(),
            }),
        }
    }
}
