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
//! - when each attempt's request is built, before any [`Transport`](crate::transport::Transport)
//!   is called (an endpoint stored by another process is checked too, and a
//!   host's own transport never sees a refused target);
//! - when the transport connects: the dispatcher hands the policy to the
//!   transport in [`SendOptions::targets`](crate::transport::SendOptions::targets).
//!   `ReqwestTransport` checks IP literals itself and every address a host
//!   name resolves to (which catches a name pointing into the network, and
//!   DNS rebinding); a transport of your own calls [`check_ip`] on the
//!   address it is about to connect to.
//!
//! Every door reads a host the same way, as WHATWG URL parsers (browsers,
//! the `url` crate under reqwest) do: see [`check_host`] for the numeric IPv4
//! forms, percent-encoding and IPv6 zone ids, and [`blocked_reason`] for the
//! IPv6 forms that embed an IPv4 address. `tests/target_guard.rs` runs a
//! table of host forms through all four doors.
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
/// The host is read the way WHATWG URL parsers read it (and so the `url`
/// crate under reqwest, browsers and most HTTP clients), so that what is
/// checked is what is connected to:
///
/// - **IPv4 in every numeric form** those parsers accept: 1 to 4 parts, each
///   decimal, octal (a leading `0`) or hex (`0x`), the last part filling the
///   remaining bytes (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`,
///   `0`), with or without a trailing dot. A 4-part form with leading zeros
///   (`010.0.0.1`) is also read as decimal, as some resolvers do, and
///   refused if either reading is blocked. A host whose last label is a
///   number but which is no valid address (`1.2.3.4.5`, `example.123`,
///   `999.0.0.1`) is refused: those parsers refuse it too.
/// - **IPv6** in brackets, through [`check_ip`] (which looks into the IPv6
///   forms that embed an IPv4 address). A zone id (`[fe80::1%25lo]`) is
///   refused: it names a local interface, and URL parsers reject it.
/// - **Percent-encoded names** are decoded first (`%31%32%37.0.0.1` is
///   `127.0.0.1`); one that decodes to anything but ASCII is refused (write
///   international names in punycode).
/// - **Names**: `localhost` and `*.localhost` (any case, trailing dots) are
///   refused. Any other name passes: what it resolves to is checked when
///   connecting ([`check_ip`]).
///
/// Under [`TargetPolicy::AllowPrivate`] everything passes.
///
/// # Errors
///
/// [`BlockedTarget`] naming the host and why it is refused.
///
/// # Examples
///
/// ```
/// use hookwire::target::{check_host, TargetPolicy};
///
/// let public = TargetPolicy::PublicOnly;
/// for host in ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "[2002:7f00:1::]"] {
///     assert_eq!(check_host(host, public).unwrap_err().reason(), "loopback", "{host}");
/// }
/// assert!(check_host("0x5d.0xb8.0xd8.0x22", public).is_ok()); // 93.184.216.34
/// ```
pub fn check_host(host: &str, policy: TargetPolicy) -> Result<(), BlockedTarget> {
    if policy.allows_private() {
        return Ok(());
    }
    let refuse = |reason: &'static str| BlockedTarget {
        host: bounded(host),
        reason,
    };
    if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(refuse("invalid IPv6 address"));
        };
        return check_ipv6_literal(inner, host);
    }
    if host.contains(':') {
        // An IPv6 address without brackets (as some callers hand it over).
        return check_ipv6_literal(host, host);
    }
    let decoded;
    let name = if host.contains('%') {
        decoded = percent_decode(host).ok_or_else(|| refuse("invalid percent-encoding"))?;
        if !decoded.is_ascii() {
            return Err(refuse("non-ASCII host"));
        }
        decoded.as_str()
    } else {
        host
    };
    if !name.is_ascii() {
        return Err(refuse("non-ASCII host"));
    }
    match parse_ipv4(name) {
        Ipv4Form::NotNumeric => {}
        Ipv4Form::Invalid => return Err(refuse("invalid numeric host")),
        Ipv4Form::Address { whatwg, decimal } => {
            for ip in std::iter::once(whatwg).chain(decimal) {
                if let Some(reason) = blocked_v4(ip) {
                    return Err(BlockedTarget {
                        host: ip.to_string(),
                        reason,
                    });
                }
            }
            return Ok(());
        }
    }
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(refuse("localhost"));
    }
    Ok(())
}

/// The reasons [`check_host`] gives for a host no URL parser would connect
/// to, whatever the policy.
const MALFORMED: &[&str] = &[
    "invalid IPv6 address",
    "IPv6 zone id",
    "invalid percent-encoding",
    "non-ASCII host",
    "invalid numeric host",
];

/// Why `host` is malformed (a numeric host that is no address, an IPv6 zone
/// id, ...), if it is: refused when an endpoint URL is parsed, under any
/// policy.
pub(crate) fn malformed(host: &str) -> Option<&'static str> {
    match check_host(host, TargetPolicy::PublicOnly) {
        Err(blocked) => MALFORMED.iter().copied().find(|r| *r == blocked.reason),
        Ok(()) => None,
    }
}

/// The host as shown in an error: at most 255 bytes (a host can be no longer).
fn bounded(host: &str) -> String {
    let mut end = host.len().min(255);
    while !host.is_char_boundary(end) {
        end -= 1;
    }
    host[..end].to_owned()
}

fn check_ipv6_literal(inner: &str, host: &str) -> Result<(), BlockedTarget> {
    let refuse = |reason: &'static str| BlockedTarget {
        host: bounded(host),
        reason,
    };
    if inner.contains('%') {
        return Err(refuse("IPv6 zone id"));
    }
    match inner.parse::<Ipv6Addr>() {
        Ok(ip) => check_ip(IpAddr::V6(ip), TargetPolicy::PublicOnly),
        Err(_) => Err(refuse("invalid IPv6 address")),
    }
}

/// `%XX` sequences decoded; `None` if one is malformed.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = char::from(hex[0]).to_digit(16)?;
            let lo = char::from(hex[1]).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// How a host name reads as an IPv4 address.
#[derive(Debug, PartialEq, Eq)]
enum Ipv4Form {
    /// Its last label is not a number: a name.
    NotNumeric,
    /// Its last label is a number, but the whole is no valid address.
    Invalid,
    /// An address: as WHATWG parsers read it, and, for a 4-part form with
    /// leading zeros, as a resolver reading every part as decimal would.
    Address {
        whatwg: Ipv4Addr,
        decimal: Option<Ipv4Addr>,
    },
}

/// The WHATWG URL standard's IPv4 parser (with its "ends in a number" test).
fn parse_ipv4(name: &str) -> Ipv4Form {
    let mut parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let last = parts.last().copied().unwrap_or("");
    let hex_tail = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit()));
    let numeric = !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || hex_tail);
    if !numeric {
        return Ipv4Form::NotNumeric;
    }
    if parts.len() > 4 {
        return Ipv4Form::Invalid;
    }
    let mut numbers = [0u64; 4];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        match ipv4_number(part) {
            Some(n) => *slot = n,
            None => return Ipv4Form::Invalid,
        }
    }
    let n = parts.len();
    if numbers[..n - 1].iter().any(|&x| x > 255) {
        return Ipv4Form::Invalid;
    }
    let last_limit = 1u64 << (8 * (5 - n));
    if numbers[n - 1] >= last_limit {
        return Ipv4Form::Invalid;
    }
    let mut value = numbers[n - 1];
    for (i, &x) in numbers[..n - 1].iter().enumerate() {
        value += x << (8 * (3 - i));
    }
    let whatwg = Ipv4Addr::from(value as u32);
    let decimal = if n == 4 && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        let mut octets = [0u8; 4];
        let mut ok = true;
        for (o, p) in octets.iter_mut().zip(&parts) {
            match p.trim_start_matches('0') {
                "" => *o = 0,
                digits if digits.len() <= 3 => match digits.parse::<u8>() {
                    Ok(v) => *o = v,
                    Err(_) => ok = false,
                },
                _ => ok = false,
            }
        }
        Some(Ipv4Addr::from(octets)).filter(|d| ok && *d != whatwg)
    } else {
        None
    };
    Ipv4Form::Address { whatwg, decimal }
}

/// One part of a WHATWG IPv4 address: decimal, octal (leading `0`) or hex
/// (`0x`); `None` if empty, malformed or above 2^32.
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(rest) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (rest, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return None;
    }
    // Leading zeros never overflow; anything past 2^32 is refused anyway.
    let significant = digits.trim_start_matches('0');
    if significant.len() > 12 {
        return None;
    }
    if significant.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(significant, radix).ok()
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
/// broadcast, unspecified (all of `0.0.0.0/8`), documentation, benchmarking,
/// protocol-assignment and reserved IPv4 ranges; IPv6 loopback, unspecified,
/// multicast, unique-local, link-local, site-local, discard-only,
/// documentation and NAT64 (`64:ff9b::/96` and `64:ff9b:1::/48`, whole).
///
/// IPv6 forms that embed an IPv4 address are judged by that address: mapped
/// (`::ffff:a.b.c.d`), translated (SIIT, `::ffff:0:a.b.c.d`), compatible
/// (`::a.b.c.d`, deprecated: refused whatever it embeds), 6to4
/// (`2002:AABB:CCDD::/48`) and Teredo (`2001:0::/32`: its server address and
/// its client address, the last 32 bits inverted).
///
/// ```
/// use hookwire::target::blocked_reason;
///
/// assert_eq!(blocked_reason("::ffff:0:127.0.0.1".parse().unwrap()), Some("loopback"));
/// assert_eq!(blocked_reason("2002:c0a8:101::".parse().unwrap()), Some("private"));
/// // Teredo whose client is 127.0.0.1 (inverted: 80ff:fffe).
/// assert_eq!(blocked_reason("2001:0:4136:e378:8000:63bf:80ff:fffe".parse().unwrap()), Some("loopback"));
/// assert_eq!(blocked_reason("2606:4700::1111".parse().unwrap()), None);
/// ```
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
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
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    // Mapped (::ffff:a.b.c.d) and translated (SIIT, ::ffff:0:a.b.c.d).
    if s[..4] == [0; 4] && ((s[4] == 0 && s[5] == 0xffff) || (s[4] == 0xffff && s[5] == 0)) {
        let v4 = v4_of(s[6], s[7]);
        return match (s[4], blocked_v4(v4)) {
            (_, Some(reason)) => Some(reason),
            (0xffff, None) => Some("IPv4-translated"),
            _ => None,
        };
    }
    // Compatible (::a.b.c.d): deprecated, never a real destination.
    if s[..6] == [0; 6] {
        return Some(blocked_v4(v4_of(s[6], s[7])).unwrap_or("IPv4-compatible"));
    }
    // 6to4: 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD.
    if s[0] == 0x2002 {
        if let Some(reason) = blocked_v4(v4_of(s[1], s[2])) {
            return Some(reason);
        }
    }
    // Teredo: 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC, the client inverted.
    if s[0] == 0x2001 && s[1] == 0 {
        for v4 in [v4_of(s[2], s[3]), v4_of(!s[6], !s[7])] {
            if let Some(reason) = blocked_v4(v4) {
                return Some(reason);
            }
        }
    }
    Some(if ip.is_multicast() {
        "multicast"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "unique local"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "link-local"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "site-local"
    } else if s[0] == 0x0100 && s[1..4] == [0; 3] {
        "discard-only"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x0064 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
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
    fn reads_ipv4_the_whatwg_way() {
        let v4 = |s: &str| match parse_ipv4(s) {
            Ipv4Form::Address { whatwg, .. } => Some(whatwg.to_string()),
            _ => None,
        };
        for (host, ip) in [
            ("127.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f.0.0.1", "127.0.0.1"),
            ("0X7F.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("127.000.000.001", "127.0.0.1"),
            ("0", "0.0.0.0"),
            ("0x", "0.0.0.0"),
            ("0xa9fea9fe", "169.254.169.254"),
            ("127.0.0.1.", "127.0.0.1"),
            ("1.2.65535", "1.2.255.255"),
            ("017700000001", "127.0.0.1"),
            ("0000000000000000000000000000177.1", "127.0.0.1"),
        ] {
            assert_eq!(v4(host).as_deref(), Some(ip), "{host}");
        }
        for host in [
            "1.2.3.4.5",
            "256.0.0.1",
            "1.2.3.256",
            "1..2",
            "08.1",
            "example.123",
            "4294967296",
        ] {
            assert_eq!(parse_ipv4(host), Ipv4Form::Invalid, "{host}");
        }
        for host in ["example.com", "1.2.3.example", "0xg", "a0x1", "0x1g"] {
            assert_eq!(parse_ipv4(host), Ipv4Form::NotNumeric, "{host}");
        }
        // A resolver reading leading zeros as decimal sees 10.0.0.1.
        assert_eq!(
            parse_ipv4("010.0.0.1"),
            Ipv4Form::Address {
                whatwg: Ipv4Addr::new(8, 0, 0, 1),
                decimal: Some(Ipv4Addr::new(10, 0, 0, 1))
            }
        );
        assert_eq!(
            check_host("010.0.0.1", PUBLIC).unwrap_err().reason(),
            "private"
        );
    }

    #[test]
    fn looks_into_ipv6_forms_that_embed_ipv4() {
        for (host, reason) in [
            ("[::127.0.0.1]", "loopback"),
            ("[::8.8.8.8]", "IPv4-compatible"),
            ("[::ffff:0:127.0.0.1]", "loopback"),
            ("[::ffff:0:8.8.8.8]", "IPv4-translated"),
            ("[::ffff:a9fe:a9fe]", "link-local"),
            ("[2002:7f00:1::]", "loopback"),
            ("[2002:a00:1::1]", "private"),
            ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "loopback"),
            ("[2001:0:7f00:1::]", "loopback"),
            ("[64:ff9b::8.8.8.8]", "NAT64"),
            ("[64:ff9b:1::1]", "NAT64"),
            ("[fec0::1]", "site-local"),
            ("[100::1]", "discard-only"),
            ("[fe80::1%25lo]", "IPv6 zone id"),
            ("[::1%lo]", "IPv6 zone id"),
            ("[::1", "invalid IPv6 address"),
            ("[127.0.0.1]", "invalid IPv6 address"),
        ] {
            assert_eq!(
                check_host(host, PUBLIC).unwrap_err().reason(),
                reason,
                "{host}"
            );
        }
        for host in [
            "[2002:808:808::1]",
            "[2001:0:808:808:0:0:f7f7:f7f7]",
            "[2606:4700::1111]",
        ] {
            assert_eq!(check_host(host, PUBLIC), Ok(()), "{host}");
        }
    }

    #[test]
    fn decodes_percent_encoded_names() {
        assert_eq!(
            check_host("%31%32%37.0.0.1", PUBLIC).unwrap_err().reason(),
            "loopback"
        );
        assert_eq!(
            check_host("%6c%6fcalhost", PUBLIC).unwrap_err().reason(),
            "localhost"
        );
        assert_eq!(
            check_host("%ef%bc%91.0.0.1", PUBLIC).unwrap_err().reason(),
            "non-ASCII host"
        );
        assert_eq!(
            check_host("a%zz", PUBLIC).unwrap_err().reason(),
            "invalid percent-encoding"
        );
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
