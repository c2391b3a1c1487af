//! [`ReqwestTransport`]: a [`Transport`] over [`reqwest`] (cargo feature `reqwest`).
//!
//! It keeps the [transport contract](super#contract-for-implementations):
//!
//! - sends the request once and **never follows redirects**: a 3xx answer comes
//!   back as a response;
//! - bounds the **whole exchange** (connect, request, response head and body)
//!   by the `timeout` it is given, reported as [`TransportErrorKind::Timeout`];
//! - reads at most `max_body` bytes of the response body, chunk by chunk, and
//!   drops the rest (the connection is then closed rather than reused);
//! - maps every failure to a [`TransportErrorKind`]: refused connections, DNS
//!   and TLS failures are [`Connect`](TransportErrorKind::Connect), a
//!   connection that breaks mid-response is
//!   [`Interrupted`](TransportErrorKind::Interrupted), an invalid URL or a
//!   blocked address is [`Rejected`](TransportErrorKind::Rejected);
//! - keeps URLs out of its errors: endpoint URLs can hold tokens.
//!
//! It needs a Tokio runtime with the IO and time drivers enabled, as reqwest does.
//!
//! # TLS
//!
//! The `reqwest` feature enables no TLS backend. Enable the `rustls` feature
//! (rustls with the *ring* provider and the bundled Mozilla roots), or enable a
//! reqwest TLS feature in your own `reqwest` dependency: Cargo unifies the
//! features and the client built here uses it. Without TLS an `https` endpoint
//! is refused as [`Rejected`](TransportErrorKind::Rejected).
//!
//! # Security
//!
//! **Redirects.** The client built here never follows them. Following one would
//! send a signed payload somewhere the endpoint's owner chose at request time,
//! past the checks made when the endpoint was registered.
//!
//! **SSRF.** [`Endpoint`](crate::endpoint::Endpoint) checks a URL's host as
//! written; a host *name* that resolves into the sender's own network (loopback,
//! private, link-local, metadata services, ...) can only be caught when
//! connecting. The client built here resolves names through [`GuardedResolver`],
//! which drops every address [`is_blocked_ip`] refuses, so the connection only
//! ever goes to an address that passed the check (no window for DNS rebinding).
//! A name that resolves *only* to blocked addresses is
//! [`Rejected`](TransportErrorKind::Rejected). IP literals (in any form the URL
//! parser accepts, `http://2130706433/` included) and `localhost` names never
//! reach a resolver, so [`send`](Transport::send) checks them itself. The
//! builder's [`allow_private_targets`](ReqwestTransportBuilder::allow_private_targets)
//! lifts both checks, for local development and tests.
//!
//! **Proxies.** The client built here ignores `HTTP_PROXY`/`HTTPS_PROXY`/
//! `ALL_PROXY`: a proxy resolves names itself, out of the guard's reach, and an
//! environment variable should not be able to reroute signed payloads. A host
//! that must egress through a proxy builds its own client (below) and enforces
//! its SSRF policy at the proxy.
//!
//! **Bringing your own client.** [`ReqwestTransport::with_client`] (or
//! [`From<reqwest::Client>`](ReqwestTransport#impl-From<Client>-for-ReqwestTransport))
//! uses a host's [`reqwest::Client`] as it is. That client must be built with
//! [`redirect::Policy::none()`](reqwest::redirect::Policy::none), and its
//! resolver is not guarded unless it was built with
//! [`ClientBuilder::dns_resolver`](reqwest::ClientBuilder::dns_resolver)`(Arc::new(GuardedResolver::new()))`.
//! The IP-literal and `localhost` checks still apply.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::store::Store;
//! use hookwire::transport::ReqwestTransport;
//!
//! fn dispatcher(store: impl Store + 'static) -> Dispatcher {
//!     Dispatcher::builder(ReqwestTransport::new(), store).build()
//! }
//!
//! // Or tuned, with a user agent of your own:
//! let transport = ReqwestTransport::builder()
//!     .user_agent("acme-webhooks/1.0")
//!     .connect_timeout(Duration::from_secs(3))
//!     .build()?;
//! # drop(transport);
//! # Ok::<(), hookwire::transport::ReqwestBuildError>(())
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{
    SendOptions, Transport, TransportError, TransportErrorKind, WebhookRequest, WebhookResponse,
};
use crate::endpoint::is_blocked_ip;

/// The default time allowed to open a connection (TCP and TLS); the request's
/// own timeout bounds it too.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` sent unless the builder sets another.
pub const DEFAULT_USER_AGENT: &str = concat!("hookwire/", env!("CARGO_PKG_VERSION"));

/// Idle pooled connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many idle connections are kept per host by default: the
/// default worker's most requests in flight (2 loops of 32), so a busy
/// endpoint's connections are reused rather than closed and opened again.
pub const DEFAULT_MAX_IDLE_PER_HOST: usize = 64;

/// A [`Transport`] over a [`reqwest::Client`]. See the [module docs](self).
///
/// Cloning is cheap: clones share the client and its connection pool.
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct ReqwestTransport {
    client: reqwest::Client,
    allow_private: bool,
}

impl ReqwestTransport {
    /// A transport with the default settings: no redirects, no proxies, the
    /// SSRF guard on, a [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_USER_AGENT`].
    ///
    /// # Panics
    ///
    /// If the TLS backend cannot be initialised, like [`reqwest::Client::new`].
    /// [`builder`](Self::builder)`().build()` reports that as an error instead.
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(transport) => transport,
            Err(e) => panic!("hookwire: {e}: {:?}", e.source()),
        }
    }

    /// Starts building a transport with custom settings.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder {
            allow_private: false,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_idle_per_host: DEFAULT_MAX_IDLE_PER_HOST,
        }
    }

    /// Uses a host's own client as it is; the IP-literal and `localhost` checks
    /// still apply.
    ///
    /// # Security
    ///
    /// The client must not follow redirects (build it with
    /// [`redirect::Policy::none()`](reqwest::redirect::Policy::none)), and host
    /// names are only checked after resolution if it was built with a
    /// [`GuardedResolver`]. See the [module docs](self#security).
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            allow_private: false,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    async fn exchange(
        &self,
        request: reqwest::Request,
        max_body: usize,
    ) -> Result<WebhookResponse, TransportError> {
        let mut response = self.client.execute(request).await.map_err(map_error)?;
        let status = response.status();
        let version = response.version();
        let headers = std::mem::take(response.headers_mut());
        let body = read_capped(&mut response, max_body).await?;
        let mut out = WebhookResponse::new(body);
        *out.status_mut() = status;
        *out.version_mut() = version;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

impl Default for ReqwestTransport {
    /// The same as [`ReqwestTransport::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl From<reqwest::Client> for ReqwestTransport {
    /// The same as [`ReqwestTransport::with_client`]; read its security notes.
    fn from(client: reqwest::Client) -> Self {
        Self::with_client(client)
    }
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("allow_private_targets", &self.allow_private)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(
        &self,
        request: WebhookRequest,
        options: SendOptions,
    ) -> Result<WebhookResponse, TransportError> {
        // The body is a `Bytes`: reqwest takes it over without copying.
        let request = reqwest::Request::try_from(request).map_err(map_error)?;
        if !self.allow_private {
            check_target(request.url())?;
        }
        match tokio::time::timeout(options.timeout, self.exchange(request, options.max_body)).await
        {
            Ok(result) => result,
            Err(_elapsed) => Err(TransportError::new(
                TransportErrorKind::Timeout,
                TimedOut(options.timeout),
            )),
        }
    }
}

/// Builds a [`ReqwestTransport`]; start with [`ReqwestTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct ReqwestTransportBuilder {
    allow_private: bool,
    user_agent: String,
    connect_timeout: Duration,
    max_idle_per_host: usize,
}

impl ReqwestTransportBuilder {
    /// Lifts the SSRF guard: allows loopback, private and `localhost` targets,
    /// whether written as such or resolved to. For local development and tests
    /// only (default `false`).
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// The `User-Agent` header (default [`DEFAULT_USER_AGENT`]); a request's own
    /// `User-Agent` header wins.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The time allowed to open a connection (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]); each request's timeout bounds it too.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many idle connections are kept per host (default
    /// [`DEFAULT_MAX_IDLE_PER_HOST`]). Keep it at least at the number of
    /// requests in flight, or connections are closed and reopened.
    pub fn max_idle_per_host(mut self, connections: usize) -> Self {
        self.max_idle_per_host = connections;
        self
    }

    /// Builds the client and the transport.
    ///
    /// # Errors
    ///
    /// [`ReqwestBuildError`] if the user agent is not a valid header value or the
    /// TLS backend cannot be initialised.
    pub fn build(self) -> Result<ReqwestTransport, ReqwestBuildError> {
        let user_agent = HeaderValue::try_from(self.user_agent).map_err(ReqwestBuildError::new)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .dns_resolver(Arc::new(
                GuardedResolver::new().allow_private_targets(self.allow_private),
            ))
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(self.max_idle_per_host)
            .user_agent(user_agent)
            .build()
            .map_err(|e| ReqwestBuildError::new(e.without_url()))?;
        Ok(ReqwestTransport {
            client,
            allow_private: self.allow_private,
        })
    }
}

/// The reqwest client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not build the reqwest client for hookwire")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct ReqwestBuildError {
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl ReqwestBuildError {
    fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// A [`reqwest::dns::Resolve`] that resolves with the system resolver (through
/// Tokio) and drops every address [`is_blocked_ip`] refuses: the SSRF guard at
/// connect time.
///
/// [`ReqwestTransport::new`] and the builder install it; hosts that bring their
/// own client can install it too:
///
/// ```
/// use std::sync::Arc;
/// use hookwire::transport::{GuardedResolver, ReqwestTransport};
///
/// let client = reqwest::Client::builder()
///     .redirect(reqwest::redirect::Policy::none())
///     .dns_resolver(Arc::new(GuardedResolver::new()))
///     .build()?;
/// let transport = ReqwestTransport::with_client(client);
/// # drop(transport);
/// # Ok::<(), reqwest::Error>(())
/// ```
///
/// A name that resolves only to blocked addresses fails to connect, and
/// [`ReqwestTransport`] reports that as
/// [`TransportErrorKind::Rejected`].
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    /// A resolver that drops blocked addresses.
    pub fn new() -> Self {
        Self {
            allow_private: false,
        }
    }

    /// Keeps blocked addresses too (the guard is off); default `false`.
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allow_private {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let any_found = !found.is_empty();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| !is_blocked_ip(a.ip()))
                .collect();
            if any_found && allowed.is_empty() {
                return Err(Box::new(BlockedTarget(format!(
                    "host {host} resolves only to blocked addresses ({BLOCKED_RANGES}); allow private targets to reach it"
                ))) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

const BLOCKED_RANGES: &str = "loopback, private, link-local or another internal range";

/// The target is refused by the SSRF guard.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BlockedTarget(String);

/// The whole exchange did not finish in time.
#[derive(Debug, thiserror::Error)]
#[error("no complete response within {0:?}")]
struct TimedOut(Duration);

/// Refuses IP literals in blocked ranges and `localhost` names: they never go
/// through the resolver. `url` is already normalised (`http://2130706433/` has
/// host `127.0.0.1`).
fn check_target(url: &reqwest::Url) -> Result<(), TransportError> {
    let Some(host) = url.host_str() else {
        return Err(rejected("the URL has no host".to_owned()));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if is_blocked_ip(ip) {
            return Err(rejected(format!(
                "{ip} is a blocked address ({BLOCKED_RANGES}); allow private targets to reach it"
            )));
        }
        return Ok(());
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(rejected(format!(
            "host {host} is localhost; allow private targets to reach it"
        )));
    }
    Ok(())
}

fn rejected(message: String) -> TransportError {
    TransportError::new(TransportErrorKind::Rejected, BlockedTarget(message))
}

/// Reads at most `max` bytes of the body, then stops; the rest is dropped with
/// the response (and its connection).
async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Bytes, TransportError> {
    if max == 0 {
        return Ok(Bytes::new());
    }
    let hint = response
        .content_length()
        .map_or(0, |n| usize::try_from(n).unwrap_or(max));
    let mut body = BytesMut::with_capacity(hint.min(max));
    while let Some(chunk) = response.chunk().await.map_err(map_body_error)? {
        let room = max - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn map_body_error(err: reqwest::Error) -> TransportError {
    let err = err.without_url();
    let kind = match classify(&err) {
        // Whatever broke once the head had arrived broke mid-response.
        TransportErrorKind::Other | TransportErrorKind::Connect => TransportErrorKind::Interrupted,
        kind => kind,
    };
    if kind == TransportErrorKind::Interrupted {
        return TransportError::new(kind, BodyInterruptedBy(err));
    }
    TransportError::new(kind, err)
}

/// The response body could not be read to the end.
#[derive(Debug, thiserror::Error)]
#[error("the connection broke while reading the response body")]
struct BodyInterruptedBy(#[source] reqwest::Error);

fn map_error(err: reqwest::Error) -> TransportError {
    let err = err.without_url();
    let kind = classify(&err);
    if kind == TransportErrorKind::Rejected && has_no_tls(&err) {
        return TransportError::new(kind, NoTlsBecause(err));
    }
    TransportError::new(kind, err)
}

/// An `https` URL, but no TLS backend compiled in.
#[derive(Debug, thiserror::Error)]
#[error("https needs TLS: enable hookwire's `rustls` feature or a reqwest TLS feature")]
struct NoTlsBecause(#[source] reqwest::Error);

/// The message hyper-util's connector gives an `https` URL when reqwest was
/// built without TLS.
const NO_TLS_MESSAGE: &str = "invalid URL, scheme is not http";

fn has_no_tls(err: &reqwest::Error) -> bool {
    chain(err).any(|e| e.to_string() == NO_TLS_MESSAGE)
}

fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| e.source())
}

/// Sorts a reqwest error into a kind by walking its `source()` chain.
fn classify(err: &reqwest::Error) -> TransportErrorKind {
    use TransportErrorKind as K;

    let mut interrupted = false;
    let mut parse = false;
    for e in chain(err) {
        if e.is::<BlockedTarget>() || e.to_string() == NO_TLS_MESSAGE {
            return K::Rejected;
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            interrupted |= h.is_incomplete_message()
                || h.is_canceled()
                || h.is_closed()
                || h.is_body_write_aborted();
            parse |= h.is_parse() || h.is_parse_status();
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            interrupted |= matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            );
        }
    }
    if err.is_timeout() {
        K::Timeout
    } else if err.is_builder() {
        K::Rejected
    } else if err.is_connect() {
        K::Connect
    } else if parse {
        K::Other
    } else if interrupted || err.is_body() || err.is_decode() {
        K::Interrupted
    } else {
        K::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name that resolves only to blocked addresses, through a client with the
    /// guarded resolver, maps to `Rejected` (the transport's own `localhost`
    /// check would stop this name before the resolver).
    #[tokio::test]
    async fn a_name_resolving_to_blocked_addresses_is_rejected() {
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new()))
            .build()
            .expect("client builds");
        let err = client
            .get("http://localhost:9/hook/secret-token-123")
            .send()
            .await
            .expect_err("refused by the resolver");
        let err = map_error(err);
        assert_eq!(err.kind(), TransportErrorKind::Rejected);
        let text = format!("{err:?}");
        assert!(
            text.contains("resolves only to blocked addresses"),
            "{text}"
        );
        assert!(!text.contains("secret-token-123"), "{text}");
    }

    #[test]
    fn literal_checks_use_the_normalised_host() {
        for (url, blocked) in [
            ("http://127.0.0.1/", true),
            ("http://2130706433/", true),
            ("http://[fd00::1]/", true),
            ("http://LOCALHOST/", true),
            ("http://93.184.216.34/", false),
            ("http://hooks.example.com/", false),
        ] {
            let url = reqwest::Url::parse(url).expect("valid URL");
            assert_eq!(check_target(&url).is_err(), blocked, "{url}");
        }
    }
}
