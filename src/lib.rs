//! # hookwire
//!
//! Typed, signed, retried outbound webhooks, as a library.
//!
//! A service that runs experiments (A/B tests of prices, themes, offers) or
//! customer journeys tells other systems when something meaningful happens;
//! hookwire is what it does that with, and what the receiving service checks
//! what arrives with. It holds:
//!
//! - **typed payloads**: experience lifecycle events ([`model::experience`])
//!   and journey-step webhooks ([`model::journey`]), parsed and written
//!   losslessly, unknown fields and enum values included;
//! - **signing and verification**: the hex HMAC-SHA256 scheme
//!   (`X-Intelligems-Signature`) and Standard Webhooks, constant-time, with
//!   secret rotation ([`signature`]), and a [`Receiver`](receive::Receiver)
//!   that verifies, parses and deduplicates ([`receive`]);
//! - **a delivery engine**: fan-out to subscribed endpoints, leases, a retry
//!   policy, attempt records, dead deliveries, redelivery, endpoint disabling,
//!   exactly-once journey steps ([`dispatch`], [`retry`], [`endpoint`]).
//!
//! The core does no I/O of its own and never sleeps or reads the wall clock
//! directly. The host plugs in a [`Transport`](transport::Transport) (HTTP), a
//! [`Store`](store::Store) (state) and a [`Clock`](clock::Clock). The crate
//! ships adapters for each behind cargo features ([feature
//! flags](#feature-flags)): an HTTP client, a tokio worker loop, an in-memory
//! and a PostgreSQL store, receivers for axum and tower, a Redis dedupe
//! store, tracing, metrics and an operator console. The runnable programs in
//! `examples/` are [listed at the end](#examples).
//!
//! # Contents
//!
//! - [Sending webhooks](#sending-webhooks)
//! - [Running a worker](#running-a-worker)
//! - [Receiving webhooks](#receiving-webhooks)
//! - [Journey steps](#journey-steps)
//! - [Bring your own transport](#bring-your-own-transport)
//! - [Choosing a store](#choosing-a-store)
//! - [Retries](#retries)
//! - [Ordered endpoints](#ordered-endpoints)
//! - [Flow control](#flow-control)
//! - [Attempts, seen from three sides](#attempts-seen-from-three-sides)
//! - [Seeing what happens](#seeing-what-happens)
//! - [Testing your integration](#testing-your-integration)
//! - [When things fail](#when-things-fail)
//! - [Security](#security)
//! - [Names of settings](#names-of-settings)
//! - [Feature flags](#feature-flags)
//! - [Examples](#examples)
//!
//! # Sending webhooks
//!
//! Register endpoints, publish events, and let a [`Worker`] deliver them
//! continuously (or call [`run_due`](dispatch::Dispatcher::run_due) yourself,
//! as scripts do). An event is serialized once; every endpoint subscribed to
//! its kind gets a delivery sharing those bytes.
//!
//! ```
//! use hookwire::clock::ManualClock;
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::endpoint::Endpoint;
//! use hookwire::model::experience::{EventAction, Experience, ExperienceEvent, Organization};
//! use hookwire::signature::{Schemes, SigningSecret};
//! use hookwire::store::InMemoryStore;
//! use hookwire::transport::{transport_fn, WebhookResponse};
//! use std::time::SystemTime;
//!
//! # futures::executor::block_on(async {
//! // Any async function can be the HTTP client; `ReqwestTransport` is the real one.
//! let transport = transport_fn(|request, _options| async move {
//!     assert!(request.headers().contains_key("x-intelligems-signature"));
//!     Ok(WebhookResponse::new(Default::default()))
//! });
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//!
//! let endpoint = Endpoint::builder("ep_slack", "https://hooks.example.com/intelligems")
//!     .events(["startExperience", "endExperience"])
//!     .signing(SigningSecret::generate(), Schemes::HEX)
//!     .build()?;
//! dispatcher.add_endpoint(endpoint).await?;
//!
//! let experience = Experience { name: "Theme Test".into(), ..Experience::default() };
//! let organization = Organization { name: "example".into(), ..Organization::default() };
//! let event = ExperienceEvent::new(EventAction::Start, experience, organization, SystemTime::now());
//! let published = dispatcher.publish(&event).await?;
//! assert_eq!(published.deliveries.len(), 1);
//!
//! let report = dispatcher.run_due(100).await?;
//! assert_eq!(report.succeeded, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Every setting of the dispatcher has a default:
//! [`DispatcherBuilder`](dispatch::DispatcherBuilder) sets the clock, the
//! retry policy, the lease, the concurrency, each endpoint's share of it,
//! when endpoints are disabled, the response body cap, the target guard, the
//! user agent and the [operational event](events) handler.
//!
//! # Running a worker
//!
//! With the `tokio` feature (on by default), a [`Worker`] runs the delivery
//! engine continuously on tokio: up to the dispatcher's concurrency requests
//! in flight, a freed slot refilled at once, woken by a publish through the
//! same dispatcher, and, with nothing due, waiting for the next due time or
//! its poll interval, never in a busy loop. Shutting down lets the requests in
//! flight finish and records them. `RunningWorker::status` says how it is
//! doing; `Worker::prune_succeeded_after` removes old succeeded deliveries.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::store::InMemoryStore;
//! use hookwire::transport::{transport_fn, WebhookResponse};
//! use hookwire::worker::Worker;
//! use std::time::Duration;
//!
//! let transport = transport_fn(|_req, _opts| async { Ok(WebhookResponse::new(Default::default())) });
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//! let running = Worker::new(dispatcher.clone())
//!     .poll_interval(Duration::from_secs(1))
//!     .spawn()?;
//! // ... add endpoints and publish through `dispatcher`; on SIGTERM:
//! let summary = running.shutdown().await;
//! assert_eq!(summary.dead, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Run as many workers as you like over one [PostgreSQL store](#choosing-a-store):
//! `examples/postgres_worker.rs` is such a process.
//!
//! # Receiving webhooks
//!
//! Verify the raw body and headers, then parse; deduplicate on
//! [`Verified::dedupe_key`](signature::Verified::dedupe_key), derived from
//! the signed body: the same on every redelivery, under either scheme, however
//! a replay's headers were changed. Keep keys at least
//! [`DEFAULT_BODY_TOLERANCE`](signature::DEFAULT_BODY_TOLERANCE) plus
//! [`DEFAULT_TOLERANCE`](signature::DEFAULT_TOLERANCE) (6 hours 5 minutes):
//! older replays are refused by the verifier (a hex-signed body's `timestamp`
//! is checked by default).
//!
//! ```
//! use hookwire::http::HeaderMap;
//! use hookwire::model::experience::ExperienceEvent;
//! use hookwire::signature::{Schemes, SigningSecret, Verifier, VerifyError};
//!
//! fn handle(headers: &HeaderMap, body: &[u8], verifier: &Verifier) -> Result<(), VerifyError> {
//!     let (verified, event): (_, ExperienceEvent) = verifier.verify_json(headers, body)?;
//!     println!("{} {} (key {})", event.action, event.experience.name, verified.dedupe_key);
//!     Ok(())
//! }
//!
//! let verifier = Verifier::new(SigningSecret::from_raw_str("my-shared-secret").unwrap())
//!     .with_schemes(Schemes::HEX);
//! let err = handle(&HeaderMap::new(), b"{}", &verifier).unwrap_err();
//! assert_eq!(err, VerifyError::MissingHeader { name: "x-intelligems-signature" });
//! ```
//!
//! A receiving server need not write any of this: a
//! [`Receiver`](receive::Receiver) verifies, parses into your type and
//! deduplicates, answering each failure with its status
//! ([`Rejection`](receive::Rejection): 413, 401, 400, 503 when the dedupe
//! store cannot answer, 200 for a duplicate). It deduplicates in memory
//! ([`MemoryDedupe`](receive::MemoryDedupe), one process) unless given another
//! [`DedupeStore`](receive::DedupeStore). The adapters are thin layers over it:
//!
//! - **axum** (feature `axum`): the [`Webhook<T>`] extractor, the `Receiver`
//!   taken from the router's state; [`retry_failed`] forgets the key when
//!   your handler answers an error, so the sender's retry runs it again.
//!
//!   ```no_run
//!   # #[cfg(feature = "axum")]
//!   # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//!   use axum::{routing::post, Router};
//!   use hookwire::model::ExperienceWebhook;
//!   use hookwire::receive::{axum::Webhook, Receiver};
//!   use hookwire::signature::{SigningSecret, Verifier};
//!
//!   /// Runs for verified, parsed, new deliveries only.
//!   async fn handle(webhook: Webhook<ExperienceWebhook>) -> &'static str {
//!       println!("{} {}", webhook.verified.id, webhook.payload.action());
//!       "ok"
//!   }
//!
//!   let receiver = Receiver::new(Verifier::new(SigningSecret::from_raw_str("shared-secret")?));
//!   let app = Router::new().route("/webhooks", post(handle)).with_state(receiver);
//!   let listener = tokio::net::TcpListener::bind(("127.0.0.1", 8787)).await?;
//!   axum::serve(listener, app).await?;
//!   # Ok(())
//!   # }
//!   ```
//!
//! - **tower** (feature `tower`): [`WebhookLayer`] in front of any tower
//!   service (hyper, tonic, ...) passes the same bytes on, with the
//!   `Verified` metadata and the parsed value in the request's extensions:
//!   `ServiceBuilder::new().layer(WebhookLayer::new(receiver).parse::<ExperienceWebhook>())`
//!   (a whole example is on [`WebhookLayer`]).
//! - **Redis** (feature `redis`): [`RedisDedupe`], one dedupe store shared by
//!   receivers on many machines (`SET key 1 NX PX ttl`; Redis down is a 503,
//!   never a 200).
//!
//!   ```
//!   # #[cfg(feature = "redis")]
//!   # {
//!   use hookwire::receive::{RedisDedupe, Receiver};
//!   use hookwire::signature::{SigningSecret, Verifier};
//!
//!   let verifier = Verifier::new(SigningSecret::from_raw_str("shared-secret")?);
//!   // Connects on first use.
//!   let dedupe = RedisDedupe::open("redis://127.0.0.1:6379/")?.with_prefix("webhooks:");
//!   let receiver = Receiver::builder(verifier).dedupe(dedupe).build()?;
//!   # let _ = receiver;
//!   # }
//!   # Ok::<(), Box<dyn std::error::Error>>(())
//!   ```
//!
//! - **anything else**: `receiver.receive::<T>(&headers, &body).await`, and
//!   [`Rejection::to_response`](receive::Rejection::to_response) for the answer.
//!
//! # Journey steps
//!
//! A journey step is one business outcome sent to one URL with POST, PUT or
//! DELETE, Basic, Bearer or API-key authentication, and only for a resolved
//! identity with the consent the step requires. [`Dispatcher::fire`](dispatch::Dispatcher::fire)
//! checks those, claims an exactly-once ledger entry, renders the URL template
//! and queues the delivery with a stable `Idempotency-Key`.
//!
//! ```
//! use hookwire::dispatch::{Dispatcher, Fire, FireOutcome};
//! use hookwire::model::journey::{Auth, ConsentState, JourneyStep, Profile};
//! use hookwire::store::InMemoryStore;
//! use hookwire::transport::{transport_fn, WebhookResponse};
//!
//! # futures::executor::block_on(async {
//! let transport = transport_fn(|_req, _opts| async { Ok(WebhookResponse::new(Default::default())) });
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//! let step = JourneyStep::builder("onboarding", "signup", "Signup Completed", "POST",
//!         "https://api.crm.example.com/leads/{email}")
//!     .auth(Auth::bearer("crm-token"))
//!     .required_consent("marketing")
//!     .build()?;
//! let mut profile = Profile { email: Some("alex@example.com".into()), identity_resolved: true, ..Profile::default() };
//! profile.consents.insert("marketing".into(), ConsentState::Granted);
//!
//! assert!(matches!(dispatcher.fire(&step, Fire::new(&profile)).await?, FireOutcome::Enqueued(_)));
//! assert!(matches!(dispatcher.fire(&step, Fire::new(&profile)).await?, FireOutcome::Duplicate(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Bring your own transport
//!
//! [`Transport`](transport::Transport) sends one request. Its contract: no
//! redirects (3xx is a failure), no retries, the given timeout honoured, the
//! response body capped, and connections only where
//! [`SendOptions::targets`](transport::SendOptions::targets) allows.
//!
//! - [`ReqwestTransport`] (feature `reqwest`, on by default through
//!   `rustls`) keeps it, the target guard included at connect time (after
//!   DNS). `ReqwestTransport::new()`, or
//!   `ReqwestTransport::builder().connect_timeout(..).build()?`.
//! - [`transport_fn`](transport::transport_fn) turns any async closure into
//!   a transport (for a client of your own).
//! - In tests, use [`MockTransport`] (feature `test-util`) rather than a
//!   hand-written closure: it answers from a script of [`MockReply`]s
//!   (`MockReply::status(503).header("retry-after", "60").body("down")`, a
//!   transport error, or a closure deciding per request) and records every
//!   request it is sent. See [Testing your integration](#testing-your-integration).
//!
//! ```
//! # #[cfg(feature = "reqwest")]
//! # {
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::store::InMemoryStore;
//! use hookwire::transport::ReqwestTransport;
//! use std::time::Duration;
//!
//! let transport = ReqwestTransport::builder()
//!     .connect_timeout(Duration::from_secs(3))
//!     .build()?;
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//! # let _ = dispatcher;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Choosing a store
//!
//! [`Store`](store::Store) holds endpoints, events (each payload once),
//! deliveries with leases, attempt records and the exactly-once ledger.
//!
//! | store | for | what to know |
//! |---|---|---|
//! | [`InMemoryStore`](store::InMemoryStore) (always there) | one process, and tests | nothing survives a restart; its memory stays bounded: pending and dead deliveries are kept, only the most recent 1,000 succeeded ones ([`with_retention`](store::InMemoryStore::with_retention)) |
//! | [`PgStore`] (feature `postgres`) | durability, and many workers on many machines | deliveries survive restarts and crashes (a crashed worker's leases expire); `FOR UPDATE SKIP LOCKED` leases; migrations built in; endpoint secrets are stored in the clear, so restrict who reads the schema |
//! | your own | another database | it must pass the conformance suite (below) |
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::store::PgStore;
//! use hookwire::transport::ReqwestTransport;
//!
//! // Or over your own pool: `PgStore::new(pool)`.
//! let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/app", 16)?
//!     .with_schema("webhooks")?;
//! store.migrate().await?; // idempotent; safe when many processes start at once
//! let dispatcher = Dispatcher::builder(ReqwestTransport::new(), store).build()?;
//! # let _ = dispatcher;
//! # Ok(())
//! # }
//! ```
//!
//! A store of your own implements [`Store`](store::Store) and runs the
//! conformance suite (feature `test-util`) in its tests: [`store_conformance`]
//! runs every check of [`store_suite`] (leases, expiry, lost leases, the
//! ledger, health, listings, pruning, ...), each on a fresh, empty store
//! from your factory, and panics naming the check that failed.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # {
//! use hookwire::store::InMemoryStore;
//! use hookwire::testing::store_conformance;
//!
//! // In your crate: `#[tokio::test] async fn conformance() { store_conformance(|| async { MyStore::empty().await }).await }`
//! futures::executor::block_on(store_conformance(|| async { InMemoryStore::new() }));
//! # }
//! ```
//!
//! # Retries
//!
//! [`retry::Policy::default()`] gives **5 attempts** in all, a **10 s
//! timeout** per request, only **2xx** succeeds, delays of 5 s, 5 min, 30 min
//! and 2 h with ±20 % jitter, `Retry-After` honoured up to 1 h, and **410
//! Gone disables the endpoint**. An endpoint whose deliveries end dead 5
//! times in a row is disabled too. A policy is a value: `decide(attempt) ->
//! Decision`, testable without I/O; the dispatcher stores the next due time
//! and never sleeps. [`Policy::standard_webhooks`](retry::Policy::standard_webhooks)
//! is the Standard Webhooks schedule (10 attempts over about 75 hours),
//! [`Policy::custom`](retry::Policy::custom) any other, and
//! [`with_jitter(0.0)`](retry::Policy::with_jitter) turns jitter off (for
//! tests on a manual clock).
//!
//! # Flow control
//!
//! Each endpoint can be held back by the store, across every worker that
//! shares it (see [`flow`]): a [rate limit](flow::RateLimit), a [circuit
//! breaker](flow::CircuitBreaker) (on by default: 10 failures in a row hold
//! it 30 s, then one probe), and a receiver's own `429`/`503` with
//! `Retry-After`, which pauses the whole endpoint. Held deliveries are not
//! attempted and spend nothing of the retry policy.
//!
//! ```
//! use std::time::Duration;
//! use hookwire::endpoint::Endpoint;
//! use hookwire::flow::{CircuitBreaker, RateLimit};
//!
//! let crm = Endpoint::builder("ep_crm", "https://crm.example.com/hooks")
//!     .rate_limit(RateLimit::per_second(10).burst(5))
//!     .circuit_breaker(CircuitBreaker::after(5).cool_down(Duration::from_secs(10)))
//!     .build()?;
//! # let _ = crm;
//! # Ok::<(), hookwire::endpoint::EndpointError>(())
//! ```
//!
//! # Ordered endpoints
//!
//! An endpoint built with [`EndpointBuilder::ordered`](endpoint::EndpointBuilder::ordered)
//! gets its deliveries **one at a time, in publish order**, however many
//! workers and processes share the store: the store offers only the head of
//! its queue (its oldest pending delivery), and only while no other delivery
//! of it is out.
//!
//! ```
//! use hookwire::endpoint::Endpoint;
//!
//! let ledger = Endpoint::builder("ep_ledger", "https://ledger.example.com/hooks")
//!     .ordered(true)
//!     .build()?;
//! # let _ = ledger;
//! # Ok::<(), hookwire::endpoint::EndpointError>(())
//! ```
//!
//! - A failing head holds the deliveries behind it: a retry keeps its turn
//!   (the next waits for the retry's time, then for its outcome); a success
//!   or a dead end passes the turn on, and so does an abandon (its endpoint
//!   deleted). A hand-back (a release, a defer) keeps the turn. Held
//!   deliveries are not due: `next_due` and `due_stats` leave them out, so
//!   nothing polls for them.
//! - At-least-once still holds: a worker that dies with the head leaves it to
//!   be sent again once its lease expires, so the receiver can see the same
//!   delivery twice in a row; it never sees a later one before an earlier one
//!   (the earlier one dead aside).
//! - A redelivered dead delivery takes its place by publish order: it goes
//!   before the pending deliveries published after it, but never while one
//!   of them is in flight: [`InMemoryStore`](store::InMemoryStore) waits for
//!   that one to finish, `PgStore` until its lease expires.
//! - Disabling the endpoint holds everything; enabling it resumes in order.
//!   Deleting it ends its queued deliveries dead at once and the one out when
//!   its lease expires, as for any endpoint. Turning ordering on does not
//!   wait for deliveries already out.
//! - Publish order is the store's creation order. `InMemoryStore` stores
//!   publishes one at a time. `PgStore` numbers a delivery when its publish
//!   starts and shows it when that publish commits: two publishes to one
//!   ordered endpoint that overlap in time have no order between them, and
//!   the one numbered first but committed second may be sent while the other
//!   is in flight. Publish to an ordered endpoint from one task at a time.
//! - An ordered endpoint goes at the pace of one round trip (lease, request,
//!   record) per delivery; a worker leases again as soon as a turn ends.
//!   Unordered endpoints pay nothing for it; with `PgStore`, every lease call
//!   reads past the deliveries held behind heads that are due (about 1.5 µs
//!   each).
//!
//! # Attempts, seen from three sides
//!
//! One attempt (one request to one endpoint) appears as three types, one per
//! reader:
//!
//! | who reads it | type | holds |
//! |---|---|---|
//! | the retry policy | [`retry::Attempt`], with its [`retry::Outcome`] | the attempt's number since the delivery was created or last redelivered, how it ended (status and `Retry-After`, or the failure's kind), now, a jitter seed |
//! | the store | [`store::AttemptRecord`], with its [`store::AttemptResult`] | the number (growing across redeliveries), when it started, how long it took, the status and the first 1 KiB of the body, or the failure's kind |
//! | the host, after a run | [`dispatch::AttemptReport`] in a [`dispatch::RunReport`] | the delivery, endpoint and event kind, what the store recorded, the policy's [`retry::Decision`], and whether the store accepted the record |
//!
//! # Seeing what happens
//!
//! Every failure keeps a reason a person can read (URLs and secrets
//! stripped) in its attempt record, and each occurrence an operator acts on
//! reaches four places from one function:
//!
//! - **tracing** (feature `tracing`): a span per attempt (`hookwire.attempt`,
//!   opened before its request, so the HTTP client's spans nest in it), one
//!   event per attempt, WARN for a dead delivery, a disabled endpoint or a
//!   failed store call, ERROR when delivery stops. Install any subscriber
//!   (`tracing_subscriber::fmt().init()`); the README's "Seeing what
//!   happens" tables every message, level and field.
//! - **metrics** (feature `metrics`): the metrics listed in [`metrics`]
//!   through the `metrics` facade; install any recorder, then call
//!   `hookwire::metrics::describe()`.
//!
//!   ```no_run
//!   # #[cfg(feature = "metrics")]
//!   # {
//!   // With `metrics-exporter-prometheus`: `/metrics` on 127.0.0.1:9464.
//!   // metrics_exporter_prometheus::PrometheusBuilder::new().install()?;
//!   hookwire::metrics::describe();
//!   # }
//!   ```
//!
//! - **operational events**: [`DispatcherBuilder::on_event`](dispatch::DispatcherBuilder::on_event)
//!   receives each [`OpsEvent`](events::OpsEvent) once (an endpoint disabled
//!   or recovered, a delivery dead, the store down or back);
//!   [`OpsForwarder`](events::OpsForwarder) sends them as signed webhooks to
//!   an operator's own endpoint.
//! - **the console** (feature `console`): [`Console`], an axum router of
//!   server-rendered pages (endpoints and their health, deliveries, attempts,
//!   redeliver, enable, disable, test) that exists only behind your
//!   authentication layer or for loopback clients.
//!
//!   ```
//!   # #[cfg(feature = "console")]
//!   # {
//!   use axum::Router;
//!   use hookwire::console::Console;
//!   use hookwire::dispatch::Dispatcher;
//!   use hookwire::store::InMemoryStore;
//!   use hookwire::transport::{transport_fn, WebhookResponse};
//!
//!   let transport = transport_fn(|_r, _o| async { Ok(WebhookResponse::new(Default::default())) });
//!   let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//!   // Behind your own auth instead: `.with_auth(your_layer)`.
//!   let app: Router = Router::new().nest("/ops/webhooks", Console::new(dispatcher).local_only());
//!   // Serve with `app.into_make_service_with_connect_info::<std::net::SocketAddr>()`.
//!   # let _ = app;
//!   # }
//!   # Ok::<(), Box<dyn std::error::Error>>(())
//!   ```
//!
//! `Dispatcher::endpoint_health`, `endpoints_health`, `dead` and `due_stats`
//! answer the same questions from code.
//!
//! # Testing your integration
//!
//! Tests of code that sends webhooks need no network, no sleeping and no
//! wall clock. `examples/testing` runs what this section shows (`cargo run
//! --example testing`); the pieces:
//!
//! - **A manual clock.** [`ManualClock`](clock::ManualClock) stands still
//!   until the test moves it; give the same clock to the dispatcher
//!   ([`DispatcherBuilder::clock`](dispatch::DispatcherBuilder::clock)) and to
//!   a verifier ([`Verifier::with_clock`](signature::Verifier::with_clock)).
//! - **A scripted transport.** [`MockTransport`] (feature `test-util`) answers
//!   from a script of [`MockReply`]s (`MockReply::status(503)`, `.header(..)`,
//!   `.body(..)`, `MockReply::error(kind)`; `with_default` for every request
//!   after the script, `with_fn` to decide per request) and records every
//!   request. Clones share the script and the record: give one to the
//!   dispatcher, keep one to assert on.
//! - **Jitter off.** The default policy spreads each retry ±20 % around its
//!   delay (a retry due "in 5 min" comes between 4 and 6 minutes later).
//!   `Policy::default().with_jitter(0.0)?` makes retry times exact.
//! - **Run until idle.** [`Dispatcher::run_until_idle`](dispatch::Dispatcher::run_until_idle)`(before, max_runs)`
//!   runs until nothing is due before `before`, moving a manual clock to each
//!   retry's due time (the only thing that moves it), and returns every
//!   attempt ([`IdleReport`](dispatch::IdleReport)): no polling loop over
//!   the store.
//! - **Assert on what was sent**: [`MockTransport::requests`] gives each
//!   request's method, URI, headers and body
//!   ([`RecordedRequest`]); verify its signature
//!   with a `Verifier` on the same clock.
//! - **Assert on what was recorded**: `dispatcher.store().attempts(&id)` gives
//!   the [`AttemptRecord`](store::AttemptRecord)s (number, start time,
//!   status or failure), `dispatcher.store().delivery(&id)` its state.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # futures::executor::block_on(async {
//! use hookwire::clock::{unix_secs, Clock, ManualClock};
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::endpoint::Endpoint;
//! use hookwire::retry::Policy;
//! use hookwire::signature::{Schemes, SigningSecret, Verifier};
//! use hookwire::store::{AttemptResult, InMemoryStore};
//! use hookwire::testing::{MockReply, MockTransport};
//! use std::time::Duration;
//!
//! let clock = ManualClock::at_unix(1_771_515_000);
//! // Down twice, then up.
//! let transport = MockTransport::new([MockReply::status(503), MockReply::status(500)])
//!     .with_default(MockReply::ok());
//! let dispatcher = Dispatcher::builder(transport.clone(), InMemoryStore::new())
//!     .clock(clock.clone())
//!     .policy(Policy::default().with_jitter(0.0)?)
//!     .build()?;
//! let secret = SigningSecret::from_raw_str("test-secret")?;
//! let endpoint = Endpoint::builder("ep_1", "https://hooks.example.com/in")
//!     .signing(secret.clone(), Schemes::HEX)
//!     .build()?;
//! dispatcher.add_endpoint(endpoint).await?;
//! let published = dispatcher.publish_json("ping", br#"{"timestamp":1771515000000}"#.to_vec()).await?;
//! let (delivery, _) = &published.deliveries[0];
//!
//! let report = dispatcher.run_until_idle(clock.now() + Duration::from_secs(3600), 10).await?;
//! assert!(report.idle);
//! assert_eq!((report.total.retried, report.total.succeeded), (2, 1));
//!
//! // What was sent: three signed POSTs of the same body.
//! let verifier = Verifier::new(secret).with_clock(clock.clone());
//! for request in transport.requests() {
//!     assert_eq!(request.method, "POST");
//!     assert_eq!(request.uri, "https://hooks.example.com/in");
//!     assert_eq!(request.body, r#"{"timestamp":1771515000000}"#);
//!     verifier.verify(&request.headers, &request.body)?;
//! }
//! // What was recorded: 503 at +0 s, 500 at +5 s, 200 at +5 min 5 s (jitter off).
//! let records = dispatcher.store().attempts(delivery).await?;
//! let seen: Vec<(i64, u16)> = records.iter().map(|r| {
//!     let status = match r.result { AttemptResult::Response { status, .. } => status, _ => 0 };
//!     (unix_secs(r.started_at) - 1_771_515_000, status)
//! }).collect();
//! assert_eq!(seen, [(0, 503), (5, 500), (305, 200)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! **The receiving side.** Sign a request in the test with
//! [`Signer`](signature::Signer) at the manual clock's time and run it
//! through your [`Receiver`](receive::Receiver) (or your axum or tower
//! route) on that clock: a valid request is accepted, the same one again is
//! a duplicate (answered 200 without your handler), a changed body is 401,
//! and a Standard Webhooks request is 401 once the clock has moved past the
//! tolerance (5 minutes).
//!
//! ```
//! # futures::executor::block_on(async {
//! use hookwire::clock::{unix_secs, Clock, ManualClock};
//! use hookwire::http::HeaderMap;
//! use hookwire::id::DeliveryId;
//! use hookwire::receive::Receiver;
//! use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
//! use std::time::Duration;
//!
//! let clock = ManualClock::at_unix(1_771_515_000);
//! let secret = SigningSecret::generate();
//! let receiver = Receiver::new(Verifier::new(secret.clone()).with_clock(clock.clone()));
//!
//! let body = br#"{"action":"startExperience","timestamp":1771515000000}"#;
//! let mut headers = HeaderMap::new();
//! let id = DeliveryId::generate();
//! Signer::new(secret).sign_into(&mut headers, Schemes::STANDARD, &id, unix_secs(clock.now()), body);
//!
//! let received = receiver.receive::<serde_json::Value>(&headers, body).await?;
//! assert_eq!(received.payload["action"], "startExperience");
//! let again = receiver.receive::<serde_json::Value>(&headers, body).await.unwrap_err();
//! assert_eq!(again.status(), 200); // a duplicate: the handler does not run
//! let tampered = receiver.receive::<serde_json::Value>(&headers, b"{}").await.unwrap_err();
//! assert_eq!(tampered.status(), 401);
//!
//! clock.advance(Duration::from_secs(600));
//! let stale = receiver.verifier().verify(&headers, body).unwrap_err();
//! assert_eq!(stale.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # When things fail
//!
//! One fault affects the delivery it belongs to, never the batch, the loop or
//! the other endpoints:
//!
//! - a transport that panics fails that attempt
//!   ([`TransportErrorKind::Panicked`](transport::TransportErrorKind::Panicked)),
//!   retried like any failure; a worker loop that ends unexpectedly is
//!   restarted and counted (`WorkerStatus::loops_restarted`);
//! - an endpoint that cannot be read defers its own deliveries, with the
//!   reason kept ([`Delivery::reason`](store::Delivery::reason)); one that no
//!   longer exists ends its deliveries dead with the reason `endpoint deleted`
//!   ([`Dispatcher::delete_endpoint`](dispatch::Dispatcher::delete_endpoint));
//! - a slow endpoint holds at most its share of a worker's slots
//!   ([`DispatcherBuilder::max_in_flight_per_endpoint`](dispatch::DispatcherBuilder::max_in_flight_per_endpoint),
//!   [`Endpoint::max_in_flight`](endpoint::Endpoint::max_in_flight)), so the
//!   others keep their pace;
//! - a 404 or 410 for one journey URL ends that delivery only (a DELETE counts
//!   it as already gone), never the step;
//! - settings that cannot work (a lease not longer than the timeout, zero
//!   concurrency, ...) are refused when built, with what to change; a worker
//!   with nothing it can send waits for the next due time, a publish or its
//!   poll interval, never in a busy loop.
//!
//! # Security
//!
//! - Signatures are compared in constant time; verification checks the body
//!   size before hashing and the timestamp against a tolerance (5 minutes,
//!   both ways), and returns a typed [`VerifyError`](signature::VerifyError)
//!   for every malformed input, never a panic.
//! - Secrets ([`SigningSecret`](signature::SigningSecret), journey
//!   [`Auth`](model::journey::Auth), secret endpoint headers and credential
//!   headers such as `authorization`, `cookie` and `x-api-key`) never appear
//!   in `Debug` or `Display` output, and URLs there show scheme, host and port
//!   only. Secrets are at most 256 bytes and zeroed when dropped.
//! - Generated ids are 128 unpredictable bits (a keyed permutation of a
//!   counter under a per-process key from the OS): a receiver seeing ids
//!   cannot guess the next.
//! - [`Verified`](signature::Verified) holds only what a signature covers;
//!   a hex-signed body's `timestamp` is checked by default (6 hours).
//! - The [target guard](target) refuses loopback, private, link-local,
//!   multicast and `localhost` targets, with one rule (every numeric IPv4
//!   form, IPv6 forms embedding IPv4) checked when an endpoint is added, when
//!   a journey URL is rendered, when each request is built (before any
//!   transport is called) and when `ReqwestTransport` connects.
//! - Endpoint headers cannot override HTTP framing or hookwire's own headers
//!   ([`RESERVED_HEADERS`](endpoint::RESERVED_HEADERS)). Local development lifts it once,
//!   with [`DispatcherBuilder::allow_private_targets`](dispatch::DispatcherBuilder::allow_private_targets).
//!   Endpoint URLs are http or https, without credentials. Redirects are
//!   never followed.
//!
//! # Names of settings
//!
//! A setting has one name across the crate, and how it is set follows from
//! the type that holds it:
//!
//! - **On a builder**, a type that ends in `build()` or `spawn()`
//!   ([`DispatcherBuilder`](dispatch::DispatcherBuilder),
//!   [`EndpointBuilder`](endpoint::EndpointBuilder),
//!   [`JourneyStepBuilder`](model::journey::JourneyStepBuilder),
//!   [`ReceiverBuilder`](receive::ReceiverBuilder),
//!   `ReqwestTransportBuilder`, `Worker`), the setter is the setting's
//!   name: `.clock(c)`, `.policy(p)`, `.concurrency(n)`, `.dedupe(store)`.
//! - **On a value used as it is** ([`Verifier`](signature::Verifier),
//!   [`Policy`](retry::Policy), [`Signer`](signature::Signer),
//!   [`SendOptions`](transport::SendOptions), the dedupe stores, `PgStore`,
//!   `MockTransport`), the setter is `with_` and the same name, returning
//!   the changed value: `.with_clock(c)`, `.with_jitter(0.0)`,
//!   `.with_tolerance(d)`; the bare name, where there is one, reads the
//!   setting back (`Verifier::schemes`, `Policy::jitter`).
//! - `Type::with_<what>(..)` without a value before it is a constructor:
//!   [`InMemoryStore::with_retention`](store::InMemoryStore::with_retention),
//!   [`MemoryDedupe::with_limits`](receive::MemoryDedupe::with_limits).
//! - One setter per setting: a setter taking a clock, a store or a dedupe
//!   store takes any implementation, an `Arc` of one shared with others
//!   included.
//!
//! Older names are kept as deprecated aliases, which say what to call
//! instead.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `rustls` | yes | https for `ReqwestTransport` (rustls with ring, bundled roots); turns on `reqwest` |
//! | `reqwest` | via `rustls` | [`ReqwestTransport`]: reqwest 0.12, HTTP/1.1, no redirects, SSRF-guarded DNS, capped bodies; no TLS of its own (add `rustls`, or a reqwest TLS feature) |
//! | `tokio` | yes | [`Worker`]: the continuous delivery loop, woken on publish, restarted if it panics, graceful shutdown |
//! | `tracing` | no | a span per attempt, events at the documented levels (see the README's "Seeing what happens") |
//! | `metrics` | no | the metrics listed in [`metrics`], through the `metrics` facade |
//! | `test-util` | no | [`MockTransport`] and [`MockReply`], and the `Store` conformance suite ([`store_suite`]) |
//! | `postgres` | no | [`PgStore`]: durable deliveries in PostgreSQL, shared by many workers on many machines; turns on `tokio` |
//! | `axum` | no | [`Webhook<T>`]: an axum 0.8 extractor that verifies, parses and deduplicates, and [`retry_failed`] |
//! | `tower` | no | [`WebhookLayer`]: the same for any tower-based server |
//! | `redis` | no | [`RedisDedupe`]: a dedupe store shared by many receivers; turns on `tokio` |
//! | `console` | no | [`Console`]: the operator console, an axum 0.8 router the host mounts behind its authentication; turns on `tokio` |
//! | `ed25519` | no | Standard Webhooks `v1a` (Ed25519): `Ed25519SecretKey` (`whsk_`) to sign, `Ed25519PublicKey` (`whpk_`) to verify, through ed25519-dalek |
//!
//! With `default-features = false` the crate is the runtime-free core:
//! models, signing and verifying, the [`Receiver`](receive::Receiver), the
//! dispatcher with [`run_due`](dispatch::Dispatcher::run_due), and the
//! in-memory store.
//!
//! # Examples
//!
//! Each runs with `cargo run --example NAME [--features ...]`, and prints
//! what it does and its flags with `-- --help`:
//!
//! | example | features | what it shows |
//! |---|---|---|
//! | `quickstart` | default | the main job end to end: a local receiver, three endpoints, six events, two journey steps, a report |
//! | `testing` | default | [testing your integration](#testing-your-integration): manual clock, mock transport, signed requests |
//! | `send` | default | one signed event (the connection test by default) to a URL, every attempt printed |
//! | `listen` | default | a local receiver that verifies, deduplicates and prints every request |
//! | `axum_receiver` | `axum` | receiving on axum in a few lines |
//! | `interop` | default | signing and verifying from the command line, for checks against other verifiers |
//! | `operator` | `tokio`, `reqwest`, `metrics`, `tracing` | Prometheus metrics, operational events and a health table |
//! | `postgres_worker` | `postgres`, `reqwest` | a delivery worker over PostgreSQL; start as many as you like |
//! | `console` | `console`, `reqwest`, `tokio` | the operator console, live |
//!
//! <!-- Links to items behind a feature: the item with the feature, the feature table without. -->
#![cfg_attr(feature = "tokio", doc = "[`Worker`]: worker::Worker")]
#![cfg_attr(not(feature = "tokio"), doc = "[`Worker`]: #feature-flags")]
#![cfg_attr(
    feature = "reqwest",
    doc = "[`ReqwestTransport`]: transport::ReqwestTransport"
)]
#![cfg_attr(not(feature = "reqwest"), doc = "[`ReqwestTransport`]: #feature-flags")]
#![cfg_attr(feature = "postgres", doc = "[`PgStore`]: store::PgStore")]
#![cfg_attr(not(feature = "postgres"), doc = "[`PgStore`]: #feature-flags")]
#![cfg_attr(
    feature = "test-util",
    doc = "[`MockTransport`]: testing::MockTransport"
)]
#![cfg_attr(not(feature = "test-util"), doc = "[`MockTransport`]: #feature-flags")]
#![cfg_attr(feature = "test-util", doc = "[`MockReply`]: testing::MockReply")]
#![cfg_attr(not(feature = "test-util"), doc = "[`MockReply`]: #feature-flags")]
#![cfg_attr(
    feature = "test-util",
    doc = "[`MockTransport::requests`]: testing::MockTransport::requests"
)]
#![cfg_attr(
    not(feature = "test-util"),
    doc = "[`MockTransport::requests`]: #feature-flags"
)]
#![cfg_attr(
    feature = "test-util",
    doc = "[`RecordedRequest`]: testing::RecordedRequest"
)]
#![cfg_attr(
    not(feature = "test-util"),
    doc = "[`RecordedRequest`]: #feature-flags"
)]
#![cfg_attr(
    feature = "test-util",
    doc = "[`store_conformance`]: testing::store_conformance"
)]
#![cfg_attr(
    not(feature = "test-util"),
    doc = "[`store_conformance`]: #feature-flags"
)]
#![cfg_attr(feature = "test-util", doc = "[`store_suite`]: testing::store_suite")]
#![cfg_attr(not(feature = "test-util"), doc = "[`store_suite`]: #feature-flags")]
#![cfg_attr(feature = "axum", doc = "[`Webhook<T>`]: receive::axum::Webhook")]
#![cfg_attr(not(feature = "axum"), doc = "[`Webhook<T>`]: #feature-flags")]
#![cfg_attr(
    feature = "axum",
    doc = "[`retry_failed`]: receive::axum::retry_failed"
)]
#![cfg_attr(not(feature = "axum"), doc = "[`retry_failed`]: #feature-flags")]
#![cfg_attr(
    feature = "tower",
    doc = "[`WebhookLayer`]: receive::tower::WebhookLayer"
)]
#![cfg_attr(not(feature = "tower"), doc = "[`WebhookLayer`]: #feature-flags")]
#![cfg_attr(feature = "redis", doc = "[`RedisDedupe`]: receive::RedisDedupe")]
#![cfg_attr(not(feature = "redis"), doc = "[`RedisDedupe`]: #feature-flags")]
#![cfg_attr(feature = "console", doc = "[`Console`]: console::Console")]
#![cfg_attr(not(feature = "console"), doc = "[`Console`]: #feature-flags")]
#![cfg_attr(feature = "metrics", doc = "[`metrics`]: mod@metrics")]
#![cfg_attr(not(feature = "metrics"), doc = "[`metrics`]: #feature-flags")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub mod console;
pub mod dispatch;
pub mod endpoint;
pub mod events;
pub mod flow;
pub mod id;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod model;
pub mod receive;
mod redact;
pub mod retry;
pub mod signature;
pub mod store;
pub mod target;
pub mod transport;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod worker;

#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

pub use bytes;
pub use http;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
