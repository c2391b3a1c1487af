//! Signing and verification: secrets, the hex scheme, the Standard Webhooks
//! scheme, [`Signer`] for senders and [`Verifier`] for receivers.
//!
//! Three schemes, chosen per endpoint, several at once during a migration:
//!
//! | scheme | headers | signed bytes | key |
//! |---|---|---|---|
//! | hex | `x-intelligems-signature: <64 lowercase hex>` | the raw body | current secret |
//! | Standard Webhooks `v1` | `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> ...` | `id.timestamp.body` | every secret (rotation) |
//! | Standard Webhooks `v1a` (feature `ed25519`) | the same, `v1a,<base64>` entries in the same `webhook-signature` | `id.timestamp.body` | every Ed25519 key; receivers hold public keys only |
//!
//! Rotation is timed: [`Signer::rotate`] keeps the replaced key signing for a
//! grace period ([`DEFAULT_ROTATION_GRACE`], 24 hours), after which it is
//! never used again.
//!
//! [`Signer::sign_into`] always writes `webhook-id` too. Receivers deduplicate
//! on [`Verified::dedupe_key`], which is the same for every attempt of a
//! delivery under either scheme (derived from the signed body when the hex
//! scheme is accepted, else the signed `webhook-id`); never on the
//! `webhook-id` header alone, which the hex scheme does not sign.
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

#[cfg(feature = "ed25519")]
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
pub mod ed25519;
mod error;
pub mod hex;
mod secret;
mod signer;
pub mod standard;
mod verifier;

#[cfg(feature = "ed25519")]
pub use ed25519::{
    Ed25519PublicKey, Ed25519SecretKey, KeyError, ED25519_PUBLIC_PREFIX, ED25519_SECRET_PREFIX,
};
pub use error::VerifyError;
pub use secret::{
    SecretError, SigningSecret, DEFAULT_SECRET_LEN, MAX_GENERATED_LEN, MAX_SECRET_LEN,
    MIN_GENERATED_LEN, SECRET_PREFIX,
};
pub use signer::{PreviousKey, Signer, SignerError, SigningKey, DEFAULT_ROTATION_GRACE};
pub use standard::MAX_SIGNATURES;
#[cfg(feature = "ed25519")]
pub use standard::MAX_V1A_ENTRIES_CHECKED;
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
/// Parses from and displays as `hex`, `standard` (the `v1` HMAC entries),
/// `both` (hex and standard), `v1a` (Ed25519 entries, feature `ed25519`
/// to sign or verify them), or several joined with `+` (`standard+v1a`);
/// `none` when nothing is set. `v1` is accepted for `standard`.
///
/// # Examples
///
/// ```
/// use hookwire::signature::Schemes;
///
/// assert_eq!("both".parse::<Schemes>(), Ok(Schemes::BOTH));
/// assert_eq!(Schemes::HEX.to_string(), "hex");
/// let migrating = Schemes::STANDARD | Schemes::V1A;
/// assert_eq!(migrating.to_string(), "standard+v1a");
/// assert_eq!("v1+v1a".parse::<Schemes>(), Ok(migrating));
/// assert!("sha1".parse::<Schemes>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Schemes {
    /// The hex scheme (`x-intelligems-signature`).
    pub hex: bool,
    /// The Standard Webhooks symmetric scheme (`v1,` entries in
    /// `webhook-signature`, HMAC-SHA256).
    pub standard: bool,
    /// The Standard Webhooks asymmetric scheme (`v1a,` entries in
    /// `webhook-signature`, Ed25519).
    pub v1a: bool,
}

impl Schemes {
    /// None at all (what [`BitOr`](std::ops::BitOr) starts from).
    pub const NONE: Self = Self {
        hex: false,
        standard: false,
        v1a: false,
    };
    /// Hex only.
    pub const HEX: Self = Self {
        hex: true,
        ..Self::NONE
    };
    /// Standard Webhooks `v1` only.
    pub const STANDARD: Self = Self {
        standard: true,
        ..Self::NONE
    };
    /// Hex and Standard Webhooks `v1`: both HMAC schemes.
    pub const BOTH: Self = Self {
        hex: true,
        standard: true,
        v1a: false,
    };
    /// Standard Webhooks `v1a` (Ed25519) only.
    pub const V1A: Self = Self {
        v1a: true,
        ..Self::NONE
    };

    /// Whether a `webhook-signature` header is involved (`v1` or `v1a`).
    pub const fn webhook_signature(self) -> bool {
        self.standard || self.v1a
    }
}

impl std::ops::BitOr for Schemes {
    type Output = Self;

    /// Every scheme in either.
    fn bitor(self, other: Self) -> Self {
        Self {
            hex: self.hex || other.hex,
            standard: self.standard || other.standard,
            v1a: self.v1a || other.v1a,
        }
    }
}

impl fmt::Display for Schemes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.v1a {
            return f.write_str(match (self.hex, self.standard) {
                (true, true) => "both",
                (true, false) => "hex",
                (false, true) => "standard",
                (false, false) => "none",
            });
        }
        // With `v1a`, each part by name: `standard+v1a`, `hex+standard+v1a`.
        for (on, name) in [(self.hex, "hex+"), (self.standard, "standard+")] {
            if on {
                f.write_str(name)?;
            }
        }
        f.write_str("v1a")
    }
}

/// A string that names no signature scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signature scheme {input:?}, expected hex, standard, both or v1a (or several joined with `+`)")]
pub struct ParseSchemesError {
    /// The string given.
    pub input: String,
}

impl FromStr for Schemes {
    type Err = ParseSchemesError;

    /// `hex`, `standard` (or `v1`), `both`, `v1a`, or several joined with
    /// `+`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, ParseSchemesError> {
        let err = || ParseSchemesError {
            input: s.chars().take(64).collect(),
        };
        let mut out = Self::NONE;
        for part in s.split('+') {
            out = out
                | match part.to_ascii_lowercase().as_str() {
                    "hex" => Self::HEX,
                    "standard" | "v1" => Self::STANDARD,
                    "both" => Self::BOTH,
                    "v1a" => Self::V1A,
                    _ => return Err(err()),
                };
        }
        Ok(out)
    }
}
