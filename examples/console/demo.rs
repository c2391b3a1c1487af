//! The console demo's parts: three loopback receivers (healthy, flaky,
//! always failing), a dispatcher and worker sending to them, live traffic,
//! and the console served on 127.0.0.1 (shared with `tests/console_browser.rs`).
// This program runs on the wall clock; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hookwire::console::Console;
use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::retry::Policy;
use hookwire::signature::{Schemes, SigningSecret};
use hookwire::store::InMemoryStore;
use hookwire::transport::ReqwestTransport;
use hookwire::worker::{RunningWorker, Worker, WorkerSummary};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The demo's endpoints: id, what its receiver does, and a description.
pub const ENDPOINTS: [(&str, Behaviour, &str); 3] = [
    (
        "ep_healthy",
        Behaviour::Healthy,
        "answers 204 to everything",
    ),
    (
        "ep_flaky",
        Behaviour::Flaky,
        "answers 503 to every other request",
    ),
    (
        "ep_failing",
        Behaviour::Failing,
        "answers 500 to everything",
    ),
];

/// The bearer token the failing endpoint is sent (and echoes back): the
/// console must never show it.
pub const DEMO_TOKEN: &str = "demo-bearer-token-7f3a9c";

/// The secret path segment of every receiver URL: the console shows hosts
/// only.
pub const URL_SECRET: &str = "tok_9d2e41b7";

/// What a receiver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 204 to everything.
    Healthy,
    /// 503 to every other request.
    Flaky,
    /// 500 to everything, echoing the request's `authorization` header.
    Failing,
}

/// The running demo.
pub struct Demo {
    /// The console's address, for example `http://127.0.0.1:8089/`.
    pub console_url: String,
    /// The dispatcher the console shows.
    pub dispatcher: Dispatcher,
    worker: RunningWorker,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts everything; the console listens on 127.0.0.1:`port` (0: any free
/// port). Traffic runs until [`Demo::stop`].
pub async fn start(port: u16) -> Result<Demo, Box<dyn std::error::Error>> {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let dispatcher = Dispatcher::builder(ReqwestTransport::new(), InMemoryStore::new())
        // Short retries: a failing delivery ends dead within a second.
        .policy(
            Policy::custom([300, 600].map(Duration::from_millis))?
                .with_jitter(0.0)?
                .with_timeout(Duration::from_secs(2))?,
        )
        // Keep the failing endpoint enabled, so that its redeliveries go out.
        .disable_after_dead(None)
        // The receivers live on 127.0.0.1.
        .allow_private_targets(true)
        .build()?;
    let secret = SigningSecret::generate();
    for (id, behaviour, description) in ENDPOINTS {
        let (addr, task) = receiver(behaviour, stopped.clone()).await?;
        tasks.push(task);
        let mut endpoint = Endpoint::builder(id, format!("http://{addr}/in/{URL_SECRET}"))
            .signing(secret.clone(), Schemes::BOTH)
            .description(description)
            .header("x-demo-tenant", "acme");
        if behaviour == Behaviour::Failing {
            // No circuit breaker: the demo wants its failures to end in
            // dead deliveries to redeliver, not held (see `hookwire::flow`).
            endpoint = endpoint
                .secret_header("authorization", &format!("Bearer {DEMO_TOKEN}"))
                .without_circuit_breaker();
        }
        dispatcher.add_endpoint(endpoint.build()?).await?;
    }
    let worker = Worker::new(dispatcher.clone())
        .poll_interval(Duration::from_millis(200))
        .spawn()?;

    // Live traffic: an event every 200 ms, to every endpoint.
    let traffic = dispatcher.clone();
    let mut traffic_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let mut n = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = traffic_stop.changed() => return,
            }
            n += 1;
            let kind = if n % 2 == 0 {
                "startExperience"
            } else {
                "endExperience"
            };
            let body = format!(r#"{{"action":"{kind}","n":{n}}}"#);
            if let Err(e) = traffic.publish_json(kind, body.into_bytes()).await {
                eprintln!("publish failed: {e}");
            }
        }
    }));

    // The console, for this machine only.
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let console_url = format!("http://{}/", listener.local_addr()?);
    let app: Router = Console::new(dispatcher.clone()).local_only();
    let mut console_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = console_stop.changed().await;
        });
        if let Err(e) = serve.await {
            eprintln!("console server failed: {e}");
        }
    }));

    Ok(Demo {
        console_url,
        dispatcher,
        worker,
        stop,
        tasks,
    })
}

impl Demo {
    /// Stops the traffic, the console and the receivers, shuts the worker
    /// down, and returns what it did.
    pub async fn stop(self) -> WorkerSummary {
        let _ = self.stop.send(true);
        let summary = self.worker.shutdown().await;
        for task in self.tasks {
            let _ = task.await;
        }
        summary
    }
}

/// A loopback receiver behaving as `behaviour`, until `stop` changes.
async fn receiver(
    behaviour: Behaviour,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counter = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/in/{token}", post(answer))
        .with_state((behaviour, counter));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await;
    });
    Ok((addr, task))
}

async fn answer(
    State((behaviour, counter)): State<(Behaviour, Arc<AtomicU64>)>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    match behaviour {
        Behaviour::Healthy => (StatusCode::NO_CONTENT, String::new()),
        Behaviour::Flaky if n % 2 == 0 => (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"busy, try again"}"#.to_owned(),
        ),
        Behaviour::Flaky => (StatusCode::OK, r#"{"ok":true}"#.to_owned()),
        Behaviour::Failing => {
            // A careless receiver that echoes what it was sent.
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(r#"{{"error":"database unavailable","you_sent":"{auth}"}}"#),
            )
        }
    }
}
