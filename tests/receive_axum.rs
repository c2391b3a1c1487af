//! The axum extractor over real HTTP (axum on 127.0.0.1, reqwest and a raw
//! TCP client): every receiving case, and the handler's call count.
#![cfg(feature = "axum")]

#[macro_use]
mod receive_support;

use std::net::SocketAddr;

use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::Router;
use hookwire::model::ExperienceWebhook;
use hookwire::receive::axum::Webhook;
use hookwire::receive::{Duplicates, Receiver};
use receive_support::Seen;

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

// Every receiving case of `receive_support::cases`, each its own test.
every_case!();

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

/// A handler that fails once: with `retry_failed`, the sender's retry runs
/// it again; without, the retry is answered as a duplicate (and the event
/// would be lost).
#[tokio::test]
async fn a_failed_delivery_is_retried_with_retry_failed_and_lost_without() {
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    for with_middleware in [true, false] {
        let calls = Arc::new(AtomicUsize::new(0));
        let receiver = Receiver::new(receive_support::verifier());
        let counted = calls.clone();
        let route = post(move |_webhook: Webhook<serde_json::Value>| async move {
            // The first call fails (a database down, say), the next succeeds.
            match counted.fetch_add(1, Ordering::SeqCst) {
                0 => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::OK,
            }
        });
        let mut app = Router::new().route("/webhooks", route);
        if with_middleware {
            app = app.layer(axum::middleware::from_fn_with_state(
                receiver.clone(),
                hookwire::receive::axum::retry_failed,
            ));
        }
        let app = app.with_state(receiver);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let body = receive_support::lifecycle_body(receive_support::NOW * 1000 + 11);
        let attempt = |at| receive_support::signed(hookwire::signature::Schemes::BOTH, at, &body);
        let first = receive_support::post(addr, &attempt(receive_support::NOW), &body).await;
        assert_eq!(first.0, 500);
        let retry = receive_support::post(addr, &attempt(receive_support::NOW + 5), &body).await;
        let again = receive_support::post(addr, &attempt(receive_support::NOW + 9), &body).await;
        if with_middleware {
            assert_eq!(retry.0, 200, "the retry ran the handler");
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            assert_eq!(
                again,
                (200, "duplicate".to_owned()),
                "once it succeeded, a duplicate"
            );
            assert_eq!(calls.load(Ordering::SeqCst), 2);
        } else {
            assert_eq!(retry, (200, "duplicate".to_owned()));
            assert_eq!(
                calls.load(Ordering::SeqCst),
                1,
                "the handler never ran again"
            );
        }
    }
}
