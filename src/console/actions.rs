//! The actions, each a POST checked for its token before anything else:
//! redeliver a dead delivery, enable or disable an endpoint, send a test
//! event.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path};
use axum::response::{IntoResponse, Response};
use http::header::{HeaderMap, HeaderValue, LOCATION};
use http::StatusCode;
use maud::html;
use serde::Deserialize;

use super::error::ConsoleError;
use super::pages::{delivery_id, endpoint_id};
use super::view::{self, page, Base};
use super::State;
use crate::dispatch::DispatchError;
use crate::store::AttemptResult;

/// What an action's form carries.
#[derive(Debug, Deserialize)]
pub(super) struct ActionForm {
    csrf: Option<String>,
}

/// The token check every action starts with: a form that is not a form, or
/// carries no token or the wrong one, is refused.
fn checked(
    state: &super::ConsoleState,
    headers: &HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<(), ConsoleError> {
    let token = form.ok().and_then(|Form(f)| f.csrf);
    state.csrf.check(headers, token.as_deref())
}

/// A `303 See Other` to the console page `path`, where the operator sees
/// what the action did.
fn see(base: &Base, path: &str) -> Result<Response, ConsoleError> {
    let location = HeaderValue::from_str(&base.to(path))
        .map_err(|_| ConsoleError::BadRequest("the console's path is not a valid URL".into()))?;
    Ok((StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response())
}

/// `POST /deliveries/{id}/redeliver`: a dead delivery becomes pending,
/// due now; then its page.
pub(super) async fn redeliver(
    state: State,
    base: Base,
    Path(raw): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    checked(&state, &headers, form)?;
    let id = delivery_id(&raw)?;
    if !state.dispatcher.redeliver(&id).await? {
        return Err(match state.dispatcher.store().delivery(&id).await {
            Ok(Some(d)) => ConsoleError::Conflict(format!(
                "delivery {id} is {}: only a dead delivery can be redelivered",
                d.state
            )),
            Ok(None) => ConsoleError::NotFound(format!("no delivery {id}")),
            Err(e) => DispatchError::from(e).into(),
        });
    }
    #[cfg(feature = "tracing")]
    tracing::info!(hookwire.delivery.id = %id, "console: delivery redelivered");
    see(&base, &format!("/deliveries/{id}"))
}

/// `POST /endpoints/{id}/enable`.
pub(super) async fn enable(
    state: State,
    base: Base,
    path: Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    set_enabled(state, base, path, headers, form, true).await
}

/// `POST /endpoints/{id}/disable`: recorded as disabled by the host.
pub(super) async fn disable(
    state: State,
    base: Base,
    path: Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    set_enabled(state, base, path, headers, form, false).await
}

async fn set_enabled(
    state: State,
    base: Base,
    Path(raw): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
    enabled: bool,
) -> Result<Response, ConsoleError> {
    checked(&state, &headers, form)?;
    let id = endpoint_id(&raw)?;
    match state.dispatcher.set_endpoint_enabled(&id, enabled).await {
        Ok(()) => {}
        Err(DispatchError::UnknownEndpoint(_)) => {
            return Err(ConsoleError::NotFound(format!("no endpoint {id}")))
        }
        Err(e) => return Err(e.into()),
    }
    #[cfg(feature = "tracing")]
    tracing::info!(hookwire.endpoint.id = %id, enabled, "console: endpoint enabled or disabled");
    see(&base, &format!("/endpoints/{id}"))
}

/// `POST /endpoints/{id}/test`: sends the connection test now and shows
/// what came back.
pub(super) async fn test(
    state: State,
    base: Base,
    Path(raw): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    checked(&state, &headers, form)?;
    let id = endpoint_id(&raw)?;
    let report = match state.dispatcher.test_endpoint(&id).await {
        Ok(report) => report,
        Err(DispatchError::UnknownEndpoint(_)) => {
            return Err(ConsoleError::NotFound(format!("no endpoint {id}")))
        }
        Err(e) => return Err(e.into()),
    };
    let secrets = match state.dispatcher.store().endpoint(&id).await {
        Ok(Some(e)) => view::secrets_of(&e),
        _ => Vec::new(),
    };
    let here = base.to(&format!("/endpoints/{id}"));
    let content = html! {
        @if report.success {
            p.notice #test-result { "The test event was delivered in " (view::duration(report.duration)) "." }
        } @else {
            p.error #test-result { "The test event was not accepted (after " (view::duration(report.duration)) ")." }
        }
        dl.facts {
            @match &report.result {
                AttemptResult::Response { status, body } => {
                    dt { "status" } dd { "HTTP " (status) }
                    dt { "response (first 1 KiB)" } dd {
                        @if body.is_empty() { span.muted { "(empty)" } }
                        @else { pre { (view::shown_body(&body[..body.len().min(crate::store::MAX_RECORDED_BODY)], &secrets)) } }
                    }
                },
                AttemptResult::Error { kind, reason } => {
                    dt { "failure" } dd { (kind.as_str()) ": " (reason) }
                },
            }
        }
        p { a href=(here) { "← back to " (id) } }
    };
    let title = format!("Test event to {id}");
    let crumbs = [(here.clone(), id.to_string())];
    Ok(view::html_response(page(&base, &title, &crumbs, content)))
}
