//! Receiving on axum: `cargo run --example axum_receiver --features axum -- --secret S [--port 8787]`
use axum::{routing::post, Router};
use hookwire::model::ExperienceWebhook;
use hookwire::receive::{axum::Webhook, Receiver};
use hookwire::signature::{SigningSecret, Verifier};

/// Runs for verified, parsed, new deliveries only (a duplicate is answered 200 before).
async fn handle(webhook: Webhook<ExperienceWebhook>) -> &'static str {
    println!("{} {}", webhook.verified.id, webhook.payload.action());
    "ok"
}

const HELP: &str = "\
axum_receiver: receiving on axum in a few lines (the Webhook extractor: verify, parse, deduplicate)

usage: axum_receiver --secret SECRET [--port N]

flags:
  --secret SECRET  the shared secret, as raw bytes
  --port N         the port to listen on, on 127.0.0.1 (default 8787)
  -h, --help       print this help and exit";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let help = args.iter().any(|a| a == "-h" || a == "--help");
    let Some(secret) = flag("--secret").filter(|_| !help) else {
        println!("{HELP}");
        return match help {
            true => Ok(()),
            false => Err("--secret is required".into()),
        };
    };
    let receiver = Receiver::new(Verifier::new(SigningSecret::from_raw_str(secret)?));
    let app = Router::new()
        .route("/webhooks", post(handle))
        .with_state(receiver);
    let port: u16 = flag("--port").map_or(Ok(8787), |p| p.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    Ok(axum::serve(listener, app).await?)
}
