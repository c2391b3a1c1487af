//! Ed25519 keys for the Standard Webhooks `v1a` scheme (feature `ed25519`).
//!
//! A sender signs with an [`Ed25519SecretKey`] (`whsk_<base64>`); a receiver
//! verifies with the matching [`Ed25519PublicKey`] (`whpk_<base64>`) and can
//! forge nothing with it, so a leaked receiver configuration is harmless.
//! The signed content is the same `id.timestamp.body` as `v1`'s; the
//! `webhook-signature` entry is `v1a,<base64 of the 64-byte signature>`.
//!
//! # Key formats
//!
//! - `whsk_` and standard base64 of either the 32-byte seed or the 64-byte
//!   key pair (seed then public key, as Svix and libsodium write it; the
//!   public half must match the seed). [`Ed25519SecretKey::to_whsk`] writes
//!   the 64-byte form.
//! - `whpk_` and standard base64 of the 32-byte public key.
//!
//! Padded and unpadded base64 are both accepted. Verification uses
//! `verify_strict` (no malleable signatures, no small-order keys).
//!
//! # Examples
//!
//! ```
//! use hookwire::signature::{Ed25519PublicKey, Ed25519SecretKey, KeyError};
//!
//! let secret = Ed25519SecretKey::generate();
//! let public: Ed25519PublicKey = secret.public_key().to_whpk().parse()?;
//! assert_eq!(public, secret.public_key());
//! assert_eq!(format!("{secret:?}"), "Ed25519SecretKey([redacted])");
//!
//! // A public key is not a signing key, and the error says so.
//! assert_eq!(
//!     public.to_whpk().parse::<Ed25519SecretKey>().unwrap_err(),
//!     KeyError::PublicKeyGivenAsSecret
//! );
//! # Ok::<(), KeyError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::secret::BASE64_LENIENT;

/// The prefix of `v1a` secret (signing) keys.
pub const ED25519_SECRET_PREFIX: &str = "whsk_";

/// The prefix of `v1a` public (verifying) keys.
pub const ED25519_PUBLIC_PREFIX: &str = "whpk_";

/// Why an Ed25519 key could not be made or parsed. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The string does not start with the prefix its kind of key needs.
    #[error("key does not start with `{expected}`")]
    MissingPrefix {
        /// `whsk_` or `whpk_`.
        expected: &'static str,
    },
    /// A `whpk_` public key was given where a secret key is needed (a signer
    /// cannot sign with a public key).
    #[error("a `whpk_` public key was given where a `whsk_` secret key is needed; sign with the secret key, verify with the public key")]
    PublicKeyGivenAsSecret,
    /// A `whsk_` secret key was given where a public key is expected (a
    /// receiver should never hold the secret key).
    #[error("a `whsk_` secret key was given where a `whpk_` public key is expected; give the receiver the public key only")]
    SecretKeyGivenAsPublic,
    /// The part after the prefix is not standard base64.
    #[error("key after the prefix is not valid standard base64")]
    InvalidBase64,
    /// The decoded key has the wrong length.
    #[error("key is {len} bytes long, expected {expected}")]
    InvalidLength {
        /// Its decoded length (at least this much, for one refused before decoding).
        len: usize,
        /// What this kind of key must be: `32` or `32 or 64`.
        expected: &'static str,
    },
    /// A 64-byte key pair whose public half does not belong to its seed.
    #[error("the key pair's public half does not match its secret half")]
    MismatchedKeyPair,
    /// The bytes are not a usable Ed25519 public key (not a curve point, or
    /// of small order).
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The operating system could not provide random bytes.
    #[error("operating system randomness is unavailable")]
    Randomness,
}

/// Decodes `encoded` into `out`, refusing before decoding anything longer
/// than `out` could hold (no allocation follows the input's size).
fn decode_into<'o>(
    encoded: &str,
    out: &'o mut [u8; 66],
    expected: &'static str,
) -> Result<&'o [u8], KeyError> {
    let at_least = encoded.trim_end_matches('=').len() * 3 / 4;
    if at_least > 64 {
        return Err(KeyError::InvalidLength {
            len: at_least,
            expected,
        });
    }
    let len = BASE64_LENIENT
        .decode_slice(encoded, out)
        .map_err(|_| KeyError::InvalidBase64)?;
    Ok(&out[..len])
}

/// An Ed25519 signing key: what a sender holds to make `v1a` signatures.
///
/// Redacted in `Debug` and `Display`, zeroed when dropped, compared in
/// constant time (ed25519-dalek's own rules).
///
/// # Examples
///
/// ```
/// use hookwire::signature::Ed25519SecretKey;
///
/// let key = Ed25519SecretKey::generate();
/// let again: Ed25519SecretKey = key.to_whsk().parse()?;
/// assert_eq!(again.public_key(), key.public_key());
/// // The 32-byte seed form parses too.
/// let seed = Ed25519SecretKey::from_seed(&[7u8; 32]);
/// assert!(seed.to_whsk().starts_with("whsk_"));
/// # Ok::<(), hookwire::signature::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Ed25519SecretKey {
    key: SigningKey,
}

impl Ed25519SecretKey {
    /// A new random key from the operating system.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide random bytes (practically never
    /// on supported platforms); [`Ed25519SecretKey::try_generate`] returns an
    /// error instead.
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(key) => key,
            Err(e) => panic!("cannot generate an Ed25519 key: {e}"),
        }
    }

    /// A new random key from the operating system.
    ///
    /// # Errors
    ///
    /// [`KeyError::Randomness`] if the operating system has no randomness to give.
    pub fn try_generate() -> Result<Self, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|_| KeyError::Randomness)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this 32-byte seed (RFC 8032's secret key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The key from its bytes: the 32-byte seed, or the 64-byte key pair
    /// (seed, then public key).
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidLength`] for any other length,
    /// [`KeyError::MismatchedKeyPair`] if the public half is not the seed's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        match bytes.len() {
            32 => {
                let mut seed = zeroize::Zeroizing::new([0u8; 32]);
                seed.copy_from_slice(bytes);
                Ok(Self::from_seed(&seed))
            }
            64 => {
                let mut pair = zeroize::Zeroizing::new([0u8; 64]);
                pair.copy_from_slice(bytes);
                SigningKey::from_keypair_bytes(&pair)
                    .map(|key| Self { key })
                    .map_err(|_| KeyError::MismatchedKeyPair)
            }
            len => Err(KeyError::InvalidLength {
                len,
                expected: "32 or 64",
            }),
        }
    }

    /// The public key receivers verify with.
    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// The 32-byte seed.
    ///
    /// # Security
    ///
    /// Whoever holds these bytes can sign as the sender: store them encrypted,
    /// never log them.
    pub fn expose_seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key as `whsk_` and standard base64 of the 64-byte key pair (the
    /// form Svix writes). [`FromStr`] parses it back.
    ///
    /// # Security
    ///
    /// The returned string is the secret key itself: never log it.
    pub fn to_whsk(&self) -> String {
        let pair = zeroize::Zeroizing::new(self.key.to_keypair_bytes());
        let mut out = String::with_capacity(ED25519_SECRET_PREFIX.len() + 88);
        out.push_str(ED25519_SECRET_PREFIX);
        BASE64_LENIENT.encode_string(pair.as_slice(), &mut out);
        out
    }

    /// The 64-byte signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl FromStr for Ed25519SecretKey {
    type Err = KeyError;

    /// Parses `whsk_<base64>` (see [the key formats](self#key-formats)).
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let Some(encoded) = s.strip_prefix(ED25519_SECRET_PREFIX) else {
            return Err(if s.starts_with(ED25519_PUBLIC_PREFIX) {
                KeyError::PublicKeyGivenAsSecret
            } else {
                KeyError::MissingPrefix {
                    expected: ED25519_SECRET_PREFIX,
                }
            });
        };
        let mut buf = zeroize::Zeroizing::new([0u8; 66]);
        let bytes = decode_into(encoded, &mut buf, "32 or 64")?;
        Self::from_bytes(bytes)
    }
}

impl PartialEq for Ed25519SecretKey {
    /// Constant time (ed25519-dalek compares the secret bytes so).
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Ed25519SecretKey {}

impl fmt::Debug for Ed25519SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519SecretKey([redacted])")
    }
}

impl fmt::Display for Ed25519SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An Ed25519 public key: what a receiver holds to verify `v1a` signatures.
///
/// Not a secret: `Debug` and `Display` show it as `whpk_…`, so operators can
/// tell which key a receiver trusts.
///
/// # Examples
///
/// ```
/// use hookwire::signature::{Ed25519PublicKey, KeyError};
///
/// assert_eq!(
///     "whpk_AAAA".parse::<Ed25519PublicKey>().unwrap_err(),
///     KeyError::InvalidLength { len: 3, expected: "32" }
/// );
/// assert_eq!(
///     "whsec_AAAA".parse::<Ed25519PublicKey>().unwrap_err(),
///     KeyError::MissingPrefix { expected: "whpk_" }
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ed25519PublicKey {
    key: VerifyingKey,
}

impl Ed25519PublicKey {
    /// The key from its 32 bytes.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidLength`] unless 32 bytes long,
    /// [`KeyError::InvalidPublicKey`] if not a curve point or of small order
    /// (a weak key anyone could forge signatures for).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidLength {
            len: bytes.len(),
            expected: "32",
        })?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(Self { key })
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key as `whpk_` and padded standard base64 of its 32 bytes.
    pub fn to_whpk(&self) -> String {
        let mut out = String::with_capacity(ED25519_PUBLIC_PREFIX.len() + 44);
        out.push_str(ED25519_PUBLIC_PREFIX);
        BASE64_LENIENT.encode_string(self.key.as_bytes(), &mut out);
        out
    }

    /// Whether `signature` is this key's (strict) signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl FromStr for Ed25519PublicKey {
    type Err = KeyError;

    /// Parses `whpk_<base64>` (see [the key formats](self#key-formats)).
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let Some(encoded) = s.strip_prefix(ED25519_PUBLIC_PREFIX) else {
            return Err(if s.starts_with(ED25519_SECRET_PREFIX) {
                KeyError::SecretKeyGivenAsPublic
            } else {
                KeyError::MissingPrefix {
                    expected: ED25519_PUBLIC_PREFIX,
                }
            });
        };
        let mut buf = [0u8; 66];
        let bytes = decode_into(encoded, &mut buf, "32")?;
        Self::from_bytes(bytes)
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", self.to_whpk())
    }
}

impl fmt::Display for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_whpk())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032, section 7.1, test 1.
    const RFC_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC_SIG_EMPTY: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn rfc_8032_vector_signs_and_verifies() {
        let key = Ed25519SecretKey::from_seed(&unhex::<32>(RFC_SEED));
        assert_eq!(key.public_key().to_bytes(), unhex::<32>(RFC_PUBLIC));
        let sig = key.sign(b"");
        assert_eq!(sig, unhex::<64>(RFC_SIG_EMPTY));
        assert!(key.public_key().verifies(b"", &sig));
        assert!(!key.public_key().verifies(b"x", &sig));
    }

    #[test]
    fn both_secret_forms_parse_to_the_same_key() {
        let key = Ed25519SecretKey::from_seed(&unhex::<32>(RFC_SEED));
        let pair = key.to_whsk();
        assert_eq!(pair.len(), 5 + 88);
        let seed = format!("whsk_{}", BASE64_LENIENT.encode(key.expose_seed()));
        let unpadded = pair.trim_end_matches('=');
        for form in [&pair, &seed, &unpadded.to_owned()] {
            assert_eq!(form.parse::<Ed25519SecretKey>().unwrap(), key, "{form}");
        }
    }

    #[test]
    fn bad_secret_keys_are_typed_errors() {
        let public = Ed25519SecretKey::generate().public_key().to_whpk();
        assert_eq!(
            public.parse::<Ed25519SecretKey>(),
            Err(KeyError::PublicKeyGivenAsSecret)
        );
        assert_eq!(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse::<Ed25519SecretKey>(),
            Err(KeyError::MissingPrefix { expected: "whsk_" })
        );
        assert_eq!(
            "whsk_!!!!".parse::<Ed25519SecretKey>(),
            Err(KeyError::InvalidBase64)
        );
        assert_eq!(
            format!("whsk_{}", BASE64_LENIENT.encode([1u8; 31])).parse::<Ed25519SecretKey>(),
            Err(KeyError::InvalidLength {
                len: 31,
                expected: "32 or 64"
            })
        );
        assert_eq!(
            format!("whsk_{}", BASE64_LENIENT.encode([1u8; 48])).parse::<Ed25519SecretKey>(),
            Err(KeyError::InvalidLength {
                len: 48,
                expected: "32 or 64"
            })
        );
        // Refused before decoding: no allocation follows the input.
        let huge = format!("whsk_{}", "A".repeat(1 << 20));
        assert!(matches!(
            huge.parse::<Ed25519SecretKey>(),
            Err(KeyError::InvalidLength { .. })
        ));
        let mut pair = [0u8; 64];
        pair[..32].copy_from_slice(&[3u8; 32]);
        pair[32..].copy_from_slice(
            &Ed25519SecretKey::from_seed(&[4u8; 32])
                .public_key()
                .to_bytes(),
        );
        assert_eq!(
            format!("whsk_{}", BASE64_LENIENT.encode(pair)).parse::<Ed25519SecretKey>(),
            Err(KeyError::MismatchedKeyPair)
        );
    }

    #[test]
    fn bad_public_keys_are_typed_errors() {
        let secret = Ed25519SecretKey::generate();
        assert_eq!(
            secret.to_whsk().parse::<Ed25519PublicKey>(),
            Err(KeyError::SecretKeyGivenAsPublic)
        );
        assert_eq!(
            "whpk_not base64".parse::<Ed25519PublicKey>(),
            Err(KeyError::InvalidBase64)
        );
        let pair = secret.to_whsk().replacen("whsk_", "whpk_", 1);
        assert_eq!(
            pair.parse::<Ed25519PublicKey>(),
            Err(KeyError::InvalidLength {
                len: 64,
                expected: "32"
            })
        );
        // The identity point: small order, so anyone could forge for it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            Ed25519PublicKey::from_bytes(&identity),
            Err(KeyError::InvalidPublicKey)
        );
        let back: Ed25519PublicKey = secret.public_key().to_whpk().parse().unwrap();
        assert_eq!(back, secret.public_key());
    }

    #[test]
    fn secret_keys_never_show_and_generated_keys_differ() {
        let key = Ed25519SecretKey::generate();
        assert_eq!(format!("{key:?}"), "Ed25519SecretKey([redacted])");
        assert_eq!(key.to_string(), "[redacted]");
        assert_ne!(Ed25519SecretKey::generate(), key);
        let public = key.public_key();
        assert_eq!(
            format!("{public:?}"),
            format!("Ed25519PublicKey({})", public.to_whpk())
        );
        for e in [
            KeyError::InvalidBase64,
            KeyError::PublicKeyGivenAsSecret,
            KeyError::MismatchedKeyPair,
        ] {
            assert!(!e.to_string().contains(&key.to_whsk()[5..20]));
        }
    }
}
