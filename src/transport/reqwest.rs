//! [`ReqwestTransport`]: a [`Transport`] over [`reqwest`], with the SSRF guard
//! it resolves names through ([`GuardedResolver`]); the type's docs say what it
//! guarantees. Its public items are re-exported by the parent module.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{
    SendOptions, Transport, TransportError, TransportErrorKind, WebhookRequest, WebhookResponse,
    DEFAULT_USER_AGENT,
};
use crate::target::{self, BlockedTarget, TargetPolicy};

/// The default time allowed to open a connection (TCP and TLS); the request's
/// own timeout bounds it too.
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle pooled connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many idle connections are kept per host by default: the
/// default worker's most requests in flight (2 loops of 32), so a busy
/// endpoint's connections are reused rather than closed and opened again.
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub const DEFAULT_MAX_IDLE_PER_HOST: usize = 64;

/// A [`Transport`] over a [`reqwest::Client`] (cargo feature `reqwest`).
///
/// Cloning is cheap: clones share the clients and their connection pools.
///
/// It keeps the [transport contract](crate::transport#contract-for-implementations):
///
/// - sends the request once and **never follows redirects**: a 3xx answer comes
///   back as a response;
/// - bounds the **whole exchange** (connect, request, response head and body)
///   by the `timeout` it is given, reported as [`TransportErrorKind::Timeout`]
///   with the phase it expired in as its [reason](TransportError::reason):
///   `timed out after 10 s connecting`, `... waiting for the response
///   headers`, `... reading the body`;
/// - reads at most `max_body` bytes of the response body, chunk by chunk, and
///   drops the rest (the connection is then closed rather than reused);
/// - maps every failure to a [`TransportErrorKind`]: refused connections, DNS
///   and TLS failures are [`Connect`](TransportErrorKind::Connect), a
///   connection that breaks mid-response is
///   [`Interrupted`](TransportErrorKind::Interrupted), an invalid URL or a
///   blocked address is [`Rejected`](TransportErrorKind::Rejected);
/// - keeps URLs out of its errors: endpoint URLs can hold tokens.
///
/// It needs a Tokio runtime with the IO and time drivers enabled, as reqwest does.
///
/// # TLS
///
/// The `reqwest` feature enables no TLS backend. Enable the `rustls` feature
/// (rustls with the *ring* provider and the bundled Mozilla roots), or enable a
/// reqwest TLS feature in your own `reqwest` dependency: Cargo unifies the
/// features and the client built here uses it. Without TLS an `https` endpoint
/// is refused as [`Rejected`](TransportErrorKind::Rejected).
///
/// # Security
///
/// **Redirects.** The client built here never follows them. Following one would
/// send a signed payload somewhere the endpoint's owner chose at request time,
/// past the checks made when the endpoint was registered.
///
/// **SSRF.** The dispatcher checks each URL's host as written against its
/// [target policy](crate::target) and passes the policy on in
/// [`SendOptions::targets`]. Under [`TargetPolicy::PublicOnly`] (the default)
/// this transport checks again at connect time: IP literals (in any form the
/// URL parser accepts, `http://2130706433/` included) and `localhost` names
/// before sending, and every address a host *name* resolves to through
/// [`GuardedResolver`], which drops the blocked ones, so the connection only
/// ever goes to an address that passed the check (no window for DNS
/// rebinding). A name that resolves *only* to blocked addresses is
/// [`Rejected`](TransportErrorKind::Rejected). Under
/// [`TargetPolicy::AllowPrivate`] requests go through a second client with the
/// system resolver.
///
/// **Proxies.** The client built here ignores `HTTP_PROXY`/`HTTPS_PROXY`/
/// `ALL_PROXY`: a proxy resolves names itself, out of the guard's reach, and an
/// environment variable should not be able to reroute signed payloads. A host
/// that must egress through a proxy builds its own client (below) and enforces
/// its SSRF policy at the proxy.
///
/// **Bringing your own client.** [`ReqwestTransport::with_client`] (or
/// [`From<reqwest::Client>`](ReqwestTransport#impl-From<Client>-for-ReqwestTransport))
/// uses a host's [`reqwest::Client`] as it is. That client must be built with
/// [`redirect::Policy::none()`](reqwest::redirect::Policy::none), and its
/// resolver is not guarded unless it was built with
/// [`ClientBuilder::dns_resolver`](reqwest::ClientBuilder::dns_resolver)`(Arc::new(GuardedResolver::new()))`.
/// The IP-literal and `localhost` checks still apply; the one client serves
/// both target policies.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use hookwire::dispatch::{ConfigError, Dispatcher};
/// use hookwire::store::Store;
/// use hookwire::transport::ReqwestTransport;
///
/// fn dispatcher(store: impl Store + 'static) -> Result<Dispatcher, ConfigError> {
///     Dispatcher::builder(ReqwestTransport::new(), store).build()
/// }
///
/// // Or tuned:
/// let transport = ReqwestTransport::builder()
///     .connect_timeout(Duration::from_secs(3))
///     .build()?;
/// # drop(transport);
/// # Ok::<(), hookwire::transport::ReqwestBuildError>(())
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct ReqwestTransport {
    /// For [`TargetPolicy::PublicOnly`]: resolves through [`GuardedResolver`].
    guarded: reqwest::Client,
    /// For [`TargetPolicy::AllowPrivate`]: the system resolver.
    open: reqwest::Client,
    /// The clients' connect timeout, to say so when it expires (`None` for
    /// a host's own client).
    connect_timeout: Option<Duration>,
}

impl ReqwestTransport {
    /// A transport with the default settings: no redirects, no proxies, the
    /// SSRF guard at connect time, a [`DEFAULT_CONNECT_TIMEOUT`] and
    /// [`DEFAULT_USER_AGENT`] for requests that carry none.
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
    /// [`GuardedResolver`]. See [Security](Self#security).
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            guarded: client.clone(),
            open: client,
            connect_timeout: None,
        }
    }

    /// The client that serves [`TargetPolicy::PublicOnly`] requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.guarded
    }

    async fn exchange(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        max_body: usize,
        phase: &AtomicU8,
    ) -> Result<WebhookResponse, TransportError> {
        let mut response = client
            .execute(request)
            .await
            .map_err(|e| map_error_after(e, self.connect_timeout))?;
        phase.store(Phase::ReadingBody as u8, Ordering::Relaxed);
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
        f.debug_struct("ReqwestTransport").finish_non_exhaustive()
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
        // The host as written first: the URL parser below normalises it
        // (`010.0.0.1` becomes 8.0.0.1, which some resolvers read as
        // 10.0.0.1); the guard checks every reading.
        if options.targets == TargetPolicy::PublicOnly {
            target::check_host(request.uri().host().unwrap_or(""), options.targets)
                .map_err(|blocked| TransportError::new(TransportErrorKind::Rejected, blocked))?;
        }
        // A URL the WHATWG parser refuses (an IPv6 zone id, `1.2.3.4.5`) is
        // never sent: refused, as the target guard refuses it.
        let request = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::new(TransportErrorKind::Rejected, e.without_url()))?;
        let client = match options.targets {
            TargetPolicy::AllowPrivate => &self.open,
            _ => {
                check_target(request.url(), options.targets)?;
                &self.guarded
            }
        };
        let phase = Arc::new(AtomicU8::new(Phase::WaitingForHeaders as u8));
        let exchange = PHASE.scope(
            Arc::clone(&phase),
            self.exchange(client, request, options.max_body, &phase),
        );
        match tokio::time::timeout(options.timeout, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(TransportError::new(
                TransportErrorKind::Timeout,
                TimedOut {
                    after: options.timeout,
                    phase: Phase::from_u8(phase.load(Ordering::Relaxed)),
                },
            )),
        }
    }
}

/// Builds a [`ReqwestTransport`]; start with [`ReqwestTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct ReqwestTransportBuilder {
    connect_timeout: Duration,
    max_idle_per_host: usize,
}

impl ReqwestTransportBuilder {
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

    /// Builds the clients (one per [`TargetPolicy`]) and the transport.
    ///
    /// # Errors
    ///
    /// [`ReqwestBuildError`] if the TLS backend cannot be initialised.
    pub fn build(self) -> Result<ReqwestTransport, ReqwestBuildError> {
        let client = |guarded: bool| {
            let builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                .no_proxy()
                .connect_timeout(self.connect_timeout)
                .connector_layer(PhaseLayer)
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(self.max_idle_per_host)
                .user_agent(HeaderValue::from_static(DEFAULT_USER_AGENT));
            let builder = match guarded {
                true => builder.dns_resolver(Arc::new(GuardedResolver::new())),
                false => builder,
            };
            builder
                .build()
                .map_err(|e| ReqwestBuildError::new(e.without_url()))
        };
        Ok(ReqwestTransport {
            guarded: client(true)?,
            open: client(false)?,
            connect_timeout: Some(self.connect_timeout),
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
/// Tokio) and drops every address [`target::check_ip`] refuses under
/// [`TargetPolicy::PublicOnly`]: the SSRF guard at connect time.
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
    _private: (),
}

impl GuardedResolver {
    /// A resolver that drops blocked addresses.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(
                    |a| match target::check_ip(a.ip(), TargetPolicy::PublicOnly) {
                        Ok(()) => true,
                        Err(blocked) => {
                            refused.get_or_insert(blocked);
                            false
                        }
                    },
                )
                .collect();
            match refused {
                Some(blocked) if allowed.is_empty() => {
                    Err(Box::new(ResolvesOnlyToBlocked { host, blocked })
                        as Box<dyn StdError + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// Every address a name resolved to is refused by the target guard.
#[derive(Debug, thiserror::Error)]
#[error("host {host} resolves only to blocked addresses (the first: {blocked})")]
struct ResolvesOnlyToBlocked {
    host: String,
    blocked: BlockedTarget,
}

/// Where an exchange was when its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Opening a connection (TCP and TLS).
    Connecting = 0,
    /// The request sent (or a pooled connection reused), no response head yet.
    WaitingForHeaders = 1,
    /// The head arrived; reading the body.
    ReadingBody = 2,
}

impl Phase {
    fn from_u8(n: u8) -> Self {
        match n {
            0 => Self::Connecting,
            2 => Self::ReadingBody,
            _ => Self::WaitingForHeaders,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connecting => "connecting",
            Self::WaitingForHeaders => "waiting for the response headers",
            Self::ReadingBody => "reading the body",
        })
    }
}

tokio::task_local! {
    /// The phase of the exchange this task is running, for [`PhaseLayer`].
    static PHASE: Arc<AtomicU8>;
}

/// A connector layer that marks the exchange polling it as connecting while
/// a new connection is opened. The connector runs inside the request's own
/// task when the request waits for it, so the task-local is the request's;
/// a connection opened in the background (the pool found another one first)
/// finds none, or marks a request that is past connecting back as waiting.
#[derive(Debug, Clone, Copy)]
struct PhaseLayer;

impl<S> tower_layer::Layer<S> for PhaseLayer {
    type Service = PhaseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PhaseService(inner)
    }
}

#[derive(Debug, Clone)]
struct PhaseService<S>(S);

impl<S, R> tower_service::Service<R> for PhaseService<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let phase = PHASE.try_with(Arc::clone).ok();
        if let Some(p) = &phase {
            p.store(Phase::Connecting as u8, Ordering::Relaxed);
        }
        let connecting = self.0.call(request);
        Box::pin(async move {
            let result = connecting.await;
            if let Some(p) = phase {
                // Only the connecting mark is undone: a body already being
                // read stays so.
                let _ = p.compare_exchange(
                    Phase::Connecting as u8,
                    Phase::WaitingForHeaders as u8,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            result
        })
    }
}

/// The exchange did not finish in time, and where it was then.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {} {phase}", Seconds(*after))]
struct TimedOut {
    after: Duration,
    phase: Phase,
}

/// A duration as people write it: `10 s`, `1.5 s`, `200 ms`.
struct Seconds(Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{} s", d.as_secs())
        } else if d < Duration::from_secs(1) {
            write!(f, "{} ms", d.as_millis())
        } else {
            write!(f, "{:.1} s", d.as_secs_f64())
        }
    }
}

/// The connect timeout expired.
#[derive(Debug, thiserror::Error)]
#[error("timed out{} connecting", .0.map(|d| format!(" after {}", Seconds(d))).unwrap_or_default())]
struct ConnectTimedOut(Option<Duration>);

/// Refuses IP literals in blocked ranges and `localhost` names: they never go
/// through the resolver. `url` is already normalised (`http://2130706433/` has
/// host `127.0.0.1`).
fn check_target(url: &reqwest::Url, policy: TargetPolicy) -> Result<(), TransportError> {
    let Some(host) = url.host_str() else {
        return Err(TransportError::new(
            TransportErrorKind::Rejected,
            "the URL has no host",
        ));
    };
    target::check_host(host, policy)
        .map_err(|blocked| TransportError::new(TransportErrorKind::Rejected, blocked))
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

/// [`map_error`], saying so when the clients' connect timeout expired.
fn map_error_after(err: reqwest::Error, connect_timeout: Option<Duration>) -> TransportError {
    if err.is_timeout() && err.is_connect() {
        return TransportError::new(
            TransportErrorKind::Timeout,
            ConnectTimedOut(connect_timeout),
        );
    }
    map_error(err)
}

fn map_error(err: reqwest::Error) -> TransportError {
    let err = err.without_url();
    let kind = classify(&err);
    // The wrappers' text (`error sending request: client error (Connect):
    // tcp connect error: ...`) says nothing an operator needs.
    if kind == TransportErrorKind::Connect
        && chain(&err).any(|e| {
            e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused)
        })
    {
        return TransportError::new(kind, ConnectionRefused(err));
    }
    if kind == TransportErrorKind::Rejected && has_no_tls(&err) {
        return TransportError::new(kind, NoTlsBecause(err));
    }
    TransportError::new(kind, err)
}

/// Nothing listens at the endpoint's address (the reqwest error is kept for
/// `Debug` only).
#[derive(Debug, thiserror::Error)]
#[error("connection refused")]
struct ConnectionRefused(reqwest::Error);

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
        if e.is::<ResolvesOnlyToBlocked>() || e.to_string() == NO_TLS_MESSAGE {
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
        let text = chain(&err)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(": ");
        assert!(
            text.contains("host localhost resolves only to blocked addresses"),
            "{text}"
        );
        assert!(text.contains("(loopback)"), "{text}");
        let debug = format!("{err:?}");
        assert!(!text.contains("secret-token-123"), "{text}");
        assert!(!debug.contains("secret-token-123"), "{debug}");
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
            let refused = check_target(&url, TargetPolicy::PublicOnly);
            assert_eq!(refused.is_err(), blocked, "{url}");
            assert!(check_target(&url, TargetPolicy::AllowPrivate).is_ok());
        }
    }
}
