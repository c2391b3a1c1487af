//! The sending side: [`Signer`], its keys and their timed rotation.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::HeaderValue;
use http::HeaderMap;

use super::secret::SigningSecret;
use super::standard::MAX_SIGNATURES;
use super::{hex, names, standard, Schemes};
use crate::id::DeliveryId;

#[cfg(feature = "ed25519")]
use super::Ed25519SecretKey;

/// How long a replaced key keeps signing after [`Signer::rotate`] by
/// default: 24 hours, as Svix does, so receivers have a day to move to the
/// new key.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// A key a [`Signer`] signs with: an HMAC secret (hex and `v1`) or, with the
/// `ed25519` feature, an Ed25519 secret key (`v1a`).
///
/// `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningKey {
    /// A shared secret: the hex scheme and Standard Webhooks `v1`.
    Hmac(SigningSecret),
    /// An Ed25519 secret key: Standard Webhooks `v1a`.
    #[cfg(feature = "ed25519")]
    Ed25519(Ed25519SecretKey),
}

impl From<SigningSecret> for SigningKey {
    fn from(secret: SigningSecret) -> Self {
        Self::Hmac(secret)
    }
}

#[cfg(feature = "ed25519")]
impl From<Ed25519SecretKey> for SigningKey {
    fn from(key: Ed25519SecretKey) -> Self {
        Self::Ed25519(key)
    }
}

/// A key replaced by a newer one, still signing until `expires_at` (for
/// ever when `None`: until the host removes it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreviousKey<K> {
    /// The key.
    pub key: K,
    /// From this instant on the key is never used again.
    pub expires_at: Option<SystemTime>,
}

impl<K> PreviousKey<K> {
    /// `key`, signing until `expires_at`.
    pub fn new(key: K, expires_at: Option<SystemTime>) -> Self {
        Self { key, expires_at }
    }

    /// Whether the key still signs at `at` (strictly before its expiry).
    pub fn is_live(&self, at: SystemTime) -> bool {
        self.expires_at.is_none_or(|end| at < end)
    }
}

/// Signs outgoing deliveries with its current keys and, during a rotation,
/// previous keys until they expire.
///
/// - At most one current key of each kind: an HMAC secret (the hex scheme
///   and Standard Webhooks `v1`) and, with the `ed25519` feature, an Ed25519
///   key (`v1a`). An endpoint can sign with either or both.
/// - The hex scheme holds one value, so it is always signed with the current
///   secret only.
/// - The Standard Webhooks header gets one `v1,` entry per live HMAC secret
///   and one `v1a,` entry per live Ed25519 key (current first), so a
///   receiver still on an old key keeps verifying.
/// - Timed rotation: [`rotate`](Self::rotate) makes a new key current and
///   keeps the one it replaces signing for a grace period
///   ([`DEFAULT_ROTATION_GRACE`], 24 hours). From its expiry on, a previous
///   key is never used, whatever the signer is asked.
/// - At most [`MAX_SIGNATURES`] (16) keys in all, current ones included: the
///   most a [`Verifier`](super::Verifier) reads from one header, so every
///   header a signer produces verifies.
///
/// `Debug` shows how many keys there are, never the keys.
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
///
/// A timed rotation:
///
/// ```
/// use hookwire::id::DeliveryId;
/// use hookwire::signature::{Signer, SigningSecret, DEFAULT_ROTATION_GRACE};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let signer = Signer::new(SigningSecret::generate())
///     .rotate(SigningSecret::generate(), now, DEFAULT_ROTATION_GRACE)?;
/// let id = DeliveryId::new("msg_1").unwrap();
/// let during = signer.standard_signature(&id, 1_700_000_000 + 3600, b"{}");
/// assert_eq!(during.split(' ').count(), 2); // new and old
/// let after = signer.standard_signature(&id, 1_700_000_000 + 24 * 3600, b"{}");
/// assert_eq!(after.split(' ').count(), 1); // the new one only
/// # Ok::<(), hookwire::signature::SignerError>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    current: Option<SigningSecret>,
    previous: Vec<PreviousKey<SigningSecret>>,
    #[cfg(feature = "ed25519")]
    ed25519: Option<Ed25519SecretKey>,
    #[cfg(feature = "ed25519")]
    ed25519_previous: Vec<PreviousKey<Ed25519SecretKey>>,
}

impl Signer {
    /// A signer with one HMAC secret.
    pub fn new(secret: SigningSecret) -> Self {
        Self::from_key(secret)
    }

    /// A signer with one key of either kind.
    pub fn from_key(key: impl Into<SigningKey>) -> Self {
        let mut signer = Self {
            current: None,
            previous: Vec::new(),
            #[cfg(feature = "ed25519")]
            ed25519: None,
            #[cfg(feature = "ed25519")]
            ed25519_previous: Vec::new(),
        };
        signer.set_current(key.into());
        signer
    }

    /// Also signs with `key` as the current key of its kind (an HMAC secret
    /// beside an Ed25519 key, for an endpoint signing `v1` and `v1a`),
    /// replacing any current key of that kind at once, with no grace period
    /// ([`rotate`](Self::rotate) keeps the old one signing for a while).
    ///
    /// # Errors
    ///
    /// [`SignerError::TooManySecrets`] past [`MAX_SIGNATURES`] keys.
    pub fn with_current(mut self, key: impl Into<SigningKey>) -> Result<Self, SignerError> {
        self.set_current(key.into());
        self.checked()
    }

    /// Also signs (Standard Webhooks only) with `secret`, an older secret still
    /// trusted by receivers during a rotation, until it is removed. Call once
    /// per old secret. [`rotate`](Self::rotate) gives the old secret an
    /// expiry instead.
    ///
    /// # Errors
    ///
    /// [`SignerError::TooManySecrets`] if the signer already holds
    /// [`MAX_SIGNATURES`] keys (the current ones included).
    ///
    /// ```
    /// use hookwire::signature::{Signer, SignerError, SigningSecret, MAX_SIGNATURES};
    ///
    /// let mut signer = Signer::new(SigningSecret::generate());
    /// for _ in 1..MAX_SIGNATURES {
    ///     signer = signer.with_previous(SigningSecret::generate())?;
    /// }
    /// let err = signer.with_previous(SigningSecret::generate()).unwrap_err();
    /// assert_eq!(err.to_string(), "a signer holds at most 16 keys (current and previous), 17 given");
    /// # Ok::<(), SignerError>(())
    /// ```
    pub fn with_previous(self, secret: SigningSecret) -> Result<Self, SignerError> {
        self.with_previous_key(secret, None)
    }

    /// Also signs with `key`, a replaced key, until `expires_at` (for ever
    /// when `None`): how a store gives a signer back its rotation schedule.
    ///
    /// # Errors
    ///
    /// [`SignerError::TooManySecrets`] past [`MAX_SIGNATURES`] keys.
    pub fn with_previous_key(
        mut self,
        key: impl Into<SigningKey>,
        expires_at: Option<SystemTime>,
    ) -> Result<Self, SignerError> {
        match key.into() {
            SigningKey::Hmac(secret) => self.previous.push(PreviousKey::new(secret, expires_at)),
            #[cfg(feature = "ed25519")]
            SigningKey::Ed25519(key) => self
                .ed25519_previous
                .push(PreviousKey::new(key, expires_at)),
        }
        self.checked()
    }

    /// Makes `key` the current key of its kind; the key it replaces keeps
    /// signing until `now + grace` ([`DEFAULT_ROTATION_GRACE`] is what Svix
    /// gives), then never again. Previous keys already expired at `now` are
    /// dropped. A zero `grace` replaces the old key at once.
    ///
    /// # Errors
    ///
    /// [`SignerError::TooManySecrets`] past [`MAX_SIGNATURES`] keys,
    /// [`SignerError::GraceOutOfRange`] if `now + grace` is not a time.
    pub fn rotate(
        mut self,
        key: impl Into<SigningKey>,
        now: SystemTime,
        grace: Duration,
    ) -> Result<Self, SignerError> {
        let until = now.checked_add(grace).ok_or(SignerError::GraceOutOfRange)?;
        self.previous.retain(|p| p.is_live(now));
        #[cfg(feature = "ed25519")]
        self.ed25519_previous.retain(|p| p.is_live(now));
        let keep = !grace.is_zero();
        match key.into() {
            SigningKey::Hmac(new) => {
                if let Some(old) = self.current.replace(new) {
                    if keep && Some(&old) != self.current.as_ref() {
                        self.previous.push(PreviousKey::new(old, Some(until)));
                    }
                }
            }
            #[cfg(feature = "ed25519")]
            SigningKey::Ed25519(new) => {
                if let Some(old) = self.ed25519.replace(new) {
                    if keep && Some(&old) != self.ed25519.as_ref() {
                        self.ed25519_previous
                            .push(PreviousKey::new(old, Some(until)));
                    }
                }
            }
        }
        self.checked()
    }

    fn set_current(&mut self, key: SigningKey) {
        match key {
            SigningKey::Hmac(secret) => self.current = Some(secret),
            #[cfg(feature = "ed25519")]
            SigningKey::Ed25519(key) => self.ed25519 = Some(key),
        }
    }

    /// How many keys the signer holds, current and previous, of both kinds.
    pub fn key_count(&self) -> usize {
        let count = usize::from(self.current.is_some()) + self.previous.len();
        #[cfg(feature = "ed25519")]
        let count = count + usize::from(self.ed25519.is_some()) + self.ed25519_previous.len();
        count
    }

    fn checked(self) -> Result<Self, SignerError> {
        let count = self.key_count();
        if count > MAX_SIGNATURES {
            return Err(SignerError::TooManySecrets { count });
        }
        Ok(self)
    }

    /// The HMAC secret new hex and `v1` signatures are made with, if any.
    pub fn current(&self) -> Option<&SigningSecret> {
        self.current.as_ref()
    }

    /// The replaced HMAC secrets, oldest first, with their expiries (a store
    /// that persists endpoints saves them with the current one). Expired ones
    /// stay listed until the next [`rotate`](Self::rotate), but never sign.
    pub fn previous(&self) -> &[PreviousKey<SigningSecret>] {
        &self.previous
    }

    /// The Ed25519 key new `v1a` signatures are made with, if any.
    #[cfg(feature = "ed25519")]
    pub fn current_ed25519(&self) -> Option<&Ed25519SecretKey> {
        self.ed25519.as_ref()
    }

    /// The replaced Ed25519 keys, oldest first, with their expiries.
    #[cfg(feature = "ed25519")]
    pub fn previous_ed25519(&self) -> &[PreviousKey<Ed25519SecretKey>] {
        &self.ed25519_previous
    }

    /// Whether the signer has a current key for every scheme in `schemes`
    /// (an HMAC secret for hex and `v1`, an Ed25519 key for `v1a`).
    pub fn covers(&self, schemes: Schemes) -> Result<(), &'static str> {
        if schemes.hex && self.current.is_none() {
            return Err("hex");
        }
        if schemes.standard && self.current.is_none() {
            return Err("standard");
        }
        #[cfg(feature = "ed25519")]
        let has_v1a = self.ed25519.is_some();
        #[cfg(not(feature = "ed25519"))]
        let has_v1a = false;
        if schemes.v1a && !has_v1a {
            return Err("v1a");
        }
        Ok(())
    }

    /// Writes the signature headers for one delivery attempt into `headers`,
    /// replacing any values already there:
    ///
    /// - `x-intelligems-signature` (lowercase hex of HMAC-SHA256 of `body` with
    ///   the current secret) when `schemes.hex`;
    /// - `webhook-timestamp` (`timestamp`, Unix seconds) and `webhook-signature`
    ///   (`v1,<base64>` per live HMAC secret when `schemes.standard`,
    ///   `v1a,<base64>` per live Ed25519 key when `schemes.v1a`, space
    ///   separated);
    /// - `webhook-id` (`id`) always (covered by the Standard Webhooks
    ///   signature only; receivers deduplicate on
    ///   [`Verified::dedupe_key`](super::Verified::dedupe_key)).
    ///
    /// A previous key is live when `timestamp` is before its expiry. A scheme
    /// the signer holds no key for is left out. Each MAC is computed once;
    /// the body is hashed in place, never copied (for `v1a`, copied once).
    pub fn sign_into(
        &self,
        headers: &mut HeaderMap,
        schemes: Schemes,
        id: &DeliveryId,
        timestamp: i64,
        body: &[u8],
    ) {
        let at = at_secs(timestamp);
        self.sign_signatures_into(headers, schemes, id, timestamp, at, body);
        // A `DeliveryId` is `[A-Za-z0-9_-]{1,128}`, always a valid header value.
        if let Ok(value) = HeaderValue::from_str(id.as_str()) {
            headers.insert(names::WEBHOOK_ID, value);
        }
    }

    /// [`sign_into`](Self::sign_into) without the `webhook-id` header (the
    /// dispatcher sets it itself), previous keys judged live at `at`.
    pub(crate) fn sign_signatures_into(
        &self,
        headers: &mut HeaderMap,
        schemes: Schemes,
        id: &DeliveryId,
        timestamp: i64,
        at: Option<SystemTime>,
        body: &[u8],
    ) {
        if schemes.hex {
            if let Some(value) = self.hex_header_value(body) {
                headers.insert(names::HEX_SIGNATURE, value);
            }
        }
        if schemes.webhook_signature() {
            if let Some(value) = self.webhook_signature_value(schemes, id, timestamp, at, body) {
                headers.insert(names::WEBHOOK_SIGNATURE, value);
            }
            headers.insert(names::WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
        }
    }

    /// The `x-intelligems-signature` value for `body`, if the signer has an
    /// HMAC secret.
    pub(crate) fn hex_header_value(&self, body: &[u8]) -> Option<HeaderValue> {
        let sig = hex::encode(&hex::mac(self.current.as_ref()?, body));
        HeaderValue::from_bytes(&sig).ok()
    }

    /// The `webhook-signature` value for `schemes` (`v1` and/or `v1a`
    /// entries), previous keys judged live at `at`; `None` if it would be empty.
    pub(crate) fn webhook_signature_value(
        &self,
        schemes: Schemes,
        id: &DeliveryId,
        timestamp: i64,
        at: Option<SystemTime>,
        body: &[u8],
    ) -> Option<HeaderValue> {
        let mut out = String::new();
        if schemes.standard {
            self.push_v1_entries(&mut out, id, timestamp, at, body);
        }
        #[cfg(feature = "ed25519")]
        if schemes.v1a {
            self.push_v1a_entries(&mut out, id, timestamp, at, body);
        }
        if out.is_empty() {
            return None;
        }
        HeaderValue::try_from(out).ok()
    }

    /// The hex scheme's signature of `body`: 64 lowercase hex characters of
    /// HMAC-SHA256 with the current secret; `None` if the signer has no HMAC
    /// secret.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::signature::{Signer, SigningSecret};
    ///
    /// let signer = Signer::new(SigningSecret::from_raw_str("It's a Secret to Everybody")?);
    /// assert_eq!(
    ///     signer.hex_signature(b"Hello, World!").as_deref(),
    ///     Some("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    /// );
    /// # Ok::<(), hookwire::signature::SecretError>(())
    /// ```
    pub fn hex_signature(&self, body: &[u8]) -> Option<String> {
        // Lowercase hex digits: always UTF-8, so this borrows, then copies once.
        let digest = hex::encode(&hex::mac(self.current.as_ref()?, body));
        Some(String::from_utf8_lossy(&digest).into_owned())
    }

    /// The `v1` entries for `id`, `timestamp` and `body`: one `v1,<base64>`
    /// per HMAC secret live at `timestamp` (current first), space separated;
    /// empty if the signer has no HMAC secret.
    pub fn standard_signature(&self, id: &DeliveryId, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::new();
        self.push_v1_entries(&mut out, id, timestamp, at_secs(timestamp), body);
        out
    }

    /// The `v1a` entries for `id`, `timestamp` and `body`: one
    /// `v1a,<base64>` per Ed25519 key live at `timestamp` (current first),
    /// space separated; empty if the signer has no Ed25519 key.
    #[cfg(feature = "ed25519")]
    pub fn v1a_signature(&self, id: &DeliveryId, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::new();
        self.push_v1a_entries(&mut out, id, timestamp, at_secs(timestamp), body);
        out
    }

    fn push_v1_entries(
        &self,
        out: &mut String,
        id: &DeliveryId,
        timestamp: i64,
        at: Option<SystemTime>,
        body: &[u8],
    ) {
        let id = id.as_str().as_bytes();
        let previous = self.previous.iter().filter(|p| live(p, at)).map(|p| &p.key);
        for secret in self.current.iter().chain(previous) {
            if !out.is_empty() {
                out.push(' ');
            }
            standard::push_v1(out, &standard::mac(secret, id, timestamp, body));
        }
    }

    #[cfg(feature = "ed25519")]
    fn push_v1a_entries(
        &self,
        out: &mut String,
        id: &DeliveryId,
        timestamp: i64,
        at: Option<SystemTime>,
        body: &[u8],
    ) {
        let mut live = self
            .ed25519
            .iter()
            .chain(
                self.ed25519_previous
                    .iter()
                    .filter(|p| live(p, at))
                    .map(|p| &p.key),
            )
            .peekable();
        if live.peek().is_none() {
            return;
        }
        standard::with_signed_content(id.as_str().as_bytes(), timestamp, body, |message| {
            for key in live {
                if !out.is_empty() {
                    out.push(' ');
                }
                standard::push_v1a(out, &key.sign(message));
            }
        });
    }
}

/// The instant a `webhook-timestamp` names; `None` if no `SystemTime` can
/// hold it (then only keys without an expiry are live).
fn at_secs(timestamp: i64) -> Option<SystemTime> {
    crate::clock::from_unix_secs(timestamp)
}

/// Whether `key` signs at `at` (`None`: an instant past every expiry).
fn live<K>(key: &PreviousKey<K>, at: Option<SystemTime>) -> bool {
    match at {
        Some(at) => key.is_live(at),
        None => key.expires_at.is_none(),
    }
}

/// Why a [`Signer`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// More keys than a verifier reads signatures from one header.
    #[error("a signer holds at most {MAX_SIGNATURES} keys (current and previous), {count} given")]
    TooManySecrets {
        /// How many keys the signer would have held.
        count: usize,
    },
    /// A rotation's grace period ends past what a `SystemTime` can hold.
    #[error("the rotation's grace period ends too far in the future")]
    GraceOutOfRange,
}

impl fmt::Debug for Signer {
    /// The keys' kinds and counts, never the keys; a kind the signer holds
    /// no key of is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Signer");
        if let Some(current) = &self.current {
            d.field("current", current);
        }
        d.field("previous", &self.previous.len());
        #[cfg(feature = "ed25519")]
        if self.ed25519.is_some() || !self.ed25519_previous.is_empty() {
            if let Some(current) = &self.ed25519 {
                d.field("ed25519", current);
            }
            d.field("ed25519_previous", &self.ed25519_previous.len());
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const T0: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn secret(byte: u8) -> SigningSecret {
        SigningSecret::from_bytes(vec![byte; 24]).unwrap()
    }

    fn id() -> DeliveryId {
        DeliveryId::new("msg_rotation").unwrap()
    }

    /// The `v1` entries signed at `T0 + secs`, by secret.
    fn entries(signer: &Signer, secs: u64) -> Vec<String> {
        let ts = (T0 + secs) as i64;
        let sig = signer.standard_signature(&id(), ts, b"{}");
        sig.split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn entry(secret: SigningSecret, secs: u64) -> String {
        Signer::new(secret).standard_signature(&id(), (T0 + secs) as i64, b"{}")
    }

    #[test]
    fn a_rotated_secret_signs_until_its_grace_ends_and_never_after() {
        let signer = Signer::new(secret(1))
            .rotate(secret(2), at(0), DEFAULT_ROTATION_GRACE)
            .unwrap();
        assert_eq!(signer.current(), Some(&secret(2)));
        assert_eq!(signer.previous()[0].expires_at, Some(at(86_400)));
        let last = 86_399;
        assert_eq!(
            entries(&signer, last),
            vec![entry(secret(2), last), entry(secret(1), last)]
        );
        // At the expiry itself, and after: the new one only.
        for secs in [86_400, 86_401, 10 * 86_400] {
            assert_eq!(
                entries(&signer, secs),
                vec![entry(secret(2), secs)],
                "{secs}"
            );
        }
        // Judged at the exact instant, not the second: 1 ms before the end
        // still signs, the end does not.
        let just_before = at(86_400) - Duration::from_millis(1);
        let mut headers = HeaderMap::new();
        let ts = crate::clock::unix_secs(just_before);
        signer.sign_signatures_into(
            &mut headers,
            Schemes::STANDARD,
            &id(),
            ts,
            Some(just_before),
            b"{}",
        );
        assert_eq!(
            headers["webhook-signature"]
                .to_str()
                .unwrap()
                .split(' ')
                .count(),
            2
        );
        signer.sign_signatures_into(
            &mut headers,
            Schemes::STANDARD,
            &id(),
            ts,
            Some(at(86_400)),
            b"{}",
        );
        assert_eq!(
            headers["webhook-signature"]
                .to_str()
                .unwrap()
                .split(' ')
                .count(),
            1
        );
    }

    #[test]
    fn rotating_drops_expired_keys_and_keeps_untimed_ones() {
        let signer = Signer::new(secret(1))
            .with_previous(secret(9))
            .unwrap()
            .rotate(secret(2), at(0), Duration::from_secs(60))
            .unwrap()
            .rotate(secret(3), at(60), Duration::from_secs(60))
            .unwrap();
        let previous: Vec<_> = signer
            .previous()
            .iter()
            .map(|p| (p.key.clone(), p.expires_at))
            .collect();
        assert_eq!(
            previous,
            vec![(secret(9), None), (secret(2), Some(at(120)))]
        );
        assert_eq!(entries(&signer, 119).len(), 3);
        assert_eq!(entries(&signer, 120).len(), 2);
        // A timestamp no SystemTime holds: untimed keys only.
        let far = signer.standard_signature(&id(), i64::MAX, b"{}");
        assert_eq!(far.split(' ').count(), 2);
    }

    #[test]
    fn zero_grace_and_the_same_key_keep_nothing() {
        let signer = Signer::new(secret(1))
            .rotate(secret(2), at(0), Duration::ZERO)
            .unwrap();
        assert!(signer.previous().is_empty());
        let signer = signer
            .rotate(secret(2), at(0), DEFAULT_ROTATION_GRACE)
            .unwrap();
        assert!(signer.previous().is_empty());
        assert_eq!(
            Signer::new(secret(1))
                .rotate(secret(2), at(0), Duration::MAX)
                .unwrap_err(),
            SignerError::GraceOutOfRange
        );
    }

    #[test]
    fn rotations_are_bounded_by_the_signature_limit() {
        let mut signer = Signer::new(secret(0));
        for n in 1..MAX_SIGNATURES as u8 {
            signer = signer
                .rotate(secret(n), at(u64::from(n)), DEFAULT_ROTATION_GRACE)
                .unwrap();
        }
        assert_eq!(signer.key_count(), MAX_SIGNATURES);
        let err = signer
            .clone()
            .rotate(secret(99), at(100), DEFAULT_ROTATION_GRACE)
            .unwrap_err();
        assert_eq!(err, SignerError::TooManySecrets { count: 17 });
        // Once the oldest have expired, rotating makes room again.
        let later = signer
            .rotate(secret(99), at(86_402), DEFAULT_ROTATION_GRACE)
            .unwrap();
        assert_eq!(later.key_count(), MAX_SIGNATURES - 1);
    }

    #[test]
    fn covers_names_the_scheme_without_a_key() {
        let hmac = Signer::new(secret(1));
        assert_eq!(hmac.covers(Schemes::BOTH), Ok(()));
        assert_eq!(hmac.covers(Schemes::V1A), Err("v1a"));
        assert_eq!(hmac.hex_signature(b"x").map(|s| s.len()), Some(64));
    }

    #[cfg(feature = "ed25519")]
    #[test]
    fn an_ed25519_signer_writes_v1a_entries_beside_v1_and_rotates_them() {
        let (k1, k2) = (
            Ed25519SecretKey::from_seed(&[1; 32]),
            Ed25519SecretKey::from_seed(&[2; 32]),
        );
        let v1a_only = Signer::from_key(k1.clone());
        assert_eq!(v1a_only.current(), None);
        assert_eq!(v1a_only.hex_signature(b"x"), None);
        assert_eq!(v1a_only.covers(Schemes::STANDARD), Err("standard"));
        assert!(v1a_only
            .standard_signature(&id(), T0 as i64, b"{}")
            .is_empty());

        let both = Signer::new(secret(1)).with_current(k1.clone()).unwrap();
        let mut headers = HeaderMap::new();
        both.sign_into(
            &mut headers,
            Schemes::STANDARD | Schemes::V1A,
            &id(),
            T0 as i64,
            b"{}",
        );
        let value = headers["webhook-signature"].to_str().unwrap();
        let kinds: Vec<&str> = value
            .split(' ')
            .map(|e| e.split(',').next().unwrap())
            .collect();
        assert_eq!(kinds, ["v1", "v1a"]);
        let sig = standard::parse_signature_header(value.as_bytes()).unwrap();
        let message = standard::signed_content(b"msg_rotation", T0 as i64, b"{}");
        assert!(k1.public_key().verifies(&message, &sig.v1a()[0]));
        // v1a alone: no v1 entry, and no hex header.
        let mut headers = HeaderMap::new();
        both.sign_into(&mut headers, Schemes::V1A, &id(), T0 as i64, b"{}");
        assert!(headers["webhook-signature"]
            .to_str()
            .unwrap()
            .starts_with("v1a,"));
        assert!(headers.get("x-intelligems-signature").is_none());

        let rotated = both
            .rotate(k2.clone(), at(0), Duration::from_secs(10))
            .unwrap();
        assert_eq!(rotated.current_ed25519(), Some(&k2));
        assert_eq!(
            rotated
                .v1a_signature(&id(), (T0 + 9) as i64, b"{}")
                .split(' ')
                .count(),
            2
        );
        assert_eq!(
            rotated
                .v1a_signature(&id(), (T0 + 10) as i64, b"{}")
                .split(' ')
                .count(),
            1
        );
        assert_eq!(
            rotated.previous().len(),
            0,
            "the HMAC secret was not rotated"
        );
        let debug = format!("{rotated:?}");
        assert!(!debug.contains(&k1.to_whsk()[5..]), "{debug}");
    }
}
