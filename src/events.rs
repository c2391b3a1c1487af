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
//! | [`StoreUnavailable`](OpsEvent::StoreUnavailable) | [`STORE_DOWN_AFTER`] store calls in a row failed | once per outage |
//! | [`StoreRecovered`](OpsEvent::StoreRecovered) | a store call succeeded after an outage | once per outage |
//!
//! The handler is called synchronously on the delivery loop: keep it cheap
//! (send to a channel). A handler that panics is caught and ignored.
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

use std::fmt;
use std::sync::Arc;

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
    /// `store.unavailable`, `store.recovered`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::EndpointDisabled { .. } => "endpoint.disabled",
            Self::DeliveryDead { .. } => "delivery.dead",
            Self::EndpointRecovered { .. } => "endpoint.recovered",
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
            Self::StoreUnavailable { error } => write!(f, "store unavailable: {error}"),
            Self::StoreRecovered => f.write_str("store recovered"),
        }
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
