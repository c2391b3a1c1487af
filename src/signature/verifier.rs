//! The receiving side: [`Verifier`] and [`Verified`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::secret::SigningSecret;
use super::{hex, names, standard, Schemes, VerifyError};
use super::{
    HEADER_HEX_SIGNATURE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};
use crate::clock::{Clock, SystemClock};

/// The default timestamp tolerance, both ways: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The default largest body accepted: 1 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// What a successful verification proved.
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::http::HeaderMap;
/// use hookwire::id::DeliveryId;
/// use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let secret = SigningSecret::generate();
/// let mut headers = HeaderMap::new();
/// let id = DeliveryId::new("dlv_1").unwrap();
/// Signer::new(secret.clone()).sign_into(&mut headers, Schemes::STANDARD, &id, 1_700_000_000, b"{}");
///
/// let verifier = Verifier::new(secret).with_clock(ManualClock::at_unix(1_700_000_010));
/// let verified = verifier.verify(&headers, b"{}")?;
/// assert_eq!(verified.id, "dlv_1");
/// assert_eq!(verified.timestamp, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
/// assert_eq!(verified.schemes, Schemes::STANDARD);
/// # Ok::<(), hookwire::signature::VerifyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The delivery id to deduplicate on.
    ///
    /// - The `webhook-id` header when present (hookwire always sends it). With
    ///   the Standard Webhooks scheme it is covered by the signature; with the
    ///   hex scheme alone it is not (the hex scheme signs the body only), but it
    ///   must still be well formed (1 to 256 visible ASCII characters, no `.`).
    /// - Otherwise (a hex-only request without `webhook-id`), the lowercase hex
    ///   signature itself: a redelivery of the same body carries the same one.
    pub id: String,
    /// When the request was signed, if a verified timestamp exists: the
    /// `webhook-timestamp` header (whole seconds) for Standard Webhooks, or the
    /// body's `timestamp` field (milliseconds) when the hex scheme verified and
    /// [`Verifier::with_body_timestamp_check`] is on. `None` otherwise.
    pub timestamp: Option<SystemTime>,
    /// Which schemes verified (both when a request carried both).
    pub schemes: Schemes,
}

#[derive(Deserialize)]
struct BodyTimestamp {
    timestamp: i64,
}

/// Verifies incoming webhook requests: signature, timestamp, size.
///
/// # Rules
///
/// - The body size is checked **first**, before anything is hashed
///   ([`DEFAULT_MAX_BODY_SIZE`] unless changed).
/// - Only the configured schemes are looked at ([`Schemes::BOTH`] by default).
///   A request must carry at least one of them, and **every configured scheme
///   present in the request must verify**: a bad Standard Webhooks signature is
///   not excused by a good hex one, or the other way round.
/// - Standard Webhooks: `webhook-id`, `webhook-timestamp` and
///   `webhook-signature` are required; the timestamp must lie within the
///   tolerance ([`DEFAULT_TOLERANCE`], both ways, the bound itself accepted) of
///   the [`Clock`]; any `v1` entry matching any secret verifies.
/// - Hex: `x-intelligems-signature` must be the HMAC-SHA256 of the body under
///   one of the secrets (either hex case). The hex scheme signs no timestamp:
///   with [`Schemes::BOTH`], a request carrying only a hex signature verifies
///   with no replay protection unless [`Verifier::with_body_timestamp_check`]
///   is on.
/// - Every comparison is constant time, and each MAC is computed once per secret.
///
/// `Debug` shows the configuration, never the secrets.
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::http::HeaderMap;
/// use hookwire::signature::{Schemes, SigningSecret, Verifier, VerifyError};
/// use std::time::Duration;
///
/// let verifier = Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?)
///     .with_schemes(Schemes::STANDARD)
///     .with_tolerance(Duration::from_secs(60))
///     .with_clock(ManualClock::at_unix(1614265330));
///
/// let mut headers = HeaderMap::new();
/// headers.insert("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
/// headers.insert("webhook-timestamp", "1614265330".parse().unwrap());
/// headers.insert(
///     "webhook-signature",
///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".parse().unwrap(),
/// );
/// let verified = verifier.verify(&headers, br#"{"test": 2432232314}"#).unwrap();
/// assert_eq!(verified.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
///
/// assert_eq!(
///     verifier.verify(&headers, br#"{"test": 2432232315}"#),
///     Err(VerifyError::NoMatchingSignature { name: "webhook-signature" })
/// );
/// # Ok::<(), hookwire::signature::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<SigningSecret>,
    schemes: Schemes,
    tolerance: Duration,
    max_body_size: usize,
    clock: Arc<dyn Clock>,
    body_timestamp: bool,
}

impl Verifier {
    /// A verifier trusting `secret`, accepting both schemes, with a 5 minute
    /// tolerance, a 1 MiB body limit and the system clock.
    pub fn new(secret: SigningSecret) -> Self {
        Self {
            secrets: vec![secret],
            schemes: Schemes::BOTH,
            tolerance: DEFAULT_TOLERANCE,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            clock: Arc::new(SystemClock),
            body_timestamp: false,
        }
    }

    /// Also trusts `secret` (a receiver-side rotation: keep the old secret until
    /// the sender has moved to the new one).
    pub fn with_secret(mut self, secret: SigningSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Which schemes to look at; see [the rules](Verifier#rules).
    pub fn with_schemes(mut self, schemes: Schemes) -> Self {
        self.schemes = schemes;
        self
    }

    /// How far a timestamp may be from the clock, in either direction.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The largest body accepted, in bytes; larger bodies are refused before
    /// any hashing.
    pub fn with_max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// The clock timestamps are checked against.
    pub fn with_clock(self, clock: impl Clock + 'static) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    /// The clock timestamps are checked against, already shared.
    pub fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// When on, a request verified by the hex scheme alone must also carry a
    /// top-level JSON `timestamp` field (Unix milliseconds, as the experience
    /// payloads do) within the tolerance of the clock. Off by default.
    ///
    /// Only that one field is read; the rest of the body is skipped without
    /// building a JSON tree.
    pub fn with_body_timestamp_check(mut self, on: bool) -> Self {
        self.body_timestamp = on;
        self
    }

    /// Verifies a request given its headers and its raw body, at the clock's now.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying which check failed; see [the rules](Verifier#rules).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        self.verify_at(headers, body, self.clock.now())
    }

    /// Verifies, then parses the body as JSON into `T`.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`], and [`VerifyError::InvalidJson`] if the verified
    /// body does not parse as `T`.
    pub fn verify_json<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Verified, T), VerifyError> {
        let verified = self.verify(headers, body)?;
        let value = serde_json::from_slice(body).map_err(|e| VerifyError::InvalidJson {
            message: e.to_string(),
        })?;
        Ok((verified, value))
    }

    /// Verifies a request as [`Verifier::verify`] does, with `now` as the time.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        if body.len() > self.max_body_size {
            return Err(VerifyError::BodyTooLarge {
                size: body.len(),
                limit: self.max_body_size,
            });
        }
        let hex_value = match self.schemes.hex {
            true => single(headers, &names::HEX_SIGNATURE, HEADER_HEX_SIGNATURE)?,
            false => None,
        };
        let standard_value = match self.schemes.standard {
            true => single(headers, &names::WEBHOOK_SIGNATURE, HEADER_WEBHOOK_SIGNATURE)?,
            false => None,
        };
        if hex_value.is_none() && standard_value.is_none() {
            let name = match (self.schemes.hex, self.schemes.standard) {
                (true, false) => HEADER_HEX_SIGNATURE,
                (false, true) => HEADER_WEBHOOK_SIGNATURE,
                _ => "x-intelligems-signature or webhook-signature",
            };
            return Err(VerifyError::MissingHeader { name });
        }

        let mut verified = Verified {
            id: String::new(),
            timestamp: None,
            schemes: Schemes {
                hex: false,
                standard: false,
            },
        };

        if let Some(signature) = standard_value {
            let id = required(headers, &names::WEBHOOK_ID, HEADER_WEBHOOK_ID)?;
            let id = standard::parse_webhook_id(id.as_bytes())?;
            let timestamp = required(headers, &names::WEBHOOK_TIMESTAMP, HEADER_WEBHOOK_TIMESTAMP)?;
            let timestamp = standard::parse_timestamp(timestamp.as_bytes())?;
            standard::check_timestamp(timestamp, now, self.tolerance)?;
            let candidates = standard::parse_signature_header(signature.as_bytes())?;
            if !standard::matches_any(&self.secrets, id.as_bytes(), timestamp, body, &candidates) {
                return Err(VerifyError::NoMatchingSignature {
                    name: HEADER_WEBHOOK_SIGNATURE,
                });
            }
            verified.id = id.to_owned();
            verified.timestamp = crate::clock::from_unix_secs(timestamp);
            verified.schemes.standard = true;
        }

        if let Some(signature) = hex_value {
            let expected = hex::parse_hex_signature(signature.as_bytes())?;
            if !hex::matches_any(&self.secrets, body, &expected) {
                return Err(VerifyError::NoMatchingSignature {
                    name: HEADER_HEX_SIGNATURE,
                });
            }
            verified.schemes.hex = true;
            if !verified.schemes.standard {
                if self.body_timestamp {
                    let ts: BodyTimestamp = serde_json::from_slice(body).map_err(|e| {
                        VerifyError::InvalidBodyTimestamp {
                            message: e.to_string(),
                        }
                    })?;
                    let now_ms = crate::clock::unix_millis(now);
                    standard::check_skew_millis(
                        ts.timestamp.into(),
                        now_ms.into(),
                        self.tolerance,
                    )?;
                    verified.timestamp = crate::clock::from_unix_millis(ts.timestamp);
                }
                verified.id = match single(headers, &names::WEBHOOK_ID, HEADER_WEBHOOK_ID)? {
                    Some(id) => standard::parse_webhook_id(id.as_bytes())?.to_owned(),
                    None => hex::encode(&expected)
                        .iter()
                        .map(|b| char::from(*b))
                        .collect(),
                };
            }
        }
        Ok(verified)
    }
}

/// The one value of header `name`, if present.
fn single<'h>(
    headers: &'h HeaderMap,
    key: &HeaderName,
    name: &'static str,
) -> Result<Option<&'h HeaderValue>, VerifyError> {
    let mut values = headers.get_all(key).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(VerifyError::MalformedHeader {
            name,
            reason: "appears more than once",
        });
    }
    Ok(first)
}

fn required<'h>(
    headers: &'h HeaderMap,
    key: &HeaderName,
    name: &'static str,
) -> Result<&'h HeaderValue, VerifyError> {
    single(headers, key, name)?.ok_or(VerifyError::MissingHeader { name })
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .field("schemes", &self.schemes)
            .field("tolerance", &self.tolerance)
            .field("max_body_size", &self.max_body_size)
            .field("clock", &self.clock)
            .field("body_timestamp", &self.body_timestamp)
            .finish()
    }
}
