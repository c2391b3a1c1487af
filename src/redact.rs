//! What `Debug` and `Display` may show of URLs and headers: URLs as scheme,
//! host and port only (paths and queries carry tokens, email addresses),
//! header values of credential headers never.

use std::fmt;

use http::header::{HeaderMap, HeaderName};

/// Header names whose values are credentials, whatever the host marks.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

/// Whether `name` carries a credential by its name alone.
pub(crate) fn is_credential_header(name: &HeaderName) -> bool {
    CREDENTIAL_HEADERS.contains(&name.as_str())
}

/// A URL shown as `scheme://host[:port]/…`: no user information, path,
/// query or fragment.
pub(crate) struct RedactedUrl<'a>(pub(crate) &'a str);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return f.write_str("[redacted URL]");
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        // User information (`user:password@`) is a credential too.
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        // A template's placeholder in the host would be personal data.
        if scheme.contains(['{', '}']) || host.contains(['{', '}']) {
            return f.write_str("[redacted URL]");
        }
        write!(f, "{scheme}://{host}")?;
        if end < rest.len() {
            f.write_str("/…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Headers shown with every sensitive or credential value redacted.
pub(crate) struct RedactedHeaders<'a>(pub(crate) &'a HeaderMap);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            if value.is_sensitive() || is_credential_header(name) {
                map.entry(name, &format_args!("[redacted]"));
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_scheme_host_and_port() {
        for (url, shown) in [
            ("https://example.com/a?token=1", "https://example.com/…"),
            ("https://example.com", "https://example.com"),
            (
                "http://u:pw@example.com:8080/x",
                "http://example.com:8080/…",
            ),
            ("https://example.com?x=1", "https://example.com/…"),
            ("https://{tenant}.example.com/x", "[redacted URL]"),
            ("not a url", "[redacted URL]"),
        ] {
            assert_eq!(RedactedUrl(url).to_string(), shown, "{url}");
        }
    }
}
