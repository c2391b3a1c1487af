//! What every stage of the flow shares: the ports and the settings.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::HeaderValue;

use crate::clock::Clock;
use crate::retry::RetryPolicy;
use crate::store::Store;
use crate::target::TargetPolicy;
use crate::transport::{SendOptions, Transport};

/// The state behind a [`Dispatcher`](super::Dispatcher) and its clones.
pub(super) struct Inner {
    pub(super) transport: Arc<dyn Transport>,
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) policy: Arc<dyn RetryPolicy>,
    pub(super) lease: Duration,
    pub(super) concurrency: usize,
    /// The most in flight at once for one endpoint without a `max_in_flight`
    /// of its own.
    pub(super) endpoint_share: u32,
    pub(super) disable_after_dead: Option<u32>,
    /// Whether the store enforces flow control (else the deliveries of
    /// rate-limited and ordered endpoints are deferred).
    pub(super) flow_control: bool,
    pub(super) max_response_body: usize,
    pub(super) targets: TargetPolicy,
    pub(super) user_agent: HeaderValue,
    pub(super) on_publish: Mutex<Vec<PublishHook>>,
    /// Whether `on_publish` holds any hook (read without the lock).
    pub(super) has_hooks: AtomicBool,
    /// The length of the last payload `publish` serialized.
    pub(super) payload_hint: AtomicUsize,
    pub(super) kinds: Kinds,
    /// The host's operational event handler.
    pub(super) on_event: Option<crate::events::Handler>,
    /// What the signals remember between occurrences.
    pub(super) watch: super::signals::Watch,
}

pub(super) type PublishHook = Arc<dyn Fn() + Send + Sync>;

impl Inner {
    // Calls go through `&dyn`, not `Arc<dyn>`: the `Arc` forwarding impls
    // would box every future a second time.
    pub(super) fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub(super) fn transport(&self) -> &dyn Transport {
        &*self.transport
    }

    /// What the transport is told for every request.
    pub(super) fn send_options(&self) -> SendOptions {
        SendOptions::new(self.policy.timeout(), self.max_response_body).with_targets(self.targets)
    }
}

/// The event kinds published so far, each allocated once and shared by the
/// events of that kind (a host publishes a handful of kinds, again and
/// again). Holds at most [`Kinds::MAX`]; past that, kinds are allocated per
/// event.
#[derive(Default)]
pub(super) struct Kinds(Mutex<Vec<Arc<str>>>);

impl Kinds {
    const MAX: usize = 64;

    pub(super) fn get(&self, kind: &str) -> Arc<str> {
        let mut kinds = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = kinds.iter().find(|k| ***k == *kind) {
            return Arc::clone(k);
        }
        let k: Arc<str> = Arc::from(kind);
        if kinds.len() < Self::MAX {
            kinds.push(Arc::clone(&k));
        }
        k
    }
}
