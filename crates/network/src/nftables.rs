//! The nftables firewall driver: one table of berth's own (`inet berth`, or one per state root),
//! replaced in a single `nft -f` transaction. Verdicts in berth's table cannot override drops
//! in the host's own tables, so publishing a port never silently opens a hole the host's
//! firewall closes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::firewall::{Firewall, FirewallState, HeldPort, Protocol};
use crate::{Error, Result};

pub struct Nftables {
    table: String,
}

impl Nftables {
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
        }
    }

    /// The `nft` script that makes the table hold exactly `state`.
    pub fn script(&self, state: &FirewallState) -> String {
        let t = &self.table;
        // `add` then `delete` makes the delete valid whether or not the table exists.
        let mut s = format!("add table inet {t}\ndelete table inet {t}\n");
        if state.networks.is_empty() {
            return s;
        }
        let _ = writeln!(s, "table inet {t} {{");
        s.push_str("  chain forward {\n    type filter hook forward priority 0; policy accept;\n");
        for n in &state.networks {
            let b = &n.bridge;
            if n.internal {
                let _ = writeln!(s, "    iifname \"{b}\" oifname != \"{b}\" drop");
                let _ = writeln!(s, "    oifname \"{b}\" iifname != \"{b}\" drop");
                continue;
            }
            let others: Vec<String> = state
                .networks
                .iter()
                .filter(|o| o.bridge != *b)
                .map(|o| format!("\"{}\"", o.bridge))
                .collect();
            if !others.is_empty() {
                // Networks are isolated from each other, as in Docker.
                let _ = writeln!(
                    s,
                    "    iifname \"{b}\" oifname {{ {} }} drop",
                    others.join(", ")
                );
            }
        }
        s.push_str("  }\n");
        let mut dnat = String::new();
        for p in &state.ports {
            let proto = p.protocol.name();
            let dst = match p.host_ip {
                Some(ip) => format!("ip daddr {ip}"),
                None => "meta nfproto ipv4 fib daddr type local".to_string(),
            };
            let _ = writeln!(
                dnat,
                "    {dst} {proto} dport {} dnat ip to {}:{}",
                p.host_port, p.container_ip, p.container_port
            );
            if let (None, Some(ip6)) = (p.host_ip, p.container_ip6) {
                // Not from ::1: IPv6 has no route_localnet, the answer to a loopback source
                // arriving from the bridge is dropped; leaving ::1 alone gives the client a
                // refusal instead of a hang.
                let _ = writeln!(
                    dnat,
                    "    meta nfproto ipv6 fib daddr type local ip6 daddr != ::1 {proto} dport {} dnat ip6 to [{ip6}]:{}",
                    p.host_port, p.container_port
                );
            }
        }
        for (chain, hook) in [("prerouting", "prerouting"), ("output", "output")] {
            let _ = writeln!(
                s,
                "  chain {chain} {{\n    type nat hook {hook} priority -100; policy accept;\n{dnat}  }}"
            );
        }
        s.push_str(
            "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n",
        );
        for n in &state.networks {
            let b = &n.bridge;
            if !n.internal {
                let _ = writeln!(s, "    ip saddr {} oifname != \"{b}\" masquerade", n.subnet);
                if let Some(s6) = n.subnet6 {
                    let _ = writeln!(s, "    ip6 saddr {s6} oifname != \"{b}\" masquerade");
                }
            }
            // Connections from the host to 127.0.0.1:port leave with a loopback source, which
            // the container could not answer.
            let _ = writeln!(s, "    ip saddr 127.0.0.0/8 oifname \"{b}\" masquerade");
        }
        s.push_str("  }\n}\n");
        s
    }
}

impl Firewall for Nftables {
    fn apply(&self, state: &FirewallState) -> Result<()> {
        let script = self.script(state);
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::Firewall(format!(
                    "running nft (is the nftables package installed?): {e}"
                ))
            })?;
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(script.as_bytes())
            .map_err(|e| Error::Firewall(format!("writing the nft script: {e}")))?;
        let out = child
            .wait_with_output()
            .map_err(|e| Error::Firewall(format!("waiting for nft: {e}")))?;
        if !out.status.success() {
            return Err(Error::Firewall(format!(
                "nft refused berth's rules for table inet {}: {}",
                self.table,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "nftables"
    }

    fn ports_held_elsewhere(&self) -> Result<Vec<HeldPort>> {
        let out = Command::new("nft")
            .args(["list", "ruleset", "inet"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::Firewall(format!("running nft: {e}")))?;
        if !out.status.success() {
            return Err(Error::Firewall(format!(
                "nft list ruleset: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(held_ports(
            &String::from_utf8_lossy(&out.stdout),
            &self.table,
        ))
    }
}

/// The DNAT rules in the prerouting chains of berth's tables (`berth`, `berth_*`) other than
/// `own`, from `nft list ruleset`'s text: the v4 rule of each published port (a v6 one only
/// ever comes beside it).
fn held_ports(ruleset: &str, own: &str) -> Vec<HeldPort> {
    let mut out = Vec::new();
    let mut table_is_other_berth = false;
    let mut in_prerouting = false;
    for line in ruleset.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["table", "inet", name, "{"] => {
                table_is_other_berth =
                    *name != own && (*name == "berth" || name.starts_with("berth_"));
                in_prerouting = false;
            }
            ["chain", name, "{"] => in_prerouting = *name == "prerouting",
            _ if table_is_other_berth && in_prerouting && words.contains(&"dnat") => {
                if words.windows(2).any(|w| w == ["dnat", "ip6"]) {
                    continue;
                }
                let Some(i) = words.iter().position(|w| *w == "dport") else {
                    continue;
                };
                let protocol = match words.get(i.wrapping_sub(1)) {
                    Some(&"tcp") => Protocol::Tcp,
                    Some(&"udp") => Protocol::Udp,
                    _ => continue,
                };
                let Some(Ok(host_port)) = words.get(i + 1).map(|p| p.parse::<u16>()) else {
                    continue;
                };
                let host_ip = words
                    .windows(3)
                    .find(|w| w[0] == "ip" && w[1] == "daddr")
                    .and_then(|w| w[2].parse().ok());
                out.push(HeldPort {
                    protocol,
                    host_ip,
                    host_port,
                });
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{ActiveNetwork, PortRule, Protocol};

    #[test]
    fn ports_of_other_roots_tables_are_found() {
        let ruleset = "table inet berth_aaaaaaaaaa {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 fib daddr type local tcp dport 18080 dnat ip to 10.1.0.2:80
		meta nfproto ipv6 fib daddr type local ip6 daddr != ::1 tcp dport 18080 dnat ip6 to [fd42::2]:80
		ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.1.0.3:53
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr 127.0.0.1 udp dport 9999 dnat ip to 10.1.0.3:53
	}
}
table inet berth_bbbbbbbbbb {
	chain prerouting {
		ip daddr 127.0.0.1 tcp dport 7777 dnat ip to 10.2.0.2:80
	}
}
table inet firewalld {
	chain prerouting {
		tcp dport 8888 dnat ip to 10.9.0.2:80
	}
}
";
        let held = held_ports(ruleset, "berth_bbbbbbbbbb");
        assert_eq!(
            held,
            vec![
                HeldPort {
                    protocol: Protocol::Tcp,
                    host_ip: None,
                    host_port: 18080
                },
                HeldPort {
                    protocol: Protocol::Udp,
                    host_ip: Some("127.0.0.1".parse().unwrap()),
                    host_port: 5353
                },
            ]
        );
    }

    #[test]
    fn empty_state_only_deletes_the_table() {
        let s = Nftables::new("berth_t").script(&FirewallState::default());
        assert_eq!(s, "add table inet berth_t\ndelete table inet berth_t\n");
    }

    #[test]
    fn script_isolates_masquerades_and_publishes() {
        let state = FirewallState {
            networks: vec![
                ActiveNetwork {
                    bridge: "br-a".into(),
                    subnet: "10.1.0.0/24".parse().unwrap(),
                    subnet6: Some("fd42:b3e7:1::/64".parse().unwrap()),
                    internal: false,
                },
                ActiveNetwork {
                    bridge: "br-b".into(),
                    subnet: "10.2.0.0/24".parse().unwrap(),
                    subnet6: Some("fd42:b3e7:2::/64".parse().unwrap()),
                    internal: true,
                },
            ],
            ports: vec![PortRule {
                protocol: Protocol::Tcp,
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 18080,
                container_ip: "10.1.0.2".parse().unwrap(),
                container_ip6: Some("fd42:b3e7:1::2".parse().unwrap()),
                container_port: 80,
            }],
        };
        let s = Nftables::new("berth").script(&state);
        assert!(
            s.contains("iifname \"br-a\" oifname { \"br-b\" } drop"),
            "{s}"
        );
        assert!(
            s.contains("iifname \"br-b\" oifname != \"br-b\" drop"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 10.1.0.0/24 oifname != \"br-a\" masquerade"),
            "{s}"
        );
        assert!(
            s.contains("ip6 saddr fd42:b3e7:1::/64 oifname != \"br-a\" masquerade"),
            "{s}"
        );
        assert!(
            !s.contains("ip saddr 10.2.0.0/24") && !s.contains("fd42:b3e7:2::"),
            "internal networks get no NAT: {s}"
        );
        assert_eq!(
            s.matches("ip daddr 127.0.0.1 tcp dport 18080 dnat ip to 10.1.0.2:80")
                .count(),
            2
        );
        assert!(!s.contains("dnat ip6"), "a v4 host address is v4 only: {s}");
    }

    #[test]
    fn a_port_on_every_address_of_a_dual_stack_container_is_published_on_v6_too() {
        let rule = |container_ip6| PortRule {
            protocol: Protocol::Udp,
            host_ip: None,
            host_port: 5353,
            container_ip: "10.1.0.2".parse().unwrap(),
            container_ip6,
            container_port: 53,
        };
        let state = |p| FirewallState {
            networks: vec![ActiveNetwork {
                bridge: "br-a".into(),
                subnet: "10.1.0.0/24".parse().unwrap(),
                subnet6: Some("fd42:b3e7:1::/64".parse().unwrap()),
                internal: false,
            }],
            ports: vec![p],
        };
        let s =
            Nftables::new("berth").script(&state(rule(Some("fd42:b3e7:1::2".parse().unwrap()))));
        assert_eq!(
            s.matches(
                "meta nfproto ipv4 fib daddr type local udp dport 5353 dnat ip to 10.1.0.2:53"
            )
            .count(),
            2,
            "{s}"
        );
        assert_eq!(
            s.matches("meta nfproto ipv6 fib daddr type local ip6 daddr != ::1 udp dport 5353 dnat ip6 to [fd42:b3e7:1::2]:53")
                .count(),
            2,
            "{s}"
        );
        let s = Nftables::new("berth").script(&state(rule(None)));
        assert!(!s.contains("ipv6"), "{s}");
    }
}
