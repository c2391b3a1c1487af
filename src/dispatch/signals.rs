//! What the engine tells the outside world, from one place: a tracing event
//! at the right level (feature `tracing`), metrics (feature `metrics`), and
//! the host's operational events. Each function here is one occurrence; the
//! engine calls it once, and it does whatever the features compiled in ask.
//!
//! Nothing here carries a URL or a secret: endpoints appear by id, targets
//! by host only.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use super::run::AttemptReport;
use super::state::Inner;
use crate::events::{OpsEvent, FAILING_AFTER, STORE_DOWN_AFTER};
use crate::id::{DeliveryId, EndpointId};
use crate::retry::Decision;
#[cfg(feature = "metrics")]
use crate::retry::Outcome;
use crate::store::AttemptResult;
#[cfg(feature = "tracing")]
use crate::transport::TransportErrorKind;

/// What the signals remember between occurrences, shared by a dispatcher's
/// loops: failing streaks per endpoint, and whether the store is down.
#[derive(Debug, Default)]
pub(super) struct Watch {
    streaks: Mutex<HashMap<EndpointId, u32>>,
    store_failures: AtomicU32,
    store_down: AtomicBool,
    /// Each endpoint's metric keys, built once: the macros would build the
    /// label set again on every call, which costs more than the no-op
    /// recorder it goes to.
    #[cfg(feature = "metrics")]
    keys: Mutex<HashMap<EndpointId, std::sync::Arc<keys::EndpointKeys>>>,
}

/// The span an attempt runs in (nothing without the `tracing` feature).
#[cfg(feature = "tracing")]
pub(super) type AttemptSpan = tracing::Span;
/// The span an attempt runs in (nothing without the `tracing` feature).
#[cfg(not(feature = "tracing"))]
pub(super) type AttemptSpan = ();

/// The span an attempt runs in, opened before its request so that the
/// transport's own spans nest inside it.
pub(super) fn attempt_span(
    delivery: &DeliveryId,
    endpoint: &EndpointId,
    attempt: u32,
    method: &http::Method,
    host: &str,
) -> AttemptSpan {
    #[cfg(feature = "tracing")]
    return tracing::info_span!(
        "hookwire.attempt",
        hookwire.delivery.id = %delivery,
        hookwire.endpoint.id = %endpoint,
        hookwire.attempt = attempt,
        http.request.method = %method,
        server.address = %host,
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (delivery, endpoint, attempt, method, host);
}

/// No span: what an attempt's span is replaced with once handed on.
pub(super) fn no_span() -> AttemptSpan {
    #[cfg(feature = "tracing")]
    return tracing::Span::none();
}

/// `future`, polled inside `span`.
pub(super) fn instrument<F: std::future::Future>(
    future: F,
    span: &AttemptSpan,
) -> impl std::future::Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    return tracing::Instrument::instrument(future, span.clone());
    #[cfg(not(feature = "tracing"))]
    {
        let () = *span;
        future
    }
}

/// Runs `f` inside `span`.
pub(super) fn in_span<R>(span: &AttemptSpan, f: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tracing")]
    return span.in_scope(f);
    #[cfg(not(feature = "tracing"))]
    {
        let () = *span;
        f()
    }
}

/// An endpoint's id as a metric label: the id's shared string, not a copy.
#[cfg(feature = "metrics")]
fn label(endpoint: &EndpointId) -> metrics::SharedString {
    metrics::SharedString::from(endpoint.shared())
}

/// The outcome classes of an attempt, as metrics label them.
#[cfg(feature = "metrics")]
const OUTCOMES: [&str; 5] = ["success", "gone", "overloaded", "fatal", "failed"];

/// The outcome class of an attempt: its index in `OUTCOMES`.
#[cfg(feature = "metrics")]
fn outcome_index(report: &AttemptReport) -> usize {
    let outcome = match &report.result {
        AttemptResult::Response { status, .. } => match http::StatusCode::from_u16(*status) {
            Ok(status) => Outcome::status(status),
            Err(_) => return 4,
        },
        AttemptResult::Error { kind, .. } => Outcome::Error(*kind),
    };
    match crate::retry::classify(&outcome) {
        crate::retry::Class::Success => 0,
        crate::retry::Class::Gone => 1,
        crate::retry::Class::Overloaded => 2,
        crate::retry::Class::Fatal => 3,
        _ => 4,
    }
}

#[cfg(feature = "metrics")]
pub(super) mod keys {
    //! An endpoint's metric keys, and the recording calls the `metrics`
    //! macros would make: the recorder is looked up on every call, as the
    //! macros do, so a recorder installed later (or a thread-local one in a
    //! test) still gets everything.

    use metrics::{Key, Label, Level, Metadata};

    use super::{label, OUTCOMES};
    use crate::id::EndpointId;

    static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    /// One endpoint's keys.
    #[derive(Debug)]
    pub(in crate::dispatch) struct EndpointKeys {
        attempts: [Key; 5],
        durations: [Key; 5],
        latency: Key,
        succeeded: Key,
    }

    impl EndpointKeys {
        pub(super) fn new(endpoint: &EndpointId) -> EndpointKeys {
            let by_outcome = |name: &'static str| {
                OUTCOMES.map(|outcome| {
                    Key::from_parts(
                        name,
                        vec![
                            Label::new("endpoint", label(endpoint)),
                            Label::new("outcome", outcome),
                        ],
                    )
                })
            };
            let alone = |name: &'static str| {
                Key::from_parts(name, vec![Label::new("endpoint", label(endpoint))])
            };
            EndpointKeys {
                attempts: by_outcome(crate::metrics::ATTEMPTS),
                durations: by_outcome(crate::metrics::ATTEMPT_DURATION),
                latency: alone(crate::metrics::DELIVERY_LATENCY),
                succeeded: alone(crate::metrics::DELIVERIES_SUCCEEDED),
            }
        }

        pub(super) fn attempt(&self, outcome: usize, seconds: f64) {
            metrics::with_recorder(|r| {
                r.register_counter(&self.attempts[outcome], &METADATA)
                    .increment(1);
                r.register_histogram(&self.durations[outcome], &METADATA)
                    .record(seconds);
            });
        }

        pub(super) fn latency(&self, seconds: f64) {
            metrics::with_recorder(|r| {
                r.register_histogram(&self.latency, &METADATA)
                    .record(seconds)
            });
        }

        pub(super) fn succeeded(&self) {
            metrics::with_recorder(|r| r.register_counter(&self.succeeded, &METADATA).increment(1));
        }
    }
}

/// What an engine keeps per endpoint for its signals, fetched once when it
/// first reads the endpoint: its metric keys (nothing without `metrics`).
#[cfg(feature = "metrics")]
pub(super) type EndpointSignals = std::sync::Arc<keys::EndpointKeys>;
/// What an engine keeps per endpoint for its signals (nothing without `metrics`).
#[cfg(not(feature = "metrics"))]
pub(super) type EndpointSignals = ();

/// The signals' per-endpoint state of `endpoint`, shared by the
/// dispatcher's engines.
pub(super) fn endpoint_signals(inner: &Inner, endpoint: &EndpointId) -> EndpointSignals {
    #[cfg(feature = "metrics")]
    return keys_of(inner, endpoint);
    #[cfg(not(feature = "metrics"))]
    let _ = (inner, endpoint);
}

/// The metric keys of `endpoint`, built on first use.
#[cfg(feature = "metrics")]
fn keys_of(inner: &Inner, endpoint: &EndpointId) -> std::sync::Arc<keys::EndpointKeys> {
    let mut keys = inner
        .watch
        .keys
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = keys.get(endpoint) {
        return found.clone();
    }
    let made = std::sync::Arc::new(keys::EndpointKeys::new(endpoint));
    keys.insert(endpoint.clone(), made.clone());
    made
}

/// An attempt completed and was settled: one event, its metrics.
pub(super) fn attempt_settled(
    signals: &EndpointSignals,
    report: &AttemptReport,
    created_at: SystemTime,
    now: SystemTime,
) {
    let _ = (signals, report, created_at, now);
    #[cfg(feature = "tracing")]
    {
        let duration_ms = report.duration.as_millis() as u64;
        match &report.result {
            AttemptResult::Response { status, .. } if report.decision == Decision::Succeeded => {
                tracing::debug!(
                    http.response.status_code = status,
                    duration_ms,
                    "attempt succeeded"
                )
            }
            AttemptResult::Response { status, .. } => tracing::info!(
                http.response.status_code = status,
                error.r#type = %status,
                duration_ms,
                decision = ?report.decision,
                "attempt failed"
            ),
            // Refused before sending (a blocked target, an invalid URL, https
            // without TLS): a setting stops delivery to this endpoint, and
            // no retry will change that.
            AttemptResult::Error { kind, reason } if *kind == TransportErrorKind::Rejected => {
                tracing::error!(
                    error.r#type = %kind,
                    reason = %reason,
                    duration_ms,
                    decision = ?report.decision,
                    "attempt failed"
                )
            }
            AttemptResult::Error { kind, reason } => tracing::info!(
                error.r#type = %kind,
                reason = %reason,
                duration_ms,
                decision = ?report.decision,
                "attempt failed"
            ),
        }
    }
    #[cfg(feature = "metrics")]
    {
        signals.attempt(outcome_index(report), report.duration.as_secs_f64());
        if report.decision == Decision::Succeeded {
            let latency = now.duration_since(created_at).unwrap_or_default();
            signals.latency(latency.as_secs_f64());
        }
    }
}

/// The store recorded an attempt: the delivery's fate, and the endpoint's
/// failing streak. `signals` is the endpoint's, when the engine still has it.
pub(super) fn attempt_recorded(
    inner: &Inner,
    signals: Option<&EndpointSignals>,
    report: &AttemptReport,
) {
    let _ = signals;
    let endpoint = &report.endpoint_id;
    let succeeded = report.decision == Decision::Succeeded;
    let before = {
        let mut streaks = inner
            .watch
            .streaks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if succeeded {
            streaks.remove(endpoint).unwrap_or(0)
        } else {
            let n = streaks.entry(endpoint.clone()).or_insert(0);
            *n = n.saturating_add(1);
            0
        }
    };
    if succeeded {
        #[cfg(feature = "metrics")]
        match signals {
            Some(keys) => keys.succeeded(),
            None => keys_of(inner, endpoint).succeeded(),
        }
        if before >= FAILING_AFTER {
            #[cfg(feature = "tracing")]
            tracing::info!(hookwire.endpoint.id = %endpoint, after_failures = before, "endpoint recovered");
            emit(
                inner,
                OpsEvent::EndpointRecovered {
                    endpoint: endpoint.clone(),
                    after_failures: before,
                },
            );
        }
        return;
    }
    if matches!(report.decision, Decision::RetryIn(_)) {
        return;
    }
    let reason = match &report.result {
        AttemptResult::Response { status, .. } => format!("HTTP {status}"),
        AttemptResult::Error { reason, .. } => reason.clone(),
    };
    delivery_dead(inner, &report.delivery_id, endpoint, report.attempt, reason);
}

/// A delivery ended dead (after an attempt, or abandoned).
pub(super) fn delivery_dead(
    inner: &Inner,
    delivery: &DeliveryId,
    endpoint: &EndpointId,
    attempts: u32,
    reason: String,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        hookwire.delivery.id = %delivery,
        hookwire.endpoint.id = %endpoint,
        attempts,
        reason = %reason,
        "delivery dead"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!(crate::metrics::DELIVERIES_DEAD, "endpoint" => label(endpoint)).increment(1);
    emit(
        inner,
        OpsEvent::DeliveryDead {
            delivery: delivery.clone(),
            endpoint: endpoint.clone(),
            attempts,
            reason,
        },
    );
}

/// The store confirmed an endpoint disabled.
pub(super) fn endpoint_disabled(inner: &Inner, endpoint: &EndpointId, reason: String) {
    #[cfg(feature = "tracing")]
    tracing::warn!(hookwire.endpoint.id = %endpoint, reason = %reason, "endpoint disabled");
    #[cfg(feature = "metrics")]
    metrics::counter!(crate::metrics::ENDPOINTS_DISABLED, "endpoint" => label(endpoint))
        .increment(1);
    emit(
        inner,
        OpsEvent::EndpointDisabled {
            endpoint: endpoint.clone(),
            reason,
        },
    );
}

/// The store changed an endpoint's circuit.
pub(super) fn circuit_changed(
    inner: &Inner,
    endpoint: &EndpointId,
    change: crate::flow::CircuitChange,
) {
    use crate::flow::CircuitChange;
    let event = match change {
        CircuitChange::Opened { until, failures } => {
            let until_ms = u64::try_from(crate::clock::unix_millis(until)).unwrap_or(0);
            #[cfg(feature = "tracing")]
            tracing::warn!(
                hookwire.endpoint.id = %endpoint,
                failures,
                until_ms,
                "circuit opened: the endpoint's deliveries are held"
            );
            #[cfg(feature = "metrics")]
            metrics::counter!(crate::metrics::CIRCUITS_OPENED, "endpoint" => label(endpoint))
                .increment(1);
            OpsEvent::CircuitOpened {
                endpoint: endpoint.clone(),
                failures,
                until_ms,
            }
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::info!(hookwire.endpoint.id = %endpoint, "circuit closed");
            OpsEvent::CircuitClosed {
                endpoint: endpoint.clone(),
            }
        }
    };
    emit(inner, event);
}

/// A store call failed: a warning each time; after [`STORE_DOWN_AFTER`] in
/// a row, an error and [`OpsEvent::StoreUnavailable`], once.
pub(super) fn store_failed(inner: &Inner, doing: &'static str, error: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(operation = doing, error = %error, "store call failed");
    #[cfg(feature = "metrics")]
    metrics::counter!(crate::metrics::STORE_ERRORS, "operation" => doing).increment(1);
    #[cfg(not(any(feature = "tracing", feature = "metrics")))]
    let _ = doing;
    let watch = &inner.watch;
    let failures = watch.store_failures.fetch_add(1, Ordering::Relaxed) + 1;
    if failures >= STORE_DOWN_AFTER && !watch.store_down.swap(true, Ordering::Relaxed) {
        #[cfg(feature = "tracing")]
        tracing::error!(error = %error, "delivery stopped: the store keeps failing");
        emit(
            inner,
            OpsEvent::StoreUnavailable {
                error: error.to_owned(),
            },
        );
    }
}

/// A store call succeeded: ends an outage, if there was one.
pub(super) fn store_ok(inner: &Inner) {
    let watch = &inner.watch;
    if watch.store_failures.load(Ordering::Relaxed) == 0 {
        return;
    }
    watch.store_failures.store(0, Ordering::Relaxed);
    if watch.store_down.swap(false, Ordering::Relaxed) {
        #[cfg(feature = "tracing")]
        tracing::info!("store recovered: delivery goes on");
        emit(inner, OpsEvent::StoreRecovered);
    }
}

/// Requests in flight in one loop changed by `delta`.
pub(super) fn in_flight(delta: i64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(crate::metrics::IN_FLIGHT).increment(delta as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = delta;
}

/// What the worker samples of the queue: deliveries due now, and how long
/// the oldest of them has waited.
#[cfg(feature = "metrics")]
pub(crate) fn queue_sampled(due: u64, lag: std::time::Duration) {
    metrics::gauge!(crate::metrics::DUE).set(due as f64);
    metrics::gauge!(crate::metrics::LAG).set(lag.as_secs_f64());
}

/// Hands `event` to the host's handler. A handler that panics loses that
/// event only (with a warning under `tracing`), never the delivery loop.
fn emit(inner: &Inner, event: OpsEvent) {
    if let Some(handler) = &inner.on_event {
        if std::panic::catch_unwind(AssertUnwindSafe(|| (handler.0)(&event))).is_err() {
            #[cfg(feature = "tracing")]
            tracing::warn!(
                event = event.kind(),
                "the operational event handler panicked"
            );
        }
    }
}
