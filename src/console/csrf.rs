//! Cross-site request forgery: every action's form carries the console's
//! random token, compared in constant time, and a request a browser marks as
//! coming from another site is refused whatever it carries.
//!
//! `Origin` is not compared with `Host`: behind a reverse proxy that rewrites
//! `Host` (nginx does by default) every legitimate action would be refused.
//! `Sec-Fetch-Site` says the same thing without depending on it.

use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::error::ConsoleError;

/// The form field that carries the token.
pub(super) const FIELD: &str = "csrf";

/// A console's token: 32 random bytes, as 64 lowercase hex characters. It
/// lives as long as the router: restarting the host invalidates open forms
/// (the operator reloads the page).
pub(super) struct Token(String);

impl Token {
    /// A fresh token from the operating system's randomness.
    pub(super) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            // The OS refused randomness (very rare): std's randomly keyed
            // hasher, seeded from the OS by another path, still gives
            // unpredictable bits.
            use std::hash::{BuildHasher, Hasher};
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        Self(crate::id::hex_lower(&bytes))
    }

    /// The value to put in forms.
    pub(super) fn value(&self) -> &str {
        &self.0
    }

    /// Checks an action: the browser's `Sec-Fetch-Site`, if it sent one,
    /// says the form came from this origin (or was typed in), and `given`
    /// is the token, compared in constant time.
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        given: Option<&str>,
    ) -> Result<(), ConsoleError> {
        if let Some(site) = headers.get("sec-fetch-site") {
            if site != "same-origin" && site != "none" {
                return Err(ConsoleError::Forbidden(
                    "the form was sent from another site".into(),
                ));
            }
        }
        let given = given.unwrap_or("").as_bytes();
        let expected = self.0.as_bytes();
        // Lengths are not secret (always 64); the bytes are compared in
        // constant time.
        if given.len() != expected.len() || !bool::from(given.ct_eq(expected)) {
            return Err(ConsoleError::Forbidden(
                "the form's token is missing or wrong: reload the page and try again".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_eq!(a.value().len(), 64);
        assert!(a.value().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.value(), b.value());
    }

    #[test]
    fn only_the_exact_token_from_this_site_passes() {
        let token = Token::generate();
        let none = HeaderMap::new();
        assert!(token.check(&none, Some(token.value())).is_ok());
        assert!(token.check(&none, None).is_err());
        assert!(token.check(&none, Some("")).is_err());
        assert!(token.check(&none, Some(&token.value()[1..])).is_err());
        let mut other = token.value().to_owned();
        other.replace_range(63.., if other.ends_with('0') { "1" } else { "0" });
        assert!(token.check(&none, Some(&other)).is_err());

        for (site, ok) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("sec-fetch-site", site.parse().unwrap());
            assert_eq!(
                token.check(&headers, Some(token.value())).is_ok(),
                ok,
                "{site}"
            );
        }
    }
}
