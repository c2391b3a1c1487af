//! Why the console refused or could not answer a request: each becomes a
//! small page with the status and the reason in words.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::dispatch::DispatchError;

/// A request the console could not serve.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConsoleError {
    /// No such endpoint, delivery or page.
    #[error("{0}")]
    NotFound(String),
    /// A malformed path or query.
    #[error("{0}")]
    BadRequest(String),
    /// An action without the right token, or from another site; a client
    /// the local-only mode does not serve.
    #[error("{0}")]
    Forbidden(String),
    /// The action does not apply to the current state.
    #[error("{0}")]
    Conflict(String),
    /// The store (or the dispatcher) failed.
    #[error("the dispatcher failed")]
    Dispatch(#[from] DispatchError),
}

impl ConsoleError {
    /// What the page says: the reason, and for a dispatcher failure its
    /// cause (a store error names its kind only, never a URL or a secret).
    fn message(&self) -> String {
        match self {
            Self::Dispatch(DispatchError::Store(e)) => e.to_string(),
            Self::Dispatch(e) => e.to_string(),
            other => other.to_string(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Dispatch(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        #[cfg(feature = "tracing")]
        match &self {
            Self::Dispatch(_) => {
                tracing::error!(error = %self.message(), "console: the dispatcher failed")
            }
            Self::Forbidden(why) => tracing::warn!(reason = %why, "console: request refused"),
            _ => {}
        }
        let title = status.canonical_reason().unwrap_or("error");
        let body = maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; title { (title) " · hookwire console" } style { (super::view::CSS) } }
                body { main { h1 { (status.as_u16()) " " (title) } p.error { (self.message()) } } }
            }
        };
        (status, super::view::html_response(body)).into_response()
    }
}
