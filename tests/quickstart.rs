//! Runs the quickstart's logic and checks what its receiver counted: each
//! delivery once, per endpoint route and event, every signature verified.
#![cfg(all(feature = "tokio", feature = "reqwest"))]

#[path = "../examples/quickstart/demo.rs"]
mod demo;
#[path = "../examples/quickstart/seed_data.rs"]
mod seed_data;

use hookwire::store::DeliveryState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_delivers_each_event_once_per_subscribed_endpoint() {
    let report = demo::run(false).await.expect("the quickstart runs");
    let all = [
        "createExperience",
        "startExperience",
        "pauseExperience",
        "updateExperience",
        "endExperience",
        "deleteExperience",
    ];
    let mut expected = std::collections::BTreeMap::new();
    for kind in all {
        expected.insert(("hex".to_owned(), kind.to_owned()), (1, 1));
        // The flaky endpoint answers 503 twice per delivery, then 200.
        expected.insert(("flaky".to_owned(), kind.to_owned()), (1, 3));
    }
    for kind in ["startExperience", "endExperience"] {
        expected.insert(("standard".to_owned(), kind.to_owned()), (1, 1));
    }
    expected.insert(("crm".to_owned(), "Signup Completed".to_owned()), (1, 1));
    expected.insert(("email".to_owned(), "Consent Revoked".to_owned()), (1, 1));

    let seen: std::collections::BTreeMap<_, _> = report
        .received
        .iter()
        .map(|(k, r)| {
            assert_eq!(
                r.rejected, 0,
                "{k:?}: every signature and credential verified"
            );
            assert_eq!(r.duplicates, 0, "{k:?}: nothing delivered twice");
            (k.clone(), (r.deliveries, r.requests))
        })
        .collect();
    assert_eq!(seen, expected);

    assert_eq!(report.rows.len(), 16);
    assert!(report
        .rows
        .iter()
        .all(|r| r.outcome == DeliveryState::Succeeded));
    let flaky_attempts: Vec<u32> = report
        .rows
        .iter()
        .filter(|r| r.endpoint == "ep_flaky")
        .map(|r| r.attempts)
        .collect();
    assert_eq!(flaky_attempts, vec![3; 6]);
    assert_eq!(
        report.skipped,
        vec!["consent `marketing` is not granted".to_owned()]
    );
    assert_eq!(report.duplicate_fires, 1);
    for row in &report.rows {
        assert_eq!(row.last, "HTTP 200", "{} {}", row.endpoint, row.event);
        assert!(row.latency < std::time::Duration::from_secs(10));
    }
    assert!(
        report.elapsed < std::time::Duration::from_secs(15),
        "the main job runs in under 15 s"
    );
}
