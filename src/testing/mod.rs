//! Test utilities (stub).
