//! The axum extractor over real HTTP (axum on 127.0.0.1, reqwest and a raw
//! TCP client): every receiving case, and the handler's call count.
#![cfg(feature = "axum")]

mod receive_support;

use std::net::SocketAddr;

use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::Router;
use hookwire::model::ExperienceWebhook;
use hookwire::receive::axum::Webhook;
use hookwire::receive::{Duplicates, Receiver};
use receive_support::{cases, Seen};

#[derive(Clone)]
struct App {
    receiver: Receiver,
    seen: Seen,
}

impl FromRef<App> for Receiver {
    fn from_ref(app: &App) -> Receiver {
        app.receiver.clone()
    }
}

async fn handle(State(app): State<App>, webhook: Webhook<ExperienceWebhook>) -> &'static str {
    app.seen.record(webhook.verified, webhook.payload);
    "ok"
}

/// Serves `receiver` on a free port; returns its address and what the
/// handler saw.
async fn start(receiver: Receiver) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/webhooks", post(handle))
        .with_state(App {
            receiver,
            seen: seen.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

async fn started() -> (SocketAddr, Seen) {
    start(Receiver::new(receive_support::verifier())).await
}

macro_rules! case {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (addr, seen) = started().await;
            cases::$name(addr, &seen).await;
        }
    )*};
}

case!(
    valid_hex,
    valid_standard,
    tampered,
    stale,
    wrong_secret,
    truncated_signature,
    missing_headers,
    oversized,
    not_json,
    duplicate,
    connection_test,
    unknown_action,
);

/// With `Duplicates::Deliver`, the handler sees the duplicate, marked.
#[tokio::test]
async fn duplicates_can_be_delivered_marked() {
    let marks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let receiver = Receiver::builder(receive_support::verifier())
        .duplicates(Duplicates::Deliver)
        .build()
        .unwrap();
    let seen = marks.clone();
    let app = Router::new()
        .route(
            "/webhooks",
            post(move |webhook: Webhook<serde_json::Value>| async move {
                seen.lock().unwrap().push(webhook.duplicate);
                "handled"
            }),
        )
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let body = receive_support::lifecycle_body(receive_support::NOW * 1000);
    let headers = receive_support::signed(
        hookwire::signature::Schemes::BOTH,
        receive_support::NOW,
        &body,
    );
    for _ in 0..2 {
        assert_eq!(
            receive_support::post(addr, &headers, &body).await,
            (200, "handled".to_owned())
        );
    }
    assert_eq!(*marks.lock().unwrap(), [false, true]);
}
