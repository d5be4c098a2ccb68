//! Networks as records and their runtime state: which containers are attached, with which
//! address and published ports (the IPAM), and whether the network's bridge is up.
//!
//! Layout under `<root>/networks/`: `<id>/network.json` (what `network create` asked for,
//! never changed after) and `<id>/state.json` (endpoints and the active subnet), each written
//! atomically, and one `lock` taken around every read-change-write of any network's state.
//! A bridge comes up with its network's first endpoint and stays up, like Docker's docker0
//! (taking a bridge down costs ~35 ms of the kernel's RCU waits, too much for every `run`);
//! `network rm` and `network prune` take idle bridges down, and their rules with them.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_sys::file::{write_atomic, FileLock};
use serde::{Deserialize, Serialize};

use crate::addr::{Ipv4Net, Ipv6Net};
use crate::firewall::{ActiveNetwork, Firewall, FirewallState, PortRule, Protocol};
use crate::netlink::{self, Netlink};
use crate::ports::PortSpec;
use crate::{Error, Result};

pub const DEFAULT_NETWORK: &str = "bridge";
const VERSION: u32 = 1;
/// Bridges and subnets are host-wide, whatever the state root: activation of any berth
/// network takes this lock so two roots never pick the same free subnet.
const HOST_LOCK: &str = "/run/berth-network.lock";
/// Where `-P` and `-p PORT` find free host ports (Linux's default ephemeral range).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub version: u32,
    pub id: String,
    pub name: String,
    pub driver: String,
    pub bridge: String,
    /// `None` for the default network when it is not configured: a free subnet is chosen from
    /// the pool each time its bridge comes up.
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub created: String,
    /// Containers find each other by name (user-defined networks; not the default one, as in
    /// Docker).
    pub dns: bool,
    /// `--ipv6`: the network's v6 subnet (beside its v4 one: dual stack) and gateway.
    #[serde(default)]
    pub subnet6: Option<Ipv6Net>,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
}

impl Network {
    pub fn is_default(&self) -> bool {
        self.name == DEFAULT_NETWORK
    }
}

/// A container's attachment to a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    pub container_name: String,
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// The host end of the veth pair.
    pub veth: String,
    /// The name inside the container (`eth0`, `eth1`...).
    pub ifname: String,
    pub ports: Vec<PortSpec>,
    /// The v6 address on a dual-stack network, with the network's v6 subnet and gateway.
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub subnet6: Option<Ipv6Net>,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
}

impl Endpoint {
    /// Where each published port answers on the host, as Docker shows it: the given v4
    /// address or `0.0.0.0`, and for the latter also `::` when the container has a v6 address.
    pub fn published(&self) -> Vec<(&PortSpec, IpAddr)> {
        let mut out = Vec::new();
        for p in &self.ports {
            out.push((p, IpAddr::V4(p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED))));
            if p.host_ip.is_none() && self.ip6.is_some() {
                out.push((p, IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Active {
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct State {
    version: u32,
    active: Option<Active>,
    /// The address handed out last: the next search starts after it, so a released address
    /// (whose old veth the kernel may still be tearing down) is not reused at once.
    last_ip: Option<Ipv4Addr>,
    last_ip6: Option<Ipv6Addr>,
    /// By container id.
    endpoints: BTreeMap<String, Endpoint>,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: Option<String>,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// `--ipv6`, with `subnet6` (a random unique local /64 when `None`) and `gateway6`.
    pub ipv6: bool,
    pub subnet6: Option<Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
}

/// What a container asks of a network when it joins it.
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    pub container_id: String,
    pub container_name: String,
    pub aliases: Vec<String>,
    /// `--ip`: a fixed address (only on networks with a configured subnet, as in Docker).
    pub ip: Option<Ipv4Addr>,
    /// `--ip6`: a fixed v6 address (only on dual-stack networks).
    pub ip6: Option<Ipv6Addr>,
    pub ports: Vec<PortSpec>,
    pub ifname: String,
}

pub struct Networks {
    dir: PathBuf,
    default_bridge: Option<String>,
    firewall: Box<dyn Firewall>,
    pool: Vec<Ipv4Net>,
}

impl Networks {
    /// The networks of the state root whose network directory is `dir`. The default root's
    /// default network uses the bridge `berth0`; other roots get names derived from ids so
    /// that any number of roots share a host.
    pub fn open(
        dir: PathBuf,
        default_bridge: Option<String>,
        firewall: Box<dyn Firewall>,
        pool: Vec<Ipv4Net>,
    ) -> Result<Self> {
        fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        Ok(Self {
            dir,
            default_bridge,
            firewall,
            pool,
        })
    }

    /// The default address pool: `BERTH_SUBNET_POOL` (`BASE/PREFIX:SIZE`, e.g.
    /// `10.213.0.0/16:24`), else Docker's (172.17-31.0.0/16, then 192.168.x.0/20).
    pub fn default_pool() -> Result<Vec<Ipv4Net>> {
        match std::env::var("BERTH_SUBNET_POOL") {
            Ok(v) if !v.is_empty() => parse_pool(&v),
            _ => {
                let mut pool: Vec<Ipv4Net> = (17..=31)
                    .filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16))
                    .collect();
                pool.extend(
                    (0..16).filter_map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20)),
                );
                Ok(pool)
            }
        }
    }

    fn lock(&self) -> Result<FileLock> {
        let p = self.dir.join("lock");
        FileLock::exclusive(&p).map_err(|e| Error::io(p.display().to_string(), e))
    }

    fn net_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// All networks, the default one first (made on first use).
    pub fn list(&self) -> Result<Vec<Network>> {
        self.ensure_default()?;
        self.list_raw()
    }

    fn list_raw(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        let entries =
            fs::read_dir(&self.dir).map_err(|e| Error::io(self.dir.display().to_string(), e))?;
        for e in entries.flatten() {
            let p = e.path().join("network.json");
            let Ok(bytes) = fs::read(&p) else { continue };
            let n: Network = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
            out.push(n);
        }
        out.sort_by(|a, b| {
            (!a.is_default(), &a.created, &a.name).cmp(&(!b.is_default(), &b.created, &b.name))
        });
        Ok(out)
    }

    fn ensure_default(&self) -> Result<()> {
        if self.list_raw()?.iter().any(Network::is_default) {
            return Ok(());
        }
        let _l = self.lock()?;
        if self.list_raw()?.iter().any(Network::is_default) {
            return Ok(());
        }
        let subnet = match std::env::var("BERTH_BRIDGE_SUBNET") {
            Ok(s) if !s.is_empty() => Some(s.parse::<Ipv4Net>().map_err(Error::Invalid)?),
            _ => None,
        };
        let id = crate::hex(&crate::random_bytes::<32>());
        let bridge = self
            .default_bridge
            .clone()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        self.write_network(&Network {
            version: VERSION,
            name: DEFAULT_NETWORK.into(),
            driver: "bridge".into(),
            bridge,
            subnet,
            gateway: None,
            ip_range: None,
            internal: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            created: berth_sys::time::rfc3339(SystemTime::now()),
            dns: false,
            subnet6: None,
            gateway6: None,
            id,
        })
    }

    fn write_network(&self, n: &Network) -> Result<()> {
        let d = self.net_dir(&n.id);
        fs::create_dir_all(&d).map_err(|e| Error::io(d.display().to_string(), e))?;
        let p = d.join("network.json");
        let bytes = serde_json::to_vec_pretty(n).expect("a network serializes");
        write_atomic(&p, &bytes).map_err(|e| Error::io(p.display().to_string(), e))
    }

    /// A network by name, full id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Network> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let matches: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        match matches.as_slice() {
            [one] if !key.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(Error::NotFound(key.to_string())),
            _ => Err(Error::Invalid(format!(
                "network {key} is ambiguous ({} matches)",
                matches.len()
            ))),
        }
    }

    /// `network create`.
    pub fn create(&self, req: CreateRequest) -> Result<Network> {
        let driver = req.driver.clone().unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(Error::Invalid(format!(
                "network driver {driver:?} is not supported (only bridge)"
            )));
        }
        if !valid_name(&req.name) {
            return Err(Error::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        if ["bridge", "host", "none"].contains(&req.name.as_str()) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists (it is predefined)",
                req.name
            )));
        }
        self.ensure_default()?;
        let _l = self.lock()?;
        let existing = self.list_raw()?;
        if existing.iter().any(|n| n.name == req.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let taken: Vec<Ipv4Net> = existing
            .iter()
            .filter_map(|n| {
                n.subnet
                    .or_else(|| self.state(&n.id).ok()?.active.map(|a| a.subnet))
            })
            .collect();
        let routes = host_routes()?;
        let subnet = match req.subnet {
            Some(s) => {
                if s.prefix() > 30 {
                    return Err(Error::Invalid(format!(
                        "subnet {s} is too small for containers"
                    )));
                }
                if let Some(o) = taken.iter().find(|t| t.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({s} overlaps {o} of another berth network)"
                    )));
                }
                if let Some(r) = routes.iter().find(|r| r.dst.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "subnet {s} overlaps with {} on the host's interface {}",
                        r.dst,
                        netlink::link_name(r.oif)
                    )));
                }
                s
            }
            None => self.pick_subnet(&taken, &routes)?,
        };
        let gateway = match req.gateway {
            Some(g) if !subnet.contains(g) => {
                return Err(Error::Invalid(format!(
                    "gateway {g} is not in subnet {subnet}"
                )))
            }
            Some(g) => g,
            None => subnet.nth(1).expect("a /30 or larger has a first host"),
        };
        if let Some(r) = req.ip_range {
            if !subnet.covers(&r) {
                return Err(Error::Invalid(format!(
                    "ip range {r} is not inside subnet {subnet}"
                )));
            }
        }
        let (subnet6, gateway6) = self.v6_addressing(&req, &existing)?;
        let id = crate::hex(&crate::random_bytes::<32>());
        let n = Network {
            version: VERSION,
            bridge: format!("br-{}", &id[..12]),
            name: req.name,
            driver,
            subnet: Some(subnet),
            gateway: Some(gateway),
            ip_range: req.ip_range,
            internal: req.internal,
            labels: req.labels,
            options: req.options,
            created: berth_sys::time::rfc3339(SystemTime::now()),
            dns: true,
            subnet6,
            gateway6,
            id,
        };
        self.write_network(&n)?;
        Ok(n)
    }

    /// The v6 subnet and gateway `network create` asks for, checked against the other
    /// networks' and the host's routes.
    fn v6_addressing(
        &self,
        req: &CreateRequest,
        existing: &[Network],
    ) -> Result<(Option<Ipv6Net>, Option<Ipv6Addr>)> {
        if !req.ipv6 {
            if req.subnet6.is_some() || req.gateway6.is_some() {
                return Err(Error::Invalid(
                    "an IPv6 subnet or gateway needs --ipv6".into(),
                ));
            }
            return Ok((None, None));
        }
        let subnet = req.subnet6.unwrap_or_else(Ipv6Net::random_ula);
        if subnet.prefix() > 124 {
            return Err(Error::Invalid(format!(
                "subnet {subnet} is too small for containers"
            )));
        }
        if let Some(o) = existing
            .iter()
            .filter_map(|n| n.subnet6)
            .find(|o| o.overlaps(&subnet))
        {
            return Err(Error::Conflict(format!(
                "invalid pool request: Pool overlaps with other one on this address space ({subnet} overlaps {o} of another berth network)"
            )));
        }
        let routes = Netlink::open()
            .and_then(|mut nl| nl.routes6())
            .map_err(|e| Error::io("listing the host's routes", e))?;
        if let Some(r) = routes
            .iter()
            .find(|r| r.dst.prefix() > 0 && r.dst.overlaps(&subnet))
        {
            return Err(Error::Conflict(format!(
                "subnet {subnet} overlaps with {} on the host's interface {}",
                r.dst,
                netlink::link_name(r.oif)
            )));
        }
        let gateway = match req.gateway6 {
            Some(g) if !subnet.contains(g) => {
                return Err(Error::Invalid(format!(
                    "gateway {g} is not in subnet {subnet}"
                )))
            }
            Some(g) => g,
            None => subnet.nth(1).expect("a /124 or larger has a first host"),
        };
        Ok((Some(subnet), Some(gateway)))
    }

    fn pick_subnet(&self, taken: &[Ipv4Net], routes: &[netlink::Route4]) -> Result<Ipv4Net> {
        self.pool
            .iter()
            .find(|c| {
                !taken.iter().any(|t| t.overlaps(c)) && !routes.iter().any(|r| r.dst.overlaps(c))
            })
            .copied()
            .ok_or_else(|| {
                Error::Conflict(
                    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                )
            })
    }

    /// `network rm`: refused while containers are attached, and for the default network.
    pub fn remove(&self, key: &str) -> Result<Network> {
        let n = self.find(key)?;
        if n.is_default() {
            return Err(Error::Invalid(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        let _l = self.lock()?;
        let st = self.state(&n.id)?;
        if !st.endpoints.is_empty() {
            let names: Vec<&str> = st
                .endpoints
                .values()
                .map(|e| e.container_name.as_str())
                .collect();
            return Err(Error::Conflict(format!(
                "error while removing network: network {} has active endpoints ({})",
                n.name,
                names.join(", ")
            )));
        }
        if st.active.is_some() {
            let _ = delete_link(&n.bridge);
        }
        let d = self.net_dir(&n.id);
        // Rename first so a crash never leaves a half-deleted network that still lists.
        let trash = self.dir.join(format!(".rm-{}", n.id));
        fs::rename(&d, &trash).map_err(|e| Error::io(d.display().to_string(), e))?;
        let _ = fs::remove_dir_all(&trash);
        self.apply_firewall()?;
        Ok(n)
    }

    fn state(&self, id: &str) -> Result<State> {
        let p = self.net_dir(id).join("state.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Invalid(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                version: VERSION,
                ..Default::default()
            }),
            Err(e) => Err(Error::io(p.display().to_string(), e)),
        }
    }

    fn save_state(&self, id: &str, st: &State) -> Result<()> {
        let p = self.net_dir(id).join("state.json");
        let bytes = serde_json::to_vec(st).expect("state serializes");
        // No fsync: this state describes running containers, which a crash ends anyway; the
        // recovery sweep rebuilds it from the containers that are really alive.
        berth_sys::file::write_replace(&p, &bytes)
            .map_err(|e| Error::io(p.display().to_string(), e))
    }

    /// The endpoints of a network (for inspect and DNS).
    pub fn endpoints(&self, id: &str) -> Result<Vec<Endpoint>> {
        Ok(self.state(id)?.endpoints.into_values().collect())
    }

    /// The subnet and gateway a network has now (configured, or chosen while it is up).
    pub fn addressing(&self, n: &Network) -> Result<Option<(Ipv4Net, Ipv4Addr)>> {
        if let (Some(s), Some(g)) = (n.subnet, n.gateway) {
            return Ok(Some((s, g)));
        }
        Ok(self.state(&n.id)?.active.map(|a| (a.subnet, a.gateway)))
    }

    /// What `name` resolves to for container `container_id`: the addresses of the endpoints
    /// named so (container name, alias, or a container id prefix of 12 or more characters) on
    /// the DNS-enabled networks the container is on. Read without the lock: state files are
    /// replaced by rename, so a reader sees one whole version.
    pub fn resolve(&self, container_id: &str, name: &str) -> Vec<IpAddr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut out = Vec::new();
        for n in self.list_raw().unwrap_or_default().iter().filter(|n| n.dns) {
            let Ok(st) = self.state(&n.id) else { continue };
            if !st.endpoints.contains_key(container_id) {
                continue;
            }
            out.extend(
                st.endpoints
                    .values()
                    .filter(|e| {
                        e.container_name.eq_ignore_ascii_case(&name)
                            || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(&name))
                            || (name.len() >= 12 && e.container_id.starts_with(&name))
                    })
                    .flat_map(|e| std::iter::once(IpAddr::V4(e.ip)).chain(e.ip6.map(IpAddr::V6))),
            );
        }
        out
    }

    /// Takes an address (and host ports) for a container on `network`, bringing the network's
    /// bridge up if this is its first endpoint. The links are made by `plumb`.
    pub fn reserve(&self, network: &Network, req: &EndpointRequest) -> Result<Endpoint> {
        let _l = self.lock()?;
        let mut st = self.state(&network.id)?;
        if st.endpoints.contains_key(&req.container_id) {
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                req.container_name, network.name
            )));
        }
        let mut activated = false;
        let bridge_missing = st.active.is_some() && !link_exists(&network.bridge)?;
        let activate = st.active.is_none() || bridge_missing;
        // Host-wide: two roots never take the same free subnet, nor publish the same host
        // port (held until this root's rules are in, where the other one looks).
        let _host = if activate || !req.ports.is_empty() {
            Some(FileLock::exclusive(Path::new(HOST_LOCK)).map_err(|e| Error::io(HOST_LOCK, e))?)
        } else {
            None
        };
        if activate {
            st.active = Some(self.activate(network)?);
            activated = true;
        }
        let active = st.active.expect("active");
        let result = self.allocate(network, &st, active, req);
        let ep = match result {
            Ok(ep) => ep,
            Err(e) => {
                if activated && st.endpoints.is_empty() {
                    let _ = delete_link(&network.bridge);
                }
                return Err(e);
            }
        };
        st.endpoints.insert(req.container_id.clone(), ep.clone());
        st.last_ip = Some(ep.ip);
        if ep.ip6.is_some() {
            st.last_ip6 = ep.ip6;
        }
        self.save_state(&network.id, &st)?;
        if activated || !ep.ports.is_empty() {
            if let Err(e) = self.apply_firewall() {
                st.endpoints.remove(&req.container_id);
                if st.endpoints.is_empty() {
                    st.active = None;
                    let _ = delete_link(&network.bridge);
                }
                let _ = self.save_state(&network.id, &st);
                let _ = self.apply_firewall();
                return Err(e);
            }
        }
        Ok(ep)
    }

    fn allocate(
        &self,
        network: &Network,
        st: &State,
        active: Active,
        req: &EndpointRequest,
    ) -> Result<Endpoint> {
        let used: Vec<Ipv4Addr> = st.endpoints.values().map(|e| e.ip).collect();
        let ip = match req.ip {
            Some(ip) => {
                if network.subnet.is_none() {
                    return Err(Error::Invalid(
                        "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
                    ));
                }
                if !active.subnet.contains(ip)
                    || ip == active.subnet.addr()
                    || ip == active.subnet.broadcast()
                {
                    return Err(Error::Invalid(format!(
                        "invalid address {ip}: it is not a host address of network {} ({})",
                        network.name, active.subnet
                    )));
                }
                if ip == active.gateway || used.contains(&ip) {
                    return Err(Error::Conflict(format!(
                        "Address already in use: {ip} on network {}",
                        network.name
                    )));
                }
                ip
            }
            None => {
                let range = network.ip_range.unwrap_or(active.subnet);
                let hosts = range.size().saturating_sub(2).max(1) as u32;
                let start = st.last_ip.and_then(|ip| range.index_of(ip)).unwrap_or(0);
                (0..hosts)
                    .filter_map(|i| range.nth(1 + (start + i) % hosts))
                    .find(|ip| {
                        *ip != active.gateway
                            && *ip != active.subnet.broadcast()
                            && !used.contains(ip)
                    })
                    .ok_or_else(|| {
                        Error::Conflict(format!(
                            "no available IPv4 addresses on network {} ({range})",
                            network.name
                        ))
                    })?
            }
        };
        let ip6 = match (network.subnet6, network.gateway6, req.ip6) {
            (Some(subnet6), Some(gateway6), Some(ip6)) => {
                Some(fixed6(network, st, subnet6, gateway6, ip6)?)
            }
            (Some(subnet6), Some(gateway6), None) => {
                Some(allocate6(network, st, subnet6, gateway6)?)
            }
            (_, _, Some(ip6)) => {
                return Err(Error::Invalid(format!(
                    "invalid address {ip6}: network {} has no IPv6 subnet (create it with --ipv6)",
                    network.name
                )))
            }
            _ => None,
        };
        let ports = self.resolve_ports(&req.ports, ip6.is_some())?;
        Ok(Endpoint {
            container_id: req.container_id.clone(),
            container_name: req.container_name.clone(),
            aliases: req.aliases.clone(),
            ip,
            subnet: active.subnet,
            gateway: active.gateway,
            veth: veth_name(&req.container_id, &network.id),
            ifname: req.ifname.clone(),
            ports,
            ip6,
            subnet6: network.subnet6,
            gateway6: network.gateway6,
        })
    }

    /// Host ports for the specs: given ones checked against every port published from this
    /// root or another one and against the host's own sockets (as docker-proxy's bind would
    /// be), 0 replaced by a free ephemeral port (free on v6 too for a dual-stack container).
    /// The caller holds the host-wide lock.
    fn resolve_ports(&self, specs: &[PortSpec], dual: bool) -> Result<Vec<PortSpec>> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let mut taken: Vec<PortSpec> = Vec::new();
        for n in self.list_raw()? {
            for e in self.state(&n.id)?.endpoints.into_values() {
                taken.extend(e.ports);
            }
        }
        taken.extend(
            self.firewall
                .ports_held_elsewhere()?
                .into_iter()
                .map(|h| PortSpec {
                    host_ip: h.host_ip,
                    host_port: h.host_port,
                    container_port: 0,
                    protocol: h.protocol,
                }),
        );
        let allocated = |s: &PortSpec, why: &str| {
            Error::Conflict(format!(
                "Bind for {}:{} failed: port is already allocated{why}",
                s.host_ip.map_or("0.0.0.0".to_string(), |i| i.to_string()),
                s.host_port
            ))
        };
        let clash = |a: &PortSpec, b: &PortSpec| {
            a.protocol == b.protocol
                && a.host_port == b.host_port
                && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
        };
        let mut out: Vec<PortSpec> = Vec::new();
        for s in specs {
            let mut s = s.clone();
            if s.host_port == 0 {
                let port = EPHEMERAL
                    .clone()
                    .find(|p| {
                        let probe = PortSpec {
                            host_port: *p,
                            ..s.clone()
                        };
                        !taken.iter().chain(&out).any(|t| clash(t, &probe))
                            && host_port_free(s.protocol, s.host_ip, *p, dual)
                    })
                    .ok_or_else(|| Error::Conflict("no free host port left to publish".into()))?;
                s.host_port = port;
            } else if taken.iter().chain(&out).any(|t| clash(t, &s)) {
                return Err(allocated(&s, ""));
            } else if !host_port_free(s.protocol, s.host_ip, s.host_port, dual) {
                return Err(allocated(&s, " (a process on the host holds it)"));
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Brings the network's bridge up: subnet (configured, or the first free one of the
    /// pool), gateway address, sysctls. The caller holds the host-wide lock.
    fn activate(&self, n: &Network) -> Result<Active> {
        let mut nl = Netlink::open().map_err(|e| Error::io("opening netlink", e))?;
        // A bridge left by a crash between activation and its record: ours by name, so remove.
        if nl
            .link_index(&n.bridge)
            .map_err(|e| Error::io("netlink", e))?
            .is_some()
        {
            delete_link(&n.bridge)?;
        }
        let routes = host_routes()?;
        let subnet = match n.subnet {
            Some(s) => {
                if let Some(r) = routes.iter().find(|r| r.dst.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "network {}: subnet {s} overlaps with {} on the host's interface {}",
                        n.name,
                        r.dst,
                        netlink::link_name(r.oif)
                    )));
                }
                s
            }
            None => {
                let mut taken = Vec::new();
                for o in self.list_raw()? {
                    if o.id == n.id {
                        continue;
                    }
                    if let Some(s) = o.subnet {
                        taken.push(s);
                    }
                    if let Some(a) = self.state(&o.id)?.active {
                        taken.push(a.subnet);
                    }
                }
                self.pick_subnet(&taken, &routes)?
            }
        };
        let gateway = n
            .gateway
            .unwrap_or_else(|| subnet.nth(1).expect("a subnet has a first host"));
        let mut mac = crate::random_bytes::<6>();
        mac[0] = (mac[0] & 0xfe) | 0x02;
        let mut setup = || -> std::io::Result<()> {
            nl.run(vec![netlink::new_bridge(&n.bridge, mac, None)])?;
            let idx = nl
                .link_index(&n.bridge)?
                .ok_or_else(|| std::io::Error::other("the new bridge vanished"))?;
            let mut reqs = vec![netlink::add_addr4(idx, gateway, &subnet, &n.bridge)];
            if let (Some(s6), Some(g6)) = (n.subnet6, n.gateway6) {
                reqs.push(netlink::add_addr6(idx, g6, &s6, &n.bridge));
            }
            reqs.push(netlink::set_up(idx, &n.bridge));
            nl.run(reqs)
        };
        if let Err(e) = setup() {
            let _ = delete_link(&n.bridge);
            return Err(Error::io(format!("bringing up network {}", n.name), e));
        }
        // Published ports answer on 127.0.0.1 too: the DNAT'ed packets keep their loopback
        // source until masqueraded, which the kernel allows only with route_localnet.
        let _ = fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/route_localnet", n.bridge),
            "1",
        );
        if !n.internal {
            let p = "/proc/sys/net/ipv4/ip_forward";
            if fs::read_to_string(p)
                .map(|s| s.trim() != "1")
                .unwrap_or(true)
            {
                fs::write(p, "1").map_err(|e| Error::io("enabling IPv4 forwarding", e))?;
            }
            if n.subnet6.is_some() {
                // As Docker does for v6 networks. The host stops taking router advertisements
                // on interfaces with accept_ra=1 then; berth does not touch those.
                let p = "/proc/sys/net/ipv6/conf/all/forwarding";
                if fs::read_to_string(p)
                    .map(|s| s.trim() != "1")
                    .unwrap_or(true)
                {
                    fs::write(p, "1").map_err(|e| Error::io("enabling IPv6 forwarding", e))?;
                }
            }
        }
        Ok(Active { subnet, gateway })
    }

    /// Makes the container's side of an endpoint: a veth pair from the network's bridge into
    /// the namespace `netns`, the address, and the default route when `default_route`.
    pub fn plumb(
        &self,
        network: &Network,
        ep: &Endpoint,
        netns: BorrowedFd<'_>,
        default_route: bool,
    ) -> Result<()> {
        let ctx = |e| Error::io(format!("connecting to network {}", network.name), e);
        let mut nl = Netlink::open().map_err(ctx)?;
        let master = nl
            .link_index(&network.bridge)
            .map_err(ctx)?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "network {}: bridge {} is gone",
                    network.name, network.bridge
                ))
            })?;
        let create = |nl: &mut Netlink| {
            nl.run(vec![netlink::new_veth(
                &ep.veth,
                master,
                None,
                &ep.ifname,
                netns.as_raw_fd(),
            )])
        };
        match create(&mut nl) {
            // The name is this (container, network)'s alone: the pair of its previous run,
            // whose namespace the kernel is still tearing down. Its host end goes now.
            Err(e) if netlink::errno(&e) == Some(libc::EEXIST) => {
                // (Gone meanwhile, ENODEV, is as good.)
                let _ = nl.run(vec![netlink::delete_link(&ep.veth)]);
                create(&mut nl).map_err(ctx)?;
            }
            other => other.map_err(ctx)?,
        }
        let inside = || -> std::io::Result<()> {
            let mut ns = Netlink::in_netns(netns)?;
            let idx = ns.link_index(&ep.ifname)?.ok_or_else(|| {
                std::io::Error::other(format!("{} did not arrive in the container", ep.ifname))
            })?;
            let mut reqs = vec![netlink::add_addr4(idx, ep.ip, &ep.subnet, &ep.ifname)];
            if let (Some(ip6), Some(subnet6)) = (ep.ip6, ep.subnet6) {
                reqs.push(netlink::add_addr6(idx, ip6, &subnet6, &ep.ifname));
            }
            reqs.push(netlink::set_up(idx, &ep.ifname));
            if default_route && !network.internal {
                reqs.push(netlink::add_default_route4(ep.gateway));
                if let (Some(_), Some(gateway6)) = (ep.ip6, ep.gateway6) {
                    reqs.push(netlink::add_default_route6(gateway6));
                }
            }
            ns.run(reqs)
        };
        if let Err(e) = inside() {
            let _ = delete_link(&ep.veth);
            return Err(ctx(e));
        }
        Ok(())
    }

    /// Detaches the container from `network` (or from every network when `None`): its address
    /// and ports are freed and, with `delete_links`, its veth deleted. A container that has
    /// exited needs no deletion: the kernel removes the pair with the namespace, without
    /// making the caller wait for it. Idempotent.
    pub fn release(
        &self,
        container_id: &str,
        network: Option<&str>,
        delete_links: bool,
    ) -> Result<Vec<Endpoint>> {
        let _l = self.lock()?;
        let mut released = Vec::new();
        let mut firewall = false;
        for n in self.list_raw()? {
            if network.is_some_and(|k| k != n.id) {
                continue;
            }
            let mut st = self.state(&n.id)?;
            let Some(ep) = st.endpoints.remove(container_id) else {
                continue;
            };
            if delete_links {
                let _ = delete_link(&ep.veth);
            }
            firewall |= !ep.ports.is_empty();
            self.save_state(&n.id, &st)?;
            released.push(ep);
        }
        if firewall {
            self.apply_firewall()?;
        }
        Ok(released)
    }

    /// Frees the endpoints of containers that are no longer running (a monitor killed, a
    /// reboot). Returns how many endpoints it freed.
    pub fn sweep(&self, running: &dyn Fn(&str) -> bool) -> Result<usize> {
        let nets = self.list_raw()?;
        // Cheap check without the lock first: most commands find nothing to do.
        let stale = nets.iter().any(|n| {
            self.state(&n.id)
                .map(|s| s.endpoints.keys().any(|c| !running(c)))
                .unwrap_or(false)
        });
        if !stale {
            return Ok(0);
        }
        let _l = self.lock()?;
        let mut freed = 0;
        let mut firewall = false;
        for n in nets {
            let mut st = self.state(&n.id)?;
            let dead: Vec<String> = st
                .endpoints
                .keys()
                .filter(|c| !running(c))
                .cloned()
                .collect();
            if dead.is_empty() {
                continue;
            }
            for c in dead {
                if let Some(ep) = st.endpoints.remove(&c) {
                    let _ = delete_link(&ep.veth);
                    firewall |= !ep.ports.is_empty();
                    freed += 1;
                }
            }
            self.save_state(&n.id, &st)?;
        }
        if firewall {
            self.apply_firewall()?;
        }
        Ok(freed)
    }

    /// Takes down the bridges of networks without endpoints (the default one included: it
    /// comes back with its next container), and their rules. Returns their names.
    pub fn prune_idle(&self) -> Result<Vec<String>> {
        let _l = self.lock()?;
        let mut down = Vec::new();
        for n in self.list_raw()? {
            let mut st = self.state(&n.id)?;
            if st.active.is_none() || !st.endpoints.is_empty() {
                continue;
            }
            delete_link(&n.bridge)?;
            st.active = None;
            self.save_state(&n.id, &st)?;
            down.push(n.name);
        }
        if !down.is_empty() {
            self.apply_firewall()?;
        }
        Ok(down)
    }

    /// What the firewall must hold for this root, from the records.
    fn firewall_state(&self) -> Result<FirewallState> {
        let mut fw = FirewallState::default();
        for n in self.list_raw()? {
            let st = self.state(&n.id)?;
            let Some(a) = st.active else { continue };
            fw.networks.push(ActiveNetwork {
                bridge: n.bridge.clone(),
                subnet: a.subnet,
                subnet6: n.subnet6,
                internal: n.internal,
            });
            for e in st.endpoints.values() {
                for p in &e.ports {
                    fw.ports.push(PortRule {
                        protocol: p.protocol,
                        host_ip: p.host_ip,
                        host_port: p.host_port,
                        container_ip: e.ip,
                        container_ip6: e.ip6,
                        container_port: p.container_port,
                    });
                }
            }
        }
        Ok(fw)
    }

    fn apply_firewall(&self) -> Result<()> {
        let st = self.firewall_state()?;
        self.firewall.apply(&st)
    }
}

/// `--ip6`: `ip` if it is a host address of the subnet nobody holds.
fn fixed6(
    network: &Network,
    st: &State,
    subnet: Ipv6Net,
    gateway: Ipv6Addr,
    ip: Ipv6Addr,
) -> Result<Ipv6Addr> {
    // Index 0 is the subnet-router anycast address, no host's.
    if !subnet.contains(ip) || subnet.index_of(ip) == Some(0) {
        return Err(Error::Invalid(format!(
            "invalid address {ip}: it is not a host address of network {} ({subnet})",
            network.name
        )));
    }
    if ip == gateway || st.endpoints.values().any(|e| e.ip6 == Some(ip)) {
        return Err(Error::Conflict(format!(
            "Address already in use: {ip} on network {}",
            network.name
        )));
    }
    Ok(ip)
}

/// The next free v6 address of `network` after the last one handed out (round-robin, as for
/// v4); the subnet-router anycast address (index 0) and the gateway are never given.
fn allocate6(
    network: &Network,
    st: &State,
    subnet: Ipv6Net,
    gateway: Ipv6Addr,
) -> Result<Ipv6Addr> {
    let used: Vec<Ipv6Addr> = st.endpoints.values().filter_map(|e| e.ip6).collect();
    let size: u128 = if subnet.prefix() == 0 {
        u128::MAX
    } else {
        1u128 << (128 - u32::from(subnet.prefix()))
    };
    let start = st.last_ip6.and_then(|ip| subnet.index_of(ip)).unwrap_or(1);
    // At most every endpoint plus the gateway can be in the way.
    (1..=used.len() as u128 + 3)
        .map(|i| (start + i) % size)
        .filter(|i| *i != 0)
        .filter_map(|i| subnet.nth(i))
        .find(|ip| *ip != gateway && !used.contains(ip))
        .ok_or_else(|| {
            Error::Conflict(format!(
                "no available IPv6 addresses on network {} ({subnet})",
                network.name
            ))
        })
}

/// `BASE/PREFIX:SIZE`: the subnets of size `/SIZE` in `BASE/PREFIX`.
fn parse_pool(v: &str) -> Result<Vec<Ipv4Net>> {
    let bad = || {
        Error::Invalid(format!(
            "subnet pool {v:?}: want BASE/PREFIX:SIZE, e.g. 10.213.0.0/16:24"
        ))
    };
    let (base, size) = v.split_once(':').ok_or_else(bad)?;
    let base: Ipv4Net = base.parse().map_err(|_| bad())?;
    let size: u8 = size.parse().map_err(|_| bad())?;
    if size < base.prefix() || size > 30 {
        return Err(bad());
    }
    let step = 1u32 << (32 - u32::from(size));
    let count = 1u64 << (size - base.prefix());
    Ok((0..count.min(4096) as u32)
        .filter_map(|i| Ipv4Net::new(Ipv4Addr::from(u32::from(base.addr()) + i * step), size))
        .collect())
}

fn valid_name(n: &str) -> bool {
    let mut b = n.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

/// The host end of a container's veth on a network: unique per (container, network) and
/// within the kernel's 15 bytes.
fn veth_name(container_id: &str, network_id: &str) -> String {
    let h = crate::short_hash(format!("{container_id}/{network_id}").as_bytes());
    format!("vb{}", &h[..12])
}

fn host_routes() -> Result<Vec<netlink::Route4>> {
    Netlink::open()
        .and_then(|mut nl| nl.routes4())
        .map_err(|e| Error::io("listing the host's routes", e))
        .map(|r| r.into_iter().filter(|r| r.dst.prefix() > 0).collect())
}

fn link_exists(name: &str) -> Result<bool> {
    Netlink::open()
        .and_then(|mut nl| nl.link_index(name))
        .map(|i| i.is_some())
        .map_err(|e| Error::io("netlink", e))
}

fn delete_link(name: &str) -> Result<()> {
    let mut nl = Netlink::open().map_err(|e| Error::io("opening netlink", e))?;
    match nl.run(vec![netlink::delete_link(name)]) {
        Err(e) if netlink::errno(&e) != Some(libc::ENODEV) => {
            Err(Error::io(format!("deleting link {name}"), e))
        }
        _ => Ok(()),
    }
}

/// Whether nothing on the host listens on the port (a published port must not shadow a host
/// service); `dual`: a port on every address is also published on v6, so `[::]` is tried
/// (which, without bindv6only, also covers every v4 address).
fn host_port_free(proto: Protocol, ip: Option<Ipv4Addr>, port: u16, dual: bool) -> bool {
    let addr = match ip {
        None if dual => std::net::SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        ip => std::net::SocketAddr::from((ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port)),
    };
    match proto {
        Protocol::Tcp => std::net::TcpListener::bind(addr).is_ok(),
        Protocol::Udp => std::net::UdpSocket::bind(addr).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_veths() {
        assert!(valid_name("my-net_1.x"));
        assert!(!valid_name("-x") && !valid_name("") && !valid_name("a/b"));
        let v = veth_name(&"a".repeat(64), &"b".repeat(64));
        assert!(netlink::valid_link_name(&v), "{v}");
        assert_ne!(v, veth_name(&"a".repeat(64), &"c".repeat(64)));
    }

    #[test]
    fn pools() {
        let p = parse_pool("10.213.0.0/16:24").unwrap();
        assert_eq!(p.len(), 256);
        assert_eq!(p[1].to_string(), "10.213.1.0/24");
        assert!(parse_pool("10.213.0.0/24:16").is_err());
        assert!(parse_pool("10.213.0.0/16").is_err());
    }
}
