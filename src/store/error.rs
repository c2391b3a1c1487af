//! How a store call fails: [`StoreError`] and its [`StoreErrorKind`].

use std::error::Error as StdError;
use std::fmt;

/// What kind of store failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The lease no longer holds the delivery: another worker took it over.
    LeaseLost,
    /// A write conflicted with existing data (for example a duplicate id).
    Conflict,
    /// The backend could not be reached; worth trying again later.
    Unavailable,
    /// Stored data could not be read back (corrupt or from an unknown version).
    Corrupt,
    /// Anything else.
    Other,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LeaseLost => "lease lost",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
            Self::Corrupt => "corrupt data",
            Self::Other => "other",
        })
    }
}

/// A store operation failed: a [`StoreErrorKind`] and, optionally, the cause.
#[derive(Debug, thiserror::Error)]
#[error("webhook store operation failed ({kind})")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: StoreErrorKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// An error of `kind` with no underlying cause.
    pub fn from_kind(kind: StoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// The kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}
