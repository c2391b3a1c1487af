//! The HTTP boundary: one trait that sends one request.
//!
//! hookwire never opens a socket itself. The host hands it a [`Transport`]: an
//! adapter shipped behind a cargo feature, its own type, or a closure wrapped
//! with [`transport_fn`].
//!
//! # Contract for implementations
//!
//! - Send exactly the request given, once. **No retries**: retrying is the
//!   dispatcher's job, driven by the retry policy and recorded in the store.
//! - **Never follow redirects.** A 3xx answer is returned as a response (the
//!   policy counts it as a failure); following it would also open an SSRF hole.
//! - **Honour the timeout passed in**, covering the whole exchange, and report it
//!   as [`TransportErrorKind::Timeout`].
//! - **Cap the response body** at the `max_body` passed in: read at most that
//!   many bytes and drop the rest. The status and headers are what count.
//! - Any HTTP status, 4xx and 5xx included, is `Ok(response)`; `Err` means no
//!   complete response was received.
//! - **Connect only where [`SendOptions::targets`] allows**: check the address
//!   you are about to connect to with [`target::check_ip`](crate::target::check_ip)
//!   (after DNS resolution, so that a name pointing into your own network is
//!   caught) and report a refusal as [`TransportErrorKind::Rejected`]. The
//!   dispatcher has checked the URL's host as written already.
//! - Keep secrets out of errors: endpoint URLs can hold tokens, so do not put
//!   them in error messages.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::target::TargetPolicy;

#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(feature = "reqwest")]
pub use self::reqwest::{
    GuardedResolver, ReqwestBuildError, ReqwestTransport, ReqwestTransportBuilder,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_IDLE_PER_HOST,
};

/// The `User-Agent` of every request hookwire sends, unless the host sets
/// another ([`DispatcherBuilder::user_agent`](crate::dispatch::DispatcherBuilder::user_agent)).
pub const DEFAULT_USER_AGENT: &str = concat!("hookwire/", env!("CARGO_PKG_VERSION"));

/// An outgoing webhook request; the body is shared, not copied, between attempts
/// and between the endpoints of one event.
pub type WebhookRequest = http::Request<Bytes>;

/// The endpoint's answer, with the body cut to the limit the transport was given.
pub type WebhookResponse = http::Response<Bytes>;

/// Sends one HTTP request and returns the response. See the [module docs](self)
/// for the contract.
///
/// # Examples
///
/// A closure is a transport:
///
/// ```
/// use hookwire::transport::{transport_fn, Transport, WebhookResponse};
/// use bytes::Bytes;
///
/// let transport = transport_fn(|_request, _timeout| async {
///     Ok(WebhookResponse::new(Bytes::new()))
/// });
/// # futures::executor::block_on(async {
/// let request = http::Request::new(Bytes::from_static(b"{}"));
/// let limits = hookwire::transport::SendOptions::default();
/// let response = transport.send(request, limits).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Sends `request` within `options.timeout`, reading at most
    /// `options.max_body` bytes of the response body.
    async fn send(
        &self,
        request: WebhookRequest,
        options: SendOptions,
    ) -> Result<WebhookResponse, TransportError>;
}

/// Limits the dispatcher gives the transport for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// The whole exchange must end within this time.
    pub timeout: Duration,
    /// Read at most this many bytes of the response body.
    pub max_body: usize,
    /// Which addresses the transport may connect to (see the [contract](self#contract-for-implementations)).
    pub targets: TargetPolicy,
}

impl SendOptions {
    /// Options with the given timeout and body cap, public targets only.
    pub fn new(timeout: Duration, max_body: usize) -> Self {
        Self {
            timeout,
            max_body,
            targets: TargetPolicy::PublicOnly,
        }
    }

    /// With this target policy.
    pub fn with_targets(mut self, targets: TargetPolicy) -> Self {
        self.targets = targets;
        self
    }
}

impl Default for SendOptions {
    /// 10 seconds (the default policy's timeout), 64 KiB, public targets only.
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 64 * 1024)
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn send(
        &self,
        request: WebhookRequest,
        options: SendOptions,
    ) -> Result<WebhookResponse, TransportError> {
        (**self).send(request, options).await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Box<T> {
    async fn send(
        &self,
        request: WebhookRequest,
        options: SendOptions,
    ) -> Result<WebhookResponse, TransportError> {
        (**self).send(request, options).await
    }
}

/// Wraps a closure `Fn(WebhookRequest, SendOptions) -> impl Future<Output =
/// Result<WebhookResponse, TransportError>>` as a [`Transport`].
pub fn transport_fn<F, Fut>(f: F) -> TransportFn<F>
where
    F: Fn(WebhookRequest, SendOptions) -> Fut + Send + Sync,
    Fut: Future<Output = Result<WebhookResponse, TransportError>> + Send,
{
    TransportFn(f)
}

/// A closure acting as a [`Transport`]; built by [`transport_fn`].
pub struct TransportFn<F>(F);

impl<F> fmt::Debug for TransportFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportFn")
    }
}

#[async_trait]
impl<F, Fut> Transport for TransportFn<F>
where
    F: Fn(WebhookRequest, SendOptions) -> Fut + Send + Sync,
    Fut: Future<Output = Result<WebhookResponse, TransportError>> + Send,
{
    async fn send(
        &self,
        request: WebhookRequest,
        options: SendOptions,
    ) -> Result<WebhookResponse, TransportError> {
        (self.0)(request, options).await
    }
}

/// What kind of failure stopped a request from getting a response.
///
/// Each kind says whether the default retry policy retries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// DNS, TCP or TLS failure: nothing reached the endpoint. Retried.
    Connect,
    /// No complete response within the timeout. Retried.
    Timeout,
    /// The connection broke mid-exchange (reset, truncated body). Retried.
    Interrupted,
    /// Refused before sending: invalid URL, blocked address. Not retried.
    Rejected,
    /// The transport (or code it called) panicked; the dispatcher caught the
    /// panic and recorded it as this attempt's failure. Retried.
    Panicked,
    /// Anything else. Retried.
    Other,
}

impl TransportErrorKind {
    /// The kind's lowercase name, as stored and displayed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Interrupted => "interrupted",
            Self::Rejected => "rejected",
            Self::Panicked => "panicked",
            Self::Other => "other",
        }
    }

    /// Parses a name produced by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "connect" => Self::Connect,
            "timeout" => Self::Timeout,
            "interrupted" => Self::Interrupted,
            "rejected" => Self::Rejected,
            "panicked" => Self::Panicked,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that got no response: a [`TransportErrorKind`] and, optionally, the
/// underlying error.
#[derive(Debug, thiserror::Error)]
#[error("webhook transport failed ({kind})")]
pub struct TransportError {
    kind: TransportErrorKind,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl TransportError {
    /// An error of `kind` caused by `source`.
    pub fn new(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// An error of `kind` with no underlying error.
    pub fn from_kind(kind: TransportErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// The kind of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Why, in words: the underlying error and its causes, joined by `: `
    /// (for example `error sending request: connection refused`), or the
    /// kind's name when there is no underlying error. What attempt records
    /// keep. Transports keep URLs and secrets out of their errors (see the
    /// [contract](self#contract-for-implementations)), so this holds none.
    pub fn reason(&self) -> String {
        let mut reason = String::new();
        let mut next = self
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static));
        while let Some(e) = next {
            let text = e.to_string();
            // Wrappers often repeat their cause's message; say it once.
            if !text.is_empty() && !reason.ends_with(&text) {
                if !reason.is_empty() {
                    reason.push_str(": ");
                }
                reason.push_str(&text);
            }
            next = e.source();
        }
        if reason.is_empty() {
            reason.push_str(self.kind.as_str());
        }
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_object_safe() {
        let t: Arc<dyn Transport> = Arc::new(transport_fn(|_, _| async {
            Err(TransportError::from_kind(TransportErrorKind::Timeout))
        }));
        let err = futures::executor::block_on(
            t.send(http::Request::new(Bytes::new()), SendOptions::default()),
        )
        .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Timeout);
        assert_eq!(err.to_string(), "webhook transport failed (timeout)");
        assert_eq!(format!("{t:?}"), "TransportFn");
    }

    #[test]
    fn kind_names_round_trip() {
        for k in [
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::Interrupted,
            TransportErrorKind::Rejected,
            TransportErrorKind::Panicked,
            TransportErrorKind::Other,
        ] {
            assert_eq!(TransportErrorKind::from_name(k.as_str()), Some(k));
        }
    }
}
