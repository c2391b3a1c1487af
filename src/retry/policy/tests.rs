use super::*;
use crate::retry::Outcome;
use crate::transport::TransportErrorKind;
use http::StatusCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn decide(policy: &Policy, attempt: u32, outcome: &Outcome) -> Decision {
    policy.decide(&Attempt::new(attempt, outcome, now(), 42))
}

fn status(code: u16) -> Outcome {
    Outcome::status(StatusCode::from_u16(code).unwrap())
}

fn no_jitter() -> Policy {
    Policy::default().with_jitter(0.0).unwrap()
}

#[test]
fn default_is_five_attempts_ten_seconds_2xx_only() {
    let p = Policy::default();
    assert_eq!(p.max_attempts(), 5);
    assert_eq!(p.timeout(), Duration::from_secs(10));
    assert_eq!(RetryPolicy::timeout(&p), Duration::from_secs(10));
    assert_eq!(p.schedule(), [5, 300, 1800, 7200].map(Duration::from_secs));
    assert_eq!(p.jitter(), 0.2);
    assert_eq!(p.retry_after_cap(), Duration::from_secs(3600));
    assert_eq!(p.overload_min_delay(), Duration::ZERO);
    assert!(p.disable_on_gone());
}

#[test]
fn standard_webhooks_preset() {
    let p = Policy::standard_webhooks();
    assert_eq!(p.max_attempts(), 10);
    assert_eq!(p.timeout(), Duration::from_secs(15));
    assert_eq!(
        p.schedule(),
        [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400].map(Duration::from_secs)
    );
    assert_eq!(p.jitter(), 0.2);
}

#[test]
fn decision_table() {
    let p = no_jitter();
    let five = Decision::RetryIn(Duration::from_secs(5));
    let table: Vec<(Outcome, Decision)> = vec![
        (status(200), Decision::Succeeded),
        (status(201), Decision::Succeeded),
        (status(204), Decision::Succeeded),
        (status(299), Decision::Succeeded),
        (status(100), five),
        (status(301), five),
        (status(302), five),
        (status(304), five),
        (status(400), five),
        (status(404), five),
        (status(410), Decision::DisableEndpoint),
        (status(429), five),
        (status(500), five),
        (status(502), five),
        (status(503), five),
        (status(504), five),
        (Outcome::Error(TransportErrorKind::Connect), five),
        (Outcome::Error(TransportErrorKind::Timeout), five),
        (Outcome::Error(TransportErrorKind::Interrupted), five),
        (Outcome::Error(TransportErrorKind::Other), five),
        (
            Outcome::Error(TransportErrorKind::Rejected),
            Decision::GiveUp,
        ),
    ];
    for (outcome, expected) in &table {
        assert_eq!(decide(&p, 1, outcome), *expected, "{outcome:?}");
    }
}

#[test]
fn terminal_classes_ignore_the_attempt_number() {
    let p = Policy::default();
    for attempt in [0, 1, 5, 6, u32::MAX] {
        assert_eq!(decide(&p, attempt, &status(200)), Decision::Succeeded);
        assert_eq!(decide(&p, attempt, &status(410)), Decision::DisableEndpoint);
        assert_eq!(
            decide(&p, attempt, &Outcome::Error(TransportErrorKind::Rejected)),
            Decision::GiveUp
        );
    }
}

#[test]
fn gone_is_an_ordinary_failure_when_not_disabling() {
    let p = no_jitter().with_disable_on_gone(false);
    assert_eq!(
        decide(&p, 1, &status(410)),
        Decision::RetryIn(Duration::from_secs(5))
    );
    assert_eq!(decide(&p, 5, &status(410)), Decision::GiveUp);
}

#[test]
fn exact_nominal_delays_then_exhaustion() {
    let p = no_jitter();
    let failed = status(500);
    let expected = [
        (0, Decision::RetryIn(Duration::from_secs(5))),
        (1, Decision::RetryIn(Duration::from_secs(5))),
        (2, Decision::RetryIn(Duration::from_secs(300))),
        (3, Decision::RetryIn(Duration::from_secs(1800))),
        (4, Decision::RetryIn(Duration::from_secs(7200))),
        (5, Decision::GiveUp),
        (6, Decision::GiveUp),
        (u32::MAX, Decision::GiveUp),
    ];
    for (attempt, decision) in expected {
        assert_eq!(decide(&p, attempt, &failed), decision, "attempt {attempt}");
    }
}

#[test]
fn standard_webhooks_exhausts_after_ten_attempts() {
    let p = Policy::standard_webhooks().with_jitter(0.0).unwrap();
    let failed = Outcome::Error(TransportErrorKind::Connect);
    assert_eq!(
        decide(&p, 9, &failed),
        Decision::RetryIn(Duration::from_secs(86_400))
    );
    assert_eq!(decide(&p, 10, &failed), Decision::GiveUp);
}

#[test]
fn empty_schedule_means_one_attempt() {
    let p = Policy::custom([]).unwrap();
    assert_eq!(p.max_attempts(), 1);
    assert_eq!(decide(&p, 1, &status(503)), Decision::GiveUp);
    assert_eq!(decide(&p, 1, &status(200)), Decision::Succeeded);
}

#[test]
fn zero_delay_retries_at_once() {
    let p = Policy::custom([Duration::ZERO]).unwrap();
    assert_eq!(
        decide(&p, 1, &status(500)),
        Decision::RetryIn(Duration::ZERO)
    );
}

#[test]
fn jitter_is_bounded_and_deterministic() {
    let p = Policy::default();
    let base = Duration::from_secs(300);
    let (low, high) = (base.mul_f64(0.8), base.mul_f64(1.2));
    let mut seen = std::collections::HashSet::new();
    for seed in 0..1000u64 {
        let d = p.jittered_delay(2, seed).unwrap();
        assert!(d >= low && d < high, "seed {seed}: {d:?}");
        assert_eq!(p.jittered_delay(2, seed), Some(d));
        seen.insert(d);
    }
    // Different seeds give different delays.
    assert!(seen.len() > 990, "only {} distinct delays", seen.len());
    // Both halves of the range are used.
    assert!(seen.iter().any(|d| *d < base) && seen.iter().any(|d| *d > base));
    assert_ne!(p.jittered_delay(2, 1), p.jittered_delay(2, 2));
}

#[test]
fn decide_uses_the_jittered_delay() {
    let p = Policy::default();
    let outcome = status(500);
    for seed in [0, 1, u64::MAX] {
        let info = Attempt::new(3, &outcome, now(), seed);
        assert_eq!(
            p.decide(&info),
            Decision::RetryIn(p.jittered_delay(3, seed).unwrap())
        );
    }
}

#[test]
fn retry_after_lengthens_within_the_cap() {
    let p = no_jitter();
    let with = |secs: u64| Outcome::Response {
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: Some(Duration::from_secs(secs)),
    };
    let table = [
        // (attempt, retry-after, expected delay)
        (1, 0, 5),          // shorter than the schedule: the schedule wins
        (1, 3, 5),          // idem
        (1, 120, 120),      // longer: honoured
        (1, 3600, 3600),    // exactly the cap
        (1, 3601, 3600),    // clamped to the cap
        (1, 1 << 31, 3600), // huge: clamped
        (4, 60, 7200),      // the schedule is already longer than the cap
        (4, 1 << 31, 7200), // idem
    ];
    for (attempt, asked, expected) in table {
        assert_eq!(
            decide(&p, attempt, &with(asked)),
            Decision::RetryIn(Duration::from_secs(expected)),
            "attempt {attempt}, retry-after {asked}"
        );
    }
    // Retry-After does not extend the number of attempts.
    assert_eq!(decide(&p, 5, &with(10)), Decision::GiveUp);
    // A zero cap ignores Retry-After.
    let ignoring = no_jitter().with_retry_after_cap(Duration::ZERO).unwrap();
    assert_eq!(
        decide(&ignoring, 1, &with(120)),
        Decision::RetryIn(Duration::from_secs(5))
    );
    // Retry-After never extends the duration past Duration::MAX-ish values.
    let max = Outcome::Response {
        status: StatusCode::TOO_MANY_REQUESTS,
        retry_after: Some(Duration::MAX),
    };
    assert_eq!(
        decide(&p, 1, &max),
        Decision::RetryIn(Duration::from_secs(3600))
    );
}

#[test]
fn overload_floor_applies_only_to_overload() {
    let p = no_jitter()
        .with_overload_min_delay(Duration::from_secs(60))
        .unwrap();
    let sixty = Decision::RetryIn(Duration::from_secs(60));
    let five = Decision::RetryIn(Duration::from_secs(5));
    assert_eq!(decide(&p, 1, &status(429)), sixty);
    assert_eq!(decide(&p, 1, &status(502)), sixty);
    assert_eq!(decide(&p, 1, &status(503)), sixty);
    assert_eq!(decide(&p, 1, &status(504)), sixty);
    assert_eq!(
        decide(&p, 1, &Outcome::Error(TransportErrorKind::Timeout)),
        sixty
    );
    assert_eq!(decide(&p, 1, &status(500)), five);
    assert_eq!(
        decide(&p, 1, &Outcome::Error(TransportErrorKind::Connect)),
        five
    );
    // Longer scheduled delays are unaffected.
    assert_eq!(
        decide(&p, 2, &status(429)),
        Decision::RetryIn(Duration::from_secs(300))
    );
}

#[test]
fn validation() {
    let d = Policy::default;
    assert_eq!(
        d().with_timeout(Duration::ZERO),
        Err(InvalidPolicy::ZeroTimeout)
    );
    assert_eq!(
        d().with_timeout(Duration::from_secs(301)),
        Err(InvalidPolicy::TimeoutTooLong {
            timeout: Duration::from_secs(301),
            max: Policy::MAX_TIMEOUT
        })
    );
    assert!(d().with_timeout(Duration::from_nanos(1)).is_ok());
    assert!(d().with_timeout(Policy::MAX_TIMEOUT).is_ok());
    for bad in [
        f64::NAN,
        -0.1,
        -0.0 - f64::EPSILON,
        1.0,
        1.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(
            d().with_jitter(bad),
            Err(InvalidPolicy::InvalidJitter),
            "{bad}"
        );
    }
    for good in [0.0, -0.0, 0.2, 0.999_999] {
        assert!(d().with_jitter(good).is_ok(), "{good}");
    }
    let too_long = Policy::MAX_DELAY + Duration::from_nanos(1);
    assert_eq!(
        d().with_retry_after_cap(too_long),
        Err(InvalidPolicy::RetryAfterCapTooLong {
            cap: too_long,
            max: Policy::MAX_DELAY
        })
    );
    assert_eq!(
        d().with_overload_min_delay(too_long),
        Err(InvalidPolicy::OverloadDelayTooLong {
            delay: too_long,
            max: Policy::MAX_DELAY
        })
    );
    assert_eq!(
        Policy::custom([Duration::from_secs(1), too_long]),
        Err(InvalidPolicy::DelayTooLong {
            index: 1,
            delay: too_long,
            max: Policy::MAX_DELAY
        })
    );
    assert!(Policy::custom([Policy::MAX_DELAY]).is_ok());
    assert_eq!(
        Policy::custom(vec![Duration::from_secs(1); 99]).map(|p| p.max_attempts()),
        Ok(100)
    );
    assert_eq!(
        Policy::custom(vec![Duration::from_secs(1); 100]),
        Err(InvalidPolicy::TooManyAttempts { max: 100 })
    );
    assert_eq!(
        Policy::custom(std::iter::repeat(Duration::ZERO)),
        Err(InvalidPolicy::TooManyAttempts { max: 100 })
    );
}

#[test]
fn error_messages() {
    assert_eq!(
        InvalidPolicy::ZeroTimeout.to_string(),
        "timeout must be greater than zero"
    );
    assert_eq!(
        InvalidPolicy::InvalidJitter.to_string(),
        "jitter must be a number in [0, 1)"
    );
    assert_eq!(
        InvalidPolicy::TooManyAttempts { max: 100 }.to_string(),
        "a policy allows at most 100 attempts"
    );
    assert_eq!(
        InvalidPolicy::TimeoutTooLong {
            timeout: Duration::from_secs(301),
            max: Duration::from_secs(300)
        }
        .to_string(),
        "timeout 301s exceeds the maximum of 300s"
    );
}

#[test]
fn extreme_delays_do_not_overflow() {
    assert!(apply_jitter(Duration::MAX, 0.999, u64::MAX) >= Duration::MAX / 2);
    assert_eq!(apply_jitter(Duration::MAX, 0.0, 7), Duration::MAX);
    assert_eq!(nanos_to_duration(u128::MAX), Duration::MAX);
    let p = Policy::custom([Policy::MAX_DELAY])
        .unwrap()
        .with_jitter(0.999_999)
        .unwrap();
    for seed in [0, 1, u64::MAX] {
        let d = p.jittered_delay(1, seed).unwrap();
        assert!(d < 2 * Policy::MAX_DELAY);
        // Adding it to the present cannot overflow.
        assert!(now().checked_add(d).is_some());
    }
}

proptest::proptest! {
    #[test]
    fn jittered_delay_stays_in_bounds(
        secs in 0u64..=(1 << 40),
        nanos in 0u32..1_000_000_000,
        jitter in 0.0f64..1.0,
        seed in proptest::num::u64::ANY,
    ) {
        let base = Duration::new(secs, nanos);
        let d = apply_jitter(base, jitter, seed);
        let b = base.as_secs_f64();
        // Fixed-point jitter (2^-32) and f64 rounding: allow a hair of slack.
        let slack = b * 1e-9 + 1e-9;
        proptest::prop_assert!(d.as_secs_f64() >= b * (1.0 - jitter) - slack, "{d:?} < low");
        proptest::prop_assert!(d.as_secs_f64() <= b * (1.0 + jitter) + slack, "{d:?} > high");
        proptest::prop_assert_eq!(apply_jitter(base, jitter, seed), d);
    }

    #[test]
    fn decide_never_panics(
        attempt in proptest::num::u32::ANY,
        code in 100u16..1000,
        retry_after in proptest::option::of(proptest::num::u64::ANY),
        seed in proptest::num::u64::ANY,
        jitter in 0.0f64..1.0,
    ) {
        let p = Policy::standard_webhooks().with_jitter(jitter).unwrap();
        let outcome = Outcome::Response {
            status: StatusCode::from_u16(code).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        };
        let info = Attempt::new(attempt, &outcome, now(), seed);
        match p.decide(&info) {
            Decision::RetryIn(d) => {
                proptest::prop_assert!(attempt < p.max_attempts());
                proptest::prop_assert!(d < 2 * Policy::MAX_DELAY);
                let base = p.nominal_delay(attempt).unwrap();
                proptest::prop_assert!(d >= base.mul_f64(1.0 - jitter).saturating_sub(Duration::from_nanos(1)));
            }
            Decision::GiveUp => proptest::prop_assert!(attempt >= p.max_attempts()),
            Decision::Succeeded => proptest::prop_assert!((200..300).contains(&code)),
            Decision::DisableEndpoint => proptest::prop_assert_eq!(code, 410),
        }
    }
}
