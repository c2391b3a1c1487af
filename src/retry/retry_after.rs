//! Parsing the `Retry-After` response header.

use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue};

/// The longest delay [`retry_after()`] returns: 2³¹ seconds (about 68 years).
///
/// Larger delta-seconds values, and dates further ahead, are clamped to it, as
/// RFC 9111 §1.2.2 prescribes for delta-seconds that overflow. A policy then
/// clamps further to its own cap ([`Policy::with_retry_after_cap`](super::Policy::with_retry_after_cap)).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(1 << 31);

/// Parses `Retry-After` relative to `now`.
///
/// Both forms of RFC 9110 §10.2.3 are accepted:
///
/// - **delta-seconds**, a non-negative decimal integer (`"120"`): that many
///   seconds, clamped to [`RETRY_AFTER_MAX`];
/// - an **HTTP-date** (`"Wed, 21 Oct 2015 07:28:00 GMT"`, and the obsolete
///   RFC 850 and asctime forms): the time from `now` to that date, zero if the
///   date is already past, clamped to [`RETRY_AFTER_MAX`].
///
/// Surrounding whitespace is ignored. Anything else (a sign, a fraction, a
/// malformed date, non-ASCII bytes) is not a valid value. If the header appears
/// several times, the first valid value wins. Returns `None` if the header is
/// absent or no value is valid. Never panics.
///
/// # Examples
///
/// ```
/// use hookwire::retry::retry_after;
/// use hookwire::http::{header::RETRY_AFTER, HeaderMap, HeaderValue};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
/// let mut headers = HeaderMap::new();
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
/// assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
///
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:29:00 GMT"));
/// assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(60)));
///
/// headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
/// assert_eq!(retry_after(&headers, now), None);
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get_all(RETRY_AFTER)
        .iter()
        .find_map(|value| parse_value(value, now))
}

fn parse_value(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim_matches([' ', '\t']);
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(parse_delta_seconds(text));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    let delay = date.duration_since(now).unwrap_or(Duration::ZERO);
    Some(delay.min(RETRY_AFTER_MAX))
}

/// `digits` is non-empty and all ASCII digits.
fn parse_delta_seconds(digits: &str) -> Duration {
    let max = RETRY_AFTER_MAX.as_secs();
    let secs = digits.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(b - b'0'))
            .min(max)
    });
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// Wed, 21 Oct 2015 07:28:00 GMT.
    const NOW_SECS: u64 = 1_445_412_480;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(RETRY_AFTER, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    fn parse(values: &[&[u8]]) -> Option<Duration> {
        retry_after(&headers(values), now())
    }

    #[test]
    fn absent_header_is_none() {
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn delta_seconds() {
        let table: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"1", Some(1)),
            (b"120", Some(120)),
            (b"  30\t", Some(30)),
            (b"007", Some(7)),
            (b"3600", Some(3600)),
            (b"2147483648", Some(1 << 31)),
            (b"2147483649", Some(1 << 31)),
            (b"18446744073709551615", Some(1 << 31)),
            (b"99999999999999999999999999999999999999999", Some(1 << 31)),
        ];
        for &(value, expected) in table {
            assert_eq!(
                parse(&[value]),
                expected.map(Duration::from_secs),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn http_dates() {
        let table: &[(&[u8], Option<u64>)] = &[
            // IMF-fixdate, one minute ahead.
            (b"Wed, 21 Oct 2015 07:29:00 GMT", Some(60)),
            // Exactly now.
            (b"Wed, 21 Oct 2015 07:28:00 GMT", Some(0)),
            // In the past: retry now.
            (b"Wed, 21 Oct 2015 07:27:00 GMT", Some(0)),
            (b"Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            // Obsolete forms a recipient must accept.
            (b"Wednesday, 21-Oct-15 08:28:00 GMT", Some(3600)),
            (b"Wed Oct 21 07:28:10 2015", Some(10)),
            // Far future: clamped.
            (b"Fri, 31 Dec 9999 23:59:59 GMT", Some(1 << 31)),
        ];
        for &(value, expected) in table {
            assert_eq!(
                parse(&[value]),
                expected.map(Duration::from_secs),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn garbage_is_none() {
        let table: &[&[u8]] = &[
            b"",
            b"   ",
            b"-1",
            b"+5",
            b"1.5",
            b"1e3",
            b"0x10",
            b"10 s",
            b"120, 60",
            b"soon",
            b"Wed, 32 Oct 2015 07:28:00 GMT",
            b"Wed, 21 Oct 2015 07:28:00",
            b"2015-10-21T07:28:00Z",
            b"\xff\xfe",
            "\u{0661}\u{0662}".as_bytes(), // non-ASCII digits
        ];
        for &value in table {
            assert_eq!(
                parse(&[value]),
                None,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn first_valid_value_wins() {
        assert_eq!(parse(&[b"soon", b"5", b"7"]), Some(Duration::from_secs(5)));
        assert_eq!(
            parse(&[b"Wed, 21 Oct 2015 07:28:30 GMT", b"5"]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse(&[b"x", b"y"]), None);
    }

    #[test]
    fn now_far_in_the_past_or_future_does_not_panic() {
        let h = headers(&[b"Fri, 31 Dec 9999 23:59:59 GMT"]);
        assert_eq!(retry_after(&h, UNIX_EPOCH), Some(RETRY_AFTER_MAX));
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
        assert_eq!(retry_after(&h, far), Some(Duration::ZERO));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_stays_bounded(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..48), secs in 0u64..(1 << 40)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut map = HeaderMap::new();
                map.insert(RETRY_AFTER, value);
                let now = UNIX_EPOCH + Duration::from_secs(secs);
                if let Some(d) = retry_after(&map, now) {
                    proptest::prop_assert!(d <= RETRY_AFTER_MAX);
                }
            }
        }

        #[test]
        fn any_integer_round_trips_or_clamps(n in proptest::num::u64::ANY) {
            let map = headers(&[n.to_string().as_bytes()]);
            let expected = Duration::from_secs(n.min(1 << 31));
            proptest::prop_assert_eq!(retry_after(&map, now()), Some(expected));
        }
    }
}
