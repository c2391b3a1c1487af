//! The hex scheme: `x-intelligems-signature: <hex of HMAC-SHA256(secret, body)>`.
//!
//! The signed bytes are the raw body and nothing else, so the scheme carries no
//! timestamp of its own; [`Verifier::with_body_timestamp_check`](super::Verifier::with_body_timestamp_check)
//! can read the payload's `timestamp` field (Unix milliseconds) instead.

use hmac::Mac;
use subtle::ConstantTimeEq;

use super::secret::SigningSecret;
use super::{VerifyError, HEADER_HEX_SIGNATURE};

/// The length of a hex signature, in characters.
pub const HEX_SIGNATURE_LEN: usize = 64;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// HMAC-SHA256 of `body` with `secret`.
pub(crate) fn mac(secret: &SigningSecret, body: &[u8]) -> [u8; 32] {
    let mut mac = secret.mac();
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex of 32 bytes, on the stack.
pub(crate) fn encode(bytes: &[u8; 32]) -> [u8; HEX_SIGNATURE_LEN] {
    let mut out = [0u8; HEX_SIGNATURE_LEN];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX_DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = HEX_DIGITS[usize::from(b & 0x0f)];
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes a hex signature header value (either case) into 32 bytes.
///
/// # Errors
///
/// [`VerifyError::MalformedHeader`] naming `x-intelligems-signature` if the
/// value is not exactly 64 hex characters.
pub fn parse_hex_signature(value: &[u8]) -> Result<[u8; 32], VerifyError> {
    if value.len() != HEX_SIGNATURE_LEN {
        return Err(VerifyError::MalformedHeader {
            name: HEADER_HEX_SIGNATURE,
            reason: "expected 64 hex characters",
        });
    }
    let mut out = [0u8; 32];
    for (i, pair) in value.chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = (hi << 4) | lo,
            _ => {
                return Err(VerifyError::MalformedHeader {
                    name: HEADER_HEX_SIGNATURE,
                    reason: "contains a character that is not a hex digit",
                })
            }
        }
    }
    Ok(out)
}

/// Whether `expected` is the MAC of `body` under one of `secrets` (constant time
/// per comparison).
pub(crate) fn matches_any(secrets: &[SigningSecret], body: &[u8], expected: &[u8; 32]) -> bool {
    secrets
        .iter()
        .any(|secret| bool::from(mac(secret, body).ct_eq(expected)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_vector() {
        let secret = SigningSecret::from_raw_str("It's a Secret to Everybody").unwrap();
        let sig = encode(&mac(&secret, b"Hello, World!"));
        assert_eq!(
            std::str::from_utf8(&sig).unwrap(),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn decode_accepts_both_cases_and_refuses_junk() {
        let lower = b"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let upper = lower.to_ascii_uppercase();
        assert_eq!(parse_hex_signature(lower), parse_hex_signature(&upper));
        assert_eq!(&encode(&parse_hex_signature(lower).unwrap()), lower);
        assert!(matches!(
            parse_hex_signature(&lower[..63]),
            Err(VerifyError::MalformedHeader { .. })
        ));
        let mut bad = *lower;
        bad[10] = b'g';
        assert!(matches!(
            parse_hex_signature(&bad),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
}
