//! The Standard Webhooks scheme: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64> [v1a,<base64> ...]` (`v1` HMAC-SHA256 and
//! `v1a` Ed25519 entries, in any mix).
//!
//! The signed content is `id` `.` `timestamp` `.` `body`; hookwire feeds those
//! pieces to the MAC one after the other, so the body never has to be copied
//! and never has to be UTF-8.
//!
//! The parsers here are what [`Verifier`](super::Verifier) uses; they are public
//! so other receivers (and fuzzers) can use them on their own. Every one is
//! bounded: it reads at most [`MAX_SIGNATURE_HEADER_LEN`] bytes and considers at
//! most [`MAX_SIGNATURES`] entries, and none of them allocates.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::Mac;
use subtle::ConstantTimeEq;

use super::secret::{SigningSecret, BASE64_LENIENT};
use super::{VerifyError, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP};

/// The longest `webhook-signature` value accepted, in bytes.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 4096;

/// The most space-separated entries a `webhook-signature` value may hold, and
/// the most secrets a [`Signer`](super::Signer) signs with: one limit, so
/// that every header a signer produces verifies.
pub const MAX_SIGNATURES: usize = 16;

/// How many `v1a` entries of one `webhook-signature` header a verifier
/// checks (the first ones, against each of its public keys); later ones are
/// ignored. Each check is an Ed25519 verification, a pass over the body, so
/// this bounds what a forged header full of entries costs at 4 passes per
/// key. hookwire's signer writes one entry per live key, the current first:
/// a sender would need more than three rotations within one grace period to
/// reach it.
#[cfg(feature = "ed25519")]
pub const MAX_V1A_ENTRIES_CHECKED: usize = 4;

/// The longest `webhook-id` accepted by the verifier, in bytes.
pub const MAX_WEBHOOK_ID_LEN: usize = 256;

/// The longest `webhook-timestamp` value accepted, in bytes (`-` and 19 digits).
const MAX_TIMESTAMP_LEN: usize = 20;

/// The `v1` and `v1a` signatures of a `webhook-signature` header, decoded.
///
/// Entries of other versions (`v2`, ...), `v1` entries that do not decode to
/// exactly 32 bytes and `v1a` entries that do not decode to exactly 64 bytes
/// are skipped, not errors: a sender may add signatures this receiver does
/// not understand.
///
/// # Examples
///
/// ```
/// use hookwire::signature::standard::parse_signature_header;
///
/// let v1a = format!("v1a,{}", "A".repeat(86));
/// let header = format!("v1a,c2lnbmF0dXJl v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw= v1, {v1a}");
/// let sigs = parse_signature_header(header.as_bytes())?;
/// assert_eq!(sigs.as_slice().len(), 1);
/// assert_eq!(sigs.v1a().len(), 1);
/// # Ok::<(), hookwire::signature::VerifyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Signatures {
    items: [[u8; 32]; MAX_SIGNATURES],
    len: usize,
    v1a: [[u8; 64]; MAX_SIGNATURES],
    v1a_len: usize,
}

impl Signatures {
    /// The decoded 32-byte `v1` signatures, in header order.
    pub fn as_slice(&self) -> &[[u8; 32]] {
        &self.items[..self.len]
    }

    /// The decoded 64-byte `v1a` signatures, in header order.
    pub fn v1a(&self) -> &[[u8; 64]] {
        &self.v1a[..self.v1a_len]
    }
}

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signatures")
            .field("v1", &self.len)
            .field("v1a", &self.v1a_len)
            .finish()
    }
}

/// Parses a `webhook-signature` value into its `v1` and `v1a` signatures.
///
/// # Errors
///
/// [`VerifyError::MalformedHeader`] if the value is longer than
/// [`MAX_SIGNATURE_HEADER_LEN`] bytes or holds more than [`MAX_SIGNATURES`]
/// entries. A value with no usable entry is not an error here: it simply
/// yields no signatures (and so verifies nothing).
pub fn parse_signature_header(value: &[u8]) -> Result<Signatures, VerifyError> {
    if value.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_SIGNATURE,
            reason: "longer than 4096 bytes",
        });
    }
    let mut out = Signatures {
        items: [[0u8; 32]; MAX_SIGNATURES],
        len: 0,
        v1a: [[0u8; 64]; MAX_SIGNATURES],
        v1a_len: 0,
    };
    let mut entries = 0usize;
    for entry in value.split(|b| *b == b' ').filter(|e| !e.is_empty()) {
        entries += 1;
        if entries > MAX_SIGNATURES {
            return Err(VerifyError::MalformedHeader {
                name: HEADER_WEBHOOK_SIGNATURE,
                reason: "more than 16 signatures",
            });
        }
        if let Some(encoded) = entry.strip_prefix(b"v1a,") {
            // 64 bytes are 86 or 88 base64 characters; the buffer has room
            // for the decoder's estimate (66).
            if !(86..=88).contains(&encoded.len()) {
                continue;
            }
            let mut buf = [0u8; 68];
            if let Ok(64) = BASE64_LENIENT.decode_slice(encoded, &mut buf) {
                out.v1a[out.v1a_len].copy_from_slice(&buf[..64]);
                out.v1a_len += 1;
            }
            continue;
        }
        let Some(encoded) = entry.strip_prefix(b"v1,") else {
            continue;
        };
        // 32 bytes are 43 or 44 base64 characters; anything else is skipped
        // before decoding, and the buffer has room for the decoder's estimate.
        if !(43..=44).contains(&encoded.len()) {
            continue;
        }
        let mut buf = [0u8; 36];
        if let Ok(32) = BASE64_LENIENT.decode_slice(encoded, &mut buf) {
            out.items[out.len].copy_from_slice(&buf[..32]);
            out.len += 1;
        }
    }
    Ok(out)
}

/// Parses a `webhook-timestamp` value: an integer number of seconds since the
/// Unix epoch, ASCII digits with an optional leading `-`.
///
/// Negative values parse (and then fail the tolerance check as too old).
///
/// # Errors
///
/// [`VerifyError::MalformedHeader`] if the value is empty, holds anything but
/// digits after an optional `-`, or does not fit an `i64`.
///
/// # Examples
///
/// ```
/// use hookwire::signature::standard::parse_timestamp;
///
/// assert_eq!(parse_timestamp(b"1614265330"), Ok(1614265330));
/// assert_eq!(parse_timestamp(b"-9223372036854775808"), Ok(i64::MIN));
/// assert!(parse_timestamp(b"9223372036854775808").is_err());
/// assert!(parse_timestamp(b"+5").is_err());
/// ```
pub fn parse_timestamp(value: &[u8]) -> Result<i64, VerifyError> {
    const fn malformed(reason: &'static str) -> VerifyError {
        VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_TIMESTAMP,
            reason,
        }
    }
    if value.len() > MAX_TIMESTAMP_LEN {
        return Err(malformed("not an integer number of seconds"));
    }
    let (negative, digits) = match value.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed("not an integer number of seconds"));
    }
    // Accumulate negatively so i64::MIN parses too.
    let mut n: i64 = 0;
    for d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_sub(i64::from(d - b'0')))
            .ok_or(malformed("out of range"))?;
    }
    if negative {
        Ok(n)
    } else {
        n.checked_neg().ok_or(malformed("out of range"))
    }
}

/// Checks a `webhook-id` value: 1 to [`MAX_WEBHOOK_ID_LEN`] visible ASCII
/// characters, no `.` (the separator of the signed content).
///
/// # Errors
///
/// [`VerifyError::MalformedHeader`] naming `webhook-id` and the reason.
pub fn parse_webhook_id(value: &[u8]) -> Result<&str, VerifyError> {
    const fn malformed(reason: &'static str) -> VerifyError {
        VerifyError::MalformedHeader {
            name: HEADER_WEBHOOK_ID,
            reason,
        }
    }
    if value.is_empty() {
        return Err(malformed("empty"));
    }
    if value.len() > MAX_WEBHOOK_ID_LEN {
        return Err(malformed("longer than 256 bytes"));
    }
    if value.contains(&b'.') {
        return Err(malformed("contains `.`"));
    }
    if !value.iter().all(u8::is_ascii_graphic) {
        return Err(malformed("contains a character that is not visible ascii"));
    }
    std::str::from_utf8(value).map_err(|_| malformed("not ascii"))
}

/// Checks `timestamp_ms` against `now_ms` within `tolerance` both ways
/// (exactly at the tolerance is accepted). Never overflows.
pub(crate) fn check_skew_millis(
    timestamp_ms: i128,
    now_ms: i128,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let tolerance_ms = i128::try_from(tolerance.as_millis()).unwrap_or(i128::MAX);
    let tolerance_secs = tolerance.as_secs();
    let diff = now_ms.saturating_sub(timestamp_ms);
    let to_secs = |ms: i128| u64::try_from(ms / 1000).unwrap_or(u64::MAX);
    if diff > tolerance_ms {
        Err(VerifyError::TimestampTooOld {
            age_secs: to_secs(diff),
            tolerance_secs,
        })
    } else if diff.saturating_neg() > tolerance_ms {
        Err(VerifyError::TimestampInFuture {
            ahead_secs: to_secs(diff.saturating_neg()),
            tolerance_secs,
        })
    } else {
        Ok(())
    }
}

/// Checks a `webhook-timestamp` (Unix seconds) against `now` within `tolerance`,
/// both ways; exactly at the tolerance is accepted. Any `i64` is safe.
///
/// # Errors
///
/// [`VerifyError::TimestampTooOld`] or [`VerifyError::TimestampInFuture`].
///
/// # Examples
///
/// ```
/// use hookwire::signature::standard::check_timestamp;
/// use hookwire::signature::VerifyError;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_000);
/// let five_min = Duration::from_secs(300);
/// assert_eq!(check_timestamp(700, now, five_min), Ok(()));
/// assert_eq!(
///     check_timestamp(699, now, five_min),
///     Err(VerifyError::TimestampTooOld { age_secs: 301, tolerance_secs: 300 })
/// );
/// assert!(check_timestamp(i64::MAX, now, five_min).is_err());
/// ```
pub fn check_timestamp(
    timestamp: i64,
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let now_ms = i128::from(crate::clock::unix_secs(now)) * 1000;
    check_skew_millis(i128::from(timestamp) * 1000, now_ms, tolerance)
}

/// Writes `n` in decimal into `buf`, returning the digits.
pub(crate) fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        // `u % 10` is below 10, so the cast cannot truncate.
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// HMAC-SHA256 of `id.timestamp.body`, fed piece by piece.
pub(crate) fn mac(secret: &SigningSecret, id: &[u8], timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut digits = [0u8; 20];
    let mut mac = secret.mac();
    mac.update(id);
    mac.update(b".");
    mac.update(decimal(timestamp, &mut digits));
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Whether one of `candidates` is the MAC of `id.timestamp.body` under one of
/// `secrets`. Each MAC is computed once and compared in constant time.
pub(crate) fn matches_any(
    secrets: &[SigningSecret],
    id: &[u8],
    timestamp: i64,
    body: &[u8],
    candidates: &Signatures,
) -> bool {
    if candidates.as_slice().is_empty() {
        return false;
    }
    secrets.iter().any(|secret| {
        let expected = mac(secret, id, timestamp, body);
        candidates
            .as_slice()
            .iter()
            .fold(false, |found, c| found | bool::from(c.ct_eq(&expected)))
    })
}

/// Appends `v1,<base64>` to `out`.
pub(crate) fn push_v1(out: &mut String, sig: &[u8; 32]) {
    out.push_str("v1,");
    BASE64_LENIENT.encode_string(sig, out);
}

/// Appends `v1a,<base64>` to `out`.
#[cfg(feature = "ed25519")]
pub(crate) fn push_v1a(out: &mut String, sig: &[u8; 64]) {
    out.push_str("v1a,");
    BASE64_LENIENT.encode_string(sig, out);
}

/// The signed content `id.timestamp.body` in one buffer: Ed25519 reads its
/// message twice (RFC 8032), so it cannot be fed piece by piece as the MAC is.
#[cfg(feature = "ed25519")]
pub(crate) fn signed_content(id: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_signed_content(&mut out, id, timestamp, body);
    out
}

#[cfg(feature = "ed25519")]
fn write_signed_content(out: &mut Vec<u8>, id: &[u8], timestamp: i64, body: &[u8]) {
    let mut digits = [0u8; 20];
    let digits = decimal(timestamp, &mut digits);
    out.clear();
    out.reserve(id.len() + digits.len() + body.len() + 2);
    out.extend_from_slice(id);
    out.push(b'.');
    out.extend_from_slice(digits);
    out.push(b'.');
    out.extend_from_slice(body);
}

/// The most a thread keeps of the buffer [`with_signed_content`] reuses.
#[cfg(feature = "ed25519")]
const KEPT_CONTENT_BUFFER: usize = 2 << 20;

/// Runs `f` on `id.timestamp.body` in one buffer, for Ed25519, which needs
/// its message in one piece. The buffer is the thread's, reused (up to
/// [`KEPT_CONTENT_BUFFER`] kept): a fresh allocation the size of a large
/// body costs more than the copy into it (new pages, each faulted in).
#[cfg(feature = "ed25519")]
pub(crate) fn with_signed_content<R>(
    id: &[u8],
    timestamp: i64,
    body: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut buffer) => {
            write_signed_content(&mut buffer, id, timestamp, body);
            let result = f(&buffer);
            if buffer.capacity() > KEPT_CONTENT_BUFFER {
                *buffer = Vec::new();
            }
            result
        }
        // Re-entered from `f` (never, today): a buffer of its own.
        Err(_) => f(&signed_content(id, timestamp, body)),
    })
}

/// Whether one of the `v1a` `candidates` is a signature of
/// `id.timestamp.body` by one of `keys` (strict verification).
#[cfg(feature = "ed25519")]
pub(crate) fn matches_any_v1a(
    keys: &[super::Ed25519PublicKey],
    id: &[u8],
    timestamp: i64,
    body: &[u8],
    candidates: &Signatures,
) -> bool {
    if candidates.v1a().is_empty() || keys.is_empty() {
        return false;
    }
    // Unlike HMAC (one pass per secret, whatever the entries), each
    // Ed25519 check is a pass over the body per key and per entry: only the
    // first entries are looked at, so that a forged header cannot multiply
    // the work by its entry count.
    let entries = &candidates.v1a()[..candidates.v1a().len().min(MAX_V1A_ENTRIES_CHECKED)];
    with_signed_content(id, timestamp, body, |message| {
        keys.iter()
            .any(|key| entries.iter().any(|sig| key.verifies(message, sig)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1a_entries_are_read_beside_v1_and_bounded() {
        let sig = [7u8; 64];
        let v1a = format!("v1a,{}", BASE64_LENIENT.encode(sig));
        let unpadded = v1a.trim_end_matches('=').to_owned();
        let v1 = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        let header = format!(
            "{v1a} {v1} {unpadded} v1a,{} v1a,AAAA v1a, v1a,{}",
            "A".repeat(87),
            "!".repeat(88)
        );
        let sigs = parse_signature_header(header.as_bytes()).unwrap();
        assert_eq!(sigs.v1a(), &[sig, sig]);
        assert_eq!(sigs.as_slice().len(), 1);
        // A v1a entry is never read as v1, nor the other way round.
        let only_v1a = parse_signature_header(v1a.as_bytes()).unwrap();
        assert!(only_v1a.as_slice().is_empty());
        let seventeen = vec![v1a.as_str(); 17].join(" ");
        assert!(parse_signature_header(seventeen.as_bytes()).is_err());
        let sixteen = vec![v1a.as_str(); 16].join(" ");
        assert_eq!(
            parse_signature_header(sixteen.as_bytes())
                .unwrap()
                .v1a()
                .len(),
            16
        );
    }

    #[test]
    fn decimal_covers_extremes() {
        let mut b = [0u8; 20];
        for n in [0, 1, -1, 9, 10, 1614265330, i64::MIN, i64::MAX] {
            assert_eq!(decimal(n, &mut b), n.to_string().as_bytes());
        }
    }

    #[test]
    fn timestamps_parse_strictly() {
        assert_eq!(parse_timestamp(b"0"), Ok(0));
        assert_eq!(parse_timestamp(b"-5"), Ok(-5));
        assert_eq!(parse_timestamp(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_timestamp(b"-9223372036854775808"), Ok(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"1.5",
            b" 1",
            b"1 ",
            b"+1",
            b"0x10",
            b"--1",
            b"-9223372036854775809",
            b"99999999999999999999",
        ] {
            assert!(
                matches!(
                    parse_timestamp(bad),
                    Err(VerifyError::MalformedHeader { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_refuse_dots_and_invisible_characters() {
        assert_eq!(parse_webhook_id(b"msg_1"), Ok("msg_1"));
        assert!(parse_webhook_id(b"a.b").is_err());
        assert!(parse_webhook_id(b"a b").is_err());
        assert!(parse_webhook_id(b"").is_err());
        assert!(parse_webhook_id("é".as_bytes()).is_err());
        assert!(parse_webhook_id(&[b'a'; 257]).is_err());
    }
}
