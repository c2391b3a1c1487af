//! The dispatcher: publish events, then deliver what is due.
//!
//! # The flow, and the file that does each step
//!
//! | step | what happens | file |
//! |---|---|---|
//! | publish | an event is serialized **once**; one delivery per enabled endpoint subscribed to its kind is stored, all sharing the same bytes | `publish.rs` |
//! | fire | a journey step is checked (identity, consent), claimed exactly once, its URL rendered, and queued like any delivery | `fire.rs` |
//! | lease | [`Dispatcher::run_due`] leases the deliveries that are due | `run.rs` |
//! | sign | each attempt's request is built from a per-endpoint template and signed | `request.rs` |
//! | send | requests go through the [`Transport`], at most [`concurrency`](DispatcherBuilder::concurrency) at a time | `run.rs` |
//! | settle | the [`RetryPolicy`] decides on the outcome: succeeded, retry at a time, or dead | `attempt.rs` |
//! | record | the attempt and the delivery's next state go to the [`Store`] | `run.rs` |
//!
//! The dispatcher does no I/O of its own and never sleeps: the host's runtime
//! calls `run_due` on its own cadence (the `tokio` worker does that for you).
//!
//! Every request carries:
//! - `content-type: application/json` and a `user-agent`;
//! - `webhook-id`: the delivery id, the same on every attempt (signed by the
//!   Standard Webhooks scheme only; receivers deduplicate on
//!   [`Verified::dedupe_key`](crate::signature::Verified::dedupe_key), which
//!   either scheme covers); the same value as `idempotency-key`;
//! - the endpoint's signature headers: the hex signature (identical on every
//!   attempt, since the body is) and/or the Standard Webhooks headers, signed
//!   again on each attempt with a fresh `webhook-timestamp`;
//! - the endpoint's own headers (authentication included).

mod attempt;
mod connection_test;
pub(crate) mod engine;
mod fire;
pub(crate) mod idle;
mod publish;
mod request;
mod run;
mod signals;
mod state;

pub use attempt::DisableReason;
pub use connection_test::TestReport;
pub use fire::{Fire, FireOutcome, JourneyFireError};
pub use publish::Published;
pub use request::HEADER_IDEMPOTENCY_KEY;
pub use run::{AttemptReport, IdleReport, RunReport};

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderValue;

use crate::clock::{Clock, SystemClock};
use crate::endpoint::{Endpoint, EndpointError};
use crate::id::{DeliveryId, EndpointId};
use crate::model::Event;
use crate::retry::{Policy, RetryPolicy};
use crate::store::{Delivery, DeliveryFilter, DeliveryState, Store, StoreError};
use crate::target::TargetPolicy;
use crate::transport::{Transport, DEFAULT_USER_AGENT};
use state::{Inner, Kinds};

/// Publishes events and delivers them. Cheap to clone: clones share everything.
///
/// # Examples
///
/// ```
/// use hookwire::clock::ManualClock;
/// use hookwire::dispatch::Dispatcher;
/// use hookwire::endpoint::Endpoint;
/// use hookwire::store::InMemoryStore;
/// use hookwire::transport::{transport_fn, WebhookResponse};
///
/// # futures::executor::block_on(async {
/// let transport = transport_fn(|_request, _options| async { Ok(WebhookResponse::new(Default::default())) });
/// let dispatcher = Dispatcher::builder(transport, InMemoryStore::new())
///     .clock(ManualClock::at_unix(1_771_515_000))
///     .build()?;
/// dispatcher
///     .add_endpoint(Endpoint::builder("ep_1", "https://hooks.example.com/in").build()?)
///     .await?;
/// let published = dispatcher
///     .publish_json("createExperience", br#"{"action":"createExperience"}"#.to_vec())
///     .await?;
/// assert_eq!(published.deliveries.len(), 1);
/// let report = dispatcher.run_due(100).await?;
/// assert_eq!(report.succeeded, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Dispatcher")
            .field("transport", &i.transport)
            .field("store", &i.store)
            .field("clock", &i.clock)
            .field("policy", &i.policy)
            .field("lease", &i.lease)
            .field("concurrency", &i.concurrency)
            .field("disable_after_dead", &i.disable_after_dead)
            .field("targets", &i.targets)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Dispatcher`]; every setting has a default.
#[derive(Debug)]
#[must_use]
pub struct DispatcherBuilder {
    transport: Arc<dyn Transport>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: Arc<dyn RetryPolicy>,
    lease: Option<Duration>,
    concurrency: usize,
    endpoint_share: Option<u32>,
    disable_after_dead: Option<u32>,
    max_response_body: usize,
    targets: TargetPolicy,
    user_agent: HeaderValue,
    on_event: Option<crate::events::Handler>,
    without_flow_control: bool,
}

impl DispatcherBuilder {
    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The retry policy (default: [`Policy::default`]: 5 attempts, a 10 s
    /// timeout, only 2xx succeeds).
    pub fn policy(mut self, policy: impl RetryPolicy + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// How long a worker holds a leased delivery before another may take it
    /// (default: the policy's timeout times 2 plus 30 s). It must be longer
    /// than the policy's timeout ([`build`](Self::build) refuses it
    /// otherwise): a delivery is never sent with less of its lease left than
    /// a request may take, so that two workers never send it at once.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How many requests are in flight at once, in one `run_due` call or one
    /// worker loop (default 32; 0 is refused by [`build`](Self::build)).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// The most requests in flight at once for one endpoint, unless it sets
    /// its own [`max_in_flight`](crate::endpoint::Endpoint::max_in_flight)
    /// (default: half the [`concurrency`](Self::concurrency), at least 1).
    /// A slow endpoint then never holds more than its share of the slots:
    /// its other deliveries stay queued, not leased, while the other
    /// endpoints' deliveries go out. A worker keeps at most this many of an
    /// endpoint's deliveries leased and waiting for a slot; for an endpoint
    /// whose attempts take less than 100 ms, a lease batch more, so that one
    /// lease call feeds many requests. 0 is refused by [`build`](Self::build).
    ///
    /// A worker reads an endpoint again at most once a second while it sends
    /// to it: a change made with [`add_endpoint`](Dispatcher::add_endpoint)
    /// (a new URL, secret or share) or a deletion reaches a running worker
    /// within a second. Disabling takes effect at the next lease.
    pub fn max_in_flight_per_endpoint(mut self, max_in_flight: u32) -> Self {
        self.endpoint_share = Some(max_in_flight);
        self
    }

    /// The most requests in flight at once for one endpoint: the old name of
    /// [`max_in_flight_per_endpoint`](Self::max_in_flight_per_endpoint).
    #[deprecated(note = "use `max_in_flight_per_endpoint`")]
    pub fn endpoint_share(self, max_in_flight: u32) -> Self {
        self.max_in_flight_per_endpoint(max_in_flight)
    }

    /// Builds on a store that does not [enforce flow
    /// control](Store::enforces_flow_control), which [`build`](Self::build)
    /// otherwise refuses: endpoints' circuit breakers are then not in
    /// effect, and the deliveries of endpoints that are rate-limited or
    /// ordered are deferred (with the reason) instead of sent, so that none
    /// goes faster or out of turn unseen.
    pub fn without_flow_control(mut self) -> Self {
        self.without_flow_control = true;
        self
    }

    /// Disable an endpoint once this many of its deliveries in a row have
    /// ended dead (default 5); `None` never disables for that reason.
    /// `Some(0)` is refused by [`build`](Self::build).
    pub fn disable_after_dead(mut self, count: Option<u32>) -> Self {
        self.disable_after_dead = count;
        self
    }

    /// How much of a response body the transport reads (default 64 KiB; the
    /// first 1 KiB is recorded with the attempt).
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// Lifts the [target guard](crate::target) for everything this dispatcher
    /// sends: endpoints, journey URLs and the transport's connections may then
    /// point at loopback, private and `localhost` targets (default `false`:
    /// refused). The one switch for local development and tests.
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.targets = match allow {
            true => TargetPolicy::AllowPrivate,
            false => TargetPolicy::PublicOnly,
        };
        self
    }

    /// The `User-Agent` header of every request (default
    /// [`DEFAULT_USER_AGENT`]). An endpoint's own `user-agent` header is
    /// replaced by it.
    pub fn user_agent(mut self, user_agent: HeaderValue) -> Self {
        self.user_agent = user_agent;
        self
    }

    /// Hands every [operational event](crate::events) (an endpoint disabled
    /// or recovered, a delivery dead, the store down or back) to `handler`,
    /// synchronously on the delivery loop: keep it cheap, send to a channel.
    pub fn on_event(
        mut self,
        handler: impl Fn(&crate::events::OpsEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_event = Some(crate::events::Handler(Arc::new(handler)));
        self
    }

    /// Checks the settings and builds the dispatcher.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a setting that cannot work, saying what to change.
    pub fn build(self) -> Result<Dispatcher, ConfigError> {
        let timeout = self.policy.timeout();
        let lease = self.lease.unwrap_or_else(|| {
            timeout
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(30))
        });
        if lease <= timeout {
            return Err(ConfigError::LeaseTooShort { lease, timeout });
        }
        if self.concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if self.endpoint_share == Some(0) {
            return Err(ConfigError::ZeroEndpointShare);
        }
        if self.disable_after_dead == Some(0) {
            return Err(ConfigError::ZeroDisableAfterDead);
        }
        let flow_control = self.store.enforces_flow_control();
        if !flow_control && !self.without_flow_control {
            return Err(ConfigError::StoreLacksFlowControl);
        }
        let endpoint_share = self
            .endpoint_share
            .unwrap_or_else(|| engine::default_share(self.concurrency));
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                transport: self.transport,
                store: self.store,
                clock: self.clock,
                policy: self.policy,
                lease,
                concurrency: self.concurrency,
                endpoint_share,
                disable_after_dead: self.disable_after_dead,
                flow_control,
                max_response_body: self.max_response_body,
                targets: self.targets,
                user_agent: self.user_agent,
                on_publish: Mutex::new(Vec::new()),
                has_hooks: AtomicBool::new(false),
                payload_hint: AtomicUsize::new(0),
                kinds: Kinds::default(),
                on_event: self.on_event,
                watch: signals::Watch::default(),
            }),
        })
    }
}

/// A [`DispatcherBuilder`] setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The lease is not longer than the request timeout: every delivery would
    /// be handed back unsent (or, worse, sent by two workers at once).
    #[error("the lease ({lease:?}) must be longer than the request timeout ({timeout:?}): lease for at least twice the timeout, or shorten the policy's timeout")]
    LeaseTooShort {
        /// The lease asked for.
        lease: Duration,
        /// The policy's request timeout.
        timeout: Duration,
    },
    /// `concurrency(0)`: nothing could ever be sent.
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
    /// `max_in_flight_per_endpoint(0)`: no endpoint could ever be sent to.
    #[error("max_in_flight_per_endpoint must be at least 1")]
    ZeroEndpointShare,
    /// `disable_after_dead(Some(0))`: use `None` to never disable.
    #[error("disable_after_dead must be at least 1 (None never disables)")]
    ZeroDisableAfterDead,
    /// The store does not [enforce flow control](Store::enforces_flow_control)
    /// (rate limits, circuit breakers, pauses, ordering), and the builder
    /// was not told to go [without](DispatcherBuilder::without_flow_control).
    #[error("the store does not enforce endpoints' rate limits, circuit breakers and ordering: use a store that does, or build with without_flow_control()")]
    StoreLacksFlowControl,
}

/// A dispatcher operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The store failed.
    #[error("webhook store operation failed")]
    Store(#[from] StoreError),
    /// The event could not be serialized.
    #[error("event could not be serialized")]
    Serialize(#[source] serde_json::Error),
    /// No endpoint has this id.
    #[error("no endpoint {0}")]
    UnknownEndpoint(EndpointId),
    /// An endpoint (or a journey step's target) is not valid.
    #[error("invalid endpoint")]
    Endpoint(#[from] EndpointError),
    /// A journey step could not be fired.
    #[error("journey step could not be fired")]
    Journey(#[from] JourneyFireError),
    /// The endpoint is not signed, so it has no key to rotate.
    #[error("endpoint {0} is not signed: give it signing first")]
    Unsigned(EndpointId),
    /// The endpoint's signer refused the rotation.
    #[error("the endpoint's keys could not be rotated")]
    Signer(#[from] crate::signature::SignerError),
}

impl Dispatcher {
    /// Starts building a dispatcher over `transport` and `store`.
    pub fn builder(
        transport: impl Transport + 'static,
        store: impl Store + 'static,
    ) -> DispatcherBuilder {
        DispatcherBuilder {
            transport: Arc::new(transport),
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            policy: Arc::new(Policy::default()),
            lease: None,
            concurrency: 32,
            endpoint_share: None,
            disable_after_dead: Some(5),
            max_response_body: 64 * 1024,
            targets: TargetPolicy::PublicOnly,
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
            on_event: None,
            without_flow_control: false,
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The retry policy.
    pub fn policy(&self) -> &dyn RetryPolicy {
        &*self.inner.policy
    }

    /// The target policy: whether private targets are allowed (see
    /// [`DispatcherBuilder::allow_private_targets`]).
    pub fn targets(&self) -> TargetPolicy {
        self.inner.targets
    }

    /// Adds an endpoint, or replaces the one with the same id.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Endpoint`] if the [target guard](crate::target)
    /// refuses its URL's host; [`DispatchError::Store`] if the store fails.
    pub async fn add_endpoint(&self, endpoint: Endpoint) -> Result<(), DispatchError> {
        endpoint
            .url
            .check_target(self.inner.targets)
            .map_err(EndpointError::BlockedTarget)?;
        Ok(self.inner.store().put_endpoint(endpoint).await?)
    }

    /// Deletes an endpoint; returns `false` if there was none. Its pending
    /// deliveries end dead with the reason `endpoint deleted` (at once, or
    /// when next leased if a worker holds them now); its attempt records stay.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn delete_endpoint(&self, id: &EndpointId) -> Result<bool, DispatchError> {
        Ok(self.inner.store().delete_endpoint(id).await?)
    }

    /// Enables or disables an endpoint. Disabling records when, and the
    /// reason [`REASON_DISABLED_BY_HOST`](crate::store::REASON_DISABLED_BY_HOST)
    /// (see [`EndpointHealth::disabled`](crate::store::EndpointHealth::disabled));
    /// disabling an endpoint already disabled keeps its first record.
    /// Enabling clears the record.
    ///
    /// # Errors
    ///
    /// [`DispatchError::UnknownEndpoint`] if there is no such endpoint.
    pub async fn set_endpoint_enabled(
        &self,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<(), DispatchError> {
        let store = self.inner.store();
        let found = if enabled {
            store.set_endpoint_enabled(id, true).await?
        } else {
            let now = self.inner.clock.now();
            store
                .disable_endpoint(id, now, crate::store::REASON_DISABLED_BY_HOST)
                .await?
                // Already disabled, or not there at all.
                || store.endpoint(id).await?.is_some()
        };
        if found {
            Ok(())
        } else {
            Err(DispatchError::UnknownEndpoint(id.clone()))
        }
    }

    /// Rotates an endpoint's key at the dispatcher's clock's now: `key`
    /// becomes the current key of its kind, and the key it replaces keeps
    /// signing for `grace` ([`DEFAULT_ROTATION_GRACE`](crate::signature::DEFAULT_ROTATION_GRACE),
    /// 24 hours, unless the host has a reason), after which it is never sent
    /// again. Keys already expired are dropped. The schedule is stored with
    /// the endpoint, so every worker sharing the store follows it.
    ///
    /// The read and the write are two store calls: rotate an endpoint from
    /// one place at a time.
    ///
    /// # Errors
    ///
    /// [`DispatchError::UnknownEndpoint`], [`DispatchError::Unsigned`] for an
    /// endpoint without signing, [`DispatchError::Signer`] if it would hold
    /// too many keys, [`DispatchError::Store`] if the store fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use hookwire::clock::ManualClock;
    /// use hookwire::dispatch::Dispatcher;
    /// use hookwire::endpoint::Endpoint;
    /// use hookwire::signature::{Schemes, SigningSecret, DEFAULT_ROTATION_GRACE};
    /// use hookwire::store::{InMemoryStore, Store};
    /// use hookwire::testing::MockTransport;
    ///
    /// # futures::executor::block_on(async {
    /// let dispatcher = Dispatcher::builder(MockTransport::new(Vec::new()), InMemoryStore::new())
    ///     .clock(ManualClock::at_unix(1_700_000_000))
    ///     .build()?;
    /// let endpoint = Endpoint::builder("ep_1", "https://hooks.example.com/in")
    ///     .signing(SigningSecret::generate(), Schemes::STANDARD)
    ///     .build()?;
    /// dispatcher.add_endpoint(endpoint.clone()).await?;
    /// dispatcher
    ///     .rotate_signing_key(&endpoint.id, SigningSecret::generate(), DEFAULT_ROTATION_GRACE)
    ///     .await?;
    /// let stored = dispatcher.store().endpoint(&endpoint.id).await?.unwrap();
    /// let signer = &stored.signing.unwrap().signer;
    /// assert_eq!(signer.previous().len(), 1);
    /// assert!(signer.previous()[0].expires_at.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn rotate_signing_key(
        &self,
        id: &EndpointId,
        key: impl Into<crate::signature::SigningKey>,
        grace: Duration,
    ) -> Result<(), DispatchError> {
        let store = self.inner.store();
        let mut endpoint = store
            .endpoint(id)
            .await?
            .ok_or_else(|| DispatchError::UnknownEndpoint(id.clone()))?;
        let signing = endpoint
            .signing
            .take()
            .ok_or_else(|| DispatchError::Unsigned(id.clone()))?;
        let signer = signing.signer.rotate(key, self.inner.clock.now(), grace)?;
        endpoint.signing = Some(crate::endpoint::Signing::new(signer, signing.schemes));
        Ok(store.put_endpoint(endpoint).await?)
    }

    /// Serializes `event` once and stores one delivery per enabled endpoint
    /// subscribed to its kind, due now. An event no endpoint subscribes to
    /// is not stored (`deliveries` is empty).
    ///
    /// # Errors
    ///
    /// [`DispatchError::Serialize`] if the event does not serialize;
    /// [`DispatchError::Store`] if the store fails (nothing is stored then).
    pub async fn publish<E: Event + ?Sized>(&self, event: &E) -> Result<Published, DispatchError> {
        publish::event(&self.inner, event).await
    }

    /// Publishes an already serialized JSON payload of `kind`. The bytes are
    /// sent and signed exactly as given.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails (nothing is stored then).
    pub async fn publish_json(
        &self,
        kind: &str,
        payload: impl Into<bytes::Bytes>,
    ) -> Result<Published, DispatchError> {
        publish::json(&self.inner, kind, payload.into()).await
    }

    /// Registers `hook`, called (synchronously, so keep it cheap) after every
    /// publish or journey fire that stored something: a worker uses it to wake
    /// at once instead of waiting for its next poll.
    pub fn on_publish(&self, hook: impl Fn() + Send + Sync + 'static) {
        publish::add_hook(&self.inner, Arc::new(hook));
    }

    /// Leases up to `limit` due deliveries and attempts each once, at most
    /// [`concurrency`](DispatcherBuilder::concurrency) at a time.
    ///
    /// Failures of single deliveries are counted in the report, not returned.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if leasing fails (nothing was attempted).
    pub async fn run_due(&self, limit: usize) -> Result<RunReport, DispatchError> {
        run::run_due(&self.inner, limit).await
    }

    /// Runs [`run_due`](Self::run_due) again and again until nothing is due
    /// before `before`, at most `max_runs` times, and returns what all the
    /// runs did: for tests and scripts that want a queue worked off without
    /// a worker.
    ///
    /// When nothing more is due now but something is due before `before`,
    /// a clock the host controls ([`ManualClock`](crate::clock::ManualClock))
    /// is moved forward to that time (see [`Clock::jump_to`]) and the runs go
    /// on, so retries happen at their scheduled times; with a real clock it
    /// returns then, not idle, with [`next_due`](IdleReport::next_due) set
    /// (the dispatcher never sleeps).
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if leasing or asking for the next due time
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use hookwire::clock::{Clock, ManualClock};
    /// use hookwire::dispatch::Dispatcher;
    /// use hookwire::endpoint::Endpoint;
    /// use hookwire::store::InMemoryStore;
    /// use hookwire::testing::{MockReply, MockTransport};
    ///
    /// # futures::executor::block_on(async {
    /// let clock = ManualClock::at_unix(1_771_515_000);
    /// // Fails twice, then succeeds: the retries are due later.
    /// let transport = MockTransport::new([MockReply::status(503), MockReply::status(503)])
    ///     .with_default(MockReply::ok());
    /// let dispatcher = Dispatcher::builder(transport, InMemoryStore::new())
    ///     .clock(clock.clone())
    ///     .build()?;
    /// dispatcher
    ///     .add_endpoint(Endpoint::builder("ep_1", "https://hooks.example.com/in").build()?)
    ///     .await?;
    /// dispatcher.publish_json("ping", br#"{}"#.to_vec()).await?;
    /// let a_day_later = clock.now() + Duration::from_secs(86_400);
    /// let report = dispatcher.run_until_idle(a_day_later, 100).await?;
    /// assert!(report.idle);
    /// assert_eq!((report.total.retried, report.total.succeeded), (2, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn run_until_idle(
        &self,
        before: std::time::SystemTime,
        max_runs: usize,
    ) -> Result<IdleReport, DispatchError> {
        run::run_until_idle(&self.inner, before, max_runs).await
    }

    /// Delivers continuously until `idle` says stop: the worker's loop.
    #[cfg(feature = "tokio")]
    pub(crate) async fn deliver(
        &self,
        idle: &dyn idle::Idle,
        batch: usize,
        poll_interval: Duration,
        counters: &idle::LiveCounters,
    ) {
        let mode = engine::Mode::Continuous {
            idle,
            batch,
            poll_interval,
            counters,
        };
        // A worker's engine backs off on store failures instead of returning.
        let _ = engine::run(&self.inner, mode).await;
    }

    /// The headers every request to `endpoint` carries, as laid out before
    /// an attempt fills in its ids and signatures (those values are empty):
    /// what the console shows, redacted.
    #[cfg(feature = "console")]
    pub(crate) fn request_headers(&self, endpoint: Endpoint) -> http::HeaderMap {
        let template =
            request::RequestTemplate::new(endpoint, self.inner.targets, &self.inner.user_agent);
        template.headers().clone()
    }

    /// Makes a dead delivery pending again, due now, with a fresh run of the
    /// retry policy. Returns `false` if there is no such dead delivery.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn redeliver(&self, id: &DeliveryId) -> Result<bool, DispatchError> {
        let now = self.inner.clock.now();
        Ok(self.inner.store().redeliver(id, now).await?)
    }

    /// Removes the succeeded deliveries that finished more than `older_than`
    /// ago by the dispatcher's clock, with their attempt records and each
    /// event left with no delivery, a thousand at a time until none is left,
    /// and returns how many it removed. Pending and dead deliveries and the
    /// journey ledger stay. See [`Store::prune_succeeded`]; a store that does
    /// not prune removes nothing.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails (what was removed before
    /// stays removed).
    pub async fn prune_succeeded(&self, older_than: Duration) -> Result<usize, DispatchError> {
        const CHUNK: usize = 1_000;
        let Some(before) = self.inner.clock.now().checked_sub(older_than) else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let n = self.inner.store().prune_succeeded(before, CHUNK).await?;
            total += n;
            if n < CHUNK {
                return Ok(total);
            }
        }
    }

    /// How many deliveries are due now and how long the oldest has waited
    /// (`None` if the store does not measure it; see [`Store::due_stats`]).
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn due_stats(&self) -> Result<Option<crate::store::DueStats>, DispatchError> {
        let now = self.inner.clock.now();
        Ok(self.inner.store().due_stats(now).await?)
    }

    /// Samples the queue for the metrics (`hookwire_deliveries_due`,
    /// `hookwire_due_lag_seconds`).
    #[cfg(all(feature = "tokio", feature = "metrics"))]
    pub(crate) async fn sample_queue(&self) -> Result<(), DispatchError> {
        let now = self.inner.clock.now();
        if let Some(stats) = self.inner.store().due_stats(now).await? {
            signals::queue_sampled(stats.due, stats.lag(now));
        }
        Ok(())
    }

    /// Dead deliveries, oldest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn dead(&self, limit: usize) -> Result<Vec<Delivery>, DispatchError> {
        let filter = DeliveryFilter::all(limit).state(DeliveryState::Dead);
        Ok(self.inner.store().deliveries(&filter).await?)
    }

    /// One endpoint's health (`None` if there is no such endpoint): its
    /// deliveries by state, its last attempt, its last success, its failures
    /// in a row, and when and why it was disabled. See [`Store::endpoint_health`].
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn endpoint_health(
        &self,
        id: &EndpointId,
    ) -> Result<Option<crate::store::EndpointHealth>, DispatchError> {
        Ok(self.inner.store().endpoint_health(id).await?)
    }

    /// Every endpoint's health, in id order. See [`Store::endpoints_health`].
    ///
    /// # Errors
    ///
    /// [`DispatchError::Store`] if the store fails.
    pub async fn endpoints_health(
        &self,
    ) -> Result<Vec<crate::store::EndpointHealth>, DispatchError> {
        Ok(self.inner.store().endpoints_health().await?)
    }

    /// Sends a harmless test event to one endpoint now, outside the queue (no
    /// delivery is stored, no retry), and returns what happened. The body is a
    /// [`ConnectionTest`](crate::model::ConnectionTest),
    /// `{"action":"testWebhook","timestamp":<unix ms>}`, signed like any other;
    /// a receiver parsing into [`ExperienceWebhook`](crate::model::ExperienceWebhook)
    /// gets it as its `ConnectionTest` variant.
    ///
    /// # Errors
    ///
    /// A URL the [target guard](crate::target) refuses is reported, not
    /// sent: a [`Rejected`](crate::transport::TransportErrorKind::Rejected)
    /// failure whose reason says why (`blocked target 127.0.0.1 (loopback):
    /// private targets are not allowed`), as an attempt would record it.
    ///
    /// # Errors
    ///
    /// [`DispatchError::UnknownEndpoint`] if there is no such endpoint;
    /// [`DispatchError::Store`] if the store fails.
    pub async fn test_endpoint(&self, id: &EndpointId) -> Result<TestReport, DispatchError> {
        connection_test::run(&self.inner, id).await
    }

    /// Fires `step` for a profile: checks that the identity is resolved and the
    /// consent the step requires is granted (else records a skip and sends
    /// nothing), claims the exactly-once ledger entry for (journey, step,
    /// profile, occurrence) (a second fire returns the first delivery and sends
    /// nothing), renders the URL template, and queues the payload on the
    /// ordinary delivery path. The delivery id, sent as `Idempotency-Key` and
    /// `webhook-id`, is derived from the ledger key, so it is the same on every
    /// attempt.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Journey`] if the URL cannot be rendered or is not a
    /// valid target; [`DispatchError::Store`] if the store fails.
    pub async fn fire(
        &self,
        step: &crate::model::journey::JourneyStep,
        fire: Fire<'_>,
    ) -> Result<FireOutcome, DispatchError> {
        fire::fire(&self.inner, step, fire).await
    }
}
