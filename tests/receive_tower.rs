//! The tower layer on a bare hyper service over real HTTP: every receiving
//! case, the same bytes passed on, the verified metadata in the extensions.
#![cfg(feature = "tower")]

#[macro_use]
mod receive_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hookwire::bytes::Bytes;
use hookwire::http::{Request, Response, StatusCode};
use hookwire::model::ExperienceWebhook;
use hookwire::receive::tower::WebhookLayer;
use hookwire::receive::Receiver;
use hookwire::signature::{Schemes, Verified};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use receive_support::Seen;
use tower::{service_fn, ServiceBuilder};

/// Serves `receiver`'s layer around a service recording what it gets, on
/// hyper alone; `fail` makes that service answer 500.
async fn start_with(receiver: Receiver, fail: Arc<AtomicBool>) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let service = ServiceBuilder::new()
        .layer(WebhookLayer::new(receiver).parse::<ExperienceWebhook>())
        .service(service_fn(move |request: Request<Full<Bytes>>| {
            let (record, fail) = (record.clone(), Arc::clone(&fail));
            async move {
                let verified = request
                    .extensions()
                    .get::<Verified>()
                    .cloned()
                    .expect("verified");
                let payload = request
                    .extensions()
                    .get::<ExperienceWebhook>()
                    .cloned()
                    .expect("parsed");
                // The bytes passed on are the signed bytes.
                let body = request.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(
                    format!("sha256_{}", sha256_hex(&body)),
                    verified.dedupe_key,
                    "the same bytes"
                );
                record.record(verified, payload);
                let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                if fail.load(Ordering::SeqCst) {
                    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                }
                Ok::<_, Infallible>(response)
            }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// The lowercase hex SHA-256 of `body`: what `Verified::dedupe_key` holds.
fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn started() -> (SocketAddr, Seen) {
    start_with(Receiver::new(receive_support::verifier()), Arc::default()).await
}

// Every receiving case of `receive_support::cases`, each its own test.
every_case!();

/// When the inner service fails, the delivery's key is forgotten: the
/// sender's retry reaches the service again instead of being a duplicate.
#[tokio::test]
async fn a_failed_delivery_is_not_remembered() {
    let fail = Arc::new(AtomicBool::new(true));
    let (addr, seen) = start_with(
        Receiver::new(receive_support::verifier()),
        Arc::clone(&fail),
    )
    .await;
    let body = receive_support::lifecycle_body(receive_support::NOW * 1000);
    let headers = receive_support::signed(Schemes::BOTH, receive_support::NOW, &body);
    assert_eq!(receive_support::post(addr, &headers, &body).await.0, 500);
    fail.store(false, Ordering::SeqCst);
    assert_eq!(
        receive_support::post(addr, &headers, &body).await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        receive_support::post(addr, &headers, &body).await,
        (200, "duplicate".to_owned())
    );
    assert_eq!(seen.count(), 2);
}
