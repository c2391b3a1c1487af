//! Receiving on axum 0.8 (feature `axum`): the [`Webhook`] extractor.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::body::read_limited;
use super::receiver::Receiver;
use super::rejection::Rejection;
use crate::signature::Verified;

/// A verified, parsed, deduplicated webhook: an axum extractor.
///
/// It takes the [`Receiver`] from the router's state (`Receiver: FromRef<S>`:
/// the state itself, or a field of it), reads the body up to the verifier's
/// limit (an oversized body is answered 413 without being read to its end),
/// verifies it, parses it as `T` and checks its dedupe key. Any failure is a
/// [`Rejection`], answered with its status and a one-word body; a duplicate
/// is answered 200 without running the handler (unless the receiver was
/// built with [`Duplicates::Deliver`](super::Duplicates::Deliver)). Take
/// `Result<Webhook<T>, Rejection>` to see rejections yourself (to log them).
///
/// As the extractor that reads the body, it comes last among the handler's
/// arguments.
///
/// The dedupe key is recorded before the handler runs, so that two copies
/// arriving at once run the handler once. A handler that fails and answers
/// an error (so that the sender retries) must not leave it recorded, or the
/// retry is answered as a duplicate and the event is lost: put the
/// [`retry_failed`] middleware on the route (it forgets the key whenever the
/// answer is not 2xx), or call [`Receiver::forget`] with
/// `verified.dedupe_key` yourself.
///
/// # Examples
///
/// ```
/// use axum::{routing::post, Router};
/// use hookwire::model::ExperienceWebhook;
/// use hookwire::receive::{axum::Webhook, Receiver};
/// use hookwire::signature::{SigningSecret, Verifier};
///
/// async fn handle(Webhook { payload, verified, .. }: Webhook<ExperienceWebhook>) -> &'static str {
///     println!("{} {:?}", verified.id, payload);
///     "ok"
/// }
///
/// let secret = SigningSecret::from_raw_str("shared-secret").unwrap();
/// let app: Router = Router::new()
///     .route("/webhooks", post(handle))
///     .with_state(Receiver::new(Verifier::new(secret)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Webhook<T> {
    /// The body, parsed.
    pub payload: T,
    /// What the signature proved: the dedupe key, the signed id and time.
    pub verified: Verified,
    /// Whether it was seen before (only with
    /// [`Duplicates::Deliver`](super::Duplicates::Deliver)).
    pub duplicate: bool,
}

impl<S, T> FromRequest<S> for Webhook<T>
where
    Receiver: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Rejection;

    async fn from_request(request: Request<Body>, state: &S) -> Result<Self, Rejection> {
        let receiver = Receiver::from_ref(state);
        let (parts, body) = request.into_parts();
        let bytes = read_limited(body, receiver.max_body_size()).await?;
        let received = receiver.receive::<T>(&parts.headers, &bytes).await?;
        if !received.duplicate {
            if let Some(recorded) = parts.extensions.get::<Recorded>() {
                recorded.set(received.verified.dedupe_key.clone());
            }
        }
        Ok(Self {
            payload: received.payload,
            verified: received.verified,
            duplicate: received.duplicate,
        })
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.to_response().map(Body::from)
    }
}

/// Where [`Webhook`] leaves the dedupe key it recorded, for [`retry_failed`].
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Option<String>>>);

impl Recorded {
    fn set(&self, key: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(key);
    }

    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A middleware that lets a failed delivery be retried: when the handler
/// answers anything but 2xx, the dedupe key the [`Webhook`] extractor
/// recorded for this request is forgotten, so the sender's next attempt
/// runs the handler again instead of being answered as a duplicate.
///
/// For `axum::middleware::from_fn_with_state`, with the same [`Receiver`]
/// the extractor uses. If the store cannot forget (Redis down), the retry is
/// answered as a duplicate (a warning under the `tracing` feature).
///
/// # Examples
///
/// ```
/// use axum::http::StatusCode;
/// use axum::{middleware, routing::post, Router};
/// use hookwire::receive::axum::{retry_failed, Webhook};
/// use hookwire::receive::Receiver;
/// use hookwire::signature::{SigningSecret, Verifier};
///
/// async fn handle(webhook: Webhook<serde_json::Value>) -> StatusCode {
///     // An error here answers 500: the sender retries, and the retry runs this again.
///     # let _ = webhook;
///     StatusCode::OK
/// }
///
/// let receiver = Receiver::new(Verifier::new(SigningSecret::from_raw_str("shared").unwrap()));
/// let app: Router = Router::new()
///     .route("/webhooks", post(handle))
///     .layer(middleware::from_fn_with_state(receiver.clone(), retry_failed))
///     .with_state(receiver);
/// ```
pub async fn retry_failed(
    State(receiver): State<Receiver>,
    mut request: Request,
    next: Next,
) -> Response {
    let recorded = Recorded::default();
    request.extensions_mut().insert(recorded.clone());
    let response = next.run(request).await;
    if !response.status().is_success() {
        if let Some(key) = recorded.take() {
            receiver.forget_failed(&key).await;
        }
    }
    response
}
