//! Firing journey steps (placeholder until the journey model lands).

/// A journey step fire request (placeholder).
#[derive(Debug)]
pub struct Fire;

/// What firing a step did (placeholder).
#[derive(Debug)]
pub enum FireOutcome {}

/// Why a journey step could not be fired (placeholder).
#[derive(Debug, thiserror::Error)]
#[error("journey step could not be fired")]
pub struct JourneyFireError;
