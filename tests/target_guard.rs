//! One host rule at every door: a table of host forms, each checked when an
//! endpoint is added, when a journey step's URL is rendered, before a host's
//! own transport is called, and by `ReqwestTransport` at connect time. All
//! four agree with the table, and so with each other.

#![cfg(feature = "reqwest")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hookwire::dispatch::{Dispatcher, Fire, FireOutcome};
use hookwire::endpoint::Endpoint;
use hookwire::model::journey::{JourneyStep, Profile};
use hookwire::store::{InMemoryStore, Store};
use hookwire::transport::{
    ReqwestTransport, SendOptions, Transport, TransportError, TransportErrorKind, WebhookRequest,
    WebhookResponse,
};

/// `(host as written in the URL, refused)`.
const HOSTS: &[(&str, bool)] = &[
    // IPv4, dotted and numeric forms of loopback.
    ("127.0.0.1", true),
    ("127.1", true),
    ("127.0.1", true),
    ("2130706433", true),
    ("0x7f000001", true),
    ("0x7f.0.0.1", true),
    ("0x7F.0x0.0x0.0x1", true),
    ("0177.0.0.1", true),
    ("017700000001", true),
    ("127.000.000.001", true),
    ("127.0.0.1.", true),
    ("127.1.", true),
    ("127.255.255.254", true),
    // Unspecified and the rest of 0.0.0.0/8.
    ("0", true),
    ("0.0.0.0", true),
    ("0x0", true),
    ("0.1.2.3", true),
    // Private, shared, link-local (cloud metadata), multicast, reserved.
    ("10.0.0.1", true),
    ("012.0.0.1", true),
    ("167772161", true),
    ("172.16.0.1", true),
    ("192.168.1.1", true),
    ("0xc0a80101", true),
    ("192.168.257", true),
    ("100.64.0.1", true),
    ("169.254.169.254", true),
    ("0xa9fea9fe", true),
    ("2852039166", true),
    ("0251.0376.0251.0376", true),
    ("224.0.0.1", true),
    ("255.255.255.255", true),
    ("240.0.0.1", true),
    ("198.18.0.1", true),
    ("192.0.0.1", true),
    ("192.0.2.1", true),
    // A 4-part form some resolvers read as decimal: 010.0.0.1 is 8.0.0.1 to
    // WHATWG parsers, 10.0.0.1 to others.
    ("010.0.0.1", true),
    // Percent-encoded names.
    ("%31%32%37.0.0.1", true),
    ("%6c%6f%63%61%6c%68%6f%73%74", true),
    // Names.
    ("localhost", true),
    ("LOCALHOST", true),
    ("localhost.", true),
    ("api.localhost", true),
    // Numeric-looking but no address: refused by every WHATWG parser.
    ("1.2.3.4.5", true),
    ("256.0.0.1", true),
    ("127.0.0.256", true),
    ("4294967296", true),
    ("example.123", true),
    ("08.0.0.1", true),
    // IPv6.
    ("[::1]", true),
    ("[0:0:0:0:0:0:0:1]", true),
    ("[::]", true),
    ("[::1%25lo]", true),
    ("[fe80::1%25lo]", true),
    ("[fe80::1]", true),
    ("[fd00::1]", true),
    ("[fc00::1]", true),
    ("[fec0::1]", true),
    ("[ff02::1]", true),
    ("[2001:db8::1]", true),
    ("[100::1]", true),
    // IPv6 embedding IPv4: mapped, compatible, translated, 6to4, Teredo, NAT64.
    ("[::ffff:127.0.0.1]", true),
    ("[::ffff:7f00:1]", true),
    ("[::ffff:169.254.169.254]", true),
    ("[::127.0.0.1]", true),
    ("[::7f00:1]", true),
    ("[::8.8.8.8]", true),
    ("[::ffff:0:127.0.0.1]", true),
    ("[::ffff:0:10.0.0.1]", true),
    ("[2002:7f00:1::]", true),
    ("[2002:a9fe:a9fe::1]", true),
    ("[2002:c0a8:101::1]", true),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", true),
    ("[2001::7f00:1:0:0:0:0]", true),
    ("[64:ff9b::127.0.0.1]", true),
    ("[64:ff9b::8.8.8.8]", true),
    ("[64:ff9b:1::a00:1]", true),
    // Public: passes every door.
    ("8.8.8.8", false),
    ("0x08080808", false),
    ("134744072", false),
    ("8.8.2056", false),
    ("010.8.8.8", true),
    ("0110.0110.0110.0110", false),
    ("93.184.216.34", false),
    ("93.184.216.34.", false),
    ("[2606:4700::1111]", false),
    ("[::ffff:8.8.8.8]", false),
    ("[2002:808:808::1]", false),
    ("[2001:0:808:808::f7f7:f7f7]", false),
    ("hooks.example.com", false),
    ("HOOKS.example.com.", false),
    ("localhost.example.com", false),
    ("0x7f.example.com", false),
];

/// A transport that records where it would connect and answers 200.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Transport for Recorder {
    async fn send(
        &self,
        request: WebhookRequest,
        _options: SendOptions,
    ) -> Result<WebhookResponse, TransportError> {
        let host = request.uri().host().unwrap_or("").to_owned();
        self.0.lock().unwrap().push(host);
        Ok(WebhookResponse::new(Bytes::new()))
    }
}

fn url(host: &str) -> String {
    format!("http://{host}:9/hook")
}

/// Door 1: `Dispatcher::add_endpoint` (the endpoint's URL as built).
async fn endpoint_accepts(host: &str) -> bool {
    let dispatcher = Dispatcher::builder(Recorder::default(), InMemoryStore::new())
        .build()
        .unwrap();
    match Endpoint::builder("ep_t", url(host)).build() {
        Ok(endpoint) => dispatcher.add_endpoint(endpoint).await.is_ok(),
        Err(_) => false,
    }
}

/// Door 2: a journey step's rendered URL (`Dispatcher::fire`).
async fn journey_accepts(host: &str) -> bool {
    let dispatcher = Dispatcher::builder(Recorder::default(), InMemoryStore::new())
        .build()
        .unwrap();
    let Ok(step) = JourneyStep::builder(
        "jrn",
        "step",
        "Title",
        "POST",
        format!("http://{host}:9/u/{{email}}"),
    )
    .build() else {
        return false;
    };
    let profile = Profile {
        email: Some("a@example.com".into()),
        identity_resolved: true,
        ..Profile::default()
    };
    matches!(
        dispatcher.fire(&step, Fire::new(&profile)).await,
        Ok(FireOutcome::Enqueued(_))
    )
}

/// Door 3: the host's own transport. The endpoint is put in the store
/// directly (as another process could), so only the dispatcher's check
/// before calling the transport stands between it and the address.
async fn own_transport_reached(host: &str) -> bool {
    let recorder = Recorder::default();
    let store = InMemoryStore::new();
    let Ok(endpoint) = Endpoint::builder("ep_t", url(host)).build() else {
        return false;
    };
    store.put_endpoint(endpoint).await.unwrap();
    let dispatcher = Dispatcher::builder(recorder.clone(), store)
        .build()
        .unwrap();
    dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    dispatcher.run_due(10).await.unwrap();
    let reached = recorder.0.lock().unwrap().clone();
    !reached.is_empty()
}

/// Door 4: `ReqwestTransport` at connect time (no network here: an allowed
/// target fails to connect or times out, a refused one is `Rejected`).
async fn reqwest_accepts(transport: &ReqwestTransport, host: &str) -> bool {
    let Ok(uri) = url(host).parse::<http::Uri>() else {
        return false;
    };
    let mut request = WebhookRequest::new(Bytes::from_static(b"{}"));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    let options = SendOptions::new(Duration::from_millis(300), 1024);
    match transport.send(request, options).await {
        Err(e) => e.kind() != TransportErrorKind::Rejected,
        Ok(_) => true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_agrees_on_every_host_form() {
    assert!(HOSTS.len() >= 60, "{}", HOSTS.len());
    let transport = ReqwestTransport::new();
    let mut disagreements = Vec::new();
    let checks = HOSTS.iter().map(|&(host, refused)| {
        let transport = transport.clone();
        async move {
            let verdicts = [
                ("endpoint", endpoint_accepts(host).await),
                ("journey", journey_accepts(host).await),
                ("own transport", own_transport_reached(host).await),
                ("reqwest", reqwest_accepts(&transport, host).await),
            ];
            (host, refused, verdicts)
        }
    });
    for (host, refused, verdicts) in futures::future::join_all(checks).await {
        for (door, accepted) in verdicts {
            if accepted == refused {
                disagreements.push(format!(
                    "{host}: {door} {}",
                    if accepted { "accepted" } else { "refused" }
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[tokio::test]
async fn every_door_passes_private_hosts_when_allowed() {
    let recorder = Recorder::default();
    let store = InMemoryStore::new();
    let dispatcher = Dispatcher::builder(recorder.clone(), store)
        .allow_private_targets(true)
        .build()
        .unwrap();
    for (i, host) in ["127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "localhost"]
        .into_iter()
        .enumerate()
    {
        let ep = Endpoint::builder(format!("ep_{i}"), url(host))
            .build()
            .unwrap();
        dispatcher.add_endpoint(ep).await.unwrap();
    }
    dispatcher.publish_json("ping", &b"{}"[..]).await.unwrap();
    dispatcher.run_due(10).await.unwrap();
    assert_eq!(recorder.0.lock().unwrap().len(), 4);
}
