//! The receiving side: [`Verifier`] and [`Verified`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::secret::SigningSecret;
use super::{hex, names, standard, Schemes, VerifyError};
use super::{
    HEADER_HEX_SIGNATURE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};
use crate::clock::{Clock, SystemClock};

/// The default timestamp tolerance, both ways: 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// How old a hex-signed body's `timestamp` may be by default: 6 hours.
///
/// The hex scheme signs the body only, so its signature is the same on every
/// retry and the body's `timestamp` is the event's time, not the attempt's:
/// the tolerance must cover the sender's whole retry horizon. hookwire's
/// default policy makes its last attempt about 2.6 hours after the first
/// (5 s, 5 min, 30 min, 2 h), up to about 3.1 hours with its ±20 % jitter,
/// and up to about 5.4 hours if every retry is pushed to the 1 hour
/// `Retry-After` cap; 6 hours covers all of it. A receiver deduplicating on
/// [`Verified::dedupe_key`] must remember keys at least this long (plus
/// [`DEFAULT_TOLERANCE`] for clocks ahead): older replays are refused here,
/// younger ones are caught there.
pub const DEFAULT_BODY_TOLERANCE: Duration = Duration::from_secs(6 * 60 * 60);

/// The default largest body accepted: 1 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// What a successful verification proved: only what a signature covers.
///
/// # Deduplicating
///
/// Deduplicate on [`dedupe_key`](Self::dedupe_key), never on an unsigned
/// header. It is only ever something every matched signature covers, and the
/// same for every attempt of one delivery, whichever headers a replay
/// carries:
///
/// - for a verifier that accepts the hex scheme (the default), `sha256_` and
///   the SHA-256 of the body: the hex scheme signs the body alone, and
///   hookwire sends the same body on every retry, so a capture replayed with
///   its Standard Webhooks headers stripped (leaving the hex signature), or
///   with another `webhook-id`, has the key already seen;
/// - for a verifier that does not ([`Verifier::with_schemes`] without hex,
///   or one holding only public keys), `id_` and the `webhook-id`, which
///   every `v1` and `v1a` signature covers and which stays the same on every
///   attempt (the Standard Webhooks idempotency key): a replay under another
///   id fails its signature, and no pass over the body is spent on the key.
///
/// Remember keys at least as long as the verifier accepts a replay: the
/// body's `timestamp` tolerance for hex-signed requests
/// ([`DEFAULT_BODY_TOLERANCE`], on by default) plus the clock tolerance.
/// Two deliveries with byte-identical bodies are one delivery to a receiver
/// deduplicating this way; hookwire's payloads carry the event's time and
/// its contents, so distinct events differ.
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
/// let body = br#"{"action":"startExperience","timestamp":1700000000000}"#;
/// let mut headers = HeaderMap::new();
/// let id = DeliveryId::new("dlv_1").unwrap();
/// Signer::new(secret.clone()).sign_into(&mut headers, Schemes::BOTH, &id, 1_700_000_000, body);
///
/// let verifier = Verifier::new(secret).with_clock(ManualClock::at_unix(1_700_000_010));
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.id, "dlv_1");
/// assert_eq!(verified.timestamp, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
/// assert_eq!(verified.schemes, Schemes::BOTH);
///
/// // The same delivery with its Standard Webhooks headers stripped: the hex
/// // signature still verifies, and the dedupe key is the same.
/// for name in ["webhook-signature", "webhook-timestamp", "webhook-id"] {
///     headers.remove(name);
/// }
/// let replay = verifier.verify(&headers, body)?;
/// assert_eq!(replay.dedupe_key, verified.dedupe_key);
/// assert_eq!(replay.id, replay.dedupe_key); // no unsigned id is taken
/// # Ok::<(), hookwire::signature::VerifyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The key to deduplicate on: `sha256_` and the lowercase hex SHA-256 of
    /// the body when the verifier accepts the hex scheme, else `id_` and the
    /// signed `webhook-id` (see [Deduplicating](Self#deduplicating)). The
    /// same for every scheme and every attempt of one delivery.
    pub dedupe_key: String,
    /// The delivery's id, as far as a signature covers it: the `webhook-id`
    /// header when the Standard Webhooks signature verified (it is signed);
    /// otherwise (hex only, which signs the body alone) the
    /// [`dedupe_key`](Self::dedupe_key), never the unsigned header.
    pub id: String,
    /// When the request was signed, if a verified timestamp exists: the
    /// `webhook-timestamp` header (whole seconds) for Standard Webhooks, or the
    /// body's `timestamp` field when the hex scheme alone verified and
    /// [`Verifier::with_body_timestamp_check`] is on (the default). `None`
    /// otherwise.
    pub timestamp: Option<SystemTime>,
    /// Which schemes verified (both when a request carried both).
    pub schemes: Schemes,
}

/// The body's `timestamp`: Unix milliseconds (experience payloads) or
/// RFC 3339 text (journey payloads).
#[derive(Deserialize)]
struct BodyTimestamp {
    timestamp: TimestampField,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TimestampField {
    Millis(i64),
    Text(String),
}

/// `sha256_` and the lowercase hex SHA-256 of `body`.
fn dedupe_key(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest: [u8; 32] = Sha256::digest(body).into();
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256_");
    key.extend(hex::encode(&digest).iter().map(|b| char::from(*b)));
    key
}

/// Verifies incoming webhook requests: signature, timestamp, size.
///
/// # Rules
///
/// - The body size is checked **first**, before anything is hashed
///   ([`DEFAULT_MAX_BODY_SIZE`] unless changed).
/// - Only the configured schemes are looked at (by default every scheme a key
///   is held for: [`Schemes::BOTH`] for a secret, `v1a` for a public key; see
///   [`Verifier::schemes`]). A request must carry at least one of them, and
///   **every configured header present in the request must verify**: a bad
///   Standard Webhooks signature is not excused by a good hex one, or the
///   other way round.
/// - Standard Webhooks: `webhook-id`, `webhook-timestamp` and
///   `webhook-signature` are required; the timestamp must lie within the
///   tolerance ([`DEFAULT_TOLERANCE`], both ways, the bound itself accepted) of
///   the [`Clock`]; the header verifies if any entry matches a key of its
///   scheme: a `v1` entry any secret, a `v1a` entry any public key (feature
///   `ed25519`, `verify_strict`; only the first four `v1a` entries are
///   checked, `MAX_V1A_ENTRIES_CHECKED`, since each is a pass over the body
///   per key). Entries of schemes not configured are ignored.
/// - Hex: `x-intelligems-signature` must be the HMAC-SHA256 of the body under
///   one of the secrets (either hex case). The hex scheme signs no timestamp,
///   so a request verified by it alone must carry a top-level `timestamp` in
///   its body no older than [`DEFAULT_BODY_TOLERANCE`] (and no further ahead
///   than the clock tolerance): on by default, so that a captured body cannot
///   be replayed for ever; [`Verifier::with_body_timestamp_check`]`(false)`
///   turns it off for payloads without one.
/// - [`Verified`] holds only what a signature covers; deduplicate on
///   [`Verified::dedupe_key`].
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
    #[cfg(feature = "ed25519")]
    public_keys: Vec<super::Ed25519PublicKey>,
    /// Set by `with_schemes`; otherwise every scheme a key is held for.
    schemes: Option<Schemes>,
    tolerance: Duration,
    max_body_size: usize,
    clock: Arc<dyn Clock>,
    body_timestamp: bool,
    body_tolerance: Duration,
}

impl Verifier {
    /// A verifier trusting `secret`, accepting both schemes, with a 5 minute
    /// tolerance, the body timestamp check on (6 hours back,
    /// [`DEFAULT_BODY_TOLERANCE`]), a 1 MiB body limit and the system clock.
    pub fn new(secret: SigningSecret) -> Self {
        Self::holding(vec![secret])
    }

    fn holding(secrets: Vec<SigningSecret>) -> Self {
        Self {
            secrets,
            #[cfg(feature = "ed25519")]
            public_keys: Vec::new(),
            schemes: None,
            tolerance: DEFAULT_TOLERANCE,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            clock: Arc::new(SystemClock),
            body_timestamp: true,
            body_tolerance: DEFAULT_BODY_TOLERANCE,
        }
    }

    /// Also trusts `secret` (a receiver-side rotation: keep the old secret until
    /// the sender has moved to the new one).
    pub fn with_secret(mut self, secret: SigningSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// A verifier holding only an Ed25519 public key: it accepts `v1a`
    /// entries of `webhook-signature` and can forge nothing. Otherwise as
    /// [`Verifier::new`] (tolerance, body limit, clock).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::clock::ManualClock;
    /// use hookwire::http::HeaderMap;
    /// use hookwire::id::DeliveryId;
    /// use hookwire::signature::{Ed25519SecretKey, Schemes, Signer, Verifier, VerifyError};
    ///
    /// let key = Ed25519SecretKey::generate();
    /// let receiver = Verifier::from_public_key(key.public_key())
    ///     .with_clock(ManualClock::at_unix(1_700_000_000));
    ///
    /// let (id, body) = (DeliveryId::new("msg_1").unwrap(), br#"{"n":1}"#);
    /// let mut headers = HeaderMap::new();
    /// Signer::from_key(key).sign_into(&mut headers, Schemes::V1A, &id, 1_700_000_000, body);
    /// assert!(headers["webhook-signature"].to_str().unwrap().starts_with("v1a,"));
    /// assert_eq!(receiver.verify(&headers, body)?.schemes, Schemes::V1A);
    ///
    /// assert_eq!(
    ///     receiver.verify(&headers, br#"{"n":2}"#),
    ///     Err(VerifyError::NoMatchingSignature { name: "webhook-signature" })
    /// );
    /// # Ok::<(), VerifyError>(())
    /// ```
    #[cfg(feature = "ed25519")]
    pub fn from_public_key(key: super::Ed25519PublicKey) -> Self {
        let mut verifier = Self::holding(Vec::new());
        verifier.public_keys.push(key);
        verifier
    }

    /// Also trusts `v1a` signatures by `key` (beside `v1` during a
    /// migration, or an older key during a rotation).
    #[cfg(feature = "ed25519")]
    pub fn with_public_key(mut self, key: super::Ed25519PublicKey) -> Self {
        self.public_keys.push(key);
        self
    }

    /// The schemes looked at: those set by [`with_schemes`](Self::with_schemes),
    /// or else every scheme a key is held for (hex and `v1` for a secret,
    /// `v1a` for a public key).
    pub fn schemes(&self) -> Schemes {
        if let Some(schemes) = self.schemes {
            return schemes;
        }
        let hmac = !self.secrets.is_empty();
        #[cfg(feature = "ed25519")]
        let v1a = !self.public_keys.is_empty();
        #[cfg(not(feature = "ed25519"))]
        let v1a = false;
        Schemes {
            hex: hmac,
            standard: hmac,
            v1a,
        }
    }

    /// How old a hex-signed body's `timestamp` may be (default
    /// [`DEFAULT_BODY_TOLERANCE`]): at least the sender's retry horizon, since
    /// every retry carries the event's time. Keep deduplicated keys at least
    /// this long.
    pub fn with_body_tolerance(mut self, tolerance: Duration) -> Self {
        self.body_tolerance = tolerance;
        self
    }

    /// Which schemes to look at; see [the rules](Verifier#rules).
    pub fn with_schemes(mut self, schemes: Schemes) -> Self {
        self.schemes = Some(schemes);
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

    /// The clock timestamps are checked against (default: the system
    /// clock): any [`Clock`], an `Arc<dyn Clock>` shared with a dispatcher
    /// included.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock timestamps are checked against, already shared.
    #[deprecated(note = "use `with_clock`, which takes an `Arc<dyn Clock>` too")]
    pub fn with_shared_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.with_clock(clock)
    }

    /// When on (the default), a request verified by the hex scheme alone must
    /// also carry a top-level JSON `timestamp` field (Unix milliseconds, as the
    /// experience payloads have, or RFC 3339 text, as the journey payloads
    /// have) at most [`with_body_tolerance`](Self::with_body_tolerance) old and
    /// at most [`with_tolerance`](Self::with_tolerance) ahead of the clock.
    ///
    /// Turn it off only for payloads without a timestamp, and know what that
    /// costs: a captured hex-signed body then verifies for ever, and only a
    /// dedupe store that never forgets catches its replays.
    ///
    /// Only that one field is read; the rest of the body is skipped without
    /// building a JSON tree. A body that is not JSON at all is refused as
    /// [`VerifyError::InvalidJson`] (400), as `verify_json` refuses it with
    /// the check off; JSON without a usable `timestamp` is
    /// [`VerifyError::InvalidBodyTimestamp`] (401).
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
    /// As [`Verifier::verify`], and [`VerifyError::InvalidJson`] with the JSON
    /// path of the culprit (as [`PayloadError`](crate::model::PayloadError)
    /// gives it) if the verified body does not parse as `T`.
    pub fn verify_json<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Verified, T), VerifyError> {
        let verified = self.verify(headers, body)?;
        let value = crate::model::from_json(body)?;
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
        let schemes = self.schemes();
        let hex_value = match schemes.hex {
            true => single(headers, &names::HEX_SIGNATURE, HEADER_HEX_SIGNATURE)?,
            false => None,
        };
        let standard_value = match schemes.webhook_signature() {
            true => single(headers, &names::WEBHOOK_SIGNATURE, HEADER_WEBHOOK_SIGNATURE)?,
            false => None,
        };
        if hex_value.is_none() && standard_value.is_none() {
            let name = match (schemes.hex, schemes.webhook_signature()) {
                (true, false) => HEADER_HEX_SIGNATURE,
                (false, true) => HEADER_WEBHOOK_SIGNATURE,
                _ => "x-intelligems-signature or webhook-signature",
            };
            return Err(VerifyError::MissingHeader { name });
        }

        let mut verified = Verified {
            dedupe_key: String::new(),
            id: String::new(),
            timestamp: None,
            schemes: Schemes::NONE,
        };

        if let Some(signature) = standard_value {
            let id = required(headers, &names::WEBHOOK_ID, HEADER_WEBHOOK_ID)?;
            let id = standard::parse_webhook_id(id.as_bytes())?;
            let timestamp = required(headers, &names::WEBHOOK_TIMESTAMP, HEADER_WEBHOOK_TIMESTAMP)?;
            let timestamp = standard::parse_timestamp(timestamp.as_bytes())?;
            standard::check_timestamp(timestamp, now, self.tolerance)?;
            let candidates = standard::parse_signature_header(signature.as_bytes())?;
            // `v1` first: an HMAC costs a microsecond, an Ed25519 check tens.
            let v1 = schemes.standard
                && standard::matches_any(
                    &self.secrets,
                    id.as_bytes(),
                    timestamp,
                    body,
                    &candidates,
                );
            #[cfg(feature = "ed25519")]
            let v1a = !v1
                && schemes.v1a
                && standard::matches_any_v1a(
                    &self.public_keys,
                    id.as_bytes(),
                    timestamp,
                    body,
                    &candidates,
                );
            #[cfg(not(feature = "ed25519"))]
            let v1a = false;
            if !v1 && !v1a {
                return Err(VerifyError::NoMatchingSignature {
                    name: HEADER_WEBHOOK_SIGNATURE,
                });
            }
            verified.id = id.to_owned();
            verified.timestamp = crate::clock::from_unix_secs(timestamp);
            verified.schemes.standard = v1;
            verified.schemes.v1a = v1a;
        }

        if let Some(signature) = hex_value {
            let expected = hex::parse_hex_signature(signature.as_bytes())?;
            if !hex::matches_any(&self.secrets, body, &expected) {
                return Err(VerifyError::NoMatchingSignature {
                    name: HEADER_HEX_SIGNATURE,
                });
            }
            verified.schemes.hex = true;
            if !verified.schemes.webhook_signature() && self.body_timestamp {
                let at = body_timestamp(body)?;
                let now_ms = i128::from(crate::clock::unix_millis(now));
                let age = now_ms.saturating_sub(at);
                if age > 0 {
                    standard::check_skew_millis(at, now_ms, self.body_tolerance)?;
                } else {
                    standard::check_skew_millis(at, now_ms, self.tolerance)?;
                }
                verified.timestamp = i64::try_from(at)
                    .ok()
                    .and_then(crate::clock::from_unix_millis);
            }
        }
        verified.dedupe_key = match schemes.hex {
            // A copy of this delivery may come hex-signed alone, which signs
            // the body only: every copy must give the body's key.
            true => dedupe_key(body),
            // Every copy this verifier accepts carries a signed webhook-id,
            // the same on every attempt of one delivery: no pass over the
            // body is needed.
            false => format!("id_{}", verified.id),
        };
        if !verified.schemes.webhook_signature() {
            // The hex scheme covers the body only: no header is taken.
            verified.id.clone_from(&verified.dedupe_key);
        }
        Ok(verified)
    }
}

/// The body's top-level `timestamp`, in Unix milliseconds.
fn body_timestamp(body: &[u8]) -> Result<i128, VerifyError> {
    let invalid = |message: String| VerifyError::InvalidBodyTimestamp { message };
    let ts: BodyTimestamp = serde_json::from_slice(body).map_err(|e| {
        // A body that is not JSON at all is a bad request, whatever it lacks:
        // the parser may stop at a missing or mistyped field before a syntax
        // error further on, so the whole body is checked (on failure only).
        match crate::model::from_json::<IgnoredAny>(body) {
            Err(not_json) => VerifyError::from(not_json),
            Ok(_) => invalid(e.to_string()),
        }
    })?;
    match ts.timestamp {
        TimestampField::Millis(ms) => Ok(i128::from(ms)),
        TimestampField::Text(text) => {
            let at = crate::model::rfc3339::parse(&text).map_err(|e| invalid(e.to_string()))?;
            Ok(i128::from(crate::clock::unix_millis(at)))
        }
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

/// What a receiver built over a verifier needs to know of it.
impl Verifier {
    /// The largest body accepted, in bytes ([`with_max_body_size`](Self::with_max_body_size)):
    /// a receiving adapter stops reading a body past it.
    pub fn max_body_size(&self) -> usize {
        self.max_body_size
    }

    /// How long after a body first verifies the same body can verify again
    /// (a replay, or a sender's retry): the oldest signed timestamp accepted
    /// plus the tolerance ahead. A dedupe store must remember keys at least
    /// this long. `None` when no limit exists: the hex scheme accepted with
    /// the body timestamp check off.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::signature::{Schemes, SigningSecret, Verifier, DEFAULT_BODY_TOLERANCE, DEFAULT_TOLERANCE};
    ///
    /// let verifier = Verifier::new(SigningSecret::generate());
    /// assert_eq!(verifier.replay_window(), Some(DEFAULT_BODY_TOLERANCE + DEFAULT_TOLERANCE));
    /// let standard = verifier.clone().with_schemes(Schemes::STANDARD);
    /// assert_eq!(standard.replay_window(), Some(DEFAULT_TOLERANCE * 2));
    /// assert_eq!(verifier.with_body_timestamp_check(false).replay_window(), None);
    /// ```
    pub fn replay_window(&self) -> Option<std::time::Duration> {
        let hex = self.schemes().hex;
        if hex && !self.body_timestamp {
            return None;
        }
        let back = match hex {
            true => self.body_tolerance.max(self.tolerance),
            false => self.tolerance,
        };
        Some(back.saturating_add(self.tolerance))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Verifier");
        d.field("secrets", &self.secrets.len());
        #[cfg(feature = "ed25519")]
        d.field("public_keys", &self.public_keys);
        d.field("schemes", &self.schemes())
            .field("tolerance", &self.tolerance)
            .field("max_body_size", &self.max_body_size)
            .field("clock", &self.clock)
            .field("body_timestamp", &self.body_timestamp)
            .field("body_tolerance", &self.body_tolerance)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Policy;

    #[test]
    fn the_body_tolerance_covers_the_default_retry_horizon() {
        let policy = Policy::default();
        let nominal: Duration = policy.schedule().iter().sum();
        // 5 s + 5 min + 30 min + 2 h: the last attempt about 2.6 hours after the first.
        assert_eq!(nominal, Duration::from_secs(5 + 300 + 1800 + 7200));
        let jittered = nominal.mul_f64(1.0 + policy.jitter());
        assert!(jittered > Duration::from_secs(3 * 3600), "{jittered:?}");
        assert!(
            jittered < Duration::from_secs(3 * 3600 + 15 * 60),
            "{jittered:?}"
        );
        // Every retry pushed to the Retry-After cap (or jittered past it),
        // every attempt taking its whole timeout.
        let worst: Duration = policy
            .schedule()
            .iter()
            .map(|d| {
                d.mul_f64(1.0 + policy.jitter())
                    .max(policy.retry_after_cap())
            })
            .sum::<Duration>()
            + policy.timeout() * policy.max_attempts();
        assert!(worst < DEFAULT_BODY_TOLERANCE, "{worst:?}");
        assert!(jittered < DEFAULT_BODY_TOLERANCE);
        assert_eq!(
            Verifier::new(SigningSecret::generate()).body_tolerance,
            DEFAULT_BODY_TOLERANCE
        );
        assert!(Verifier::new(SigningSecret::generate()).body_timestamp);
    }

    #[test]
    fn dedupe_keys_are_the_bodys_sha256() {
        assert_eq!(
            dedupe_key(b"abc"),
            "sha256_ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
