//! Operational events: what an operator acts on, handed to the host as it
//! happens.
//!
//! A host registers one handler with
//! [`DispatcherBuilder::on_event`](crate::dispatch::DispatcherBuilder::on_event):
//! a callback, which may forward to a channel, a pager, or (with
//! [`OpsEvent::to_json`]) signed webhooks to an operator's own endpoint
//! through a second dispatcher, the way Svix sends its operational webhooks.
//!
//! | event | when | fires |
//! |---|---|---|
//! | [`EndpointDisabled`](OpsEvent::EndpointDisabled) | the dispatcher disabled an endpoint (410 Gone, or deliveries dead in a row) | once per disabling |
//! | [`DeliveryDead`](OpsEvent::DeliveryDead) | a delivery ended dead: the policy gave up, or its endpoint is gone | once per delivery |
//! | [`EndpointRecovered`](OpsEvent::EndpointRecovered) | an endpoint that had failed [`FAILING_AFTER`] attempts in a row succeeded | once per failing streak |
//! | [`CircuitOpened`](OpsEvent::CircuitOpened) | an endpoint's circuit breaker opened: its deliveries are held (see [`crate::flow`]) | once per opening (again after each failed probe) |
//! | [`CircuitClosed`](OpsEvent::CircuitClosed) | a success closed it: its deliveries flow again | once per closing |
//! | [`StoreUnavailable`](OpsEvent::StoreUnavailable) | [`STORE_DOWN_AFTER`] store calls in a row failed | once per outage |
//! | [`StoreRecovered`](OpsEvent::StoreRecovered) | a store call succeeded after an outage | once per outage |
//!
//! The handler is called synchronously on the delivery loop: keep it cheap
//! (send to a channel). A handler that panics is caught and ignored.
//!
//! # Operational webhooks
//!
//! [`OpsForwarder`] queues the events and publishes them, signed, through a
//! second [`Dispatcher`] to the operator's own
//! endpoints: the event's [`kind`](OpsEvent::kind) is the webhook's kind,
//! [`to_json`](OpsEvent::to_json) its body.
//!
//! # Examples
//!
//! ```
//! use hookwire::events::OpsEvent;
//! use hookwire::id::EndpointId;
//!
//! let event = OpsEvent::EndpointDisabled {
//!     endpoint: EndpointId::new("ep_1").unwrap(),
//!     reason: "endpoint answered 410 gone".into(),
//! };
//! assert_eq!(event.kind(), "endpoint.disabled");
//! assert_eq!(event.to_json()["endpoint"], "ep_1");
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::dispatch::{DispatchError, Dispatcher};
use crate::id::{DeliveryId, EndpointId};

/// Failed attempts in a row after which an endpoint counts as failing, so
/// that its next success is reported as [`OpsEvent::EndpointRecovered`].
pub const FAILING_AFTER: u32 = 5;

/// Store calls in a row that must fail before [`OpsEvent::StoreUnavailable`].
pub const STORE_DOWN_AFTER: u32 = 3;

/// Something an operator acts on. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpsEvent {
    /// The dispatcher disabled an endpoint.
    EndpointDisabled {
        /// The endpoint.
        endpoint: EndpointId,
        /// Why (for example `endpoint answered 410 gone`).
        reason: String,
    },
    /// A delivery ended dead.
    DeliveryDead {
        /// The delivery.
        delivery: DeliveryId,
        /// Its endpoint.
        endpoint: EndpointId,
        /// Attempts made (0 if it ended without one).
        attempts: u32,
        /// Why: the last attempt's status or failure, or the delivery's own
        /// reason (`endpoint deleted`).
        reason: String,
    },
    /// An endpoint that was failing succeeded again.
    EndpointRecovered {
        /// The endpoint.
        endpoint: EndpointId,
        /// How many attempts had failed in a row before.
        after_failures: u32,
    },
    /// An endpoint's circuit opened: nothing is sent to it before `until`,
    /// when one probe goes out.
    CircuitOpened {
        /// The endpoint.
        endpoint: EndpointId,
        /// Failed attempts in a row so far.
        failures: u32,
        /// When the probe may go, in Unix milliseconds.
        until_ms: u64,
    },
    /// An endpoint's circuit closed: its held deliveries flow again.
    CircuitClosed {
        /// The endpoint.
        endpoint: EndpointId,
    },
    /// The store keeps failing: delivery is stopped until it recovers.
    StoreUnavailable {
        /// The last failure, with its causes.
        error: String,
    },
    /// The store answers again.
    StoreRecovered,
}

impl OpsEvent {
    /// The event's name, as operational webhooks carry it
    /// (`endpoint.disabled`, `delivery.dead`, `endpoint.recovered`,
    /// `endpoint.circuit_opened`, `endpoint.circuit_closed`,
    /// `store.unavailable`, `store.recovered`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EndpointDisabled { .. } => "endpoint.disabled",
            Self::DeliveryDead { .. } => "delivery.dead",
            Self::EndpointRecovered { .. } => "endpoint.recovered",
            Self::CircuitOpened { .. } => "endpoint.circuit_opened",
            Self::CircuitClosed { .. } => "endpoint.circuit_closed",
            Self::StoreUnavailable { .. } => "store.unavailable",
            Self::StoreRecovered => "store.recovered",
        }
    }

    /// The event as JSON: `{"type": kind, ...fields}`, ready to publish as
    /// an operational webhook. It holds ids and reasons, never a URL or a
    /// secret.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut v = match self {
            Self::EndpointDisabled { endpoint, reason } => {
                json!({"endpoint": endpoint.as_str(), "reason": reason})
            }
            Self::DeliveryDead {
                delivery,
                endpoint,
                attempts,
                reason,
            } => json!({
                "delivery": delivery.as_str(),
                "endpoint": endpoint.as_str(),
                "attempts": attempts,
                "reason": reason,
            }),
            Self::EndpointRecovered {
                endpoint,
                after_failures,
            } => json!({"endpoint": endpoint.as_str(), "afterFailures": after_failures}),
            Self::CircuitOpened {
                endpoint,
                failures,
                until_ms,
            } => json!({"endpoint": endpoint.as_str(), "failures": failures, "untilMs": until_ms}),
            Self::CircuitClosed { endpoint } => json!({"endpoint": endpoint.as_str()}),
            Self::StoreUnavailable { error } => json!({"error": error}),
            Self::StoreRecovered => json!({}),
        };
        v["type"] = json!(self.kind());
        v
    }
}

impl fmt::Display for OpsEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndpointDisabled { endpoint, reason } => {
                write!(f, "endpoint {endpoint} disabled: {reason}")
            }
            Self::DeliveryDead {
                delivery,
                endpoint,
                attempts,
                reason,
            } => write!(
                f,
                "delivery {delivery} to {endpoint} dead after {attempts} attempts: {reason}"
            ),
            Self::EndpointRecovered {
                endpoint,
                after_failures,
            } => write!(
                f,
                "endpoint {endpoint} recovered after {after_failures} failed attempts"
            ),
            Self::CircuitOpened {
                endpoint,
                failures,
                until_ms,
            } => write!(
                f,
                "endpoint {endpoint}: circuit opened after {failures} failed attempts in a row; probe at {until_ms} ms"
            ),
            Self::CircuitClosed { endpoint } => write!(f, "endpoint {endpoint}: circuit closed"),
            Self::StoreUnavailable { error } => write!(f, "store unavailable: {error}"),
            Self::StoreRecovered => f.write_str("store recovered"),
        }
    }
}

/// Sends operational events as signed webhooks, the way Svix sends its
/// operational webhooks: register [`handler`](Self::handler) with the
/// delivering dispatcher's
/// [`on_event`](crate::dispatch::DispatcherBuilder::on_event), and call
/// [`forward`](Self::forward) with a second dispatcher (its own store and
/// endpoints: the operator's) from the host's loop. The second dispatcher
/// delivers, signs and retries them like any webhook.
///
/// The queue holds at most [`OpsForwarder::MAX_QUEUED`] events; past that the
/// oldest are dropped and [counted](Self::dropped), so a forwarder nobody
/// drains never grows without bound. Clones share the queue.
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::dispatch::Dispatcher;
/// use hookwire::endpoint::Endpoint;
/// use hookwire::events::OpsForwarder;
/// use hookwire::store::InMemoryStore;
/// use hookwire::testing::{MockReply, MockTransport};
///
/// # futures::executor::block_on(async {
/// let forwarder = OpsForwarder::new();
/// let failing = MockTransport::always(MockReply::status(410));
/// let dispatcher = Dispatcher::builder(failing, InMemoryStore::new())
///     .clock(ManualClock::at_unix(1_771_515_000))
///     .on_event(forwarder.handler())
///     .build()?;
/// dispatcher
///     .add_endpoint(Endpoint::builder("ep_1", "https://hooks.example.com/in").build()?)
///     .await?;
/// dispatcher.publish_json("ping", br#"{}"#.to_vec()).await?;
/// dispatcher.run_due(10).await?;
///
/// let operator = MockTransport::always(MockReply::ok());
/// let ops = Dispatcher::builder(operator.clone(), InMemoryStore::new())
///     .clock(ManualClock::at_unix(1_771_515_000))
///     .build()?;
/// ops.add_endpoint(Endpoint::builder("ops", "https://ops.example.com/hooks").build()?)
///     .await?;
/// // The 410 ended the delivery and disabled the endpoint: two events.
/// assert_eq!(forwarder.forward(&ops).await?, 2);
/// ops.run_due(10).await?;
/// assert_eq!(operator.request_count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpsForwarder {
    queue: Arc<Mutex<Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<OpsEvent>,
    dropped: u64,
}

impl OpsForwarder {
    /// The most events queued at once.
    pub const MAX_QUEUED: usize = 10_000;

    /// An empty forwarder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The handler to register with
    /// [`on_event`](crate::dispatch::DispatcherBuilder::on_event): it queues
    /// each event.
    pub fn handler(&self) -> impl Fn(&OpsEvent) + Send + Sync + 'static {
        let queue = Arc::clone(&self.queue);
        move |event| {
            let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
            if q.events.len() >= Self::MAX_QUEUED {
                q.events.pop_front();
                q.dropped += 1;
            }
            q.events.push_back(event.clone());
        }
    }

    /// Events queued, not yet forwarded.
    pub fn pending(&self) -> usize {
        self.lock().events.len()
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Publishes every queued event through `ops`, oldest first, and returns
    /// how many it published (an event no endpoint of `ops` subscribes to
    /// counts too: it was handed over).
    ///
    /// # Errors
    ///
    /// The first [`DispatchError`] from `ops`; that event and the ones after
    /// it stay queued for the next call.
    pub async fn forward(&self, ops: &Dispatcher) -> Result<usize, DispatchError> {
        let mut sent = 0;
        loop {
            let Some(event) = self.lock().events.front().cloned() else {
                return Ok(sent);
            };
            let body = serde_json::to_vec(&event.to_json()).map_err(DispatchError::Serialize)?;
            ops.publish_json(event.kind(), body).await?;
            self.lock().events.pop_front();
            sent += 1;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handler a dispatcher hands its events to.
#[derive(Clone)]
pub(crate) struct Handler(pub(crate) Arc<dyn Fn(&OpsEvent) + Send + Sync>);

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHandler")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_kind_json_and_display() {
        let dead = OpsEvent::DeliveryDead {
            delivery: DeliveryId::new("dlv_1").unwrap(),
            endpoint: EndpointId::new("ep_1").unwrap(),
            attempts: 5,
            reason: "HTTP 503".into(),
        };
        assert_eq!(dead.kind(), "delivery.dead");
        let json = dead.to_json();
        assert_eq!(json["type"], "delivery.dead");
        assert_eq!(json["attempts"], 5);
        assert_eq!(
            dead.to_string(),
            "delivery dlv_1 to ep_1 dead after 5 attempts: HTTP 503"
        );
        assert_eq!(
            OpsEvent::StoreRecovered.to_json()["type"],
            "store.recovered"
        );
    }
}
