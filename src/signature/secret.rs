//! Signing secrets: generation, parsing and redaction.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA256 keyed with a secret, ready to be cloned and fed.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The prefix of Standard Webhooks secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// The length of secrets made by [`SigningSecret::generate`], in bytes.
pub const DEFAULT_SECRET_LEN: usize = 24;

/// The shortest secret [`SigningSecret::generate_with_len`] makes, in bytes.
pub const MIN_GENERATED_LEN: usize = 24;

/// The longest secret [`SigningSecret::generate_with_len`] makes, in bytes.
pub const MAX_GENERATED_LEN: usize = 64;

/// The longest secret accepted, in bytes (after `whsec_` decoding): 256.
/// Standard Webhooks secrets are 24 to 64 bytes; the cap leaves room for
/// other schemes' keys while refusing megabyte-sized input.
pub const MAX_SECRET_LEN: usize = 256;

/// Standard base64 that accepts input with or without `=` padding, and with
/// non-zero trailing bits (as Node.js and Python do).
pub(crate) const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a secret could not be made or parsed. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret has no bytes.
    #[error("secret is empty")]
    Empty,
    /// A string secret does not start with `whsec_`.
    #[error("secret does not start with `whsec_`; use `SigningSecret::from_raw_str` or `SigningSecret::from_bytes` for a secret taken as raw bytes")]
    MissingPrefix,
    /// The part after `whsec_` is not standard base64.
    #[error("secret after `whsec_` is not valid standard base64")]
    InvalidBase64,
    /// A generated secret was asked for with a length outside 24..=64 bytes.
    #[error("secret length {len} is outside the allowed range of {MIN_GENERATED_LEN} to {MAX_GENERATED_LEN} bytes")]
    InvalidLength {
        /// The length asked for, in bytes.
        len: usize,
    },
    /// The secret is longer than [`MAX_SECRET_LEN`].
    #[error("secret is {len} bytes long, the limit is {MAX_SECRET_LEN} bytes")]
    TooLong {
        /// Its length in bytes (decoded, for a `whsec_` secret; at least this
        /// much, for one refused before decoding).
        len: usize,
    },
    /// The operating system could not provide random bytes.
    #[error("operating system randomness is unavailable")]
    Randomness,
}

/// A secret shared by a sender and a receiver, used as the HMAC-SHA256 key.
///
/// The bytes never appear in `Debug` or `Display` output, nor in any error,
/// and are zeroed when the secret is dropped. At most [`MAX_SECRET_LEN`]
/// bytes.
/// The key schedule of HMAC is computed once, when the secret is made, so
/// signing with a secret costs only the hashing of the message.
///
/// # Which bytes a secret is
///
/// One rule, with no guessing:
///
/// - [`str::parse`] / [`FromStr`] accepts **only** `whsec_<base64>` strings (the
///   Standard Webhooks format, padded or unpadded standard base64) and keys the
///   MAC with the **decoded** bytes. Any other string is refused with
///   [`SecretError::MissingPrefix`].
/// - [`SigningSecret::from_raw_str`] keys the MAC with a string's UTF-8 bytes as
///   they are, never decoded: this is what the hex scheme's Node.js receiver
///   does with `crypto.createHmac('sha256', secret)` and a string secret.
/// - [`SigningSecret::from_bytes`] takes the key bytes directly.
///
/// # Examples
///
/// ```
/// use hookwire::signature::SigningSecret;
///
/// let secret: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// assert_eq!(secret.expose_bytes().len(), 24);
/// assert_eq!(format!("{secret:?}"), "SigningSecret([redacted])");
///
/// // A plain string secret, as the hex scheme's receivers use it.
/// let plain = SigningSecret::from_raw_str("It's a Secret to Everybody")?;
/// assert_eq!(plain.expose_bytes(), b"It's a Secret to Everybody");
///
/// // Fresh secrets come from the operating system.
/// let fresh = SigningSecret::generate();
/// assert!(fresh.to_whsec().starts_with("whsec_"));
/// # Ok::<(), hookwire::signature::SecretError>(())
/// ```
#[derive(Clone)]
pub struct SigningSecret {
    /// Zeroed on drop. (The precomputed HMAC state below is derived from the
    /// key through SHA-256; the digest crates offer no way to zero it.)
    bytes: zeroize::Zeroizing<Box<[u8]>>,
    mac: HmacSha256,
}

impl SigningSecret {
    /// A new random secret of [`DEFAULT_SECRET_LEN`] (24) bytes from the
    /// operating system, the size Svix and the Standard Webhooks spec use.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide random bytes (practically never
    /// on supported platforms). Use [`SigningSecret::generate_with_len`] to get
    /// an error instead.
    pub fn generate() -> Self {
        match Self::generate_with_len(DEFAULT_SECRET_LEN) {
            Ok(secret) => secret,
            Err(e) => panic!("cannot generate a signing secret: {e}"),
        }
    }

    /// A new random secret of `len` bytes from the operating system.
    ///
    /// # Errors
    ///
    /// [`SecretError::InvalidLength`] unless `len` is within 24..=64 (the
    /// Standard Webhooks range), [`SecretError::Randomness`] if the operating
    /// system has no randomness to give.
    pub fn generate_with_len(len: usize) -> Result<Self, SecretError> {
        if !(MIN_GENERATED_LEN..=MAX_GENERATED_LEN).contains(&len) {
            return Err(SecretError::InvalidLength { len });
        }
        let mut bytes = vec![0u8; len];
        getrandom::fill(&mut bytes).map_err(|_| SecretError::Randomness)?;
        Self::from_bytes(bytes)
    }

    /// A secret made of exactly these bytes.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] if `bytes` is empty, [`SecretError::TooLong`]
    /// past [`MAX_SECRET_LEN`].
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = zeroize::Zeroizing::new(bytes.into());
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        if bytes.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong { len: bytes.len() });
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(&bytes)
            .map_err(|_| SecretError::InvalidLength { len: bytes.len() })?;
        Ok(Self {
            bytes: zeroize::Zeroizing::new(Box::from(bytes.as_slice())),
            mac,
        })
    }

    /// A secret made of the UTF-8 bytes of `secret`, taken as they are (no
    /// `whsec_` handling, no base64 decoding).
    ///
    /// This matches receivers that call `crypto.createHmac('sha256', secret)`
    /// with a string, like the hex scheme's Node.js example.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] if `secret` is empty, [`SecretError::TooLong`]
    /// past [`MAX_SECRET_LEN`] bytes.
    pub fn from_raw_str(secret: &str) -> Result<Self, SecretError> {
        Self::from_bytes(secret.as_bytes())
    }

    /// The secret's bytes: the HMAC key.
    ///
    /// # Security
    ///
    /// Whoever holds these bytes can forge signatures: do not log or store
    /// them in clear.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The secret in the Standard Webhooks format: `whsec_` and the bytes in
    /// padded standard base64. [`FromStr`] parses it back.
    ///
    /// # Security
    ///
    /// The returned string is the secret itself: show it once to the receiver's
    /// owner, never log it.
    pub fn to_whsec(&self) -> String {
        let mut out = String::with_capacity(SECRET_PREFIX.len() + self.bytes.len().div_ceil(3) * 4);
        out.push_str(SECRET_PREFIX);
        BASE64_LENIENT.encode_string(&**self.bytes, &mut out);
        out
    }

    /// A fresh MAC keyed with this secret (a cheap copy of the precomputed state).
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }
}

impl FromStr for SigningSecret {
    type Err = SecretError;

    /// Parses `whsec_<base64>`; see [the type's rules](SigningSecret#which-bytes-a-secret-is).
    fn from_str(s: &str) -> Result<Self, SecretError> {
        let encoded = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        // Refused before decoding: no allocation follows the input's size.
        let at_least = encoded.trim_end_matches('=').len() * 3 / 4;
        if at_least > MAX_SECRET_LEN {
            return Err(SecretError::TooLong { len: at_least });
        }
        let bytes = zeroize::Zeroizing::new(
            BASE64_LENIENT
                .decode(encoded)
                .map_err(|_| SecretError::InvalidBase64)?,
        );
        Self::from_bytes(bytes.as_slice())
    }
}

impl PartialEq for SigningSecret {
    /// Compares the bytes in constant time (for equal lengths).
    fn eq(&self, other: &Self) -> bool {
        (**self.bytes).ct_eq(&**other.bytes).into()
    }
}

impl Eq for SigningSecret {}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl fmt::Display for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whsec_parses_padded_and_unpadded() {
        let padded: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let unpadded: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS".parse().unwrap();
        assert_eq!(padded.expose_bytes().len(), 24);
        assert_eq!(unpadded.expose_bytes().len(), 23);
        let short: SigningSecret = "whsec_YWJj".parse().unwrap();
        assert_eq!(short.expose_bytes(), b"abc");
        let unpadded2: SigningSecret = "whsec_YWI".parse().unwrap();
        assert_eq!(unpadded2.expose_bytes(), b"ab");
        let padded2: SigningSecret = "whsec_YWI=".parse().unwrap();
        assert_eq!(padded2.expose_bytes(), b"ab");
    }

    #[test]
    fn bad_strings_are_refused_with_a_reason() {
        assert_eq!("".parse::<SigningSecret>(), Err(SecretError::MissingPrefix));
        assert_eq!("whsec_".parse::<SigningSecret>(), Err(SecretError::Empty));
        assert_eq!(
            "whsec_!!!!".parse::<SigningSecret>(),
            Err(SecretError::InvalidBase64)
        );
        assert_eq!(
            "whsec_a".parse::<SigningSecret>(),
            Err(SecretError::InvalidBase64)
        );
        assert_eq!(
            "plain".parse::<SigningSecret>(),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(
            SigningSecret::from_bytes(Vec::new()),
            Err(SecretError::Empty)
        );
        assert_eq!(SigningSecret::from_raw_str(""), Err(SecretError::Empty));
        let msg = SecretError::InvalidBase64.to_string();
        assert!(!msg.ends_with('.'));
    }

    #[test]
    fn secrets_are_capped() {
        assert!(SigningSecret::from_bytes(vec![7u8; MAX_SECRET_LEN]).is_ok());
        let err = SigningSecret::from_bytes(vec![7u8; MAX_SECRET_LEN + 1]).unwrap_err();
        assert_eq!(err, SecretError::TooLong { len: 257 });
        assert_eq!(
            err.to_string(),
            "secret is 257 bytes long, the limit is 256 bytes"
        );
        let huge = format!("whsec_{}", "A".repeat(4 << 20));
        assert!(matches!(
            huge.parse::<SigningSecret>(),
            Err(SecretError::TooLong { .. })
        ));
        let edge = format!("whsec_{}", BASE64_LENIENT.encode([1u8; MAX_SECRET_LEN]));
        assert_eq!(
            edge.parse::<SigningSecret>().unwrap().expose_bytes().len(),
            256
        );
        let over = format!("whsec_{}", BASE64_LENIENT.encode([1u8; MAX_SECRET_LEN + 1]));
        assert_eq!(
            over.parse::<SigningSecret>(),
            Err(SecretError::TooLong { len: 257 })
        );
        assert!(SigningSecret::from_raw_str(&"x".repeat(300)).is_err());
    }

    #[test]
    fn generated_secrets_round_trip_and_stay_redacted() {
        let s = SigningSecret::generate();
        assert_eq!(s.expose_bytes().len(), 24);
        let back: SigningSecret = s.to_whsec().parse().unwrap();
        assert_eq!(back, s);
        assert_ne!(SigningSecret::generate(), s);
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "SigningSecret([redacted])");
        assert_eq!(
            SigningSecret::generate_with_len(64)
                .unwrap()
                .expose_bytes()
                .len(),
            64
        );
        assert_eq!(
            SigningSecret::generate_with_len(23),
            Err(SecretError::InvalidLength { len: 23 })
        );
        assert_eq!(
            SigningSecret::generate_with_len(65),
            Err(SecretError::InvalidLength { len: 65 })
        );
    }
}
