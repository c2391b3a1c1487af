//! Every failure keeps its reason: each kind of failure, sent by
//! `ReqwestTransport` to a loopback server, is recorded with its reason text
//! (no URL, no secret) on both stores, and `test_endpoint` reports the same.
#![cfg(feature = "reqwest")]

#[cfg(feature = "postgres")]
mod postgres_support;
mod support;

use std::time::Duration;

use hookwire::dispatch::Dispatcher;
use hookwire::endpoint::Endpoint;
use hookwire::id::EndpointId;
use hookwire::retry::Policy;
use hookwire::store::{AttemptResult, DeliveryFilter, InMemoryStore, Store};
use hookwire::transport::{ReqwestTransport, TransportErrorKind};
use support::http_server::{closed_port, Reply, TestServer};

const SECRET: &str = "secret-token-123";

/// One test at a time: tracing caches whether a callsite is wanted when it
/// is first hit, and the test without a subscriber must not decide that for
/// the one with.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn policy() -> Policy {
    // Two attempts: one run makes the first, the second is an hour away.
    Policy::custom([Duration::from_secs(3600)])
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap()
}

async fn server() -> TestServer {
    TestServer::start(|req| match req.path.split('/').nth(1).unwrap_or("") {
        "head" => Reply::status(200).after(Duration::from_secs(30)),
        "body" => Reply::StallMidBody {
            content_length: 1000,
            sent: b"0123456789".to_vec(),
        },
        "close" => Reply::Close,
        _ => Reply::status(503),
    })
    .await
}

fn endpoint(id: &str, url: String, kind: &str) -> Endpoint {
    Endpoint::builder(id, url)
        .events([kind])
        .secret_header("authorization", "Bearer sekrit-header")
        .build()
        .unwrap()
}

/// What the store recorded for `endpoint`'s one delivery: its only attempt.
async fn only_attempt(store: &dyn Store, endpoint: &str) -> AttemptResult {
    let deliveries = store.deliveries(&DeliveryFilter::all(100)).await.unwrap();
    let d = deliveries
        .iter()
        .find(|d| d.endpoint_id.as_str() == endpoint)
        .unwrap_or_else(|| panic!("no delivery for {endpoint}"));
    let attempts = store.attempts(&d.id).await.unwrap();
    assert_eq!(attempts.len(), 1, "{endpoint}: {attempts:?}");
    attempts[0].result.clone()
}

fn assert_reason(result: &AttemptResult, kind: TransportErrorKind, expected: &str) {
    match result {
        AttemptResult::Error { kind: k, reason } => {
            assert_eq!(*k, kind, "{reason}");
            assert_eq!(reason, expected);
        }
        other => panic!("expected a {kind} failure, got {other:?}"),
    }
}

fn assert_clean(result: &AttemptResult) {
    let text = format!("{result:?}");
    for leak in [SECRET, "sekrit", "http://", "127.0.0.1:"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

async fn check_reasons<S: Store + Clone + 'static>(store: S) {
    let server = server().await;
    let refused = closed_port().await;
    let url = |path: &str| format!("{}/{path}/{SECRET}?key={SECRET}", server.url(""));
    let open = Dispatcher::builder(ReqwestTransport::new(), store.clone())
        .policy(policy())
        .allow_private_targets(true)
        .build()
        .unwrap();
    for (id, target) in [
        ("ep_refused", format!("http://{refused}/{SECRET}")),
        ("ep_head", url("head")),
        ("ep_body", url("body")),
        ("ep_close", url("close")),
        ("ep_503", url("503")),
    ] {
        open.add_endpoint(endpoint(id, target, "fail"))
            .await
            .unwrap();
    }
    // Stored behind the guard's back (say, by a dispatcher that allowed
    // private targets): a dispatcher that does not refuses it at send time.
    store
        .put_endpoint(endpoint("ep_blocked", url("blocked"), "blocked"))
        .await
        .unwrap();
    open.publish_json("fail", br#"{"n":1}"#.to_vec())
        .await
        .unwrap();
    let report = open.run_due(100).await.unwrap();
    assert_eq!(report.retried, 5, "{report:?}");

    let guarded = Dispatcher::builder(ReqwestTransport::new(), store.clone())
        .policy(policy())
        .build()
        .unwrap();
    guarded
        .publish_json("blocked", br#"{"n":2}"#.to_vec())
        .await
        .unwrap();
    let report = guarded.run_due(100).await.unwrap();
    assert_eq!(report.attempts.len(), 1, "{report:?}");

    let blocked = "blocked target 127.0.0.1 (loopback): private targets are not allowed";
    let cases = [
        (
            "ep_refused",
            TransportErrorKind::Connect,
            "connection refused",
        ),
        (
            "ep_head",
            TransportErrorKind::Timeout,
            "timed out after 300 ms waiting for the response headers",
        ),
        (
            "ep_body",
            TransportErrorKind::Timeout,
            "timed out after 300 ms reading the body",
        ),
        ("ep_blocked", TransportErrorKind::Rejected, blocked),
    ];
    for (id, kind, reason) in cases {
        let result = only_attempt(&store, id).await;
        assert_reason(&result, kind, reason);
        assert_clean(&result);
    }
    // A connection closed before the answer: interrupted, and says how.
    let closed = only_attempt(&store, "ep_close").await;
    match &closed {
        AttemptResult::Error { kind, reason } => {
            assert_eq!(*kind, TransportErrorKind::Interrupted, "{reason}");
            assert_ne!(reason, "interrupted", "a reason beyond the kind's name");
        }
        other => panic!("{other:?}"),
    }
    assert_clean(&closed);
    assert!(matches!(
        only_attempt(&store, "ep_503").await,
        AttemptResult::Response { status: 503, .. }
    ));

    // The connection test reports the same reasons.
    let id = |s: &str| EndpointId::new(s).unwrap();
    let test = guarded.test_endpoint(&id("ep_blocked")).await.unwrap();
    assert!(!test.success);
    assert_reason(&test.result, TransportErrorKind::Rejected, blocked);
    let test = open.test_endpoint(&id("ep_refused")).await.unwrap();
    assert_reason(
        &test.result,
        TransportErrorKind::Connect,
        "connection refused",
    );
    let test = open.test_endpoint(&id("ep_head")).await.unwrap();
    assert_reason(
        &test.result,
        TransportErrorKind::Timeout,
        "timed out after 300 ms waiting for the response headers",
    );
}

/// What a fmt subscriber wrote.
#[cfg(feature = "tracing")]
#[derive(Clone, Default)]
struct Written(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(feature = "tracing")]
impl std::io::Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_failure_keeps_its_reason_in_memory() {
    let _serial = SERIAL.lock().await;
    // The reasons reach tracing too (this test runs on one thread, so the
    // thread's default subscriber sees every event).
    #[cfg(feature = "tracing")]
    let (written, _guard) = {
        let written = Written::default();
        let writer = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (written, tracing::subscriber::set_default(subscriber))
    };
    check_reasons(InMemoryStore::new()).await;
    #[cfg(feature = "tracing")]
    {
        let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
        for expected in [
            "attempt failed",
            "reason=connection refused",
            "reason=timed out after 300 ms waiting for the response headers",
            "reason=timed out after 300 ms reading the body",
            "reason=blocked target 127.0.0.1 (loopback): private targets are not allowed",
            "error.type=timeout",
            "endpoint tested",
        ] {
            assert!(text.contains(expected), "{expected} not in:\n{text}");
        }
        // A target refused before sending stops delivery there: an error.
        assert!(
            text.lines()
                .any(|l| l.contains("ERROR") && l.contains("reason=blocked target 127.0.0.1")),
            "{text}"
        );
        for leak in [SECRET, "sekrit", "http://"] {
            assert!(!text.contains(leak), "{leak} in:\n{text}");
        }
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn each_failure_keeps_its_reason_in_postgres() {
    let _serial = SERIAL.lock().await;
    let Some(url) = postgres_support::database_url() else {
        return;
    };
    let store = postgres_support::fresh_store(&url, "hw_reasons", 4).await;
    check_reasons(store.clone()).await;
    postgres_support::drop_schema(&store).await;
}
