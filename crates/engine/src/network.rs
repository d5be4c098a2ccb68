//! The engine's side of networking. Before a container's bundle is written its addresses and
//! host ports are reserved (so /etc/hosts can name them); between the runtime's create and
//! start the links go into its namespace (loopback is up already: the runtime's init brings it
//! up) and, on user-defined networks, the embedded DNS resolver starts (in the monitor; for a
//! running container that joins one later, in a process of its own); after it exits (or when it
//! is removed, or found dead) its endpoints are released. `berth-network` does the work; this
//! module decides what to ask.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_network::dns::{DnsServer, DnsSockets};
use berth_network::nftables::Nftables;
use berth_network::{Endpoint, EndpointRequest, Network, Networks, PortSpec};

use crate::config::{NetworkAttach, NetworkMode};
use crate::error::{Error, Result};
use crate::paths::{Paths, DEFAULT_ROOT};
use crate::record::{alive, ContainerRecord, Status};
use crate::Engine;

impl From<berth_network::Error> for Error {
    fn from(e: berth_network::Error) -> Self {
        match e {
            berth_network::Error::Conflict(m) => Error::Conflict(m),
            berth_network::Error::Invalid(m) => Error::Invalid(m),
            other => Error::Other(other.to_string()),
        }
    }
}

/// A network and the container's endpoint on it.
#[derive(Debug, Clone)]
pub struct Attached {
    pub network: Network,
    pub endpoint: Endpoint,
}

/// The networks of a state root. The default root's default bridge is `berth0` and its rules
/// live in `table inet berth`; any other root gets names of its own, so test roots and
/// production never share a link or a rule.
pub fn open(paths: &Paths) -> Result<Networks> {
    let default_root = paths.root() == Path::new(DEFAULT_ROOT);
    Ok(Networks::open(
        paths.root().join("networks"),
        default_root.then(|| "berth0".to_string()),
        Box::new(Nftables::new(table_name(paths.root()))),
        Networks::default_pool()?,
    )?)
}

/// The nft table name a state root's rules live in (for tests and `info`).
pub fn table_name(root: &Path) -> String {
    if root == Path::new(DEFAULT_ROOT) {
        "berth".into()
    } else {
        let h = berth_network::short_hash(root.as_os_str().as_encoded_bytes());
        format!("berth_{}", &h[..10])
    }
}

impl Engine {
    /// The ports a container publishes: `-p` plus, with `-P`, every EXPOSEd port.
    fn published(&self, rec: &ContainerRecord) -> Result<Vec<PortSpec>> {
        let mut out = rec.config.publish.clone();
        if rec.config.publish_all {
            for key in rec.image_config.exposed_ports.iter().flat_map(|m| m.keys()) {
                for spec in PortSpec::parse(key)? {
                    if !out.iter().any(|p| p.key() == spec.key()) {
                        out.push(spec);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Reserves the container's endpoints (addresses, host ports), bringing bridges up.
    pub(crate) fn reserve_networks(&self, rec: &ContainerRecord) -> Result<Vec<Attached>> {
        let NetworkMode::Networks(list) = &rec.config.network else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Attached> = Vec::new();
        let ports = self.published(rec)?;
        if !ports.is_empty() {
            // Host ports held by a container whose monitor was killed are free again.
            let _ = self.sweep_networks();
        }
        for (i, a) in list.iter().enumerate() {
            match self.reserve_one(rec, a, if i == 0 { ports.clone() } else { Vec::new() }, i) {
                Ok(att) => out.push(att),
                Err(e) => {
                    let _ = self.networks.release(&rec.id, None, true);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn reserve_one(
        &self,
        rec: &ContainerRecord,
        a: &NetworkAttach,
        ports: Vec<PortSpec>,
        index: usize,
    ) -> Result<Attached> {
        let network = self.find_network(&a.network)?;
        let mut aliases = a.aliases.clone();
        if network.dns {
            // Docker answers a container's short id on user-defined networks too.
            aliases.push(rec.short_id().to_string());
        }
        let endpoint = self.networks.reserve(
            &network,
            &EndpointRequest {
                container_id: rec.id.clone(),
                container_name: rec.name.clone(),
                aliases,
                ip: a.ip,
                ip6: a.ip6,
                ports,
                ifname: format!("eth{index}"),
            },
        )?;
        Ok(Attached { network, endpoint })
    }

    pub fn find_network(&self, key: &str) -> Result<Network> {
        self.networks.find(key).map_err(|e| match e {
            berth_network::Error::NotFound(n) => Error::Invalid(format!("network {n} not found")),
            other => other.into(),
        })
    }

    /// After the runtime's create, before start: the veth pairs into the container's
    /// namespace (loopback is already up: the runtime brings it up in every network namespace
    /// it makes, as runc does), and the DNS resolver's sockets for a container on a network
    /// with DNS (user-defined ones). One only on the default bridge (whose resolv.conf names
    /// the host's resolvers) gets no resolver, as with Docker, so that its monitor can become
    /// the small relay program; should it join a user-defined network later, `connect` starts
    /// one ([`Engine::ensure_resolver`]).
    pub(crate) fn plumb_networks(
        &self,
        rec: &ContainerRecord,
        attached: &[Attached],
        pid: i32,
    ) -> Result<Option<DnsSockets>> {
        // `--network none`: nothing to add to the namespace.
        if !matches!(rec.config.network, NetworkMode::Networks(_)) {
            return Ok(None);
        }
        let ns = open_netns(pid)?;
        for (i, a) in attached.iter().enumerate() {
            self.networks
                .plumb(&a.network, &a.endpoint, ns.as_fd(), i == 0)?;
        }
        if !attached.iter().any(|a| a.network.dns) {
            return Ok(None);
        }
        let socks = berth_network::dns::bind_in(ns.as_fd())
            .map_err(|e| Error::Other(format!("starting the container's DNS resolver: {e}")))?;
        Ok(Some(socks))
    }

    /// The embedded DNS of container `id` on `sock`, served from a thread of the caller (the
    /// monitor): names of containers on the container's DNS networks, the rest forwarded.
    pub(crate) fn serve_dns(&self, id: &str, socks: DnsSockets) -> Result<DnsServer> {
        let networks = Arc::new(open(&self.paths)?);
        let id = id.to_string();
        let resolver: Arc<berth_network::dns::Resolver> =
            Arc::new(move |name: &str| networks.resolve(&id, name));
        DnsServer::spawn(socks, resolver, berth_network::dns::host_upstreams())
            .map_err(|e| Error::Other(format!("starting the container's DNS resolver: {e}")))
    }

    /// Frees every endpoint of container `id` (idempotent). `exited`: its namespace is gone
    /// or going, and the kernel removes its veths with it.
    pub fn release_networks(&self, id: &str, exited: bool) {
        let _ = self.networks.release(id, None, !exited);
    }

    /// Frees endpoints of containers that are not running any more (a killed monitor, a
    /// reboot) and takes down unused bridges.
    pub fn sweep_networks(&self) -> Result<usize> {
        let running = |id: &str| {
            self.containers.load(id).is_ok_and(|r| {
                matches!(
                    r.observed_status(),
                    Status::Running | Status::Paused | Status::Restarting
                )
            })
        };
        Ok(self.networks.sweep(&running)?)
    }

    /// The container's endpoints, by network name (for inspect and `port`).
    pub fn container_endpoints(&self, id: &str) -> Result<Vec<Attached>> {
        let mut out = Vec::new();
        for n in self.networks.list()? {
            if let Some(e) = self
                .networks
                .endpoints(&n.id)?
                .into_iter()
                .find(|e| e.container_id == id)
            {
                out.push(Attached {
                    network: n,
                    endpoint: e,
                });
            }
        }
        Ok(out)
    }

    /// `network connect`: a running container joins `network` now; a stopped one at its next
    /// start.
    pub fn connect(
        &self,
        id: &str,
        network: &str,
        aliases: Vec<String>,
        ip: Option<std::net::Ipv4Addr>,
        ip6: Option<std::net::Ipv6Addr>,
    ) -> Result<()> {
        let rec = self.containers.load(id)?;
        let net = self.find_network(network)?;
        let NetworkMode::Networks(list) = &rec.config.network else {
            return Err(Error::Invalid(format!(
                "container {} uses network mode {}: it cannot join other networks",
                rec.name,
                rec.config.network.name()
            )));
        };
        if list
            .iter()
            .any(|a| self.find_network(&a.network).is_ok_and(|n| n.id == net.id))
        {
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, net.name
            )));
        }
        let attach = NetworkAttach {
            network: net.name.clone(),
            aliases,
            ip,
            ip6,
        };
        if rec.is_running() && alive(rec.state.pid, rec.state.pid_start) {
            let index = list.len();
            let att = self.reserve_one(&rec, &attach, Vec::new(), index)?;
            let release = || {
                let _ = self.networks.release(&rec.id, Some(&att.network.id), true);
            };
            let ns = open_netns(rec.state.pid).inspect_err(|_| release())?;
            // A resolver (the monitor's, or one an earlier connect started) answers the new
            // network's names as soon as resolv.conf sends the container to it; made sure of
            // before anything is plumbed, so a container that holds port 53 itself is
            // refused with nothing changed.
            if att.network.dns {
                self.ensure_resolver(&rec, ns.as_fd())
                    .inspect_err(|_| release())?;
            }
            if let Err(e) = self
                .networks
                .plumb(&att.network, &att.endpoint, ns.as_fd(), false)
            {
                release();
                return Err(e.into());
            }
            if att.network.dns {
                crate::rootfs::point_dns(&self.paths, &self.containers, &rec.id, true)?;
            }
        }
        self.containers.update(id, |r| {
            if let NetworkMode::Networks(l) = &mut r.config.network {
                l.push(attach.clone());
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Makes sure a resolver listens in running container `rec`'s namespace `ns`: if its
    /// address is free, binds it and hands the sockets to a resolver process of the
    /// container's own (`berth-monitor ... dns`), which serves until the container's init
    /// exits.
    fn ensure_resolver(
        &self,
        rec: &ContainerRecord,
        ns: std::os::fd::BorrowedFd<'_>,
    ) -> Result<()> {
        let socks = match berth_network::dns::bind_in(ns) {
            Ok(s) => s,
            // Ours (the monitor's, or one an earlier connect started), or the container's own
            // server on port 53, which berth's resolver cannot share the address with.
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                if self.resolver_serves(&rec.id, rec.state.pid, rec.state.pid_start) {
                    return Ok(());
                }
                return Err(Error::Conflict(format!(
                    "container {} listens on port 53 of 127.0.0.11 itself: berth's DNS resolver cannot serve it there",
                    rec.name
                )));
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "starting the container's DNS resolver: {e}"
                )))
            }
        };
        crate::monitor::spawn_resolver(
            &self.paths,
            &rec.id,
            rec.state.pid,
            rec.state.pid_start,
            socks,
        )?;
        self.note_resolver(&rec.id, rec.state.pid, rec.state.pid_start);
        Ok(())
    }

    /// Notes that a berth resolver serves the run of container `id` whose init is `pid`
    /// (started at `start`), in its run directory.
    pub(crate) fn note_resolver(&self, id: &str, pid: i32, start: u64) {
        let _ = berth_sys::write_replace(
            &self.paths.bundle(id).join("resolver"),
            format!("{pid} {start}").as_bytes(),
        );
    }

    /// Whether a berth resolver serves this run of container `id` (a note of an earlier run
    /// names another init).
    fn resolver_serves(&self, id: &str, pid: i32, start: u64) -> bool {
        std::fs::read_to_string(self.paths.bundle(id).join("resolver"))
            .is_ok_and(|t| t == format!("{pid} {start}"))
    }

    /// `network disconnect`.
    pub fn disconnect(&self, id: &str, network: &str) -> Result<()> {
        let rec = self.containers.load(id)?;
        let net = self.find_network(network)?;
        let NetworkMode::Networks(list) = &rec.config.network else {
            return Err(Error::Invalid(format!(
                "container {} is not connected to network {}",
                rec.name, net.name
            )));
        };
        if !list
            .iter()
            .any(|a| self.find_network(&a.network).is_ok_and(|n| n.id == net.id))
        {
            return Err(Error::Invalid(format!(
                "container {} is not connected to network {}",
                rec.name, net.name
            )));
        }
        self.networks.release(&rec.id, Some(&net.id), true)?;
        let dns_left = list.iter().any(|a| {
            self.find_network(&a.network)
                .is_ok_and(|n| n.id != net.id && n.dns)
        });
        if net.dns && !dns_left && rec.is_running() && alive(rec.state.pid, rec.state.pid_start) {
            crate::rootfs::point_dns(&self.paths, &self.containers, &rec.id, false)?;
        }
        let net_id = net.id.clone();
        self.containers.update(id, |r| {
            if let NetworkMode::Networks(l) = &mut r.config.network {
                l.retain(|a| {
                    self.find_network(&a.network)
                        .map_or(true, |n| n.id != net_id)
                });
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The namespace path `--network container:X` joins.
    pub(crate) fn shared_netns(&self, other: &str) -> Result<PathBuf> {
        let o = self
            .containers
            .resolve(other)
            .and_then(|id| self.containers.load(&id))
            .map_err(|_| {
                Error::Invalid(format!(
                    "container {other} for --network container: not found"
                ))
            })?;
        if !o.is_running() || !alive(o.state.pid, o.state.pid_start) {
            return Err(Error::Conflict(format!(
                "cannot join the network of a non running container: {}",
                o.name
            )));
        }
        Ok(PathBuf::from(format!("/proc/{}/ns/net", o.state.pid)))
    }
}

fn open_netns(pid: i32) -> Result<OwnedFd> {
    let p = format!("/proc/{pid}/ns/net");
    std::fs::File::open(&p)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(Path::new(&p), e))
}
