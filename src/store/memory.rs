//! The in-memory store (stub).
