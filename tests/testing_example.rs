//! Runs the checks of `examples/testing` (the manual's "Testing your
//! integration") as a test, so that what the manual shows keeps working.

#[path = "../examples/testing/scenarios.rs"]
mod scenarios;

#[test]
fn every_check_of_the_testing_example_holds() {
    let checks = scenarios::all();
    assert!(!checks.is_empty());
    let failed: Vec<String> = checks
        .into_iter()
        .filter_map(|(name, check)| {
            futures::executor::block_on(check)
                .err()
                .map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
}
