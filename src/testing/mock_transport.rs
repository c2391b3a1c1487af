//! A scripted [`Transport`] that records what it is sent.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::transport::{
    SendOptions, Transport, TransportError, TransportErrorKind, WebhookRequest, WebhookResponse,
};

/// One scripted reply of a [`MockTransport`]: a response or a transport error.
///
/// Building a reply never panics: an invalid status code, header name or header
/// value is remembered, and the transport answers it with a
/// [`TransportErrorKind::Other`] error saying what was wrong.
///
/// # Examples
///
/// ```
/// use hookwire::testing::MockReply;
/// use hookwire::transport::TransportErrorKind;
///
/// let ok = MockReply::status(200).header("retry-after", "10").body("ok");
/// let timeout = MockReply::error(TransportErrorKind::Timeout);
/// # let _ = (ok, timeout);
/// ```
#[derive(Debug, Clone)]
pub struct MockReply {
    kind: ReplyKind,
}

#[derive(Debug, Clone)]
enum ReplyKind {
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    Error(TransportErrorKind),
    Invalid(String),
}

impl MockReply {
    /// A response with `status`, no headers and an empty body.
    pub fn status(status: u16) -> Self {
        let kind = match StatusCode::from_u16(status) {
            Ok(status) => ReplyKind::Response {
                status,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            },
            Err(_) => ReplyKind::Invalid(format!("invalid status code {status}")),
        };
        Self { kind }
    }

    /// A `200 OK` response with an empty body.
    pub fn ok() -> Self {
        Self::status(200)
    }

    /// A transport error of `kind` (no response).
    pub fn error(kind: TransportErrorKind) -> Self {
        Self {
            kind: ReplyKind::Error(kind),
        }
    }

    /// Adds a response header (appended, so a name can be given several
    /// values). Has no effect on an error reply.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let ReplyKind::Response { headers, .. } = &mut self.kind {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                (Err(_), _) => {
                    self.kind = ReplyKind::Invalid(format!("invalid header name {name:?}"))
                }
                (_, Err(_)) => {
                    self.kind = ReplyKind::Invalid(format!("invalid value for header {name:?}"))
                }
            }
        }
        self
    }

    /// Sets the response body. Has no effect on an error reply.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        if let ReplyKind::Response { body: b, .. } = &mut self.kind {
            *b = body.into();
        }
        self
    }

    /// What a transport answers with this reply: the response, its body cut
    /// to `options.max_body`, or the transport error. [`MockTransport`]
    /// answers with it; so can a transport of your own, such as a
    /// [`transport_fn`](crate::transport::transport_fn) closure that also
    /// does something per request.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::testing::MockReply;
    /// use hookwire::transport::{transport_fn, SendOptions, Transport};
    ///
    /// let transport = transport_fn(|request, options| async move {
    ///     // ... look at `request` ...
    ///     MockReply::status(429).header("retry-after", "30").into_result(options)
    /// });
    /// # futures::executor::block_on(async {
    /// let request = http::Request::new(hookwire::bytes::Bytes::new());
    /// let response = transport.send(request, SendOptions::default()).await.unwrap();
    /// assert_eq!(response.status(), 429);
    /// assert_eq!(response.headers()["retry-after"], "30");
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// The reply's [`TransportError`]: for [`MockReply::error`], or for a
    /// reply built with an invalid status or header
    /// ([`TransportErrorKind::Other`], saying what was wrong).
    pub fn into_result(self, options: SendOptions) -> Result<WebhookResponse, TransportError> {
        match self.kind {
            ReplyKind::Response {
                status,
                headers,
                body,
            } => {
                let body = body.slice(..body.len().min(options.max_body));
                let mut response = WebhookResponse::new(body);
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                Ok(response)
            }
            ReplyKind::Error(kind) => Err(TransportError::from_kind(kind)),
            ReplyKind::Invalid(why) => Err(TransportError::new(
                TransportErrorKind::Other,
                format!("mock reply is invalid: {why}"),
            )),
        }
    }
}

/// A request a [`MockTransport`] received, with the options it was sent with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The URI.
    pub uri: Uri,
    /// The HTTP version.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (shared with the request, not copied).
    pub body: Bytes,
    /// The timeout and body cap the transport was given.
    pub options: SendOptions,
}

type ReplyFn = dyn Fn(&WebhookRequest, usize) -> MockReply + Send + Sync;

enum Script {
    Replies {
        replies: VecDeque<MockReply>,
        scripted: usize,
        default: Option<MockReply>,
    },
    Function(Arc<ReplyFn>),
}

enum Next {
    Reply(MockReply),
    Call(Arc<ReplyFn>, usize),
    Exhausted { scripted: usize, request: usize },
}

struct Inner {
    script: Script,
    requests: Vec<RecordedRequest>,
}

/// A [`Transport`] for tests: answers from a script (or a closure) and records
/// every request it is sent.
///
/// - [`MockTransport::new`] replies with the scripted replies in order; once
///   they run out, each further request gets the default reply if one is set
///   ([`with_default`](MockTransport::with_default),
///   [`set_default`](MockTransport::set_default)), and otherwise a
///   [`TransportErrorKind::Other`] error saying so (it never panics).
/// - [`MockTransport::always`] gives every request the same reply.
/// - [`MockTransport::with_fn`] asks a closure for each reply.
///
/// Response bodies are cut to the request's [`SendOptions::max_body`], as a real
/// transport must. It does not sleep, time out or need a runtime: it works
/// under any executor, `futures::executor::block_on` included. Clones share the
/// script and the record, so a test keeps a clone to inspect after handing one
/// to the code under test.
///
/// # Examples
///
/// ```
/// use hookwire::testing::{MockReply, MockTransport};
/// use hookwire::transport::{SendOptions, Transport, TransportErrorKind};
/// use hookwire::bytes::Bytes;
///
/// let transport = MockTransport::new([
///     MockReply::status(503),
///     MockReply::status(200).header("retry-after", "10").body("ok"),
///     MockReply::error(TransportErrorKind::Timeout),
/// ]);
/// let handle = transport.clone();
///
/// futures::executor::block_on(async {
///     let request = || {
///         http::Request::post("https://example.com/hook")
///             .body(Bytes::from_static(b"{}"))
///             .unwrap()
///     };
///     let options = SendOptions::default();
///     assert_eq!(transport.send(request(), options).await.unwrap().status(), 503);
///     let ok = transport.send(request(), options).await.unwrap();
///     assert_eq!(ok.headers()["retry-after"], "10");
///     assert_eq!(ok.body(), "ok");
///     let err = transport.send(request(), options).await.unwrap_err();
///     assert_eq!(err.kind(), TransportErrorKind::Timeout);
///     // The script has run out.
///     let err = transport.send(request(), options).await.unwrap_err();
///     assert_eq!(err.kind(), TransportErrorKind::Other);
/// });
///
/// assert_eq!(handle.request_count(), 4);
/// let first = &handle.requests()[0];
/// assert_eq!(first.method, http::Method::POST);
/// assert_eq!(first.uri, "https://example.com/hook");
/// assert_eq!(first.body, "{}");
/// ```
#[derive(Clone)]
pub struct MockTransport {
    inner: Arc<Mutex<Inner>>,
}

impl MockTransport {
    /// A transport that answers with `replies`, in order.
    pub fn new(replies: impl IntoIterator<Item = MockReply>) -> Self {
        let replies: VecDeque<MockReply> = replies.into_iter().collect();
        let scripted = replies.len();
        Self::from_script(Script::Replies {
            replies,
            scripted,
            default: None,
        })
    }

    /// A transport that answers every request with `reply`: no script, only a
    /// default reply (which [`set_default`](Self::set_default) can change).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::testing::{MockReply, MockTransport};
    ///
    /// // An endpoint that is down until the test says otherwise.
    /// let transport = MockTransport::always(MockReply::status(503).header("retry-after", "60"));
    /// // ... hand a clone to the dispatcher, run it, then:
    /// transport.set_default(MockReply::ok());
    /// ```
    pub fn always(reply: MockReply) -> Self {
        Self::new([]).with_default(reply)
    }

    /// Answers every request after the scripted replies with `reply`, instead
    /// of the error saying the script ran out. Has no effect on a transport
    /// built by [`with_fn`](Self::with_fn), whose closure answers every request.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::testing::{MockReply, MockTransport};
    ///
    /// // Fails twice, then succeeds however often it is asked.
    /// let transport = MockTransport::new([MockReply::status(503), MockReply::status(500)])
    ///     .with_default(MockReply::ok());
    /// # let _ = transport;
    /// ```
    pub fn with_default(self, reply: MockReply) -> Self {
        self.set_default(reply);
        self
    }

    /// Sets (or replaces) the default reply: the answer to every request once
    /// the scripted replies are used, from the next request on. Clones share
    /// it, so a test can change what the code under test gets mid-run. Has no
    /// effect on a transport built by [`with_fn`](Self::with_fn).
    pub fn set_default(&self, reply: MockReply) {
        if let Script::Replies { default, .. } = &mut self.lock().script {
            *default = Some(reply);
        }
    }

    /// A transport that asks `reply` for each answer. It is given the request
    /// and the number of requests received before this one (0 for the first).
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::testing::{MockReply, MockTransport};
    ///
    /// // Fails twice, then succeeds.
    /// let transport = MockTransport::with_fn(|_request, n| {
    ///     if n < 2 { MockReply::status(500) } else { MockReply::ok() }
    /// });
    /// # let _ = transport;
    /// ```
    pub fn with_fn<F>(reply: F) -> Self
    where
        F: Fn(&WebhookRequest, usize) -> MockReply + Send + Sync + 'static,
    {
        Self::from_script(Script::Function(Arc::new(reply)))
    }

    fn from_script(script: Script) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                script,
                requests: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// The number of requests received so far.
    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.lock().requests.last().cloned()
    }

    /// The number of scripted replies not yet used: the default reply is not
    /// counted, and a closure-driven transport has none (0).
    pub fn remaining(&self) -> usize {
        match &self.lock().script {
            Script::Replies { replies, .. } => replies.len(),
            Script::Function(_) => 0,
        }
    }
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        let mut d = f.debug_struct("MockTransport");
        match &inner.script {
            Script::Replies {
                replies, default, ..
            } => {
                d.field("remaining", &replies.len());
                if let Some(default) = default {
                    d.field("default", default);
                }
            }
            Script::Function(_) => {
                d.field("script", &"fn");
            }
        }
        d.field("requests", &inner.requests.len()).finish()
    }
}

#[async_trait]
impl Transport for MockTransport {
    async fn send(
        &self,
        request: WebhookRequest,
        options: SendOptions,
    ) -> Result<WebhookResponse, TransportError> {
        let next = {
            let mut inner = self.lock();
            let seen = inner.requests.len();
            inner.requests.push(RecordedRequest {
                method: request.method().clone(),
                uri: request.uri().clone(),
                version: request.version(),
                headers: request.headers().clone(),
                body: request.body().clone(),
                options,
            });
            match &mut inner.script {
                Script::Replies {
                    replies,
                    scripted,
                    default,
                } => match (replies.pop_front(), default) {
                    (Some(reply), _) => Next::Reply(reply),
                    (None, Some(default)) => Next::Reply(default.clone()),
                    (None, None) => Next::Exhausted {
                        scripted: *scripted,
                        request: seen + 1,
                    },
                },
                Script::Function(f) => Next::Call(Arc::clone(f), seen),
            }
        };
        match next {
            Next::Reply(reply) => reply.into_result(options),
            // Called without the lock held, so the closure may inspect the transport.
            Next::Call(f, seen) => f(&request, seen).into_result(options),
            Next::Exhausted { scripted, request } => Err(TransportError::new(
                TransportErrorKind::Other,
                format!(
                    "mock transport script exhausted: {scripted} replies scripted, request {request} received"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::time::Duration;

    fn request(body: &'static str) -> WebhookRequest {
        http::Request::put("https://example.com/hooks/1")
            .header("x-test", "yes")
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap()
    }

    #[test]
    fn replies_in_order_then_reports_exhaustion() {
        let t = MockTransport::new([
            MockReply::status(503),
            MockReply::status(200)
                .header("retry-after", "10")
                .body("ok"),
            MockReply::error(TransportErrorKind::Timeout),
        ]);
        assert_eq!(t.remaining(), 3);
        let opts = SendOptions::default();
        block_on(async {
            let r = t.send(request("a"), opts).await.unwrap();
            assert_eq!(r.status(), 503);
            assert!(r.body().is_empty());
            let r = t.send(request("b"), opts).await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["retry-after"], "10");
            assert_eq!(r.body(), "ok");
            let e = t.send(request("c"), opts).await.unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::Timeout);
            for n in 4..6 {
                let e = t.send(request("d"), opts).await.unwrap_err();
                assert_eq!(e.kind(), TransportErrorKind::Other);
                let source = std::error::Error::source(&e).unwrap().to_string();
                assert_eq!(
                    source,
                    format!(
                        "mock transport script exhausted: 3 replies scripted, request {n} received"
                    )
                );
            }
        });
        assert_eq!(t.remaining(), 0);
        assert_eq!(t.request_count(), 5);
        let bodies: Vec<Bytes> = t.requests().into_iter().map(|r| r.body).collect();
        assert_eq!(bodies, ["a", "b", "c", "d", "d"]);
    }

    #[test]
    fn always_gives_every_request_the_same_reply() {
        let t = MockTransport::always(
            MockReply::status(503)
                .header("retry-after", "60")
                .body("down"),
        );
        block_on(async {
            for _ in 0..3 {
                let r = t.send(request(""), SendOptions::default()).await.unwrap();
                assert_eq!(r.status(), 503);
                assert_eq!(r.headers()["retry-after"], "60");
                assert_eq!(r.body(), "down");
            }
        });
        assert_eq!(t.remaining(), 0, "the default is not a scripted reply");
        assert_eq!(t.request_count(), 3);

        let errors = MockTransport::always(MockReply::error(TransportErrorKind::Connect));
        for _ in 0..2 {
            let e = block_on(errors.send(request(""), SendOptions::default())).unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::Connect);
        }
    }

    #[test]
    fn the_default_answers_once_the_script_is_used() {
        let t = MockTransport::new([
            MockReply::status(503),
            MockReply::error(TransportErrorKind::Timeout),
        ])
        .with_default(MockReply::ok().body("ok"));
        assert_eq!(t.remaining(), 2);
        block_on(async {
            let opts = SendOptions::default();
            assert_eq!(t.send(request("a"), opts).await.unwrap().status(), 503);
            let e = t.send(request("b"), opts).await.unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::Timeout);
            for body in ["c", "d"] {
                let r = t.send(request(body), opts).await.unwrap();
                assert_eq!(r.status(), 200);
                assert_eq!(r.body(), "ok");
            }
        });
        assert_eq!(t.remaining(), 0);
        let bodies: Vec<Bytes> = t.requests().into_iter().map(|r| r.body).collect();
        assert_eq!(bodies, ["a", "b", "c", "d"]);
    }

    #[test]
    fn set_default_changes_later_replies_through_any_clone() {
        let t = MockTransport::new([MockReply::status(500)]);
        let handle = t.clone();
        let opts = SendOptions::default();
        block_on(async {
            assert_eq!(t.send(request(""), opts).await.unwrap().status(), 500);
            // No default yet: the script has run out.
            let e = t.send(request(""), opts).await.unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::Other);
            handle.set_default(MockReply::status(502));
            assert_eq!(t.send(request(""), opts).await.unwrap().status(), 502);
            handle.set_default(MockReply::status(204));
            assert_eq!(t.send(request(""), opts).await.unwrap().status(), 204);
            assert_eq!(t.send(request(""), opts).await.unwrap().status(), 204);
        });
        assert_eq!(handle.request_count(), 5);

        // Scripted replies still come first.
        let t = MockTransport::new([MockReply::status(429)]).with_default(MockReply::ok());
        t.set_default(MockReply::status(201));
        block_on(async {
            assert_eq!(t.send(request(""), opts).await.unwrap().status(), 429);
            assert_eq!(t.send(request(""), opts).await.unwrap().status(), 201);
        });
    }

    #[test]
    fn a_default_does_not_override_a_closure() {
        let t = MockTransport::with_fn(|_, _| MockReply::status(500)).with_default(MockReply::ok());
        t.set_default(MockReply::ok());
        let r = block_on(t.send(request(""), SendOptions::default())).unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(
            format!("{t:?}"),
            "MockTransport { script: \"fn\", requests: 1 }"
        );
    }

    #[test]
    fn records_requests_and_options() {
        let t = MockTransport::new([MockReply::ok()]);
        let handle = t.clone();
        let opts = SendOptions::new(Duration::from_secs(3), 10);
        block_on(t.send(request("{\"a\":1}"), opts)).unwrap();
        let r = handle.last_request().unwrap();
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.uri, "https://example.com/hooks/1");
        assert_eq!(r.version, Version::HTTP_11);
        assert_eq!(r.headers["x-test"], "yes");
        assert_eq!(r.body, "{\"a\":1}");
        assert_eq!(r.options, opts);
        assert_eq!(handle.request_count(), 1);
    }

    #[test]
    fn truncates_bodies_to_max_body() {
        let t = MockTransport::new([
            MockReply::ok().body("0123456789"),
            MockReply::ok().body("0123456789"),
            MockReply::ok().body("0123456789"),
        ]);
        block_on(async {
            let cut = |max| SendOptions::new(Duration::from_secs(1), max);
            assert_eq!(t.send(request(""), cut(4)).await.unwrap().body(), "0123");
            assert_eq!(t.send(request(""), cut(0)).await.unwrap().body(), "");
            assert_eq!(
                t.send(request(""), cut(usize::MAX)).await.unwrap().body(),
                "0123456789"
            );
        });
    }

    #[test]
    fn closure_mode_sees_request_and_index() {
        let t = MockTransport::with_fn(|req, n| {
            if n < 2 {
                MockReply::status(500)
            } else {
                MockReply::ok().body(req.body().clone())
            }
        });
        block_on(async {
            let opts = SendOptions::default();
            assert_eq!(t.send(request("x"), opts).await.unwrap().status(), 500);
            assert_eq!(t.send(request("x"), opts).await.unwrap().status(), 500);
            let r = t.send(request("echo"), opts).await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.body(), "echo");
        });
        assert_eq!(t.request_count(), 3);
        assert_eq!(t.remaining(), 0);
    }

    #[test]
    fn closure_may_inspect_the_transport_without_deadlock() {
        let slot: Arc<Mutex<Option<MockTransport>>> = Arc::default();
        let seen = Arc::clone(&slot);
        let t = MockTransport::with_fn(move |_, _| {
            let t = seen.lock().unwrap().clone().unwrap();
            MockReply::status(200 + t.request_count() as u16)
        });
        *slot.lock().unwrap() = Some(t.clone());
        let r = block_on(t.send(request(""), SendOptions::default())).unwrap();
        assert_eq!(r.status(), 201);
    }

    #[test]
    fn invalid_replies_become_errors_not_panics() {
        let t = MockTransport::new([
            MockReply::status(42),
            MockReply::status(1000),
            MockReply::ok().header("bad name", "v"),
            MockReply::ok().header("x-ok", "bad\nvalue"),
        ]);
        let expected = [
            "mock reply is invalid: invalid status code 42",
            "mock reply is invalid: invalid status code 1000",
            "mock reply is invalid: invalid header name \"bad name\"",
            "mock reply is invalid: invalid value for header \"x-ok\"",
        ];
        for message in expected {
            let e = block_on(t.send(request(""), SendOptions::default())).unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::Other);
            assert_eq!(std::error::Error::source(&e).unwrap().to_string(), message);
        }
    }

    #[test]
    fn headers_append_and_errors_ignore_builders() {
        let t = MockTransport::new([
            MockReply::ok()
                .header("retry-after", "x")
                .header("retry-after", "5"),
            MockReply::error(TransportErrorKind::Connect)
                .header("a", "b")
                .body("ignored"),
        ]);
        block_on(async {
            let r = t.send(request(""), SendOptions::default()).await.unwrap();
            let values: Vec<_> = r.headers().get_all("retry-after").iter().collect();
            assert_eq!(values, ["x", "5"]);
            let e = t
                .send(request(""), SendOptions::default())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), TransportErrorKind::Connect);
        });
    }

    #[test]
    fn usable_as_a_shared_trait_object() {
        let t = MockTransport::new([MockReply::ok()]);
        let shared: Arc<dyn Transport> = Arc::new(t.clone());
        block_on(shared.send(request(""), SendOptions::default())).unwrap();
        assert_eq!(t.request_count(), 1);
        assert_eq!(
            format!("{t:?}"),
            "MockTransport { remaining: 0, requests: 1 }"
        );
        let d = MockTransport::always(MockReply::error(TransportErrorKind::Timeout));
        assert_eq!(
            format!("{d:?}"),
            "MockTransport { remaining: 0, default: MockReply { kind: Error(Timeout) }, requests: 0 }"
        );
        let f = MockTransport::with_fn(|_, _| MockReply::ok());
        assert_eq!(
            format!("{f:?}"),
            "MockTransport { script: \"fn\", requests: 0 }"
        );
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<MockTransport>();
        assert_send_sync::<MockReply>();
        assert_send_sync::<RecordedRequest>();
    }
}
