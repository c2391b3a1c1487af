//! Typed payloads: experience lifecycle events and journey webhooks.

/// An event the dispatcher can publish: serializable, with a kind endpoints
/// subscribe to.
pub trait Event: serde::Serialize {
    /// The kind endpoints subscribe to (for example `startExperience`).
    fn kind(&self) -> &str;
}
