//! [`Rejection`]: why a request was not handed to the handler, and the
//! response that says so.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use super::dedupe::DedupeError;
use crate::signature::{Verified, VerifyError};

/// Why a request did not reach the handler, with the status to answer.
///
/// [`to_response`](Self::to_response) answers with the status and its
/// canonical reason only (`Unauthorized`, `Payload Too Large`, ...): nothing
/// about the secrets, the checks or the store reaches the sender. The error
/// itself (its `Display` and source) is for the receiver's own logs.
///
/// | variant | status |
/// |---|---|
/// | [`Verify`](Self::Verify) | [`VerifyError::status`]: 401 for a signature or timestamp, 400 for a body that is not the expected JSON, 413 for a body over the limit |
/// | [`BodyTooLarge`](Self::BodyTooLarge) | 413, before the whole body was read |
/// | [`BodyRead`](Self::BodyRead) | 400 |
/// | [`Dedupe`](Self::Dedupe) | 503: the sender retries |
/// | [`Duplicate`](Self::Duplicate) | 200: already handled |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The verifier refused the request, or its body did not parse.
    #[error(transparent)]
    Verify(VerifyError),
    /// The body is longer than the limit; reading stopped there.
    #[error("body is over the {limit} byte limit")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read (the client went away, a framing error).
    #[error("cannot read the body")]
    BodyRead(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The dedupe store could not answer, so the delivery is not taken.
    #[error("cannot check for a duplicate")]
    Dedupe(#[source] DedupeError),
    /// The delivery was seen before: answered 200 without the handler.
    #[error("duplicate delivery {}", verified.id)]
    Duplicate {
        /// What the signature proved.
        verified: Box<Verified>,
    },
}

impl Rejection {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Verify(e) => e.status(),
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::Dedupe(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Duplicate { .. } => StatusCode::OK,
        }
    }

    /// The response body: `duplicate` for a duplicate, otherwise the
    /// status's canonical reason. Never a detail of the check that failed.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Duplicate { .. } => "duplicate",
            other => other.status().canonical_reason().unwrap_or("error"),
        }
    }

    /// The response: [`status`](Self::status), `text/plain`,
    /// [`public_message`](Self::public_message); `connection: close` when
    /// the body was not read to its end (413), so the rest is never read.
    pub fn to_response(&self) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from_static(self.public_message().as_bytes()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if matches!(self, Self::BodyTooLarge { .. } | Self::BodyRead(_)) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_say_the_status_and_nothing_else() {
        let cases = [
            (
                Rejection::Verify(VerifyError::NoMatchingSignature {
                    name: "webhook-signature",
                }),
                401,
                "Unauthorized",
            ),
            (
                Rejection::BodyTooLarge { limit: 10 },
                413,
                "Payload Too Large",
            ),
            (
                Rejection::Dedupe(DedupeError::Full { capacity: 1 }),
                503,
                "Service Unavailable",
            ),
        ];
        for (rejection, status, body) in cases {
            let response = rejection.to_response();
            assert_eq!(response.status(), status, "{rejection}");
            assert_eq!(response.body(), body.as_bytes());
        }
    }
}
