//! Receiving hookwire's webhooks on axum: `cargo run --example axum_receiver --features axum -- --secret S [--port 8787]`
use axum::{routing::post, Router};
use hookwire::model::ExperienceWebhook;
use hookwire::receive::{axum::Webhook, Receiver};
use hookwire::signature::{SigningSecret, Verifier};

async fn handle(
    Webhook {
        payload, verified, ..
    }: Webhook<ExperienceWebhook>,
) -> &'static str {
    println!("{} via {}: {:?}", verified.id, verified.schemes, payload); // duplicates never get here
    "ok"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let (Some(secret), false) = (
        arg("--secret"),
        args.iter().any(|a| a == "--help" || a == "-h"),
    ) else {
        return Ok(println!(
            "usage: axum_receiver --secret <whsec_...|raw string> [--port 8787]"
        ));
    };
    let secret = match secret.starts_with("whsec_") {
        true => secret.parse()?,
        false => SigningSecret::from_raw_str(secret)?,
    };
    let app = Router::new()
        .route("/webhooks", post(handle))
        .with_state(Receiver::new(Verifier::new(secret)));
    let port = arg("--port").map_or(Ok(8787), |p| p.parse())?;
    axum::serve(
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await?,
        app,
    )
    .await?;
    Ok(())
}
