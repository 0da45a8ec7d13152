//! Which peers' `X-Forwarded-For` is believed: `TRUSTED_PROXIES`, a comma-separated
//! list of addresses and CIDR blocks (`10.0.0.0/8, 127.0.0.1, ::1`).

use std::net::IpAddr;
use std::str::FromStr;

/// An address block (`10.0.0.0/8`) or a single address (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A malformed `TRUSTED_PROXIES` entry.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR block (e.g. 10.0.0.0/8, 192.0.2.1, ::1)")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let s = s.trim();
        let bad = || CidrError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.trim().parse::<IpAddr>().map_err(|_| bad())?,
                Some(p.trim().parse::<u8>().map_err(|_| bad())?),
            ),
            None => (s.parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (canonical(self.addr), ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net) as u128, 32, self.prefix)
                    == masked(u32::from(ip) as u128, 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

/// The client address of a request that reached us from `peer` with these
/// `X-Forwarded-For` values. Only a trusted `peer`'s header is read; it is walked from
/// the right (the entry our proxy appended) past further trusted proxies, and the first
/// untrusted address is the client. With `legacy_trust_all` (the deprecated
/// `TRUST_FORWARDED_FOR=true`) the last entry is believed whatever the peer.
pub fn client_address(
    peer: IpAddr,
    forwarded_for: &[&str],
    trusted: &[Cidr],
    legacy_trust_all: bool,
) -> IpAddr {
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if trusted.is_empty() {
        if legacy_trust_all {
            if let Some(ip) = hops.last().and_then(|s| s.parse().ok()) {
                return ip;
            }
        }
        return peer;
    }
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // Garbage before a trusted hop: stop at the last address we could read.
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: Cidr = "192.0.2.1".parse().unwrap();
        assert!(one.contains(ip("192.0.2.1")));
        assert!(!one.contains(ip("192.0.2.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0.0/x", "::1/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_trusted_peers_are_believed_and_trusted_hops_are_skipped() {
        let trusted: Vec<Cidr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        // Untrusted peer: its header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.7"), &["203.0.113.5"], &trusted, false),
            ip("198.51.100.7")
        );
        // Trusted peer: the rightmost untrusted hop is the client (a spoofed left entry is ignored).
        assert_eq!(
            client_address(
                ip("127.0.0.1"),
                &["1.1.1.1, 203.0.113.5, 10.0.0.2"],
                &trusted,
                false
            ),
            ip("203.0.113.5")
        );
        // Trusted peer without a header: the peer itself.
        assert_eq!(
            client_address(ip("127.0.0.1"), &[], &trusted, false),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_deprecated_flag_keeps_its_old_meaning() {
        assert_eq!(
            client_address(ip("198.51.100.7"), &["1.1.1.1, 203.0.113.5"], &[], true),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_address(ip("198.51.100.7"), &["203.0.113.5"], &[], false),
            ip("198.51.100.7")
        );
    }
}
