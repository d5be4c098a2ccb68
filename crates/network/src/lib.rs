//! berth's container networking: network records and IPAM (`store`), the kernel plumbing
//! (`netlink`: bridges, veth pairs, addresses, routes), the firewall behind a driver trait
//! (`firewall`, `nftables`: NAT, isolation, published ports) and the embedded DNS resolver
//! (`dns`). The engine calls it around a container's start and after its exit; it knows
//! nothing about images or how containers are started.

pub mod addr;
pub mod dns;
pub mod firewall;
pub mod netlink;
pub mod nftables;
pub mod ports;
pub mod store;

pub use addr::{Ipv4Net, Ipv6Net};
pub use firewall::{Firewall, FirewallState, Protocol};
pub use ports::PortSpec;
pub use store::{CreateRequest, Endpoint, EndpointRequest, Network, Networks};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Firewall(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: getrandom into the unfilled tail of a live buffer.
        let n = unsafe { libc::getrandom(b[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable 16-hex-digit hash (FNV-1a) for names derived from paths and ids (link and table
/// names must be short; this is for uniqueness, not security).
pub fn short_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}
