//! The metrics hookwire records (cargo feature `metrics`), through the
//! [`metrics`](https://docs.rs/metrics) facade: install any recorder
//! (Prometheus with `metrics-exporter-prometheus`, OpenTelemetry, ...) and
//! they appear in it. Labels stay bounded: an endpoint's id and an outcome
//! class, never a URL or a profile's value.
//!
//! | name | type | unit | labels | what |
//! |---|---|---|---|---|
//! | `hookwire_attempts_total` | counter | attempts | `endpoint`, `outcome` | attempts made, by outcome class: `success`, `gone`, `overloaded`, `failed`, `fatal` (see [`retry::Class`](crate::retry::Class)) |
//! | `hookwire_attempt_duration_seconds` | histogram | seconds | `endpoint`, `outcome` | how long each attempt's exchange took |
//! | `hookwire_delivery_latency_seconds` | histogram | seconds | `endpoint` | from publish to the attempt that succeeded |
//! | `hookwire_deliveries_succeeded_total` | counter | deliveries | `endpoint` | deliveries recorded as succeeded |
//! | `hookwire_deliveries_dead_total` | counter | deliveries | `endpoint` | deliveries that ended dead |
//! | `hookwire_endpoints_disabled_total` | counter | endpoints | `endpoint` | times the dispatcher disabled an endpoint |
//! | `hookwire_circuits_opened_total` | counter | openings | `endpoint` | times an endpoint's circuit breaker opened (see [`crate::flow`]) |
//! | `hookwire_store_errors_total` | counter | calls | `operation` | store calls that failed (`leasing`, `recording`, `reading an endpoint`, ...) |
//! | `hookwire_deliveries_in_flight` | gauge | requests | | requests in flight in this process's workers |
//! | `hookwire_deliveries_due` | gauge | deliveries | | deliveries due now, not yet leased (sampled by the worker) |
//! | `hookwire_due_lag_seconds` | gauge | seconds | | how long the oldest due delivery has waited (sampled by the worker): the lag |

/// `hookwire_attempts_total`.
pub const ATTEMPTS: &str = "hookwire_attempts_total";
/// `hookwire_attempt_duration_seconds`.
pub const ATTEMPT_DURATION: &str = "hookwire_attempt_duration_seconds";
/// `hookwire_delivery_latency_seconds`.
pub const DELIVERY_LATENCY: &str = "hookwire_delivery_latency_seconds";
/// `hookwire_deliveries_succeeded_total`.
pub const DELIVERIES_SUCCEEDED: &str = "hookwire_deliveries_succeeded_total";
/// `hookwire_deliveries_dead_total`.
pub const DELIVERIES_DEAD: &str = "hookwire_deliveries_dead_total";
/// `hookwire_endpoints_disabled_total`.
pub const ENDPOINTS_DISABLED: &str = "hookwire_endpoints_disabled_total";
/// `hookwire_circuits_opened_total`: an endpoint's circuit breaker opened
/// (again after each failed probe).
pub const CIRCUITS_OPENED: &str = "hookwire_circuits_opened_total";
/// `hookwire_store_errors_total`.
pub const STORE_ERRORS: &str = "hookwire_store_errors_total";
/// `hookwire_deliveries_in_flight`.
pub const IN_FLIGHT: &str = "hookwire_deliveries_in_flight";
/// `hookwire_deliveries_due`.
pub const DUE: &str = "hookwire_deliveries_due";
/// `hookwire_due_lag_seconds`.
pub const LAG: &str = "hookwire_due_lag_seconds";

/// Describes every metric (unit and help text) to the installed recorder;
/// call it once after installing one, so that exporters show the help.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        ATTEMPTS,
        Unit::Count,
        "webhook attempts made, by endpoint and outcome class"
    );
    describe_histogram!(
        ATTEMPT_DURATION,
        Unit::Seconds,
        "how long each attempt's exchange took"
    );
    describe_histogram!(
        DELIVERY_LATENCY,
        Unit::Seconds,
        "from publish to the attempt that succeeded"
    );
    describe_counter!(
        DELIVERIES_SUCCEEDED,
        Unit::Count,
        "deliveries recorded as succeeded"
    );
    describe_counter!(DELIVERIES_DEAD, Unit::Count, "deliveries that ended dead");
    describe_counter!(
        ENDPOINTS_DISABLED,
        Unit::Count,
        "times the dispatcher disabled an endpoint"
    );
    describe_counter!(
        CIRCUITS_OPENED,
        Unit::Count,
        "times an endpoint's circuit breaker opened"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "store calls that failed, by operation"
    );
    describe_gauge!(
        IN_FLIGHT,
        Unit::Count,
        "requests in flight in this process's workers"
    );
    describe_gauge!(DUE, Unit::Count, "deliveries due now, not yet leased");
    describe_gauge!(
        LAG,
        Unit::Seconds,
        "how long the oldest due delivery has waited"
    );
}
