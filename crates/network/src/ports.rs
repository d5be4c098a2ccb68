//! `-p`/`--publish` as data: `[hostIP:][hostPort[-end]:]containerPort[-end][/proto]`.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::firewall::Protocol;
use crate::{Error, Result};

/// One published port after parsing (ranges are expanded); `host_port` 0 asks for any free port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortSpec {
    /// Parses one `-p` value into one spec per port of its range.
    pub fn parse(s: &str) -> Result<Vec<PortSpec>> {
        let bad = |why: &str| Error::Invalid(format!("invalid publish spec {s:?}: {why}"));
        let (rest, protocol) = match s.rsplit_once('/') {
            Some((r, "tcp")) => (r, Protocol::Tcp),
            Some((r, "udp")) => (r, Protocol::Udp),
            Some((_, p)) => return Err(bad(&format!("unsupported protocol {p:?} (tcp or udp)"))),
            None => (s, Protocol::Tcp),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, container) = match parts.as_slice() {
            [c] => (None, "", *c),
            [h, c] => (None, *h, *c),
            [ip, h, c] => (Some(*ip), *h, *c),
            _ => {
                return Err(bad(
                    "too many colons (IPv6 host addresses are not supported)",
                ))
            }
        };
        let host_ip = match ip {
            None | Some("") | Some("0.0.0.0") => None,
            Some(ip) => Some(
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| bad(&format!("{ip:?} is not an IPv4 address")))?,
            ),
        };
        let (c_lo, c_hi) = range(container).ok_or_else(|| bad("bad container port"))?;
        let (h_lo, h_hi) = if host.is_empty() {
            (0, 0)
        } else {
            range(host).ok_or_else(|| bad("bad host port"))?
        };
        let count = c_hi - c_lo;
        if host.is_empty() || (h_hi - h_lo == count) {
            Ok((0..=count)
                .map(|i| PortSpec {
                    host_ip,
                    host_port: if host.is_empty() { 0 } else { h_lo + i },
                    container_port: c_lo + i,
                    protocol,
                })
                .collect())
        } else if count == 0 {
            // `8000-8010:80`: any one free host port of the range (Docker's meaning); berth
            // takes the first one free at start.
            Err(bad(
                "a host port range for a single container port is not supported",
            ))
        } else {
            Err(bad("host and container port ranges differ in size"))
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol.name())
    }
}

fn range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
        None => {
            let p = s.parse::<u16>().ok()?;
            (p, p)
        }
    };
    (lo > 0 && hi >= lo).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = PortSpec::parse("127.0.0.1:18080:80").unwrap();
        assert_eq!(
            p,
            vec![PortSpec {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 18080,
                container_port: 80,
                protocol: Protocol::Tcp
            }]
        );
        assert_eq!(PortSpec::parse("53/udp").unwrap()[0].host_port, 0);
        assert_eq!(
            PortSpec::parse("53/udp").unwrap()[0].protocol,
            Protocol::Udp
        );
        let r = PortSpec::parse("9000-9002:7000-7002").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[2].host_port, r[2].container_port), (9002, 7002));
        assert!(PortSpec::parse("80/sctp").is_err());
        assert!(PortSpec::parse("x:80").is_err());
        assert!(PortSpec::parse("9000-9001:80-82").is_err());
        assert!(PortSpec::parse("0").is_err());
    }
}
