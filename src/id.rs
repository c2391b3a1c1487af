//! Identifiers: events, deliveries and endpoints.
//!
//! Ids are cheap to clone (a shared, reference-counted string).
//!
//! Every id travels in HTTP headers (`webhook-id`, `Idempotency-Key`) and in the
//! Standard Webhooks signed content `id.timestamp.body`, so ids are validated
//! when built: 1 to 128 characters from `[A-Za-z0-9_-]` (no `.`, no spaces).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty.
    #[error("id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("id is {len} bytes long, the limit is {MAX_ID_LEN}")]
    TooLong {
        /// The id's length in bytes.
        len: usize,
    },
    /// The id holds a character outside `[A-Za-z0-9_-]`.
    #[error("id contains {found:?}; only ASCII letters, digits, `_` and `-` are allowed")]
    InvalidChar {
        /// The first offending character.
        found: char,
    },
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { len: s.len() });
    }
    if let Some(found) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(IdError::InvalidChar { found });
    }
    Ok(())
}

/// The per-process keys of the id permutation: 4 rounds of 128 bits, drawn
/// once from the operating system.
fn round_keys() -> &'static [[u64; 2]; ROUNDS] {
    static KEYS: OnceLock<[[u64; 2]; ROUNDS]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut bytes = [0u8; 16 * ROUNDS];
        if getrandom::fill(&mut bytes).is_err() {
            // The OS refused randomness (very rare): fall back to std's own
            // randomly keyed hasher (seeded from the OS by another path) and
            // what makes this process distinct.
            use std::hash::{BuildHasher, Hasher};
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                h.write_u32(std::process::id());
                h.write_usize(&KEYS as *const _ as usize);
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        let mut keys = [[0u64; 2]; ROUNDS];
        for (key, chunk) in keys.iter_mut().zip(bytes.chunks_exact(16)) {
            let (a, b) = chunk.split_at(8);
            *key = [
                u64::from_le_bytes(a.try_into().unwrap_or_default()),
                u64::from_le_bytes(b.try_into().unwrap_or_default()),
            ];
        }
        keys
    })
}

/// Rounds of the Feistel network below (4 make a strong pseudorandom
/// permutation, Luby-Rackoff).
const ROUNDS: usize = 4;

/// A keyed pseudorandom permutation of 128-bit blocks: a 4-round Feistel
/// network whose round function is SipHash-1-3 under a secret per-process
/// key. A permutation, so distinct counters give distinct ids (unique, not
/// merely unlikely to collide); keyed with 512 secret bits, so an id tells
/// nothing about the next one.
fn permute(block: u128) -> u128 {
    use std::hash::Hasher;
    let (mut left, mut right) = ((block >> 64) as u64, block as u64);
    for [k0, k1] in round_keys() {
        let mut f = siphasher::sip::SipHasher13::new_with_keys(*k0, *k1);
        f.write_u64(right);
        (left, right) = (right, left ^ f.finish());
    }
    (u128::from(left) << 64) | u128::from(right)
}

/// The next number for a generated id: unique within this process. Each
/// thread takes numbers from the shared counter a block at a time, so most
/// ids cost no atomic operation.
fn next_number() -> u64 {
    const BLOCK: u64 = 1 << 12;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        /// The next number of this thread's block, and the block's end.
        static NEXT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    NEXT.with(|next| {
        let (mut n, mut end) = next.get();
        if n == end {
            n = COUNTER.fetch_add(BLOCK, Ordering::Relaxed);
            end = n.wrapping_add(BLOCK);
        }
        next.set((n.wrapping_add(1), end));
        n
    })
}

/// `prefix`, `_`, then 32 lowercase hex characters: 128 bits that look
/// random and cannot be predicted from earlier ids (a receiver may see ids,
/// and must not be able to guess the next one), unique within this process
/// (a keyed permutation of a counter) and, with overwhelming probability,
/// across processes (each draws its own key). Generating an id costs one
/// allocation, four short SipHash rounds and no system call.
fn generate_with_prefix(prefix: &str) -> Arc<str> {
    let n = permute(u128::from(next_number()));
    let mut buf = [0u8; 64];
    let p = prefix.len().min(64 - 33);
    buf[..p].copy_from_slice(&prefix.as_bytes()[..p]);
    buf[p] = b'_';
    hex_into(&n.to_be_bytes(), &mut buf[p + 1..p + 33]);
    // Only ASCII was written.
    Arc::from(std::str::from_utf8(&buf[..p + 33]).unwrap_or("id"))
}

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0x0f) as usize];
    }
}

fn derive_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex_lower(&h.finalize()[..16])
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0x0f) as usize] as char);
    }
    out
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl $name {
            /// Validates `id` (1 to 128 characters from `[A-Za-z0-9_-]`).
            ///
            /// # Errors
            ///
            /// [`IdError`] naming what is wrong with `id`.
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                validate(&id)?;
                Ok(Self(Arc::from(id)))
            }

            /// A new random id: the prefix
            #[doc = concat!("`", $prefix, "_`")]
            /// and 32 hex characters.
            pub fn generate() -> Self {
                Self(generate_with_prefix($prefix))
            }

            /// The shared string itself, for labels that hold it without a
            /// copy (the metrics).
            // Only the endpoint's is used (as a label).
            #[allow(dead_code)]
            pub(crate) fn shared(&self) -> Arc<str> {
                Arc::clone(&self.0)
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A deterministic id derived from `parts` (SHA-256 of the
            /// length-prefixed parts, first 16 bytes as hex) with `prefix`:
            /// the same parts always give the same id.
            #[allow(dead_code)]
            pub(crate) fn derived(prefix: &str, parts: &[&str]) -> Self {
                Self(Arc::from(format!("{prefix}_{}", derive_hex(parts))))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// Identifies one published event (shared by all of its deliveries).
    EventId,
    "evt"
);
id_type!(
    /// Identifies one delivery: one event to one endpoint. Sent as `webhook-id`
    /// and `idempotency-key` on every attempt (receivers deduplicate on
    /// [`Verified::dedupe_key`](crate::signature::Verified::dedupe_key),
    /// which a signature covers under either scheme).
    DeliveryId,
    "dlv"
);
id_type!(
    /// Identifies one endpoint (a registered destination, or a journey step).
    EndpointId,
    "ep"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = DeliveryId::generate();
        let b = DeliveryId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("dlv_"));
        assert_eq!(DeliveryId::new(a.as_str()).unwrap(), a);
    }

    #[test]
    fn ids_generated_on_many_threads_never_repeat() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..10_000)
                        .map(|_| DeliveryId::generate())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(all.insert(id), "an id was generated twice");
            }
        }
        assert_eq!(all.len(), 40_000);
    }

    #[test]
    fn generated_ids_share_no_structure() {
        // Consecutive ids differ in about half their bits, everywhere: no
        // shared prefix, no counter showing through.
        let ids: Vec<u128> = (0..256)
            .map(|_| {
                let id = EventId::generate();
                u128::from_str_radix(&id.as_str()[4..], 16).unwrap()
            })
            .collect();
        let mut differing = 0u32;
        for pair in ids.windows(2) {
            differing += (pair[0] ^ pair[1]).count_ones();
        }
        let mean = f64::from(differing) / 255.0;
        assert!((54.0..74.0).contains(&mean), "mean differing bits {mean}");
        let first_bytes: std::collections::HashSet<u8> =
            ids.iter().map(|x| (x >> 120) as u8).collect();
        assert!(first_bytes.len() > 100, "{}", first_bytes.len());
    }

    #[test]
    fn the_permutation_is_one_to_one() {
        let out: std::collections::HashSet<u128> = (0..10_000u128).map(permute).collect();
        assert_eq!(out.len(), 10_000);
    }

    #[test]
    fn invalid_ids_are_refused_with_a_reason() {
        assert_eq!(EventId::new(""), Err(IdError::Empty));
        assert_eq!(
            EventId::new("a.b"),
            Err(IdError::InvalidChar { found: '.' })
        );
        assert_eq!(
            EventId::new("a b"),
            Err(IdError::InvalidChar { found: ' ' })
        );
        assert_eq!(
            EventId::new("x".repeat(129)),
            Err(IdError::TooLong { len: 129 })
        );
        assert!(serde_json::from_str::<EventId>("\"a.b\"").is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_unambiguous() {
        let a = DeliveryId::derived("jrn", &["a", "bc"]);
        assert_eq!(a, DeliveryId::derived("jrn", &["a", "bc"]));
        assert_ne!(a, DeliveryId::derived("jrn", &["ab", "c"]));
    }
}
