//! An operator console: endpoints, deliveries and attempts in a browser, as
//! an [`axum::Router`] the host mounts in its own app (feature `console`).
//!
//! # Put it behind your authentication
//!
//! The console shows which endpoints fail and why, and its buttons redeliver,
//! enable, disable and test endpoints: it is for your operators only. It has
//! no users or passwords of its own, so a router cannot be had without
//! saying who may reach it, one of two ways:
//!
//! - [`Console::with_auth`]: your authentication, as a tower layer
//!   (your session check, an OAuth proxy's header check, ...), wrapped around
//!   every page and action;
//! - [`Console::local_only`]: loopback clients only, for a console on
//!   an operator's own machine or behind an SSH tunnel. Serve it with
//!   [`into_make_service_with_connect_info::<SocketAddr>()`](axum::Router::into_make_service_with_connect_info):
//!   a request without the peer's address, or from any address but a loopback
//!   one, or carrying `Forwarded` / `X-Forwarded-For` (a reverse proxy on the
//!   same machine makes every client look local), is refused with 403.
//!
//! Every action is a POST carrying a per-console random token in a hidden
//! form field, compared in constant time; a request a browser marks
//! `Sec-Fetch-Site: cross-site` or `same-site` is refused too. Pages are sent
//! with a strict `Content-Security-Policy` (no scripts), `no-store` caching
//! and `frame-ancestors 'none'`.
//!
//! # What it shows
//!
//! | path (under the mount) | page |
//! |---|---|
//! | `/` | every endpoint with its health: enabled or disabled (when and why), failing (5 failed attempts in a row or more), deliveries by state, the share of finished deliveries that succeeded, failures in a row, the last attempt's status or reason |
//! | `/endpoints/{id}` | one endpoint: its health, attempts per minute by outcome over the last hour (an SVG chart drawn on the server), its deliveries newest first with cursor paging (`?after=`) and a state filter (`?state=dead`), and the enable/disable and test buttons |
//! | `/deliveries/{id}` | one delivery and its attempts, newest first: time, status or reason, duration, the first 1 KiB of the response; the headers its requests carry, credentials redacted; a redeliver button while it is dead |
//!
//! Actions: `POST /deliveries/{id}/redeliver`, `POST /endpoints/{id}/enable`,
//! `POST /endpoints/{id}/disable`, `POST /endpoints/{id}/test` (sends the
//! [connection test](crate::dispatch::Dispatcher::test_endpoint) and shows
//! what came back).
//!
//! No page shows a secret or a full URL: endpoints are shown as scheme, host
//! and port (paths and queries carry tokens), signing secrets never, the
//! values of credential and sensitive headers as `[redacted]`, and a
//! response that echoes one of them back has it replaced too. Links follow
//! the mount point the console finds in each request, so it can be nested
//! at any path.
//!
//! # Examples
//!
//! Mounted at `/ops/webhooks` behind the host's own authentication:
//!
//! ```
//! use axum::extract::Request;
//! use axum::http::StatusCode;
//! use axum::middleware::{self, Next};
//! use axum::response::Response;
//! use axum::Router;
//! use hookwire::console::Console;
//! use hookwire::dispatch::Dispatcher;
//! use hookwire::store::InMemoryStore;
//! use hookwire::transport::{transport_fn, WebhookResponse};
//!
//! /// Your authentication: a session cookie, a header set by your SSO proxy, ...
//! async fn operators_only(request: Request, next: Next) -> Result<Response, StatusCode> {
//!     let is_operator = request
//!         .headers()
//!         .get("x-operator")
//!         .is_some_and(|v| v == "verified-by-your-sso");
//!     if !is_operator {
//!         return Err(StatusCode::UNAUTHORIZED);
//!     }
//!     Ok(next.run(request).await)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = transport_fn(|_request, _options| async { Ok(WebhookResponse::new(Default::default())) });
//! let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//!
//! let app: Router = Router::new()
//!     // ... the host's own routes ...
//!     .nest(
//!         "/ops/webhooks",
//!         Console::new(dispatcher).with_auth(middleware::from_fn(operators_only)),
//!     );
//! // axum::serve(listener, app).await?;
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! On an operator's machine, loopback clients only:
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use hookwire::console::Console;
//! # use hookwire::dispatch::Dispatcher;
//! # use hookwire::store::InMemoryStore;
//! # use hookwire::transport::{transport_fn, WebhookResponse};
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! # let transport = transport_fn(|_r, _o| async { Ok(WebhookResponse::new(Default::default())) });
//! # let dispatcher = Dispatcher::builder(transport, InMemoryStore::new()).build()?;
//! let app: axum::Router = Console::new(dispatcher).local_only();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8089").await?;
//! // The peer's address is what `local_only` checks.
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(())
//! # }
//! ```

mod actions;
mod chart;
mod csrf;
mod error;
mod local;
mod pages;
mod view;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::response::IntoResponse;
use axum::routing::{get, post, Route};
use axum::Router;
use tower_layer::Layer;
use tower_service::Service;

use crate::dispatch::Dispatcher;

/// How many deliveries an endpoint's page lists at once, unless set.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// The largest form an action accepts, in bytes: a token and nothing else.
const MAX_FORM: usize = 4 * 1024;

/// The console, being configured; see the [module docs](self). Finish it
/// with [`with_auth`](Self::with_auth) or [`local_only`](Self::local_only):
/// the router is had from those two only.
#[must_use = "a console is served only once it has its access control: call with_auth or local_only"]
pub struct Console {
    dispatcher: Dispatcher,
    page_size: usize,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console over `dispatcher` (a clone: they share everything).
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// How many deliveries an endpoint's page lists at once (default
    /// [`DEFAULT_PAGE_SIZE`]; kept between 1 and 500).
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, 500);
        self
    }

    /// The console behind `auth`, the host's authentication layer: every
    /// page and action goes through it first.
    pub fn with_auth<S, L>(self, auth: L) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.routes().layer(auth)
    }

    /// The console for loopback clients only: see the [module docs](self).
    /// Serve it with `into_make_service_with_connect_info::<SocketAddr>()`;
    /// without the peer's address every request is refused.
    pub fn local_only<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.routes()
            .layer(axum::middleware::from_fn(local::loopback_only))
    }

    fn routes<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = Arc::new(ConsoleState {
            dispatcher: self.dispatcher,
            csrf: csrf::Token::generate(),
            page_size: self.page_size,
        });
        Router::new()
            .route("/", get(pages::endpoints))
            .route("/endpoints/{id}", get(pages::endpoint))
            .route("/deliveries/{id}", get(pages::delivery))
            .route("/deliveries/{id}/redeliver", post(actions::redeliver))
            .route("/endpoints/{id}/enable", post(actions::enable))
            .route("/endpoints/{id}/disable", post(actions::disable))
            .route("/endpoints/{id}/test", post(actions::test))
            .fallback(pages::not_found)
            .with_state(state)
            .layer(DefaultBodyLimit::max(MAX_FORM))
            .layer(axum::middleware::map_response(view::security_headers))
    }
}

/// What every handler shares.
struct ConsoleState {
    dispatcher: Dispatcher,
    csrf: csrf::Token,
    page_size: usize,
}

type State = axum::extract::State<Arc<ConsoleState>>;
