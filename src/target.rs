//! The target guard: which hosts and addresses deliveries may go to.
//!
//! A webhook sender sends signed requests to URLs its users typed in. Left
//! unchecked, such a URL can point back into the sender's own network (a
//! database's admin port, a cloud metadata service): server-side request
//! forgery. hookwire refuses, by default, every target in the ranges listed
//! under [`blocked_reason`], and the `localhost` names.
//!
//! # One rule, every door
//!
//! The rule is written once, here, and checked wherever a target enters or
//! leaves:
//!
//! - when an endpoint is added ([`Dispatcher::add_endpoint`](crate::dispatch::Dispatcher::add_endpoint));
//! - when a journey step's URL template is rendered ([`Dispatcher::fire`](crate::dispatch::Dispatcher::fire));
//! - when each attempt's request is built (an endpoint stored by another
//!   process is checked too);
//! - when the transport connects: the dispatcher hands the policy to the
//!   transport in [`SendOptions::targets`](crate::transport::SendOptions::targets).
//!   `ReqwestTransport` checks IP literals itself and every address a host
//!   name resolves to (which catches a name pointing into the network, and
//!   DNS rebinding); a transport of your own calls [`check_ip`] on the
//!   address it is about to connect to.
//!
//! # One setting
//!
//! Local development and tests send to `127.0.0.1`. They lift the guard in
//! one place, for everything the dispatcher sends:
//! [`DispatcherBuilder::allow_private_targets`](crate::dispatch::DispatcherBuilder::allow_private_targets)
//! (which sets [`TargetPolicy::AllowPrivate`]). Nothing else needs to know.
//!
//! # Examples
//!
//! ```
//! use hookwire::target::{check_host, TargetPolicy};
//!
//! assert!(check_host("hooks.example.com", TargetPolicy::PublicOnly).is_ok());
//! let err = check_host("127.0.0.1", TargetPolicy::PublicOnly).unwrap_err();
//! assert_eq!(err.to_string(), "blocked target 127.0.0.1 (loopback): private targets are not allowed");
//! assert!(check_host("127.0.0.1", TargetPolicy::AllowPrivate).is_ok());
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which targets deliveries may go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TargetPolicy {
    /// Public addresses only: every range [`blocked_reason`] names, and the
    /// `localhost` names, are refused. The default.
    #[default]
    PublicOnly,
    /// Anything goes, loopback and private networks included. For local
    /// development and tests.
    AllowPrivate,
}

impl TargetPolicy {
    /// Whether private targets are allowed.
    pub fn allows_private(self) -> bool {
        self == Self::AllowPrivate
    }
}

/// A target the guard refuses: the host as checked and the range it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blocked target {host} ({reason}): private targets are not allowed")]
pub struct BlockedTarget {
    host: String,
    reason: &'static str,
}

impl BlockedTarget {
    /// The host or address refused (an address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Which range it falls in (`loopback`, `private`, `localhost`, ...).
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Checks a URL's host (as an [`http::Uri`] gives it: IPv6 addresses in
/// brackets) against `policy`.
///
/// An IP address is refused if it is in a blocked range; a name is refused
/// if it is `localhost` or ends in `.localhost` (with or without a trailing
/// dot). Any other name passes: what it resolves to is checked when
/// connecting ([`check_ip`]).
///
/// # Errors
///
/// [`BlockedTarget`] naming the host and its range.
pub fn check_host(host: &str, policy: TargetPolicy) -> Result<(), BlockedTarget> {
    if policy.allows_private() {
        return Ok(());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return check_ip(ip, policy);
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(BlockedTarget {
            host: host.to_owned(),
            reason: "localhost",
        });
    }
    Ok(())
}

/// Checks the address a transport is about to connect to against `policy`.
///
/// # Errors
///
/// [`BlockedTarget`] naming the address and its range.
pub fn check_ip(ip: IpAddr, policy: TargetPolicy) -> Result<(), BlockedTarget> {
    match blocked_reason(ip) {
        Some(reason) if !policy.allows_private() => Err(BlockedTarget {
            host: ip.to_string(),
            reason,
        }),
        _ => Ok(()),
    }
}

/// The range `ip` falls in if the guard refuses it by default, or `None` for
/// a public address.
///
/// Refused: loopback, private, shared (CGNAT), link-local, multicast,
/// broadcast, unspecified, documentation, benchmarking and reserved IPv4
/// ranges; IPv6 loopback, unspecified, multicast, unique-local, link-local,
/// documentation and NAT64; and IPv4-mapped forms of the IPv4 ranges.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return blocked_v4(v4);
            }
            blocked_v6(v6)
        }
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_unspecified() || o[0] == 0 {
        "unspecified"
    } else if ip.is_broadcast() {
        "broadcast"
    } else if ip.is_documentation() {
        "documentation"
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        "shared address space"
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        "benchmarking"
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        "protocol assignments"
    } else if o[0] >= 240 {
        "reserved"
    } else {
        return None;
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "unique local"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        "NAT64"
    } else {
        return None;
    })
}

impl fmt::Display for TargetPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PublicOnly => "public targets only",
            Self::AllowPrivate => "private targets allowed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: TargetPolicy = TargetPolicy::PublicOnly;

    #[test]
    fn blocks_internal_hosts_unless_allowed() {
        for (host, reason) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared address space"),
            ("[::1]", "loopback"),
            ("[::]", "unspecified"),
            ("[fd00::1]", "unique local"),
            ("[fe80::1]", "link-local"),
            ("[::ffff:127.0.0.1]", "loopback"),
            ("localhost", "localhost"),
            ("api.localhost", "localhost"),
            ("LOCALHOST.", "localhost"),
        ] {
            let err = check_host(host, PUBLIC).expect_err(host);
            assert_eq!(err.reason(), reason, "{host}");
            assert!(
                check_host(host, TargetPolicy::AllowPrivate).is_ok(),
                "{host}"
            );
        }
    }

    #[test]
    fn passes_public_hosts() {
        for host in ["hooks.example.com", "93.184.216.34", "[2606:4700::1111]"] {
            assert_eq!(check_host(host, PUBLIC), Ok(()), "{host}");
        }
    }

    #[test]
    fn the_error_names_the_address_without_brackets() {
        let err = check_host("[::1]", PUBLIC).unwrap_err();
        assert_eq!(err.host(), "::1");
        assert_eq!(
            err.to_string(),
            "blocked target ::1 (loopback): private targets are not allowed"
        );
    }
}
