//! URL templates: `https://billing.example.com/accounts/{accountId}`.
//!
//! A [`UrlTemplate`] is parsed once (when a journey step is built) and
//! rendered per profile. Placeholders are `{name}` with `name` from
//! `[A-Za-z0-9_]`, and may appear only after the authority (in the path or
//! the query), never in the scheme or host. Only `http` and `https` are
//! accepted; the literal text must already be a valid request URL (ASCII,
//! percent-encoded where needed, no fragment, no credentials).
//!
//! Each value is percent-encoded as *one path segment*: everything except the
//! RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded, so `/`,
//! `?`, `#`, space, `%` and non-ASCII text can never change the URL's shape.
//! This is stricter than RFC 3986 needs for a path segment: `@`, `+`, `:` and
//! the other sub-delimiters are encoded too (`user@example.com` becomes
//! `user%40example.com`), which keeps a value inert in a query as well, and
//! every receiver decodes it the same way. A value that is empty, `.` or `..`
//! is refused, since it would address another resource.
//!
//! # Examples
//!
//! ```
//! use hookwire::model::journey::template::{TemplateError, UrlTemplate};
//!
//! let template = UrlTemplate::parse("https://email.example.com/subscribers/{email}")?;
//! assert_eq!(template.placeholders().collect::<Vec<_>>(), ["email"]);
//!
//! let url = template.render(|name| (name == "email").then(|| "user@example.com".to_owned()))?;
//! assert_eq!(url, "https://email.example.com/subscribers/user%40example.com");
//!
//! let err = template.render(|_| None).unwrap_err();
//! assert_eq!(err, TemplateError::MissingAttribute { name: "email".into() });
//! assert_eq!(err.to_string(), "no value for placeholder `email`");
//! # Ok::<(), TemplateError>(())
//! ```

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a URL template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` has no matching `}`.
    #[error("unclosed `{{` at byte {position}")]
    Unclosed {
        /// Byte offset of the `{`.
        position: usize,
    },
    /// A `}` has no matching `{`.
    #[error("unmatched `}}` at byte {position}")]
    Unopened {
        /// Byte offset of the `}`.
        position: usize,
    },
    /// `{}` with no name.
    #[error("empty placeholder `{{}}` at byte {position}")]
    EmptyPlaceholder {
        /// Byte offset of the `{`.
        position: usize,
    },
    /// A placeholder name outside `[A-Za-z0-9_]`.
    #[error("invalid placeholder name {name:?}: only ASCII letters, digits and `_` are allowed")]
    InvalidPlaceholder {
        /// The name as written.
        name: String,
    },
    /// The URL does not start with `http://` or `https://`.
    #[error("unsupported URL scheme {scheme:?}: only http and https are allowed")]
    UnsupportedScheme {
        /// The scheme found (empty when there is none).
        scheme: String,
    },
    /// No host after the scheme.
    #[error("URL template has no host")]
    MissingHost,
    /// User info (`user:password@`) in the URL; use the step's auth instead.
    #[error("URL template must not contain credentials; use auth instead")]
    CredentialsInUrl,
    /// A placeholder in the scheme or authority (host, port, user info).
    #[error("placeholder `{name}` is in the URL's host; placeholders are allowed only in the path and query")]
    PlaceholderInAuthority {
        /// The placeholder's name.
        name: String,
    },
    /// The template does not make a valid URL.
    #[error("invalid URL template: {reason}")]
    InvalidUrl {
        /// What the URL parser objected to.
        reason: String,
    },
    /// Rendering found no value for a placeholder.
    #[error("no value for placeholder `{name}`")]
    MissingAttribute {
        /// The placeholder's name.
        name: String,
    },
    /// Rendering found a value that would address another resource (empty,
    /// `.` or `..`).
    #[error("value for placeholder `{name}` is {value:?}, which cannot be a path segment")]
    UnusableValue {
        /// The placeholder's name.
        name: String,
        /// The value found.
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(String),
}

/// A parsed URL template with `{name}` placeholders in its path or query.
///
/// `Display` and `Debug` show its scheme, host and port only (a query can
/// hold an API key); [`as_str`](Self::as_str) gives the template as written.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    source: String,
    parts: Vec<Part>,
}

impl UrlTemplate {
    /// Parses and checks `template`.
    ///
    /// # Errors
    ///
    /// [`TemplateError`] for unbalanced braces, empty or invalid placeholder
    /// names, a scheme other than `http`/`https`, a missing host, a
    /// placeholder in the scheme or host, credentials in the URL, or a URL
    /// that does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::model::journey::template::{TemplateError, UrlTemplate};
    ///
    /// assert!(UrlTemplate::parse("https://billing.example.com/accounts/{accountId}").is_ok());
    /// assert_eq!(
    ///     UrlTemplate::parse("https://x.example/{accountId").unwrap_err(),
    ///     TemplateError::Unclosed { position: 18 },
    /// );
    /// assert!(matches!(
    ///     UrlTemplate::parse("ftp://x.example/{id}"),
    ///     Err(TemplateError::UnsupportedScheme { .. }),
    /// ));
    /// ```
    pub fn parse(template: &str) -> Result<UrlTemplate, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut first_placeholder: Option<(usize, String)> = None;
        let mut rest = template.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in rest.by_ref() {
                        match c {
                            '}' => {
                                closed = true;
                                break;
                            }
                            '{' => break,
                            c => name.push(c),
                        }
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed { position: i });
                    }
                    if name.is_empty() {
                        return Err(TemplateError::EmptyPlaceholder { position: i });
                    }
                    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(TemplateError::InvalidPlaceholder { name });
                    }
                    if first_placeholder.is_none() {
                        first_placeholder = Some((i, name.clone()));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(name));
                }
                '}' => return Err(TemplateError::Unopened { position: i }),
                c => {
                    check_literal(template, i, c)?;
                    literal.push(c);
                }
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }

        let (scheme, after) = match template.split_once("://") {
            Some((scheme, after)) => (scheme, after),
            None => ("", template),
        };
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(TemplateError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority_end = scheme.len() + 3 + authority_len;
        if let Some((position, name)) = first_placeholder {
            if position < authority_end {
                return Err(TemplateError::PlaceholderInAuthority { name });
            }
        }
        if authority_len == 0 {
            return Err(TemplateError::MissingHost);
        }
        if after[..authority_len].contains('@') {
            return Err(TemplateError::CredentialsInUrl);
        }

        let parsed = UrlTemplate {
            source: template.to_owned(),
            parts,
        };
        // Placeholders render to unreserved characters and `%XX`, so if the
        // template makes a valid URI with a plain value, every rendering does.
        let sample = parsed.render(|_| Some("x".to_owned()))?;
        match sample.parse::<http::Uri>() {
            Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(parsed),
            Ok(_) => Err(TemplateError::MissingHost),
            Err(e) => Err(TemplateError::InvalidUrl {
                reason: e.to_string(),
            }),
        }
    }

    /// Fills every placeholder with `lookup(name)`, percent-encoded as one
    /// path segment.
    ///
    /// # Errors
    ///
    /// [`TemplateError::MissingAttribute`] naming the first placeholder
    /// `lookup` has no value for, or [`TemplateError::UnusableValue`] for a
    /// value that is empty, `.` or `..`. Never a half-filled URL.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(name) => {
                    let value = lookup(name)
                        .ok_or_else(|| TemplateError::MissingAttribute { name: name.clone() })?;
                    if value.is_empty() || value == "." || value == ".." {
                        return Err(TemplateError::UnusableValue {
                            name: name.clone(),
                            value,
                        });
                    }
                    out.extend(utf8_percent_encode(&value, SEGMENT));
                }
            }
        }
        Ok(out)
    }

    /// The placeholder names, in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = &str> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Refuses characters that cannot appear as such in a request URL.
fn check_literal(template: &str, i: usize, c: char) -> Result<(), TemplateError> {
    let reason = if c == '#' {
        format!("fragment at byte {i}: a fragment is never sent in a request")
    } else if !c.is_ascii_graphic() || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '|') {
        format!("character {c:?} at byte {i} must be percent-encoded")
    } else if c == '%'
        && !template
            .get(i + 1..i + 3)
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        format!("`%` at byte {i} is not followed by two hex digits")
    } else {
        return Ok(());
    };
    Err(TemplateError::InvalidUrl { reason })
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&crate::redact::RedactedUrl(&self.source), f)
    }
}

impl fmt::Debug for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UrlTemplate({})",
            crate::redact::RedactedUrl(&self.source)
        )
    }
}

impl std::str::FromStr for UrlTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UrlTemplate::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(template: &str, value: &str) -> String {
        UrlTemplate::parse(template)
            .unwrap()
            .render(|_| Some(value.to_owned()))
            .unwrap()
    }

    #[test]
    fn encodes_a_value_as_one_segment() {
        assert_eq!(
            one("https://x.example/a/{v}", "a/b?c#d e%f"),
            "https://x.example/a/a%2Fb%3Fc%23d%20e%25f"
        );
        assert_eq!(
            one("https://x.example/{v}", "é"),
            "https://x.example/%C3%A9"
        );
        assert_eq!(
            one("https://x.example/{v}", "A-z_0.9~"),
            "https://x.example/A-z_0.9~"
        );
    }

    #[test]
    fn encodes_the_at_sign_of_an_email() {
        assert_eq!(
            one(
                "https://email.example.com/subscribers/{email}",
                "user@example.com"
            ),
            "https://email.example.com/subscribers/user%40example.com"
        );
        assert_eq!(
            one("https://x.example/s?e={v}", "a+b@c"),
            "https://x.example/s?e=a%2Bb%40c"
        );
    }

    #[test]
    fn renders_several_placeholders_and_keeps_literals() {
        let t = UrlTemplate::parse("https://x.example:8443/a/{a}/b/{b_2}?q={a}").unwrap();
        assert_eq!(t.placeholders().collect::<Vec<_>>(), ["a", "b_2", "a"]);
        let url = t
            .render(|n| Some(if n == "a" { "1".into() } else { "two".into() }))
            .unwrap();
        assert_eq!(url, "https://x.example:8443/a/1/b/two?q=1");
        assert_eq!(t.as_str(), "https://x.example:8443/a/{a}/b/{b_2}?q={a}");
        // Display shows the origin only: a query can hold an API key.
        assert_eq!(t.to_string(), "https://x.example:8443/…");
    }

    #[test]
    fn refuses_unbalanced_braces() {
        assert_eq!(
            UrlTemplate::parse("https://x.example/{a").unwrap_err(),
            TemplateError::Unclosed { position: 18 }
        );
        assert_eq!(
            UrlTemplate::parse("https://x.example/{a{b}").unwrap_err(),
            TemplateError::Unclosed { position: 18 }
        );
        assert_eq!(
            UrlTemplate::parse("https://x.example/a}").unwrap_err(),
            TemplateError::Unopened { position: 19 }
        );
        let msg = UrlTemplate::parse("https://x.example/{a")
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "unclosed `{` at byte 18");
    }

    #[test]
    fn refuses_empty_and_invalid_names() {
        assert_eq!(
            UrlTemplate::parse("https://x.example/{}").unwrap_err(),
            TemplateError::EmptyPlaceholder { position: 18 }
        );
        assert_eq!(
            UrlTemplate::parse("https://x.example/{a-b}").unwrap_err(),
            TemplateError::InvalidPlaceholder { name: "a-b".into() }
        );
        assert!(matches!(
            UrlTemplate::parse("https://x.example/{ a }"),
            Err(TemplateError::InvalidPlaceholder { .. })
        ));
    }

    #[test]
    fn refuses_other_schemes() {
        for t in [
            "ftp://x.example/{a}",
            "x.example/{a}",
            "file:///etc/{a}",
            "javascript:{a}",
        ] {
            assert!(
                matches!(
                    UrlTemplate::parse(t),
                    Err(TemplateError::UnsupportedScheme { .. })
                ),
                "{t}"
            );
        }
        let msg = UrlTemplate::parse("ftp://x.example/")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("\"ftp\""), "{msg}");
        assert!(UrlTemplate::parse("HTTP://x.example/{a}").is_ok());
    }

    #[test]
    fn refuses_placeholders_in_scheme_or_host() {
        for t in [
            "https://{host}/a",
            "https://api.{domain}.com/a",
            "https://x.example:{port}/a",
            "https://{user}@x.example/a",
        ] {
            assert!(
                matches!(
                    UrlTemplate::parse(t),
                    Err(TemplateError::PlaceholderInAuthority { .. })
                ),
                "{t}"
            );
        }
        assert!(matches!(
            UrlTemplate::parse("{scheme}://x.example/a"),
            Err(TemplateError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn refuses_credentials() {
        assert_eq!(
            UrlTemplate::parse("https://user:pw@x.example/{a}").unwrap_err(),
            TemplateError::CredentialsInUrl
        );
        // An `@` after the authority is fine.
        assert!(UrlTemplate::parse("https://x.example/@{a}").is_ok());
    }

    #[test]
    fn refuses_literals_a_request_cannot_carry() {
        for t in [
            "https://x.example/a b/{v}",
            "https://x.example/ü/{v}",
            "https://x.example/a#{v}",
            "https://x.example/%zz/{v}",
            "https://x.example/a%2/{v}",
            "https://x.example/a|b/{v}",
        ] {
            assert!(
                matches!(UrlTemplate::parse(t), Err(TemplateError::InvalidUrl { .. })),
                "{t}"
            );
        }
        assert!(UrlTemplate::parse("https://x.example/a%20b/{v}?q={v}&r=1").is_ok());
        assert!(UrlTemplate::parse("https://x.example?e={v}").is_ok());
        assert!(UrlTemplate::parse("https://[::1]:8080/{v}").is_ok());
    }

    #[test]
    fn refuses_a_missing_host_or_bad_url() {
        assert_eq!(
            UrlTemplate::parse("https:///a/{b}").unwrap_err(),
            TemplateError::MissingHost
        );
        assert!(matches!(
            UrlTemplate::parse("https://x.example/a b/{c}"),
            Err(TemplateError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn a_missing_or_unusable_value_is_an_error_naming_the_placeholder() {
        let t = UrlTemplate::parse("https://x.example/{a}/{b}").unwrap();
        let err = t
            .render(|n| (n == "a").then(|| "1".to_owned()))
            .unwrap_err();
        assert_eq!(err, TemplateError::MissingAttribute { name: "b".into() });
        assert!(err.to_string().contains("`b`"));
        for bad in ["", ".", ".."] {
            assert!(matches!(
                t.render(|_| Some(bad.to_owned())),
                Err(TemplateError::UnusableValue { .. })
            ));
        }
        // "..." is an ordinary segment.
        assert_eq!(
            t.render(|_| Some("...".into())).unwrap(),
            "https://x.example/.../..."
        );
    }
}
