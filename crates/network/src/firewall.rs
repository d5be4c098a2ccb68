//! What the firewall must hold, as data, and the driver trait that puts it in the kernel.
//!
//! The state is computed from the networks' records every time it changes and applied whole:
//! a driver replaces its own rules atomically, so a crash between two commands never leaves
//! half a rule set, and the next change (or the recovery sweep) puts the truth back.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::addr::{Ipv4Net, Ipv6Net};
use crate::Result;

/// An active network: its bridge is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveNetwork {
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// Dual-stack networks' v6 subnet.
    pub subnet6: Option<Ipv6Net>,
    pub internal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// A published port: traffic to the host's `host_ip:host_port` (any local address when
/// `host_ip` is `None`) goes to `container_ip:container_port`; with `host_ip` `None` and a
/// container on a dual-stack network, traffic to the host's v6 addresses goes to
/// `[container_ip6]:container_port` too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub protocol: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_ip6: Option<Ipv6Addr>,
    pub container_port: u16,
}

/// A host port some other owner's rules publish (`host_ip` `None`: on every address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldPort {
    pub protocol: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallState {
    pub networks: Vec<ActiveNetwork>,
    pub ports: Vec<PortRule>,
}

/// Puts a `FirewallState` in the kernel. Implementations own one named table (or chain set)
/// and never touch rules they did not make.
pub trait Firewall: Send + Sync {
    /// Replaces everything this driver installed with `state`; an empty state removes it all.
    fn apply(&self, state: &FirewallState) -> Result<()>;
    /// The driver's name, for `info` and errors.
    fn name(&self) -> &'static str;
    /// The host ports that drivers of the same kind for other state roots publish now: as
    /// nothing binds a published port, this is how two roots keep from shadowing each other.
    fn ports_held_elsewhere(&self) -> Result<Vec<HeldPort>> {
        Ok(Vec::new())
    }
}
