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
//!   secret rotation ([`signature`]);
//! - **a delivery engine**: fan-out to subscribed endpoints, leases, a retry
//!   policy, attempt records, dead deliveries, redelivery, endpoint disabling,
//!   exactly-once journey steps ([`dispatch`], [`retry`], [`endpoint`]).
//!
//! The core does no I/O of its own and never sleeps or reads the wall clock
//! directly. The host plugs in a [`Transport`](transport::Transport) (HTTP), a
//! [`Store`](store::Store) (state) and a [`Clock`](clock::Clock). The crate
//! ships an HTTP client adapter (`reqwest` feature), a tokio worker loop
//! (`tokio` feature) and an in-memory store; you will **not** find a web
//! server or a database driver in the core.
//!
//! # Contents
//!
//! - [Sending webhooks](#sending-webhooks)
//! - [Receiving webhooks](#receiving-webhooks)
//! - [Journey steps](#journey-steps)
//! - [Bring your own transport](#bring-your-own-transport)
//! - [Bring your own storage](#bring-your-own-storage)
//! - [Retries](#retries)
//! - [Ordered endpoints](#ordered-endpoints)
//! - [Attempts, seen from three sides](#attempts-seen-from-three-sides)
//! - [When things fail](#when-things-fail)
//! - [Security](#security)
//! - [Feature flags](#feature-flags)
//!
//! # Sending webhooks
//!
//! Register endpoints, publish events, and let a [`Worker`](worker::Worker)
//! deliver them continuously (or call
//! [`run_due`](dispatch::Dispatcher::run_due) yourself, as tests do). An event
//! is serialized once; every endpoint subscribed to its kind gets a delivery
//! sharing those bytes.
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
//! A receiving server need not write any of this:
//! [`receive::Receiver`] verifies, parses and
//! deduplicates (in memory, or in Redis with the `redis` feature), answering
//! each failure with its status, and the `axum` and `tower` features add an
//! extractor (`receive::axum::Webhook<T>`) and a layer
//! (`receive::tower::WebhookLayer`) over it.
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
//! `ReqwestTransport` (feature `reqwest`) keeps it, the target guard
//! included; [`transport_fn`](transport::transport_fn) turns a closure into a
//! transport.
//!
//! # Bring your own storage
//!
//! [`Store`](store::Store) holds endpoints, events (each payload once),
//! deliveries with leases, attempt records and the exactly-once ledger.
//! [`InMemoryStore`](store::InMemoryStore) is the embedded default (its
//! memory stays bounded: it forgets all but the most recent succeeded
//! deliveries); the `test-util` feature exposes the conformance suite every
//! implementation must pass.
//!
//! # Retries
//!
//! [`retry::Policy::default()`] gives **5 attempts** in all, a **10 s
//! timeout** per request, only **2xx** succeeds, delays of 5 s, 5 min, 30 min
//! and 2 h with ±20 % jitter, `Retry-After` honoured up to 1 h, and **410
//! Gone disables the endpoint**. An endpoint whose deliveries end dead 5
//! times in a row is disabled too. A policy is a value: `decide(attempt) ->
//! Decision`, testable without I/O; the dispatcher stores the next due time
//! and never sleeps.
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
//! # When things fail
//!
//! One fault affects the delivery it belongs to, never the batch, the loop or
//! the other endpoints:
//!
//! - a transport that panics fails that attempt
//!   ([`TransportErrorKind::Panicked`](transport::TransportErrorKind::Panicked)),
//!   retried like any failure; a worker loop that ends unexpectedly is
//!   restarted and counted ([`WorkerStatus`](worker::WorkerStatus));
//! - an endpoint that cannot be read defers its own deliveries, with the
//!   reason kept ([`Delivery::reason`](store::Delivery::reason)); one that no
//!   longer exists ends its deliveries dead with the reason `endpoint deleted`
//!   ([`Dispatcher::delete_endpoint`](dispatch::Dispatcher::delete_endpoint));
//! - a slow endpoint holds at most its share of a worker's slots
//!   ([`DispatcherBuilder::endpoint_share`](dispatch::DispatcherBuilder::endpoint_share),
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
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `reqwest` | via `rustls` | `ReqwestTransport`: reqwest 0.12, HTTP/1.1, no redirects, SSRF-guarded DNS, capped bodies |
//! | `rustls` | yes | https for `ReqwestTransport` (rustls with ring, bundled roots) |
//! | `tokio` | yes | [`Worker`](worker::Worker): the `run_due` loop, woken on publish, graceful shutdown |
//! | `tracing` | no | a span per attempt, events at the documented levels (see the README's "Seeing what happens") |
//! | `metrics` | no | the metrics listed in `hookwire::metrics`, through the `metrics` facade |
//! | `test-util` | no | `MockTransport` and the `Store` conformance suite |
//! | `axum` | no | [`receive::axum::Webhook<T>`](crate::receive): an axum 0.8 extractor that verifies, parses and deduplicates |
//! | `tower` | no | [`receive::tower::WebhookLayer`](crate::receive): the same for any tower-based server |
//! | `redis` | no | [`receive::RedisDedupe`](crate::receive): a dedupe store shared by many receivers |
//! | `console` | no | `console::Console`: the operator console, an axum router the host mounts behind its authentication |
//! | `ed25519` | no | Standard Webhooks `v1a` (Ed25519): `Ed25519SecretKey` (`whsk_`) to sign, `Ed25519PublicKey` (`whpk_`) to verify, through ed25519-dalek |
//!
//! With `default-features = false` the crate is the runtime-free core.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
#[cfg(feature = "console")]
#[cfg_attr(docsrs, doc(cfg(feature = "console")))]
pub mod console;
pub mod dispatch;
pub mod endpoint;
pub mod events;
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
