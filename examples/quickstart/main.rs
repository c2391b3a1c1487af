//! Quickstart: build the seed payloads from typed values and print them.
//!
//! Run with `cargo run --example quickstart`. The three experience events and
//! the three journey payloads are built in `seed_data.rs` without writing any
//! JSON; this prints each one as the JSON an endpoint would receive, with a
//! one-line summary.

mod seed_data;

use hookwire::model::Event;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (_, event) in seed_data::experience_events() {
        let experience = &event.experience;
        println!(
            "{} at {} ms: {:?} ({}, status {}, {} variations)",
            event.kind(),
            event.timestamp,
            experience.name,
            experience.experience_type,
            experience.status,
            experience.variations.len(),
        );
        println!("{}\n", serde_json::to_string_pretty(&event)?);
    }

    let profile = seed_data::profile();
    let account = seed_data::account();
    let steps = [
        (seed_data::signup_step(), seed_data::signup_completed()),
        (seed_data::upgrade_step(), seed_data::plan_upgraded()),
        (seed_data::revoke_step(), seed_data::consent_revoked()),
    ];
    for (step, payload) in steps {
        let url = step.render_url(&profile, Some(&account))?;
        let sendable = match step.check(&profile) {
            Ok(()) => "sendable".to_owned(),
            Err(reason) => format!("skipped: {reason}"),
        };
        println!(
            "{}: {} {} ({sendable} for {})",
            payload.kind(),
            step.method(),
            url,
            profile.identity_key().unwrap_or("nobody"),
        );
        println!("{}\n", serde_json::to_string_pretty(&payload)?);
    }
    Ok(())
}
