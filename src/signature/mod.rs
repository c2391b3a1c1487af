//! Signing and verification. (Stub API: implemented in the signing issue.)

use std::fmt;

use http::HeaderMap;

use crate::id::DeliveryId;

/// Header carrying the hex scheme's signature.
pub const HEADER_HEX_SIGNATURE: &str = "x-intelligems-signature";
/// Standard Webhooks id header.
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks timestamp header.
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks signature header.
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// A signing secret (stub).
#[derive(Clone)]
pub struct SigningSecret {
    bytes: Box<[u8]>,
}

impl SigningSecret {
    /// A new random secret (stub).
    pub fn generate() -> Self {
        Self {
            bytes: vec![7u8; 24].into_boxed_slice(),
        }
    }
    /// A secret from raw bytes (stub).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, std::convert::Infallible> {
        Ok(Self {
            bytes: bytes.into().into_boxed_slice(),
        })
    }
    /// The raw bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// Which signature schemes to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Schemes {
    /// The hex scheme (`X-Intelligems-Signature`).
    pub hex: bool,
    /// The Standard Webhooks scheme.
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

/// Signs payloads (stub).
#[derive(Debug, Clone)]
pub struct Signer {
    current: SigningSecret,
    previous: Vec<SigningSecret>,
}

impl Signer {
    /// A signer with one secret.
    pub fn new(secret: SigningSecret) -> Self {
        Self {
            current: secret,
            previous: Vec::new(),
        }
    }
    /// Also sign with a previous secret during rotation.
    pub fn with_previous(mut self, secret: SigningSecret) -> Self {
        self.previous.push(secret);
        self
    }
    /// The current secret.
    pub fn current(&self) -> &SigningSecret {
        &self.current
    }
    /// Previous secrets still signing during a rotation.
    pub fn previous(&self) -> &[SigningSecret] {
        &self.previous
    }
    /// Writes the signature headers of `schemes` into `headers`.
    pub fn sign_into(
        &self,
        headers: &mut HeaderMap,
        schemes: Schemes,
        id: &DeliveryId,
        timestamp: i64,
        body: &[u8],
    ) {
        let _ = (
            headers,
            schemes,
            id,
            timestamp,
            body,
            &self.current,
            &self.previous,
        );
        unimplemented!("signing lands with the signing issue")
    }
}
