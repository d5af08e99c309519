//! IP networks: when two addresses count as the same network, CIDR allow-lists, and AWS's published ranges
//! (`ip-ranges.json`). Only addresses are judged here: `sourceIPAddress` also holds service names
//! (`lambda.amazonaws.com`), `AWS Internal` and `aws.internal`, which are not addresses and never count.

use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;

/// Reads a `sourceIPAddress` as an address (IPv4-mapped IPv6 becomes IPv4); anything else is `None`.
/// Octets with leading zeros (`255.090.254.5`, seen in anonymised corpora) are not addresses either.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.trim().parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

/// A network: an address with its low bits cleared, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The network of `len` bits around `ip` (`len` is clamped to the family's width).
    pub fn around(ip: IpAddr, len: u8) -> Cidr {
        match ip {
            IpAddr::V4(v4) => {
                let len = len.min(32);
                let bits = u32::from(v4) & mask32(len);
                Cidr { addr: IpAddr::V4(bits.into()), len }
            }
            IpAddr::V6(v6) => {
                let len = len.min(128);
                let bits = u128::from(v6) & mask128(len);
                Cidr { addr: IpAddr::V6(bits.into()), len }
            }
        }
    }

    /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a network of one).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad =
            || format!("{s:?} is not a CIDR block: write it as 203.0.113.0/24, 2001:db8::/32 or a single address");
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.trim(), None),
        };
        let ip = parse_ip(addr).ok_or_else(bad)?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = match len {
            Some(l) => l.parse().ok().filter(|&n| n <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr::around(ip, len))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => u32::from(a) & mask32(self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => u128::from(a) & mask128(self.len) == u128::from(net),
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

/// The prefix lengths at which two addresses count as one network. A /24 is what one site, NAT gateway or
/// cloud subnet egresses from in IPv4; a /48 is what one site is assigned in IPv6 (a home gets a /56 or
/// /64 inside it). Finer would flag every DHCP renewal and carrier-NAT hop; coarser would merge unrelated
/// customers of one hosting provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granularity {
    pub ipv4: u8,
    pub ipv6: u8,
}

impl Default for Granularity {
    fn default() -> Self {
        Granularity { ipv4: 24, ipv6: 48 }
    }
}

impl Granularity {
    pub fn network(&self, ip: IpAddr) -> Cidr {
        Cidr::around(ip, if ip.is_ipv4() { self.ipv4 } else { self.ipv6 })
    }
}

/// AWS's published address ranges, merged into sorted, disjoint intervals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsRanges {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

#[derive(Deserialize)]
struct RangesFile {
    #[serde(default)]
    prefixes: Vec<V4Prefix>,
    #[serde(default)]
    ipv6_prefixes: Vec<V6Prefix>,
}

#[derive(Deserialize)]
struct V4Prefix {
    ip_prefix: String,
}

#[derive(Deserialize)]
struct V6Prefix {
    ipv6_prefix: String,
}

impl AwsRanges {
    /// Parses AWS's `ip-ranges.json` (`{"prefixes":[{"ip_prefix":…}],"ipv6_prefixes":[{"ipv6_prefix":…}]}`).
    /// Every service counts: the `AMAZON` entries already cover the others.
    pub fn parse(json: &str) -> Result<AwsRanges, String> {
        let file: RangesFile =
            serde_json::from_str(json).map_err(|e| format!("not AWS's ip-ranges.json format: {e}"))?;
        let mut v4 = Vec::with_capacity(file.prefixes.len());
        let mut v6 = Vec::with_capacity(file.ipv6_prefixes.len());
        for p in file.prefixes.iter().map(|p| &p.ip_prefix).chain(file.ipv6_prefixes.iter().map(|p| &p.ipv6_prefix)) {
            match Cidr::parse(p)? {
                Cidr { addr: IpAddr::V4(a), len } => {
                    let lo = u32::from(a);
                    v4.push((lo, lo | !mask32(len)));
                }
                Cidr { addr: IpAddr::V6(a), len } => {
                    let lo = u128::from(a);
                    v6.push((lo, lo | !mask128(len)));
                }
            }
        }
        if v4.is_empty() && v6.is_empty() {
            return Err("it lists no prefixes".into());
        }
        Ok(AwsRanges { v4: merge(v4), v6: merge(v6) })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, u32::from(a)),
            IpAddr::V6(a) => within(&self.v6, u128::from(a)),
        }
    }
}

fn merge<T: Ord + Copy>(mut spans: Vec<(T, T)>) -> Vec<(T, T)> {
    spans.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(spans.len());
    for (lo, hi) in spans {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn within<T: Ord + Copy>(spans: &[(T, T)], x: T) -> bool {
    // The last span starting at or before x is the only one that can hold it.
    let i = spans.partition_point(|&(lo, _)| lo <= x);
    i > 0 && x <= spans[i - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        parse_ip(s).unwrap()
    }

    #[test]
    fn addresses_and_non_addresses() {
        for (s, ok) in [
            ("104.102.221.250", true),
            ("2001:db8::1", true),
            ("::ffff:203.0.113.9", true),
            ("AWS Internal", false),
            ("aws.internal", false),
            ("lambda.amazonaws.com", false),
            ("", false),
            ("255.090.254.5", false),
        ] {
            assert_eq!(parse_ip(s).is_some(), ok, "{s}");
        }
        assert_eq!(ip("::ffff:203.0.113.9"), ip("203.0.113.9"));
    }

    #[test]
    fn networks_and_cidrs() {
        let g = Granularity::default();
        assert_eq!(g.network(ip("34.234.236.212")).to_string(), "34.234.236.0/24");
        assert_eq!(g.network(ip("2001:db8:1234:5678::1")).to_string(), "2001:db8:1234::/48");
        assert_eq!(g.network(ip("34.234.236.1")), g.network(ip("34.234.236.254")));
        assert_ne!(g.network(ip("34.234.236.1")), g.network(ip("34.234.237.1")));
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.3.4")) && !c.contains(ip("11.0.0.1")) && !c.contains(ip("2001:db8::1")));
        assert!(Cidr::parse("198.51.100.7").unwrap().contains(ip("198.51.100.7")));
        assert_eq!(Cidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "corp-vpn", "::/129", "10.0.0.0/x"] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains("203.0.113.0/24"), "{e}");
        }
    }

    #[test]
    fn aws_ranges() {
        let r = AwsRanges::parse(
            r#"{"syncToken":"1","prefixes":[{"ip_prefix":"34.224.0.0/12","region":"us-east-1","service":"AMAZON"},
            {"ip_prefix":"34.234.0.0/15","region":"us-east-1","service":"EC2"},{"ip_prefix":"3.5.140.0/22","service":"S3"}],
            "ipv6_prefixes":[{"ipv6_prefix":"2600:1f18::/33","service":"EC2"}]}"#,
        )
        .unwrap();
        assert!(r.contains(ip("34.234.236.212")));
        assert!(r.contains(ip("34.239.255.255")));
        assert!(!r.contains(ip("34.240.0.0")));
        assert!(r.contains(ip("3.5.143.1")));
        assert!(!r.contains(ip("104.102.221.250")));
        assert!(r.contains(ip("2600:1f18:4000::1")));
        assert!(!r.contains(ip("2600:1f19::1")));
        assert!(AwsRanges::parse("{}").unwrap_err().contains("no prefixes"));
        assert!(AwsRanges::parse("[1,2]").unwrap_err().contains("ip-ranges.json"));
    }
}
