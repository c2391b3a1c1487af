//! Publishing: an event becomes one delivery per subscribed endpoint.
//!
//! The payload is serialized once; every delivery of the event shares those
//! bytes, in the store and on the wire.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use bytes::Bytes;

use super::state::{Inner, PublishHook};
use super::DispatchError;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::Event;
use crate::store::{NewDelivery, NewEvent};

/// What [`Dispatcher::publish`](super::Dispatcher::publish) stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The new event's id.
    pub event_id: EventId,
    /// One delivery per subscribed, enabled endpoint.
    pub deliveries: Vec<(DeliveryId, EndpointId)>,
}

/// Serializes `event` once and publishes it.
pub(super) async fn event<E: Event + ?Sized>(
    inner: &Inner,
    event: &E,
) -> Result<Published, DispatchError> {
    // Sized like the last payload: events of a kind tend to be alike in
    // size, and one allocation beats growing from 128 bytes by doubling.
    let hint = inner.payload_hint.load(Ordering::Relaxed);
    let mut payload = Vec::with_capacity(hint.clamp(128, 1 << 20));
    serde_json::to_writer(&mut payload, event).map_err(DispatchError::Serialize)?;
    // The store keeps the buffer as it is: never hold more than a quarter
    // more than the payload (a hint from a larger event, or growth).
    if payload.capacity() - payload.len() > payload.len() / 4 {
        payload.shrink_to_fit();
    }
    inner.payload_hint.store(payload.len(), Ordering::Relaxed);
    json(inner, event.kind(), payload.into()).await
}

/// Stores `payload` once with one delivery per subscriber of `kind`, due now.
pub(super) async fn json(
    inner: &Inner,
    kind: &str,
    payload: Bytes,
) -> Result<Published, DispatchError> {
    let now = inner.clock.now();
    let event_id = EventId::generate();
    let subscribers = inner.store().subscribers(kind).await?;
    let mut deliveries = Vec::with_capacity(subscribers.len());
    let new: Vec<NewDelivery> = subscribers
        .into_iter()
        .map(|endpoint_id| {
            let id = DeliveryId::generate();
            deliveries.push((id.clone(), endpoint_id.clone()));
            NewDelivery::new(id, endpoint_id, now)
        })
        .collect();
    // An event nobody subscribes to is not stored: there is nothing to
    // deliver, and a store must not grow with events nobody receives.
    if !deliveries.is_empty() {
        let kind = inner.kinds.get(kind);
        let event = NewEvent::new(event_id.clone(), kind, payload, now);
        inner.store().insert_event(event, new).await?;
        notify(inner);
    }
    Ok(Published {
        event_id,
        deliveries,
    })
}

/// Registers a hook called after every publish or fire that stored something.
pub(super) fn add_hook(inner: &Inner, hook: PublishHook) {
    inner
        .on_publish
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(hook);
    inner.has_hooks.store(true, Ordering::Release);
}

/// Calls the hooks: something new is due.
pub(super) fn notify(inner: &Inner) {
    if !inner.has_hooks.load(Ordering::Acquire) {
        return;
    }
    let hooks = inner
        .on_publish
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for hook in hooks {
        hook();
    }
}
