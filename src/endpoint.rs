//! Endpoints: where deliveries go, what they subscribe to, how they are signed.
//!
//! An [`Endpoint`] is built with [`Endpoint::builder`], which checks the URL
//! once: `http` or `https` only, no credentials in the URL, and by default no
//! target that points into the sender's own network (loopback, private,
//! link-local, multicast, unspecified, `localhost`): the SSRF guard. Local
//! development opts in with [`EndpointBuilder::allow_private_targets`].
//!
//! A URL's host name is checked here as written; a name that *resolves* to a
//! blocked address can only be caught when connecting, which is the transport's
//! job ([`is_blocked_ip`] is public for that).
//!
//! # Examples
//!
//! ```
//! use hookwire::endpoint::Endpoint;
//! use hookwire::signature::{Schemes, SigningSecret};
//!
//! let endpoint = Endpoint::builder("ep_billing", "https://hooks.example.com/intelligems")
//!     .events(["startExperience", "endExperience"])
//!     .signing(SigningSecret::generate(), Schemes::BOTH)
//!     .header("x-team", "growth")
//!     .build()?;
//! assert!(endpoint.events.matches("startExperience"));
//! assert!(!endpoint.events.matches("createExperience"));
//!
//! let err = Endpoint::builder("ep_local", "http://127.0.0.1:8080/hook").build().unwrap_err();
//! assert_eq!(err.to_string(), "endpoint URL points at a blocked address (127.0.0.1 is loopback); allow private targets to use it");
//! # Ok::<(), hookwire::endpoint::EndpointError>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

use crate::id::{EndpointId, IdError};
use crate::signature::{Schemes, Signer, SigningSecret};

/// The longest endpoint URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Which event kinds an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EventFilter {
    /// Every event.
    #[default]
    All,
    /// Only these kinds (for example `startExperience`).
    Only(BTreeSet<String>),
}

impl EventFilter {
    /// Whether an event of `kind` goes to this endpoint.
    pub fn matches(&self, kind: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(kinds) => kinds.contains(kind),
        }
    }
}

/// How deliveries to an endpoint are signed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Signing {
    /// The secrets (current, and previous ones during a rotation).
    pub signer: Signer,
    /// Which signature headers to send.
    pub schemes: Schemes,
}

impl Signing {
    /// Signs with `signer` using `schemes`.
    pub fn new(signer: Signer, schemes: Schemes) -> Self {
        Self { signer, schemes }
    }
}

/// A checked endpoint URL.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    uri: Uri,
}

impl EndpointUrl {
    /// Checks `url` (see the [module docs](self)); `allow_private` lifts the SSRF guard.
    ///
    /// # Errors
    ///
    /// [`EndpointError`] saying what is wrong with the URL.
    pub fn parse(url: &str, allow_private: bool) -> Result<Self, EndpointError> {
        if url.len() > MAX_URL_LEN {
            return Err(EndpointError::InvalidUrl(format!(
                "URL is {} bytes long, the limit is {MAX_URL_LEN}",
                url.len()
            )));
        }
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| EndpointError::InvalidUrl(e.to_string()))?;
        let scheme = uri.scheme_str().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(EndpointError::UnsupportedScheme(if scheme.is_empty() {
                "none".to_owned()
            } else {
                scheme.to_owned()
            }));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| EndpointError::InvalidUrl("URL has no host".to_owned()))?;
        if authority.as_str().contains('@') {
            return Err(EndpointError::CredentialsInUrl);
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(EndpointError::InvalidUrl("URL has no host".to_owned()));
        }
        if !allow_private {
            check_host(host)?;
        }
        Ok(Self { uri })
    }

    /// The URL as an [`http::Uri`].
    pub fn as_uri(&self) -> &Uri {
        &self.uri
    }

    /// The host, as written (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or("")
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.uri, f)
    }
}

impl fmt::Debug for EndpointUrl {
    /// Shows scheme, host and port only: paths and queries can hold tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.uri.scheme_str().unwrap_or("");
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        write!(f, "EndpointUrl({scheme}://{authority}/…)")
    }
}

fn check_host(host: &str) -> Result<(), EndpointError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if let Some(reason) = blocked_reason(ip) {
            return Err(EndpointError::BlockedTarget {
                host: bare.to_owned(),
                reason,
            });
        }
        return Ok(());
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(EndpointError::BlockedTarget {
            host: host.to_owned(),
            reason: "localhost",
        });
    }
    Ok(())
}

/// Whether `ip` is an address the SSRF guard refuses by default: loopback,
/// private, shared (CGNAT), link-local, multicast, broadcast, unspecified,
/// documentation, benchmarking or reserved ranges, IPv6 unique-local, and
/// IPv4-mapped forms of any of those.
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    blocked_reason(ip).is_some()
}

fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked_v4(v4);
            }
            blocked_v6(v6)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_unspecified() || o[0] == 0 {
        "unspecified"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if ip.is_documentation() {
        "documentation"
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        "shared address space"
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        "benchmarking"
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        "protocol assignments"
    } else if o[0] >= 240 {
        "reserved"
    } else {
        return None;
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "unique local"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        "NAT64"
    } else {
        return None;
    })
}

/// A destination for deliveries.
///
/// Build one with [`Endpoint::builder`]; fields are public for reading and for
/// adjusting a checked endpoint (the URL itself can only be set through
/// [`EndpointUrl::parse`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Endpoint {
    /// The endpoint's id.
    pub id: EndpointId,
    /// Where requests go.
    pub url: EndpointUrl,
    /// The HTTP method (POST unless set otherwise; journey steps use PUT or DELETE too).
    pub method: Method,
    /// Which event kinds it receives.
    pub events: EventFilter,
    /// How requests are signed; `None` sends them unsigned.
    pub signing: Option<Signing>,
    /// Extra headers sent with every request (authentication included; those
    /// values are marked sensitive and never shown by `Debug`).
    pub headers: HeaderMap,
    /// Whether it receives deliveries.
    pub enabled: bool,
    /// Free text for people.
    pub description: String,
}

impl Endpoint {
    /// Starts building an endpoint with this id and URL. Errors are reported by
    /// [`EndpointBuilder::build`].
    pub fn builder(id: impl AsRef<str>, url: impl Into<String>) -> EndpointBuilder {
        EndpointBuilder {
            id: EndpointId::new(id.as_ref()).map_err(EndpointError::InvalidId),
            url: url.into(),
            method: Method::POST,
            events: EventFilter::All,
            signing: None,
            headers: Ok(HeaderMap::new()),
            enabled: true,
            description: String::new(),
            allow_private: false,
        }
    }
}

/// Builds an [`Endpoint`]; the first error surfaces from [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct EndpointBuilder {
    id: Result<EndpointId, EndpointError>,
    url: String,
    method: Method,
    events: EventFilter,
    signing: Option<Signing>,
    headers: Result<HeaderMap, EndpointError>,
    enabled: bool,
    description: String,
    allow_private: bool,
}

impl EndpointBuilder {
    /// Receive only these event kinds (default: all).
    pub fn events<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.events = EventFilter::Only(kinds.into_iter().map(Into::into).collect());
        self
    }

    /// Receive every event kind (the default).
    pub fn all_events(mut self) -> Self {
        self.events = EventFilter::All;
        self
    }

    /// Sign requests with `secret` using `schemes`.
    pub fn signing(mut self, secret: SigningSecret, schemes: Schemes) -> Self {
        self.signing = Some(Signing::new(Signer::new(secret), schemes));
        self
    }

    /// Sign requests with a prepared [`Signing`] (for rotation: a signer holding
    /// previous secrets too).
    pub fn signing_with(mut self, signing: Signing) -> Self {
        self.signing = Some(signing);
        self
    }

    /// The HTTP method (default POST).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Adds a header sent with every request.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.header_inner(name, value, false)
    }

    /// Adds a header whose value is secret (an API key, say): marked sensitive,
    /// never shown by `Debug`.
    pub fn secret_header(self, name: &str, value: &str) -> Self {
        self.header_inner(name, value, true)
    }

    fn header_inner(mut self, name: &str, value: &str, sensitive: bool) -> Self {
        self.headers = self.headers.and_then(|mut map| {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| EndpointError::InvalidHeader(name.to_owned()))?;
            let mut value =
                HeaderValue::from_str(value).map_err(|_| EndpointError::InvalidHeader(name.to_string()))?;
            value.set_sensitive(sensitive);
            map.append(name, value);
            Ok(map)
        });
        self
    }

    /// Starts disabled (or enabled, the default).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Free text for people.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Lifts the SSRF guard: allows loopback, private and `localhost` targets.
    /// For local development and tests only.
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Checks everything and builds the endpoint.
    ///
    /// # Errors
    ///
    /// [`EndpointError`] for an invalid id, URL or header.
    pub fn build(self) -> Result<Endpoint, EndpointError> {
        let id = self.id?;
        let url = EndpointUrl::parse(&self.url, self.allow_private)?;
        Ok(Endpoint {
            id,
            url,
            method: self.method,
            events: self.events,
            signing: self.signing,
            headers: self.headers?,
            enabled: self.enabled,
            description: self.description,
        })
    }
}

/// Why an endpoint could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The id is not valid.
    #[error("invalid endpoint id: {0}")]
    InvalidId(IdError),
    /// The URL does not parse.
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(String),
    /// The URL's scheme is not http or https.
    #[error("endpoint URL scheme must be http or https, not {0}")]
    UnsupportedScheme(String),
    /// The URL holds a user name or password.
    #[error("endpoint URL must not hold credentials; use an authentication header instead")]
    CredentialsInUrl,
    /// The URL targets an address the SSRF guard blocks.
    #[error("endpoint URL points at a blocked address ({host} is {reason}); allow private targets to use it")]
    BlockedTarget {
        /// The host as written.
        host: String,
        /// Which range it falls in.
        reason: &'static str,
    },
    /// A header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<EndpointUrl, EndpointError> {
        EndpointUrl::parse(url, false)
    }

    #[test]
    fn accepts_public_http_and_https() {
        assert!(parse("https://hooks.example.com/a?b=c").is_ok());
        assert!(parse("http://93.184.216.34:8080/x").is_ok());
        assert!(parse("https://[2606:4700::1111]/x").is_ok());
    }

    #[test]
    fn refuses_bad_schemes_and_credentials() {
        assert_eq!(parse("ftp://example.com/").unwrap_err(), EndpointError::UnsupportedScheme("ftp".into()));
        assert_eq!(parse("/relative").unwrap_err(), EndpointError::UnsupportedScheme("none".into()));
        assert_eq!(parse("https://user:pw@example.com/").unwrap_err(), EndpointError::CredentialsInUrl);
        assert!(matches!(parse("https://exa mple.com/"), Err(EndpointError::InvalidUrl(_))));
        assert!(matches!(parse(&format!("https://e.com/{}", "a".repeat(3000))), Err(EndpointError::InvalidUrl(_))));
    }

    #[test]
    fn ssrf_guard_blocks_internal_targets_unless_allowed() {
        for (url, reason) in [
            ("http://127.0.0.1/", "loopback"),
            ("http://10.1.2.3/", "private"),
            ("http://172.16.0.1/", "private"),
            ("http://192.168.1.1/", "private"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://224.0.0.1/", "multicast"),
            ("http://0.0.0.0/", "unspecified"),
            ("http://100.64.0.1/", "shared address space"),
            ("http://[::1]/", "loopback"),
            ("http://[::]/", "unspecified"),
            ("http://[fd00::1]/", "unique local"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
            ("http://localhost:8080/", "localhost"),
            ("http://api.localhost/", "localhost"),
            ("http://LOCALHOST./", "localhost"),
        ] {
            match parse(url) {
                Err(EndpointError::BlockedTarget { reason: r, .. }) => assert_eq!(r, reason, "{url}"),
                other => panic!("{url}: expected blocked, got {other:?}"),
            }
            assert!(EndpointUrl::parse(url, true).is_ok(), "{url} with opt-in");
        }
    }

    #[test]
    fn debug_hides_path_and_secret_headers() {
        let ep = Endpoint::builder("ep_1", "https://example.com/hook/token123")
            .secret_header("x-api-key", "sk_live_secret")
            .build()
            .unwrap();
        let dbg = format!("{ep:?}");
        assert!(!dbg.contains("token123"), "{dbg}");
        assert!(!dbg.contains("sk_live_secret"), "{dbg}");
    }

    #[test]
    fn builder_reports_bad_headers_and_ids() {
        let err = Endpoint::builder("ep_1", "https://example.com/")
            .header("bad header", "x")
            .build()
            .unwrap_err();
        assert_eq!(err, EndpointError::InvalidHeader("bad header".into()));
        let err = Endpoint::builder("ep.1", "https://example.com/").build().unwrap_err();
        assert!(matches!(err, EndpointError::InvalidId(_)));
    }
}
