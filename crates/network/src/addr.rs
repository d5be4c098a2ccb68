//! IPv4 and IPv6 subnets as values: parsing, containment, overlap and the n-th address.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 network (`10.88.0.0/16`); the address is stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }

    /// Whether `other` lies wholly inside this network.
    pub fn covers(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The `n`-th address of the network (0 is the network address itself).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        (u64::from(n) < self.size()).then(|| Ipv4Addr::from(u32::from(self.addr) + n))
    }

    /// The index of `ip` in the network.
    pub fn index_of(&self, ip: Ipv4Addr) -> Option<u32> {
        self.contains(ip)
            .then(|| u32::from(ip) - u32::from(self.addr))
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid subnet {s:?}: want an IPv4 CIDR such as 10.89.0.0/24");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Self::new(addr, prefix).ok_or_else(bad)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv6 network (`fd42:b3e7::/64`); the address is stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Net {
    addr: Ipv6Addr,
    prefix: u8,
}

impl Ipv6Net {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Option<Self> {
        (prefix <= 128).then(|| Self {
            addr: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        })
    }

    /// A unique local /64 (RFC 4193: fd00::/8 and 40 random bits), for `--ipv6` without a
    /// v6 subnet.
    pub fn random_ula() -> Self {
        let r = crate::random_bytes::<5>();
        let mut o = [0u8; 16];
        o[0] = 0xfd;
        o[1..6].copy_from_slice(&r);
        Self::new(Ipv6Addr::from(o), 64).expect("64 is a valid prefix")
    }

    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask6(self.prefix) == u128::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv6Net) -> bool {
        let p = self.prefix.min(other.prefix);
        u128::from(self.addr) & mask6(p) == u128::from(other.addr) & mask6(p)
    }

    /// The `n`-th address of the network (0 is the subnet-router anycast address).
    pub fn nth(&self, n: u128) -> Option<Ipv6Addr> {
        (self.prefix == 0 || n >> (128 - u32::from(self.prefix)) == 0)
            .then(|| Ipv6Addr::from(u128::from(self.addr) + n))
    }

    pub fn index_of(&self, ip: Ipv6Addr) -> Option<u128> {
        self.contains(ip)
            .then(|| u128::from(ip) - u128::from(self.addr))
    }
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv6Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid subnet {s:?}: want an IPv6 CIDR such as fd42:b3e7::/64");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Self::new(addr, prefix).ok_or_else(bad)
    }
}

impl Serialize for Ipv6Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv6Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_rejects() {
        let n: Ipv4Net = "10.88.3.7/16".parse().unwrap();
        assert_eq!(n.to_string(), "10.88.0.0/16");
        assert!("10.88.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.88.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("nonsense/8".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn overlap_contain_nth() {
        let a: Ipv4Net = "172.18.0.0/16".parse().unwrap();
        let b: Ipv4Net = "172.18.5.0/24".parse().unwrap();
        let c: Ipv4Net = "172.19.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(a.covers(&b) && !b.covers(&a));
        assert_eq!(b.nth(1), Some(Ipv4Addr::new(172, 18, 5, 1)));
        assert_eq!(b.nth(256), None);
        assert_eq!(b.broadcast(), Ipv4Addr::new(172, 18, 5, 255));
        assert_eq!(b.index_of(Ipv4Addr::new(172, 18, 5, 9)), Some(9));
        assert_eq!(b.index_of(Ipv4Addr::new(172, 18, 6, 9)), None);
    }

    #[test]
    fn v6_parse_overlap_nth() {
        let n: Ipv6Net = "fd42:b3e7:1::7/64".parse().unwrap();
        assert_eq!(n.to_string(), "fd42:b3e7:1::/64");
        assert!("fd42::/129".parse::<Ipv6Net>().is_err());
        assert!("10.0.0.0/8".parse::<Ipv6Net>().is_err());
        let wide: Ipv6Net = "fd42:b3e7::/32".parse().unwrap();
        let other: Ipv6Net = "fd42:b3e8::/64".parse().unwrap();
        assert!(wide.overlaps(&n) && n.overlaps(&wide) && !wide.overlaps(&other));
        assert_eq!(n.nth(2), Some("fd42:b3e7:1::2".parse().unwrap()));
        assert_eq!(n.nth(1 << 64), None);
        let small: Ipv6Net = "fd42:b3e7::/126".parse().unwrap();
        assert_eq!(small.nth(3), Some("fd42:b3e7::3".parse().unwrap()));
        assert_eq!(small.nth(4), None);
        assert_eq!(n.index_of("fd42:b3e7:1::a".parse().unwrap()), Some(10));
        let ula = Ipv6Net::random_ula();
        assert_eq!((ula.addr().octets()[0], ula.prefix()), (0xfd, 64));
    }
}
