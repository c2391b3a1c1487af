//! Receiving on axum 0.8 (feature `axum`): the [`Webhook`] extractor.

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request};
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
/// The dedupe key is recorded before the handler runs. A handler that fails
/// and answers an error (so that the sender retries) calls
/// [`Receiver::forget`] with `verified.dedupe_key` first (take
/// `State<Receiver>` too), or the retry is answered as a duplicate.
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
