//! Every example answers `--help` as the README promises: `cargo run
//! --example NAME -- --help` prints `NAME: <what it does>` on its first line
//! and its flags, and exits 0. Built with every feature, so that every
//! example exists.
#![cfg(all(
    feature = "tokio",
    feature = "reqwest",
    feature = "metrics",
    feature = "tracing",
    feature = "postgres",
    feature = "axum",
    feature = "console"
))]

use std::process::Command;

/// Every program in `examples/`.
const EXAMPLES: [&str; 9] = [
    "quickstart",
    "testing",
    "send",
    "listen",
    "axum_receiver",
    "interop",
    "operator",
    "postgres_worker",
    "console",
];

#[test]
fn every_example_prints_its_description_and_flags_for_help() {
    let listed: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .expect("examples/ is readable")
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.trim_end_matches(".rs").to_owned()
        })
        .collect();
    let mut missing: Vec<&String> = listed
        .iter()
        .filter(|name| !EXAMPLES.contains(&name.as_str()))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "examples not checked here: {missing:?}");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for name in EXAMPLES {
        let out = Command::new(&cargo)
            .args([
                "run",
                "--quiet",
                "--all-features",
                "--example",
                name,
                "--",
                "--help",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name} --help exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let first = stdout.lines().next().unwrap_or_default();
        let description = first
            .strip_prefix(&format!("{name}: "))
            .unwrap_or_else(|| panic!("{name}: the first line names it: {first:?}"));
        assert!(
            description.split_whitespace().count() >= 5,
            "{name}: a one-line description: {first:?}"
        );
        assert!(
            stdout.contains("usage:") && stdout.contains("--help"),
            "{name}: usage and flags listed:\n{stdout}"
        );
    }
}
