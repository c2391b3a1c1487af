//! The sending side: [`Signer`].

use std::fmt;

use http::header::HeaderValue;
use http::HeaderMap;

use super::secret::SigningSecret;
use super::standard::MAX_SIGNATURES;
use super::{hex, names, standard, Schemes};
use crate::id::DeliveryId;

/// Signs outgoing deliveries with one current secret and, during a rotation,
/// previous secrets.
///
/// - The hex scheme holds one value, so it is always signed with the current
///   secret only.
/// - The Standard Webhooks scheme gets one `v1,` signature per secret, current
///   first, so a receiver still on an old secret keeps verifying.
/// - At most [`MAX_SIGNATURES`] (16) secrets in all, the current one included:
///   the most a [`Verifier`](super::Verifier) reads from one header, so every
///   header a signer produces verifies. A 17th is refused by
///   [`with_previous`](Self::with_previous).
///
/// `Debug` shows how many secrets there are, never the secrets.
///
/// # Examples
///
/// ```
/// use hookwire::http::HeaderMap;
/// use hookwire::id::DeliveryId;
/// use hookwire::signature::{Schemes, Signer, SigningSecret};
///
/// let signer = Signer::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".parse()?);
/// let id = DeliveryId::new("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk").unwrap();
/// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
///
/// let mut headers = HeaderMap::new();
/// signer.sign_into(&mut headers, Schemes::BOTH, &id, 1649367553, body);
/// assert_eq!(headers["webhook-id"], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk");
/// assert_eq!(headers["webhook-timestamp"], "1649367553");
/// assert_eq!(headers["webhook-signature"], "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
/// assert_eq!(headers["x-intelligems-signature"].len(), 64);
/// # Ok::<(), hookwire::signature::SecretError>(())
/// ```
#[derive(Clone)]
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

    /// Also signs (Standard Webhooks only) with `secret`, an older secret still
    /// trusted by receivers during a rotation. Call once per old secret.
    ///
    /// # Errors
    ///
    /// [`SignerError::TooManySecrets`] if the signer already holds
    /// [`MAX_SIGNATURES`] secrets (the current one included).
    ///
    /// ```
    /// use hookwire::signature::{Signer, SignerError, SigningSecret, MAX_SIGNATURES};
    ///
    /// let mut signer = Signer::new(SigningSecret::generate());
    /// for _ in 1..MAX_SIGNATURES {
    ///     signer = signer.with_previous(SigningSecret::generate())?;
    /// }
    /// let err = signer.with_previous(SigningSecret::generate()).unwrap_err();
    /// assert_eq!(err.to_string(), "a signer holds at most 16 secrets (the current one and 15 previous), 17 given");
    /// # Ok::<(), SignerError>(())
    /// ```
    pub fn with_previous(mut self, secret: SigningSecret) -> Result<Self, SignerError> {
        let count = self.previous.len() + 2;
        if count > MAX_SIGNATURES {
            return Err(SignerError::TooManySecrets { count });
        }
        self.previous.push(secret);
        Ok(self)
    }

    /// The secret new signatures are made with.
    pub fn current(&self) -> &SigningSecret {
        &self.current
    }

    /// The previous secrets still signing during a rotation, oldest first (a
    /// store that persists endpoints saves them with the current one).
    pub fn previous(&self) -> &[SigningSecret] {
        &self.previous
    }

    /// Writes the signature headers for one delivery attempt into `headers`,
    /// replacing any values already there:
    ///
    /// - `x-intelligems-signature` (lowercase hex of HMAC-SHA256 of `body` with
    ///   the current secret) when `schemes.hex`;
    /// - `webhook-timestamp` (`timestamp`, Unix seconds) and `webhook-signature`
    ///   (`v1,<base64>` per secret, space separated) when `schemes.standard`;
    /// - `webhook-id` (`id`) always (covered by the Standard Webhooks
    ///   signature only; receivers deduplicate on
    ///   [`Verified::dedupe_key`](super::Verified::dedupe_key)).
    ///
    /// Each MAC is computed once; the body is hashed in place, never copied.
    pub fn sign_into(
        &self,
        headers: &mut HeaderMap,
        schemes: Schemes,
        id: &DeliveryId,
        timestamp: i64,
        body: &[u8],
    ) {
        self.sign_signatures_into(headers, schemes, id, timestamp, body);
        // A `DeliveryId` is `[A-Za-z0-9_-]{1,128}`, always a valid header value.
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            headers.insert(names::WEBHOOK_ID, value);
        }
    }

    /// [`sign_into`](Self::sign_into) without the `webhook-id` header (the
    /// dispatcher sets it itself).
    pub(crate) fn sign_signatures_into(
        &self,
        headers: &mut HeaderMap,
        schemes: Schemes,
        id: &DeliveryId,
        timestamp: i64,
        body: &[u8],
    ) {
        if schemes.hex {
            if let Some(value) = self.hex_header_value(body) {
                headers.insert(names::HEX_SIGNATURE, value);
            }
        }
        if schemes.standard {
            if let Some(value) = self.standard_header_value(id, timestamp, body) {
                headers.insert(names::WEBHOOK_SIGNATURE, value);
            }
            headers.insert(names::WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
        }
    }

    /// The `x-intelligems-signature` value for `body`.
    pub(crate) fn hex_header_value(&self, body: &[u8]) -> Option<HeaderValue> {
        let sig = hex::encode(&hex::mac(&self.current, body));
        HeaderValue::from_bytes(&sig).ok()
    }

    /// The `webhook-signature` value for `id`, `timestamp` and `body`.
    pub(crate) fn standard_header_value(
        &self,
        id: &DeliveryId,
        timestamp: i64,
        body: &[u8],
    ) -> Option<HeaderValue> {
        HeaderValue::try_from(self.standard_signature(id, timestamp, body)).ok()
    }

    /// The hex scheme's signature of `body`: 64 lowercase hex characters of
    /// HMAC-SHA256 with the current secret.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::signature::{Signer, SigningSecret};
    ///
    /// let signer = Signer::new(SigningSecret::from_raw_str("It's a Secret to Everybody")?);
    /// assert_eq!(
    ///     signer.hex_signature(b"Hello, World!"),
    ///     "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    /// );
    /// # Ok::<(), hookwire::signature::SecretError>(())
    /// ```
    pub fn hex_signature(&self, body: &[u8]) -> String {
        // Lowercase hex digits: always UTF-8, so this borrows, then copies once.
        String::from_utf8_lossy(&hex::encode(&hex::mac(&self.current, body))).into_owned()
    }

    /// The `webhook-signature` value for `id`, `timestamp` and `body`: one
    /// `v1,<base64>` entry per secret (current first), space separated.
    pub fn standard_signature(&self, id: &DeliveryId, timestamp: i64, body: &[u8]) -> String {
        let id = id.as_str().as_bytes();
        let mut out = String::with_capacity(47 * (1 + self.previous.len()));
        standard::push_v1(&mut out, &standard::mac(&self.current, id, timestamp, body));
        for old in &self.previous {
            out.push(' ');
            standard::push_v1(&mut out, &standard::mac(old, id, timestamp, body));
        }
        out
    }
}

/// Why a [`Signer`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// More secrets than a verifier reads signatures from one header.
    #[error("a signer holds at most {MAX_SIGNATURES} secrets (the current one and {} previous), {count} given", MAX_SIGNATURES - 1)]
    TooManySecrets {
        /// How many secrets the signer would have held.
        count: usize,
    },
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("current", &self.current)
            .field("previous", &self.previous.len())
            .finish()
    }
}
