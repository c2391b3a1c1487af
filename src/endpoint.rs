//! Endpoints: where deliveries go, what they subscribe to, how they are signed.
//!
//! An [`Endpoint`] is built with [`Endpoint::builder`], which checks the URL's
//! form once: `http` or `https` only, a host that URL parsers accept (not
//! `1.2.3.4.5`, `999.0.0.1` or an IPv6 zone id: see
//! [`check_host`](crate::target::check_host)), no credentials in the URL, at
//! most [`MAX_URL_LEN`] bytes. Whether the host may be sent to at all (the SSRF
//! guard) is the dispatcher's [target policy](crate::target), checked when the
//! endpoint is added and again at every attempt.
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
//! let err = Endpoint::builder("ep_ftp", "ftp://files.example.com/hook").build().unwrap_err();
//! assert_eq!(err.to_string(), "endpoint URL scheme must be http or https, not ftp");
//! # Ok::<(), hookwire::endpoint::EndpointError>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

use crate::flow::{CircuitBreaker, RateLimit};
use crate::id::{EndpointId, IdError};
use crate::signature::{Schemes, Signer, SigningSecret};
use crate::target::{self, BlockedTarget, TargetPolicy};

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
    /// The keys (current ones, and previous ones during a rotation, each
    /// with its expiry).
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

/// An endpoint URL whose form is checked (see the [module docs](self)).
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    uri: Uri,
}

impl EndpointUrl {
    /// Checks `url`'s form (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`EndpointError`] saying what is wrong with the URL.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
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
        // Read as the target guard (and every WHATWG URL parser) reads it: a
        // host no parser would connect to is refused now, under any policy.
        if let Some(reason) = target::malformed(host) {
            return Err(EndpointError::InvalidUrl(format!("URL host: {reason}")));
        }
        Ok(Self { uri })
    }

    /// Checks the URL's host against the [target guard](crate::target).
    ///
    /// # Errors
    ///
    /// [`BlockedTarget`] if `policy` refuses the host.
    pub fn check_target(&self, policy: TargetPolicy) -> Result<(), BlockedTarget> {
        target::check_host(self.host(), policy)
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

impl EndpointUrl {
    /// The whole URL, path and query included, as sent.
    ///
    /// # Security
    ///
    /// Paths and queries can hold tokens: store this, never log it.
    /// (`Display` and `Debug` show scheme, host and port only.)
    ///
    /// ```
    /// use hookwire::endpoint::EndpointUrl;
    ///
    /// let url = EndpointUrl::parse("https://hooks.example.com/t/secret-token?k=1")?;
    /// assert_eq!(url.full(), "https://hooks.example.com/t/secret-token?k=1");
    /// assert_eq!(url.to_string(), "https://hooks.example.com/…");
    /// assert_eq!(format!("{url:?}"), "EndpointUrl(https://hooks.example.com/…)");
    /// # Ok::<(), hookwire::endpoint::EndpointError>(())
    /// ```
    pub fn full(&self) -> String {
        self.uri.to_string()
    }

    fn origin(&self) -> String {
        let scheme = self.uri.scheme_str().unwrap_or("");
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        let path = self.uri.path_and_query().map_or("", |p| p.as_str());
        match path {
            "" | "/" => format!("{scheme}://{authority}"),
            _ => format!("{scheme}://{authority}/…"),
        }
    }
}

impl fmt::Display for EndpointUrl {
    /// Shows scheme, host and port only: paths and queries can hold tokens
    /// (see [`EndpointUrl::full`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

impl fmt::Debug for EndpointUrl {
    /// Shows scheme, host and port only: paths and queries can hold tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointUrl({})", self.origin())
    }
}

/// A destination for deliveries.
///
/// Build one with [`Endpoint::builder`]; fields are public for reading and for
/// adjusting a checked endpoint (the URL itself can only be set through
/// [`EndpointUrl::parse`]).
///
/// `Debug` shows the URL's scheme, host and port only, and redacts the values
/// of headers marked sensitive and of credential headers (`authorization`,
/// `proxy-authorization`, `cookie`, `x-api-key`, ...) however they were added.
#[derive(Clone)]
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
    /// At most this many of its deliveries in flight at once: across every
    /// worker that shares a store that [enforces flow
    /// control](crate::store::Store::enforces_flow_control) (the store
    /// leases no more), and in each worker (`None`: no limit across
    /// workers, and the dispatcher's default share in each, see
    /// [`DispatcherBuilder::max_in_flight_per_endpoint`](crate::dispatch::DispatcherBuilder::max_in_flight_per_endpoint)).
    pub max_in_flight: Option<u32>,
    /// What a 404 or 410 answer means for it.
    pub gone: Gone,
    /// Its deliveries go one at a time, in publish order: the next is sent
    /// only once the one before it succeeded or ended dead, whatever the
    /// number of workers (see [Ordered endpoints](crate#ordered-endpoints)).
    pub ordered: bool,
    /// At most this many deliveries a second, across every worker that
    /// shares the store (`None`: no limit). See [`crate::flow`].
    pub rate_limit: Option<RateLimit>,
    /// When to stop sending to it for a while because it keeps failing
    /// (`None`: never). On by default: [`CircuitBreaker::default`]. See
    /// [`crate::flow`].
    pub circuit_breaker: Option<CircuitBreaker>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("method", &self.method)
            .field("events", &self.events)
            .field("signing", &self.signing)
            .field("headers", &crate::redact::RedactedHeaders(&self.headers))
            .field("enabled", &self.enabled)
            .field("description", &self.description)
            .field("max_in_flight", &self.max_in_flight)
            .field("gone", &self.gone)
            .field("ordered", &self.ordered)
            .field("rate_limit", &self.rate_limit)
            .field("circuit_breaker", &self.circuit_breaker)
            .finish()
    }
}

/// Header names an endpoint may not set: HTTP framing (which would change
/// how the body is read, or where the request goes) and the headers hookwire
/// sets itself on every attempt (ids and signatures).
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    crate::signature::HEADER_HEX_SIGNATURE,
    crate::signature::HEADER_WEBHOOK_ID,
    crate::signature::HEADER_WEBHOOK_TIMESTAMP,
    crate::signature::HEADER_WEBHOOK_SIGNATURE,
    crate::dispatch::HEADER_IDEMPOTENCY_KEY,
];

/// Whether `name` is one of the [`RESERVED_HEADERS`].
pub(crate) fn is_reserved_header(name: &HeaderName) -> bool {
    RESERVED_HEADERS.contains(&name.as_str())
}

/// What a 404 Not Found or 410 Gone answer means for an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Gone {
    /// 410 Gone disables the endpoint (it says it no longer exists), as the
    /// retry policy decides ([`Decision::DisableEndpoint`](crate::retry::Decision::DisableEndpoint));
    /// 404 is an ordinary failure, retried. The default.
    #[default]
    DisablesEndpoint,
    /// 404 and 410 end that delivery dead, and nothing else: the URL named
    /// one thing (a subscriber, an account) that is not there. Journey steps
    /// that create or update use this.
    EndsDelivery,
    /// 404 and 410 count as delivered: a DELETE of something already gone.
    /// Journey DELETE steps use this by default.
    MeansDelivered,
}

impl Gone {
    /// The name stored and displayed (`disables-endpoint`, `ends-delivery`,
    /// `means-delivered`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DisablesEndpoint => "disables-endpoint",
            Self::EndsDelivery => "ends-delivery",
            Self::MeansDelivered => "means-delivered",
        }
    }

    /// Parses a name produced by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "disables-endpoint" => Self::DisablesEndpoint,
            "ends-delivery" => Self::EndsDelivery,
            "means-delivered" => Self::MeansDelivered,
            _ => return None,
        })
    }
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
            max_in_flight: None,
            gone: Gone::default(),
            ordered: false,
            rate_limit: None,
            circuit_breaker: Some(CircuitBreaker::default()),
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
    max_in_flight: Option<u32>,
    gone: Gone,
    ordered: bool,
    rate_limit: Option<RateLimit>,
    circuit_breaker: Option<CircuitBreaker>,
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

    /// Sign requests with a prepared [`Signing`]: a signer holding previous
    /// keys too (rotation), or an Ed25519 key for `v1a` (feature `ed25519`).
    /// [`build`](Self::build) refuses schemes the signer has no key for.
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
    ///
    /// A credential header (`authorization`, `proxy-authorization`, `cookie`,
    /// `x-api-key`, ...) is marked sensitive as [`secret_header`](Self::secret_header)
    /// would. [`build`](Self::build) refuses the [`RESERVED_HEADERS`]
    /// (`host`, `content-length`, `webhook-id`, ...).
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
                .map_err(|_| EndpointError::InvalidHeader(name.chars().take(64).collect()))?;
            if is_reserved_header(&name) {
                return Err(EndpointError::ReservedHeader(name.to_string()));
            }
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| EndpointError::InvalidHeader(name.to_string()))?;
            value.set_sensitive(sensitive || crate::redact::is_credential_header(&name));
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

    /// At most this many of its deliveries in flight at once, across every
    /// worker that shares the store (the store leases no more) and in each
    /// worker (default: no limit across workers, and the dispatcher's share
    /// in each). Lower it for a receiver that takes only so many requests at
    /// once. 0 is refused by [`build`](Self::build).
    pub fn max_in_flight(mut self, max: u32) -> Self {
        self.max_in_flight = Some(max);
        self
    }

    /// What a 404 or 410 answer means (default [`Gone::DisablesEndpoint`]).
    pub fn gone(mut self, gone: Gone) -> Self {
        self.gone = gone;
        self
    }

    /// Sends its deliveries one at a time, in publish order (default
    /// `false`): a delivery that fails holds those published after it until
    /// it succeeds or ends dead. See [Ordered endpoints](crate#ordered-endpoints).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::endpoint::Endpoint;
    ///
    /// let ledger = Endpoint::builder("ep_ledger", "https://ledger.example.com/hooks")
    ///     .ordered(true)
    ///     .build()?;
    /// assert!(ledger.ordered);
    /// # Ok::<(), hookwire::endpoint::EndpointError>(())
    /// ```
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// At most this many deliveries a second, with bursts (see
    /// [`crate::flow`]). Enforced by the store, across workers.
    ///
    /// ```
    /// use hookwire::endpoint::Endpoint;
    /// use hookwire::flow::RateLimit;
    ///
    /// let crm = Endpoint::builder("ep_crm", "https://crm.example.com/hooks")
    ///     .rate_limit(RateLimit::per_second(10).burst(5))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(crm.rate_limit, Some(RateLimit::per_second(10).burst(5)));
    /// ```
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Its circuit breaker's settings (default: [`CircuitBreaker::default`]).
    pub fn circuit_breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.circuit_breaker = Some(breaker);
        self
    }

    /// No circuit breaker: it is sent to whatever its failures.
    pub fn without_circuit_breaker(mut self) -> Self {
        self.circuit_breaker = None;
        self
    }

    /// Checks everything and builds the endpoint.
    ///
    /// # Errors
    ///
    /// [`EndpointError`] for an invalid id, URL or header, or schemes the
    /// signer holds no key for.
    pub fn build(self) -> Result<Endpoint, EndpointError> {
        let id = self.id?;
        let url = EndpointUrl::parse(&self.url)?;
        if self.max_in_flight == Some(0) {
            return Err(EndpointError::ZeroMaxInFlight);
        }
        if let Some(limit) = &self.rate_limit {
            limit.check().map_err(EndpointError::InvalidRateLimit)?;
        }
        if let Some(breaker) = &self.circuit_breaker {
            breaker
                .check()
                .map_err(EndpointError::InvalidCircuitBreaker)?;
        }
        if let Some(signing) = &self.signing {
            signing
                .signer
                .covers(signing.schemes)
                .map_err(|scheme| EndpointError::MissingSigningKey { scheme })?;
        }
        Ok(Endpoint {
            id,
            url,
            method: self.method,
            events: self.events,
            signing: self.signing,
            headers: self.headers?,
            enabled: self.enabled,
            description: self.description,
            max_in_flight: self.max_in_flight,
            gone: self.gone,
            ordered: self.ordered,
            rate_limit: self.rate_limit,
            circuit_breaker: self.circuit_breaker,
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
    /// The URL's host is refused by the dispatcher's [target policy](crate::target).
    #[error("endpoint URL: {0}")]
    BlockedTarget(BlockedTarget),
    /// A header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// The header is one of the [`RESERVED_HEADERS`]: HTTP framing, or set by
    /// hookwire itself.
    #[error("header {0:?} cannot be set on an endpoint: it is HTTP framing or set by hookwire")]
    ReservedHeader(String),
    /// `max_in_flight(0)`: the endpoint could never be sent to.
    #[error("an endpoint's max_in_flight must be at least 1")]
    ZeroMaxInFlight,
    /// The rate limit could never be met (0 a second, more than
    /// [`MAX_PER_SECOND`](crate::flow::MAX_PER_SECOND), or a burst of 0).
    #[error("invalid rate limit: {0}")]
    InvalidRateLimit(&'static str),
    /// The circuit breaker's settings are impossible (0 failures, a zero
    /// cool-down, or a maximum below it).
    #[error("invalid circuit breaker: {0}")]
    InvalidCircuitBreaker(&'static str),
    /// The endpoint signs with a scheme its signer holds no key for (`v1a`
    /// needs an Ed25519 key and the `ed25519` feature; hex and `standard` an
    /// HMAC secret).
    #[error("endpoint signs with {scheme} but its signer holds no key for it")]
    MissingSigningKey {
        /// `hex`, `standard` or `v1a`.
        scheme: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<EndpointUrl, EndpointError> {
        EndpointUrl::parse(url)
    }

    #[test]
    fn accepts_public_http_and_https() {
        assert!(parse("https://hooks.example.com/a?b=c").is_ok());
        assert!(parse("http://93.184.216.34:8080/x").is_ok());
        assert!(parse("https://[2606:4700::1111]/x").is_ok());
    }

    #[test]
    fn refuses_bad_schemes_and_credentials() {
        assert_eq!(
            parse("ftp://example.com/").unwrap_err(),
            EndpointError::UnsupportedScheme("ftp".into())
        );
        assert_eq!(
            parse("/relative").unwrap_err(),
            EndpointError::UnsupportedScheme("none".into())
        );
        assert_eq!(
            parse("https://user:pw@example.com/").unwrap_err(),
            EndpointError::CredentialsInUrl
        );
        assert!(matches!(
            parse("https://exa mple.com/"),
            Err(EndpointError::InvalidUrl(_))
        ));
        assert!(matches!(
            parse(&format!("https://e.com/{}", "a".repeat(3000))),
            Err(EndpointError::InvalidUrl(_))
        ));
    }

    #[test]
    fn hosts_no_url_parser_accepts_are_refused_when_parsed() {
        for (url, reason) in [
            ("http://1.2.3.4.5/", "invalid numeric host"),
            ("http://999.0.0.1/", "invalid numeric host"),
            ("http://example.123/", "invalid numeric host"),
            ("http://[fe80::1%25lo]/", "IPv6 zone id"),
        ] {
            assert_eq!(
                parse(url).unwrap_err(),
                EndpointError::InvalidUrl(format!("URL host: {reason}")),
                "{url}"
            );
        }
        // (`http::Uri` refuses a malformed percent-encoding itself.)
        assert!(matches!(
            parse("http://a%zz.example/"),
            Err(EndpointError::InvalidUrl(_))
        ));
        // Private but well formed: the policy's business, later.
        assert!(parse("http://127.1/").is_ok());
    }

    #[test]
    fn the_target_guard_sees_the_host_as_written() {
        let url = parse("http://127.0.0.1:8080/hook").unwrap();
        let err = url.check_target(TargetPolicy::PublicOnly).unwrap_err();
        assert_eq!(err.reason(), "loopback");
        assert!(url.check_target(TargetPolicy::AllowPrivate).is_ok());
        let url = parse("http://[fd00::1]/").unwrap();
        assert_eq!(
            url.check_target(TargetPolicy::PublicOnly)
                .unwrap_err()
                .host(),
            "fd00::1"
        );
        assert!(parse("https://hooks.example.com/")
            .unwrap()
            .check_target(TargetPolicy::PublicOnly)
            .is_ok());
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
    fn debug_redacts_credential_headers_however_added() {
        let mut ep = Endpoint::builder("ep_1", "https://example.com/hook?api_key=q1")
            .header("authorization", "Bearer tok-a")
            .header("Cookie", "session=tok-b")
            .header("proxy-authorization", "Basic tok-c")
            .header("x-team", "growth")
            .build()
            .unwrap();
        ep.headers
            .insert("x-api-key", HeaderValue::from_static("tok-d"));
        let dbg = format!("{ep:?}");
        for secret in ["tok-a", "tok-b", "tok-c", "tok-d", "q1", "hook"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        assert!(dbg.contains("growth"), "{dbg}");
        assert!(ep.headers["authorization"].is_sensitive());
        assert_eq!(ep.url.to_string(), "https://example.com/…");
        assert_eq!(ep.url.full(), "https://example.com/hook?api_key=q1");
    }

    #[test]
    fn framing_and_hookwire_headers_are_refused() {
        for name in [
            "host",
            "Content-Length",
            "transfer-encoding",
            "connection",
            "te",
            "upgrade",
            "webhook-id",
            "webhook-signature",
            "webhook-timestamp",
            "x-intelligems-signature",
            "idempotency-key",
        ] {
            let err = Endpoint::builder("ep_1", "https://example.com/")
                .header(name, "0")
                .build()
                .unwrap_err();
            assert_eq!(
                err,
                EndpointError::ReservedHeader(name.to_ascii_lowercase())
            );
            assert!(
                err.to_string().contains(&name.to_ascii_lowercase()),
                "{err}"
            );
        }
    }

    #[test]
    fn builder_reports_bad_headers_and_ids() {
        let err = Endpoint::builder("ep_1", "https://example.com/")
            .header("bad header", "x")
            .build()
            .unwrap_err();
        assert_eq!(err, EndpointError::InvalidHeader("bad header".into()));
        let err = Endpoint::builder("ep.1", "https://example.com/")
            .build()
            .unwrap_err();
        assert!(matches!(err, EndpointError::InvalidId(_)));
    }
}
