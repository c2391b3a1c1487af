//! Receiving on any tower-based server (feature `tower`): [`WebhookLayer`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{Either, Full};
use serde::de::{DeserializeOwned, IgnoredAny};
use tower_layer::Layer;
use tower_service::Service;

use super::body::read_limited;
use super::receiver::Receiver;
use super::rejection::Rejection;

/// Marks a request whose dedupe key was seen before, in its extensions
/// (only with [`Duplicates::Deliver`](super::Duplicates::Deliver)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate;

/// A tower [`Layer`] that receives signed webhooks in front of any service.
///
/// For each request it reads the body up to the verifier's limit (an
/// oversized body is answered 413 without being read to its end), verifies
/// it, checks that it parses as `T` (by default only that it is JSON), and
/// checks its dedupe key. A request that passes reaches the inner service
/// with **the same bytes** (a [`Full<Bytes>`] body) and, in its extensions,
/// the [`Verified`](crate::signature::Verified) metadata and the parsed `T`
/// (and [`Duplicate`] for a duplicate the receiver delivers). Anything else
/// is answered by the layer: [`Rejection::to_response`], a duplicate 200
/// without calling the inner service.
///
/// When the inner service answers with a status other than 2xx, the
/// delivery's dedupe key is forgotten, so the sender's retry is handled again.
///
/// # Examples
///
/// ```
/// use hookwire::bytes::Bytes;
/// use hookwire::http::{Request, Response};
/// use hookwire::model::ExperienceWebhook;
/// use hookwire::receive::{tower::WebhookLayer, Receiver};
/// use hookwire::signature::{SigningSecret, Verified, Verifier};
/// use http_body_util::Full;
/// use tower::{service_fn, ServiceBuilder};
///
/// let receiver = Receiver::new(Verifier::new(SigningSecret::generate()));
/// let service = ServiceBuilder::new()
///     .layer(WebhookLayer::new(receiver).parse::<ExperienceWebhook>())
///     .service(service_fn(|request: Request<Full<Bytes>>| async move {
///         let verified = request.extensions().get::<Verified>().expect("set by the layer");
///         let event = request.extensions().get::<ExperienceWebhook>().expect("set by the layer");
///         println!("{} {event:?}", verified.id);
///         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
///     }));
/// # let _ = service;
/// ```
pub struct WebhookLayer<T = IgnoredAny> {
    receiver: Receiver,
    payload: PhantomData<fn() -> T>,
}

impl WebhookLayer {
    /// A layer receiving with `receiver`, checking that bodies are JSON.
    pub fn new(receiver: Receiver) -> Self {
        Self {
            receiver,
            payload: PhantomData,
        }
    }
}

impl<T> WebhookLayer<T> {
    /// Parses each body as `U`, refusing (400) one that does not parse, and
    /// puts the value in the request's extensions.
    pub fn parse<U>(self) -> WebhookLayer<U> {
        WebhookLayer {
            receiver: self.receiver,
            payload: PhantomData,
        }
    }
}

impl<T> Clone for WebhookLayer<T> {
    fn clone(&self) -> Self {
        Self {
            receiver: self.receiver.clone(),
            payload: PhantomData,
        }
    }
}

impl<T> fmt::Debug for WebhookLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookLayer")
            .field("receiver", &self.receiver)
            .field("payload", &std::any::type_name::<T>())
            .finish()
    }
}

impl<S, T> Layer<S> for WebhookLayer<T> {
    type Service = WebhookService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService {
            inner,
            receiver: self.receiver.clone(),
            payload: PhantomData,
        }
    }
}

/// The service [`WebhookLayer`] wraps around an inner one.
pub struct WebhookService<S, T = IgnoredAny> {
    inner: S,
    receiver: Receiver,
    payload: PhantomData<fn() -> T>,
}

impl<S: Clone, T> Clone for WebhookService<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            receiver: self.receiver.clone(),
            payload: PhantomData,
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for WebhookService<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService")
            .field("inner", &self.inner)
            .field("receiver", &self.receiver)
            .finish()
    }
}

/// The answer: the inner service's, or the layer's own.
type ResponseBody<B> = Either<B, Full<Bytes>>;

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for WebhookService<S, T>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ResBody: Send,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let receiver = self.receiver.clone();
        Box::pin(async move {
            let reject = |rejection: Rejection| {
                Ok(rejection
                    .to_response()
                    .map(|body| Either::Right(Full::new(body))))
            };
            let (mut parts, body) = request.into_parts();
            let bytes = match read_limited(body, receiver.max_body_size()).await {
                Ok(bytes) => bytes,
                Err(rejection) => return reject(rejection),
            };
            let received = match receiver.receive::<T>(&parts.headers, &bytes).await {
                Ok(received) => received,
                Err(rejection) => return reject(rejection),
            };
            let key = received.verified.dedupe_key.clone();
            let fresh = !received.duplicate;
            parts.extensions.insert(received.verified);
            parts.extensions.insert(received.payload);
            if received.duplicate {
                parts.extensions.insert(Duplicate);
            }
            let response = inner
                .call(Request::from_parts(parts, Full::new(bytes)))
                .await?;
            if fresh && !response.status().is_success() {
                // The sender will retry: let the retry through.
                receiver.forget_failed(&key).await;
            }
            Ok(response.map(Either::Left))
        })
    }
}
