//! The console in a real browser: headless Chromium, driven over WebDriver
//! (`chromedriver`) with `fantoccini`, against the running demo
//! (`examples/console/demo.rs`). It loads the endpoints page, opens the
//! failing endpoint, presses Redeliver on a dead delivery and sees the new
//! attempt on the delivery's page; it writes a screenshot of each of the
//! three pages to `target/console-screenshots/`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`. Without them
//! the test says loudly that it was skipped, unless `CI=true`, where it
//! fails (`.ci/run` installs them).
#![cfg(all(feature = "console", feature = "reqwest", feature = "tokio"))]
// This program measures real time; the no-wall-clock rule (clippy.toml) is the library's.
#![allow(clippy::disallowed_methods)]

#[path = "../examples/console/demo.rs"]
mod demo;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// Where the screenshots go: `target/console-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("console-screenshots")
}

/// The first of `candidates` that exists, looked up on `PATH` for bare names.
fn find_tool(candidates: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in candidates {
        let p = Path::new(name);
        if p.is_absolute() {
            if p.is_file() {
                return Some(p.to_owned());
            }
            continue;
        }
        for dir in std::env::split_paths(&path) {
            let full = dir.join(name);
            if full.is_file() {
                return Some(full);
            }
        }
    }
    None
}

/// Chromium and chromedriver, or `None` after saying loudly that the test
/// is skipped; under `CI=true` their absence fails the test.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let browser = find_tool(&[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "/usr/lib/chromium/chromium",
    ]);
    let driver = find_tool(&["chromedriver", "/usr/lib/chromium/chromedriver"]);
    match (browser, driver) {
        (Some(b), Some(d)) => Some((b, d)),
        (b, d) => {
            let missing = [("chromium", b.is_none()), ("chromedriver", d.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" and ");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{missing} not found but CI=true: the browser test must run in CI \
                     (apt-get install -y chromium chromium-driver)"
                );
            }
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: the console browser test needs {missing} \
                 (apt-get install -y chromium chromium-driver) ***\n"
            );
            None
        }
    }
}

/// The chromedriver this test started; killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A browser session through a fresh chromedriver, headless.
async fn browser(chromium: &Path, chromedriver: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1280,1400",
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            // chromedriver takes a moment to listen.
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session from chromedriver at {url}: {e}"),
        }
    }
}

async fn screenshot(client: &Client, name: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    let png = client.screenshot().await.expect("take a screenshot");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// The page's source, checked to show no secret and no full URL.
async fn checked_source(client: &Client) -> String {
    let source = client.source().await.expect("page source");
    assert!(
        !source.contains(demo::DEMO_TOKEN),
        "a page shows the bearer token"
    );
    assert!(
        !source.contains(demo::URL_SECRET),
        "a page shows a full URL"
    );
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_redelivers_a_dead_delivery_in_a_browser() {
    let Some((chromium, chromedriver)) = tools() else {
        return;
    };
    let demo = demo::start(0).await.expect("the demo starts");
    // Let traffic flow until the failing endpoint has dead deliveries.
    let started = Instant::now();
    while demo
        .dispatcher
        .dead(1)
        .await
        .expect("the store answers")
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no delivery ended dead"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (_driver, client) = browser(&chromium, &chromedriver).await;
    let result = drive(&client, &demo.console_url).await;
    let _ = client.close().await;
    demo.stop().await;
    result.expect("the browser session");
}

async fn drive(client: &Client, console: &str) -> Result<(), fantoccini::error::CmdError> {
    // The endpoints page.
    client.goto(console).await?;
    let source = checked_source(client).await;
    for id in ["ep_healthy", "ep_flaky", "ep_failing"] {
        assert!(
            source.contains(&format!("id=\"endpoint-{id}\"")),
            "{id} is listed"
        );
    }
    screenshot(client, "endpoints.png").await;

    // The failing endpoint.
    client
        .find(Locator::Css("#endpoint-ep_failing a.endpoint-link"))
        .await?
        .click()
        .await?;
    client
        .wait()
        .for_element(Locator::Id("attempts-chart"))
        .await?;
    assert!(client
        .current_url()
        .await?
        .path()
        .ends_with("/endpoints/ep_failing"));
    checked_source(client).await;
    screenshot(client, "endpoint.png").await;

    // Redeliver its newest dead delivery.
    let row = client
        .find(Locator::Css(r#"tr.delivery[data-state="dead"]"#))
        .await?;
    let attempts: u32 = row
        .attr("data-attempts")
        .await?
        .and_then(|a| a.parse().ok())
        .expect("the row says how many attempts");
    let delivery = row
        .attr("id")
        .await?
        .and_then(|id| id.strip_prefix("delivery-").map(str::to_owned))
        .expect("the row names its delivery");
    row.find(Locator::Css("button")).await?.click().await?;
    client.wait().for_element(Locator::Id("attempts")).await?;
    assert!(client
        .current_url()
        .await?
        .path()
        .ends_with(&format!("/deliveries/{delivery}")));

    // The worker makes the new attempt; reload until it is listed.
    let new_attempt = format!(r#"tr.attempt[data-attempt="{}"]"#, attempts + 1);
    let started = Instant::now();
    while client.find(Locator::Css(&new_attempt)).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "attempt {} of {delivery} never showed",
            attempts + 1
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.refresh().await?;
    }
    let source = checked_source(client).await;
    assert!(
        source.contains("[redacted]"),
        "the echoed token is redacted"
    );
    screenshot(client, "delivery.png").await;
    Ok(())
}
