//! The pages: every endpoint with its health, one endpoint with its chart
//! and deliveries, one delivery with its attempts.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::chart::{self, Minutes};
use super::error::ConsoleError;
use super::view::{self, action_button, ago, at, page, Base};
use super::State;
use std::time::SystemTime;

use crate::events::FAILING_AFTER;
use crate::flow::CircuitState;
use crate::id::{DeliveryId, EndpointId};
use crate::store::{
    AttemptFilter, AttemptOutcome, AttemptResult, Cursor, Delivery, DeliveryFilter, DeliveryState,
    EndpointHealth, Order,
};

/// The most attempts a delivery's page lists.
const MAX_ATTEMPTS_SHOWN: usize = 100;

/// Attempts read per store call for the chart, and the most calls: the
/// chart of a very busy endpoint counts the most recent 20,000 attempts.
const CHART_PAGE: usize = 1_000;
const CHART_PAGES: usize = 20;

pub(super) fn endpoint_id(raw: &str) -> Result<EndpointId, ConsoleError> {
    EndpointId::new(raw).map_err(|_| ConsoleError::NotFound("no such endpoint".into()))
}

pub(super) fn delivery_id(raw: &str) -> Result<DeliveryId, ConsoleError> {
    DeliveryId::new(raw).map_err(|_| ConsoleError::NotFound("no such delivery".into()))
}

/// Any path the console does not serve.
pub(super) async fn not_found() -> ConsoleError {
    ConsoleError::NotFound("the console has no such page".into())
}

/// `/`: every endpoint with its health.
pub(super) async fn endpoints(state: State, base: Base) -> Result<Response, ConsoleError> {
    let dispatcher = &state.dispatcher;
    let health = dispatcher.endpoints_health().await?;
    let endpoints: HashMap<EndpointId, _> = dispatcher
        .store()
        .endpoints()
        .await
        .map_err(crate::dispatch::DispatchError::from)?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let now = dispatcher.clock().now();
    let content = html! {
        @if health.is_empty() {
            p.muted { "No endpoints yet." }
        } @else {
            table #endpoints {
                thead { tr {
                    th { "endpoint" } th { "target" } th { "state" }
                    th.num { "pending" } th.num { "succeeded" } th.num { "dead" }
                    th.num title="succeeded ÷ (succeeded + dead), of the deliveries the store keeps" { "success rate" }
                    th.num { "failures in a row" } th { "last attempt" }
                } }
                tbody {
                    @for h in &health {
                        @let endpoint = endpoints.get(&h.endpoint_id);
                        tr id={ "endpoint-" (h.endpoint_id) } {
                            td {
                                a.endpoint-link href=(base.to(&format!("/endpoints/{}", h.endpoint_id))) { (h.endpoint_id) }
                                @if let Some(e) = endpoint.filter(|e| !e.description.is_empty()) {
                                    br; span.muted { (e.description) }
                                }
                            }
                            td { @if let Some(e) = endpoint { code { (e.method) " " (e.url) } } }
                            td { (state_badge(h, now)) }
                            td.num { (h.deliveries.pending) }
                            td.num { (h.deliveries.succeeded) }
                            td.num { (h.deliveries.dead) }
                            td.num { (success_rate(h)) }
                            td.num { (h.consecutive_failures) }
                            td { (last_attempt(h, now)) }
                        }
                    }
                }
            }
        }
    };
    Ok(view::html_response(page(&base, "Endpoints", &[], content)))
}

/// An endpoint's state: disabled (when and why), its circuit open (since
/// when, and when the probe goes), held (a receiver's pause, until when),
/// failing, or enabled.
fn state_badge(h: &EndpointHealth, now: SystemTime) -> Markup {
    let held = h.held_until.filter(|t| *t > now);
    html! {
        @if !h.enabled {
            span.badge.bad { "disabled" }
            @if let Some(d) = &h.disabled {
                br; span.muted { (d.reason) " · " (at(d.at)) }
            }
        } @else if let CircuitState::Open { since, until } = h.circuit {
            span.badge.bad title="its deliveries are held: not attempted, not counted against the retry policy" { "circuit open" }
            br; span.muted { "since " (at(since)) " · probe at " (at(until)) }
        } @else if let Some(until) = held {
            span.badge.warn title="a receiver's Retry-After, or its rate limit's next slot" { "held" }
            br; span.muted { "until " (at(until)) }
        } @else if h.consecutive_failures >= FAILING_AFTER {
            span.badge.warn title={ (FAILING_AFTER) " failed attempts in a row or more" } { "failing" }
        } @else {
            span.badge.ok { "enabled" }
        }
    }
}

fn success_rate(h: &EndpointHealth) -> String {
    let finished = h.deliveries.succeeded.saturating_add(h.deliveries.dead);
    if finished == 0 {
        return "–".into();
    }
    format!(
        "{:.0} %",
        h.deliveries.succeeded as f64 * 100.0 / finished as f64
    )
}

fn last_attempt(h: &EndpointHealth, now: std::time::SystemTime) -> Markup {
    html! {
        @match &h.last_attempt {
            None => span.muted { "never attempted" },
            Some(a) => {
                @match &a.outcome {
                    AttemptOutcome::Status(s) => span class=(status_class(*s)) { "HTTP " (s) },
                    AttemptOutcome::Failed { kind, reason } => span.bad { (kind.as_str()) ": " (reason) },
                }
                " " span.muted title=(at(a.started_at)) { (ago(now, a.started_at)) }
            }
        }
    }
}

fn status_class(status: u16) -> &'static str {
    if (200..300).contains(&status) {
        "ok"
    } else {
        "bad"
    }
}

fn delivery_badge(state: DeliveryState) -> Markup {
    let class = match state {
        DeliveryState::Succeeded => "badge ok",
        DeliveryState::Dead => "badge bad",
        _ => "badge muted",
    };
    html! { span class=(class) { (state.as_str()) } }
}

/// The query of an endpoint's page.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    /// `pending`, `succeeded`, `dead`, or empty for all.
    state: Option<String>,
    /// The cursor of the last delivery of the previous page.
    after: Option<String>,
}

/// `/endpoints/{id}`: one endpoint's health, chart and deliveries.
pub(super) async fn endpoint(
    state: State,
    base: Base,
    Path(raw): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ConsoleError> {
    let id = endpoint_id(&raw)?;
    let Query(query) = query.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let filter_state = match query.state.as_deref() {
        None | Some("") | Some("all") => None,
        Some(name) => Some(DeliveryState::from_name(name).ok_or_else(|| {
            ConsoleError::BadRequest(format!(
                "unknown state {name:?}: pending, succeeded or dead"
            ))
        })?),
    };
    let after = match query.after.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(Cursor::new(raw.parse().map_err(|_| {
            ConsoleError::BadRequest("the cursor (after) must be a number".into())
        })?)),
    };

    let dispatcher = &state.dispatcher;
    let store = dispatcher.store();
    let store_err = crate::dispatch::DispatchError::from;
    let endpoint = store
        .endpoint(&id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ConsoleError::NotFound(format!("no endpoint {id}")))?;
    let health = dispatcher
        .endpoint_health(&id)
        .await?
        .unwrap_or_else(|| EndpointHealth::new(id.clone(), endpoint.enabled));

    let mut filter = DeliveryFilter::all(state.page_size + 1)
        .endpoint(id.clone())
        .order(Order::NewestFirst);
    if let Some(s) = filter_state {
        filter = filter.state(s);
    }
    if let Some(c) = after {
        filter = filter.after(c);
    }
    let mut deliveries = store.deliveries(&filter).await.map_err(store_err)?;
    let older = if deliveries.len() > state.page_size {
        deliveries.truncate(state.page_size);
        deliveries.last().map(|d| d.cursor)
    } else {
        None
    };

    let now = dispatcher.clock().now();
    let minutes = chart_minutes(&state, &id, now).await?;

    let here = base.to(&format!("/endpoints/{id}"));
    let list_link = |s: Option<DeliveryState>, after: Option<Cursor>| {
        let mut q = Vec::new();
        if let Some(s) = s {
            q.push(format!("state={}", s.as_str()));
        }
        if let Some(c) = after {
            q.push(format!("after={}", c.get()));
        }
        if q.is_empty() {
            here.clone()
        } else {
            format!("{here}?{}", q.join("&"))
        }
    };
    let csrf = state.csrf.value();
    let content = html! {
        dl.facts {
            dt { "target" } dd { code { (endpoint.method) " " (endpoint.url) } }
            @if !endpoint.description.is_empty() { dt { "description" } dd { (endpoint.description) } }
            dt { "state" } dd #endpoint-state { (state_badge(&health, now)) }
            dt { "flow control" } dd #endpoint-flow {
                @match endpoint.rate_limit {
                    Some(r) => { (r.per_second) "/s, bursts of " (r.burst) },
                    None => span.muted { "no rate limit" },
                }
                " · "
                @match endpoint.circuit_breaker {
                    Some(b) => { "breaker opens after " (b.failures) " failures in a row" },
                    None => span.muted { "no circuit breaker" },
                }
                @if endpoint.ordered { " · ordered" }
            }
            dt { "deliveries" } dd {
                (health.deliveries.pending) " pending · " (health.deliveries.succeeded) " succeeded · "
                (health.deliveries.dead) " dead · success rate " (success_rate(&health))
            }
            dt { "failures in a row" } dd { (health.consecutive_failures) }
            dt { "last attempt" } dd { (last_attempt(&health, now)) }
            dt { "last success" } dd {
                @match health.last_success_at {
                    Some(t) => { (at(t)) " (" (ago(now, t)) ")" },
                    None => span.muted { "never" },
                }
            }
            dt { "signing" } dd {
                @match &endpoint.signing {
                    Some(s) => {
                        @if s.schemes.hex { "hex (" (crate::signature::HEADER_HEX_SIGNATURE) ")" }
                        @if s.schemes.hex && s.schemes.standard { " and " }
                        @if s.schemes.standard { "Standard Webhooks" }
                    },
                    None => span.warn { "unsigned" },
                }
            }
        }
        div.actions {
            @if health.enabled {
                (action_button(&format!("{here}/disable"), csrf, "Disable", "danger", "disable"))
            } @else {
                (action_button(&format!("{here}/enable"), csrf, "Enable", "", "enable"))
            }
            (action_button(&format!("{here}/test"), csrf, "Send a test event", "", "send-test"))
        }
        h2 { "Attempts per minute, last hour" }
        (chart::svg(&minutes))
        h2 { "Deliveries, newest first" }
        p.filters {
            "show: "
            @for (label, s) in [("all", None), ("pending", Some(DeliveryState::Pending)), ("succeeded", Some(DeliveryState::Succeeded)), ("dead", Some(DeliveryState::Dead))] {
                a class=(if s == filter_state { "current" } else { "" }) href=(list_link(s, None)) { (label) }
            }
        }
        (deliveries_table(&base, csrf, &deliveries, now))
        p.pager {
            @if after.is_some() { a href=(list_link(filter_state, None)) { "← newest" } " " }
            @if let Some(c) = older { a #older href=(list_link(filter_state, Some(c))) { "older →" } }
        }
    };
    let title = format!("Endpoint {id}");
    let crumbs = [(here.clone(), id.to_string())];
    Ok(view::html_response(page(&base, &title, &crumbs, content)))
}

fn deliveries_table(
    base: &Base,
    csrf: &str,
    deliveries: &[Delivery],
    now: std::time::SystemTime,
) -> Markup {
    html! {
        @if deliveries.is_empty() {
            p.muted { "No deliveries here." }
        } @else {
            table #deliveries {
                thead { tr {
                    th { "delivery" } th { "event" } th { "state" } th.num { "attempts" }
                    th { "created" } th { "next attempt" } th { "reason" } th {}
                } }
                tbody {
                    @for d in deliveries {
                        tr.delivery data-state=(d.state.as_str()) data-attempts=(d.attempts_total) id={ "delivery-" (d.id) } {
                            td { a.delivery-link href=(base.to(&format!("/deliveries/{}", d.id))) { code { (d.id) } } }
                            td { (d.event_kind) }
                            td { (delivery_badge(d.state)) }
                            td.num { (d.attempts_total) }
                            td title=(at(d.created_at)) { (ago(now, d.created_at)) }
                            td { @if d.state == DeliveryState::Pending { (view::due(now, d.next_attempt_at)) } }
                            td { @if let Some(r) = &d.reason { span.muted { (r) } } }
                            td {
                                @if d.state == DeliveryState::Dead {
                                    (action_button(&base.to(&format!("/deliveries/{}/redeliver", d.id)), csrf, "Redeliver", "", &format!("redeliver-{}", d.id)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The endpoint's attempts in the last hour, per minute: read newest first
/// until an hour back (or the cap).
async fn chart_minutes(
    state: &super::ConsoleState,
    id: &EndpointId,
    now: std::time::SystemTime,
) -> Result<Minutes, ConsoleError> {
    let since = chart::since(now);
    let mut filter = AttemptFilter::all(CHART_PAGE)
        .endpoint(id.clone())
        .order(Order::NewestFirst);
    let mut records = Vec::new();
    let mut capped = true;
    for _ in 0..CHART_PAGES {
        let page = state
            .dispatcher
            .store()
            .list_attempts(&filter)
            .await
            .map_err(crate::dispatch::DispatchError::from)?;
        let done =
            page.len() < CHART_PAGE || page.last().is_some_and(|a| a.record.started_at < since);
        if let Some(last) = page.last() {
            filter = filter.after(last.cursor);
        }
        records.extend(page.into_iter().map(|a| a.record));
        if done {
            capped = false;
            break;
        }
    }
    let mut minutes = Minutes::count(now, &records);
    minutes.capped = capped;
    Ok(minutes)
}

/// `/deliveries/{id}`: one delivery and its attempts.
pub(super) async fn delivery(
    state: State,
    base: Base,
    Path(raw): Path<String>,
) -> Result<Response, ConsoleError> {
    let id = delivery_id(&raw)?;
    let dispatcher = &state.dispatcher;
    let store = dispatcher.store();
    let store_err = crate::dispatch::DispatchError::from;
    let delivery = store
        .delivery(&id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| ConsoleError::NotFound(format!("no delivery {id}")))?;
    let endpoint = store
        .endpoint(&delivery.endpoint_id)
        .await
        .map_err(store_err)?;
    let attempts = store
        .list_attempts(
            &AttemptFilter::all(MAX_ATTEMPTS_SHOWN)
                .delivery(id.clone())
                .order(Order::NewestFirst),
        )
        .await
        .map_err(store_err)?;
    let secrets = endpoint.as_ref().map(view::secrets_of).unwrap_or_default();
    let headers = endpoint
        .clone()
        .map(|e| view::shown_headers(&dispatcher.request_headers(e), &id));
    let now = dispatcher.clock().now();
    let endpoint_page = base.to(&format!("/endpoints/{}", delivery.endpoint_id));
    let target = match (&delivery.url, &endpoint) {
        (Some(url), _) => crate::redact::RedactedUrl(url).to_string(),
        (None, Some(e)) => e.url.to_string(),
        (None, None) => "(endpoint deleted)".to_owned(),
    };
    let content = html! {
        dl.facts {
            dt { "state" } dd #delivery-state { (delivery_badge(delivery.state)) }
            dt { "endpoint" } dd { a href=(endpoint_page) { (delivery.endpoint_id) } }
            dt { "target" } dd { code { @if let Some(e) = &endpoint { (e.method) " " } (target) } }
            dt { "event" } dd { (delivery.event_kind) " " code { (delivery.event_id) } " · " (delivery.payload.len()) " bytes" }
            dt { "attempts" } dd {
                (delivery.attempts_total) " in all"
                @if delivery.attempts != delivery.attempts_total { ", " (delivery.attempts) " since the last redelivery" }
            }
            dt { "created" } dd { (at(delivery.created_at)) " (" (ago(now, delivery.created_at)) ")" }
            @if delivery.state == DeliveryState::Pending {
                dt { "next attempt" } dd { (at(delivery.next_attempt_at)) " (" (view::due(now, delivery.next_attempt_at)) ")" }
            }
            @if let Some(r) = &delivery.reason { dt { "reason" } dd { (r) } }
        }
        @if delivery.state == DeliveryState::Dead {
            div.actions {
                (action_button(&base.to(&format!("/deliveries/{id}/redeliver")), state.csrf.value(), "Redeliver", "", "redeliver"))
            }
        }
        h2 { "Attempts, newest first" }
        @if attempts.is_empty() {
            p.muted { "No attempts yet." }
        } @else {
            table #attempts {
                thead { tr { th.num { "#" } th { "sent" } th { "outcome" } th.num { "duration" } th { "response (first 1 KiB)" } } }
                tbody {
                    @for a in &attempts {
                        @let r = &a.record;
                        tr.attempt data-attempt=(r.attempt) {
                            td.num { (r.attempt) }
                            td { (at(r.started_at)) br; span.muted { (ago(now, r.started_at)) } }
                            @match &r.result {
                                AttemptResult::Response { status, body } => {
                                    td { span class={ "badge " (status_class(*status)) } { "HTTP " (status) } }
                                    td.num { (view::duration(r.duration)) }
                                    td { @if body.is_empty() { span.muted { "(empty)" } } @else { pre { (view::shown_body(body, &secrets)) } } }
                                },
                                AttemptResult::Error { kind, reason } => {
                                    td { span.badge.bad { (kind.as_str()) } br; (reason) }
                                    td.num { (view::duration(r.duration)) }
                                    td { span.muted { "(no response)" } }
                                },
                            }
                        }
                    }
                }
            }
            @if attempts.len() == MAX_ATTEMPTS_SHOWN { p.muted { "Only the " (MAX_ATTEMPTS_SHOWN) " most recent attempts are shown." } }
        }
        h2 { "Request headers" }
        @match &headers {
            None => p.muted { "The endpoint no longer exists." },
            Some(headers) => {
                p.muted { "What every attempt of this delivery sends, as the endpoint is set up now; credentials redacted." }
                table #headers {
                    thead { tr { th { "header" } th { "value" } } }
                    tbody { @for (name, value) in headers { tr { td { code { (name) } } td { code { (value) } } } } }
                }
            }
        }
    };
    let title = format!("Delivery {id}");
    let crumbs = [
        (endpoint_page.clone(), delivery.endpoint_id.to_string()),
        (base.to(&format!("/deliveries/{id}")), id.to_string()),
    ];
    Ok(view::html_response(page(&base, &title, &crumbs, content)))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn health() -> EndpointHealth {
        EndpointHealth::new(EndpointId::new("ep_1").unwrap(), true)
    }

    #[test]
    fn the_state_shows_an_open_circuit_a_hold_and_failing() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut open = health();
        open.circuit = CircuitState::Open {
            since: now - Duration::from_secs(10),
            until: now + Duration::from_secs(20),
        };
        let shown = state_badge(&open, now).into_string();
        assert!(shown.contains("circuit open"), "{shown}");
        assert!(shown.contains("probe at"), "{shown}");

        let mut held = health();
        held.held_until = Some(now + Duration::from_secs(60));
        let shown = state_badge(&held, now).into_string();
        assert!(shown.contains(">held<"), "{shown}");
        // A gate time in the past holds nothing.
        held.held_until = Some(now - Duration::from_secs(1));
        let shown = state_badge(&held, now).into_string();
        assert!(shown.contains("enabled"), "{shown}");

        let mut failing = health();
        failing.consecutive_failures = FAILING_AFTER;
        assert!(state_badge(&failing, now).into_string().contains("failing"));
    }
}
