//! No secret in `Debug`, `Display` or the tracing output: every public type
//! that can hold a secret (signing secrets, auth passwords and tokens,
//! credential headers, tokens and personal data in URL paths and queries) is
//! formatted, and none of the secrets appears.

use hookwire::clock::ManualClock;
use hookwire::dispatch::{Dispatcher, Fire, FireOutcome};
use hookwire::endpoint::{Endpoint, EndpointUrl, Signing};
use hookwire::model::journey::template::UrlTemplate;
use hookwire::model::journey::{Auth, JourneyStep, Profile, Secret};
use hookwire::signature::{Schemes, Signer, SigningSecret, Verifier};
use hookwire::store::{DeliveryFilter, InMemoryStore, NewDelivery, Store};
use hookwire::testing::{MockReply, MockTransport};

const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Every secret planted below; none may appear in any output.
const SECRETS: &[&str] = &[
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "raw-signing-secret",
    "tok-authorization",
    "tok-proxy",
    "tok-cookie",
    "tok-x-api-key",
    "tok-secret-header",
    "path-token-123",
    "query-key-456",
    "jrn-api-key-789",
    "jrn-bearer-000",
    "jrn-password-111",
    "jrn-header-auth",
    "user@example.com",
    "user%40example.com",
    "hunter2",
];

/// The tests here run one at a time: tracing caches whether a callsite is
/// wanted when it is first hit, and a test on another thread with no
/// subscriber must not decide that for the capturing one.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

fn endpoint() -> Endpoint {
    let signer = Signer::new(SIGNING.parse().unwrap())
        .with_previous(SigningSecret::from_raw_str("raw-signing-secret").unwrap())
        .unwrap();
    Endpoint::builder(
        "ep_r",
        "https://hooks.example.com/in/path-token-123?key=query-key-456",
    )
    .signing_with(Signing::new(signer, Schemes::BOTH))
    .header("authorization", "Bearer tok-authorization")
    .header("proxy-authorization", "Basic tok-proxy")
    .header("cookie", "s=tok-cookie")
    .header("x-api-key", "tok-x-api-key")
    .secret_header("x-custom", "tok-secret-header")
    .header("x-team", "growth")
    .build()
    .unwrap()
}

fn step(auth: Auth) -> JourneyStep {
    JourneyStep::builder(
        "jrn_r",
        "step_r",
        "Signup Completed",
        "PUT",
        "https://api.crm.example.com/contacts/{email}?api_key=jrn-api-key-789",
    )
    .auth(auth)
    .header("authorization", "Token jrn-header-auth")
    .build()
    .unwrap()
}

fn profile() -> Profile {
    Profile {
        email: Some("user@example.com".into()),
        identity_resolved: true,
        ..Profile::default()
    }
}

#[test]
fn debug_and_display_show_no_secret() {
    let _serial = SERIAL.blocking_lock();
    let ep = endpoint();
    assert!(format!("{ep:?}").contains("growth"), "{ep:?}");
    assert_clean("Endpoint", &format!("{ep:?}"));
    assert_clean("EndpointUrl", &format!("{:?} {}", ep.url, ep.url));
    assert_eq!(ep.url.to_string(), "https://hooks.example.com/…");
    let url = EndpointUrl::parse("https://hooks.example.com/in/path-token-123").unwrap();
    assert_clean("EndpointUrl", &format!("{url:?} {url}"));
    assert_clean("Signing", &format!("{:?}", ep.signing));
    let secret: SigningSecret = SIGNING.parse().unwrap();
    assert_clean("SigningSecret", &format!("{secret:?} {secret}"));
    assert_clean("Signer", &format!("{:?}", Signer::new(secret.clone())));
    assert_clean("Verifier", &format!("{:?}", Verifier::new(secret)));
    let template =
        UrlTemplate::parse("https://api.crm.example.com/contacts/{email}?api_key=jrn-api-key-789")
            .unwrap();
    assert_clean("UrlTemplate", &format!("{template:?} {template}"));
    for auth in [
        Auth::bearer("jrn-bearer-000"),
        Auth::basic("alice", "jrn-password-111"),
        Auth::api_key("x-api-key", "jrn-api-key-789"),
    ] {
        assert_clean("Auth", &format!("{auth:?}"));
        let step = step(auth.clone());
        assert_clean("JourneyStep", &format!("{step:?}"));
        assert_clean(
            "JourneyStep::url_template",
            &format!("{:?} {}", step.url_template(), step.url_template()),
        );
        let builder = JourneyStep::builder(
            "j",
            "s",
            "t",
            "POST",
            "https://x.example/a?api_key=jrn-api-key-789",
        )
        .auth(auth)
        .header("authorization", "jrn-header-auth");
        assert_clean("JourneyStepBuilder", &format!("{builder:?}"));
    }
    let s = Secret::from("hunter2");
    assert_clean("Secret", &format!("{s:?}"));
    let new = NewDelivery::new(
        hookwire::id::DeliveryId::generate(),
        hookwire::id::EndpointId::new("ep").unwrap(),
        std::time::UNIX_EPOCH,
    )
    .with_url("https://api.crm.example.com/contacts/user@example.com?api_key=jrn-api-key-789");
    assert_clean("NewDelivery", &format!("{new:?}"));
    // Errors name what is wrong, never the value.
    let err = Endpoint::builder("ep", "https://h.example/")
        .header("x-api-key", "tok-x-api-key\n")
        .build()
        .unwrap_err();
    assert_clean("EndpointError", &format!("{err:?} {err}"));
    let err = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw!"
        .parse::<SigningSecret>()
        .unwrap_err();
    assert_clean("SecretError", &format!("{err:?} {err}"));
}

#[tokio::test]
async fn stored_deliveries_and_the_dispatcher_show_no_secret() {
    let _serial = SERIAL.lock().await;
    let transport = MockTransport::always(MockReply::status(500));
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(ManualClock::at_unix(1_770_000_000))
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint()).await.unwrap();
    dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    let fired = dispatcher
        .fire(&step(Auth::bearer("jrn-bearer-000")), Fire::new(&profile()))
        .await
        .unwrap();
    assert!(matches!(fired, FireOutcome::Enqueued(_)));
    dispatcher.run_due(10).await.unwrap();
    assert_eq!(transport.request_count(), 2);
    let deliveries = store.deliveries(&DeliveryFilter::all(100)).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    let journey = deliveries.iter().find(|d| d.url.is_some()).unwrap();
    assert!(
        journey
            .url
            .as_deref()
            .unwrap()
            .contains("user%40example.com")
            || journey.url.as_deref().unwrap().contains("user@example.com")
    );
    assert_clean("Delivery", &format!("{deliveries:?}"));
    for e in store.endpoints().await.unwrap() {
        assert_clean("stored Endpoint", &format!("{e:?}"));
    }
    assert_clean("Dispatcher", &format!("{dispatcher:?}"));
}

/// A `Write` into a shared buffer, for the subscriber.
#[cfg(feature = "tracing")]
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(feature = "tracing")]
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "tracing")]
#[tokio::test]
async fn tracing_at_trace_level_shows_no_secret() {
    let _serial = SERIAL.lock().await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let transport = MockTransport::new([MockReply::status(503), MockReply::status(410)])
        .with_default(MockReply::ok());
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(transport.clone(), store.clone())
        .clock(ManualClock::at_unix(1_770_000_000))
        .build()
        .unwrap();
    dispatcher.add_endpoint(endpoint()).await.unwrap();
    dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    dispatcher
        .fire(
            &step(Auth::basic("alice", "jrn-password-111")),
            Fire::new(&profile()),
        )
        .await
        .unwrap();
    dispatcher.run_due(10).await.unwrap();
    assert!(transport.request_count() >= 2);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!text.is_empty(), "nothing was traced");
    assert!(text.contains("ep_r"), "{text}");
    assert_clean("tracing output", &text);
}
