//! The target guard's host check on arbitrary strings: it never panics, and
//! it never accepts a host that `std::net` or the `url` crate (the WHATWG
//! parser under reqwest) reads as a blocked address.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hookwire::target::{blocked_reason, check_host, TargetPolicy};
use libfuzzer_sys::fuzz_target;

const PUBLIC: TargetPolicy = TargetPolicy::PublicOnly;

fn must_refuse(host: &str, ip: IpAddr) {
    if blocked_reason(ip).is_some() {
        assert!(
            check_host(host, PUBLIC).is_err(),
            "{host:?} ({ip}) was accepted"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let verdict = check_host(s, PUBLIC);
    assert!(check_host(s, TargetPolicy::AllowPrivate).is_ok());
    if let Ok(ip) = s.parse::<IpAddr>() {
        must_refuse(s, ip);
    }
    if let Ok(ip) = s.parse::<Ipv6Addr>() {
        must_refuse(&format!("[{s}]"), IpAddr::V6(ip));
    }
    if let Ok(ip) = s.parse::<Ipv4Addr>() {
        must_refuse(&format!("{s}."), IpAddr::V4(ip));
        must_refuse(&u32::from(ip).to_string(), IpAddr::V4(ip));
    }
    // What a WHATWG URL parser makes of the host (as reqwest would connect).
    if s.is_ascii() {
        match url::Host::parse(s) {
            Ok(url::Host::Ipv4(ip)) => must_refuse(s, IpAddr::V4(ip)),
            Ok(url::Host::Ipv6(ip)) => must_refuse(s, IpAddr::V6(ip)),
            Ok(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.');
                if d == "localhost" || d.ends_with(".localhost") {
                    assert!(verdict.is_err(), "{s:?} (localhost) was accepted");
                }
            }
            Err(_) => {}
        }
    }
});
