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

/// 16 lowercase hex characters of randomness drawn once per process.
fn random_prefix() -> &'static [u8; 16] {
    static PREFIX: OnceLock<[u8; 16]> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // The OS refused randomness (very rare): fall back to what makes
            // this process distinct, hashed so it carries no structure.
            let digest = Sha256::new()
                .chain_update(std::process::id().to_le_bytes())
                .chain_update((&PREFIX as *const OnceLock<[u8; 16]> as usize).to_le_bytes())
                .chain_update(format!("{:?}", std::thread::current().id()))
                .finalize();
            bytes.copy_from_slice(&digest[..8]);
        }
        let mut out = [0u8; 16];
        hex_into(&bytes, &mut out);
        out
    })
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

/// `prefix`, `_`, then 32 lowercase hex characters, unique within this
/// process and, with overwhelming probability, across processes: a 64-bit
/// random prefix drawn once per process from the OS, then a 64-bit number.
/// Generating an id costs one allocation and no system call (ids are not
/// secrets; they need to be unique, not unpredictable).
fn generate_with_prefix(prefix: &str) -> Arc<str> {
    let n = next_number();
    let mut buf = [0u8; 64];
    let p = prefix.len().min(64 - 33);
    buf[..p].copy_from_slice(&prefix.as_bytes()[..p]);
    buf[p] = b'_';
    buf[p + 1..p + 17].copy_from_slice(random_prefix());
    hex_into(&n.to_be_bytes(), &mut buf[p + 17..p + 33]);
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
    /// on every attempt, so receivers deduplicate on it.
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
