//! The rtnetlink requests berth needs (links, addresses, routes), built by hand.
//!
//! The set is small and the kernel's wire format is a stable ABI, so a few hundred lines here
//! replace a family of crates whose APIs break several times a year. All of berth's netlink use
//! goes through this module. A socket belongs to the network namespace it was opened in, so
//! `Netlink::in_netns` opens one inside a container's namespace from a short-lived thread and
//! the caller never changes namespace itself.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::addr::{Ipv4Net, Ipv6Net};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_F_NODAD: u8 = 0x02;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;

/// One request, built attribute by attribute.
pub struct Request {
    buf: Vec<u8>,
    nests: Vec<usize>,
    what: String,
}

impl Request {
    fn new(kind: u16, flags: u16, what: impl Into<String>) -> Self {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Self {
            buf,
            nests: Vec::new(),
            what: what.into(),
        }
    }

    fn bytes(mut self, b: &[u8]) -> Self {
        self.buf.extend_from_slice(b);
        self
    }

    fn attr(mut self, kind: u16, payload: &[u8]) -> Self {
        let len = 4 + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    fn attr_str(self, kind: u16, s: &str) -> Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v)
    }

    fn attr_u32(self, kind: u16, v: u32) -> Self {
        self.attr(kind, &v.to_ne_bytes())
    }

    fn begin(mut self, kind: u16) -> Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(mut self) -> Self {
        let start = self.nests.pop().expect("end() matches begin()");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(mut self, seq: u32) -> (Vec<u8>, String) {
        assert!(self.nests.is_empty(), "unclosed netlink nest");
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        (self.buf, self.what)
    }
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// A link's interface index by name.
pub fn link_request(name: &str) -> Request {
    Request::new(RTM_GETLINK, 0, format!("looking up link {name}"))
        .bytes(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, name)
}

/// A bridge device with a fixed, locally administered MAC (else the bridge takes the lowest
/// MAC of its ports and changes it as containers come and go, which upsets ARP caches).
pub fn new_bridge(name: &str, mac: [u8; 6], mtu: Option<u32>) -> Request {
    let mut r = Request::new(
        RTM_NEWLINK,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        format!("creating bridge {name}"),
    )
    .bytes(&ifinfomsg(0, 0, 0))
    .attr_str(IFLA_IFNAME, name)
    .attr(IFLA_ADDRESS, &mac);
    if let Some(m) = mtu {
        r = r.attr_u32(IFLA_MTU, m);
    }
    r.begin(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "bridge")
        .end()
}

/// A veth pair: `host` stays here, enslaved to `master` and up; `peer` is created directly in
/// the namespace `peer_ns` (so it never appears on the host under a clashing name).
pub fn new_veth(host: &str, master: u32, mtu: Option<u32>, peer: &str, peer_ns: RawFd) -> Request {
    let mut r = Request::new(
        RTM_NEWLINK,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        format!("creating veth pair {host}/{peer}"),
    )
    .bytes(&ifinfomsg(0, libc::IFF_UP as u32, libc::IFF_UP as u32))
    .attr_str(IFLA_IFNAME, host)
    .attr_u32(IFLA_MASTER, master);
    if let Some(m) = mtu {
        r = r.attr_u32(IFLA_MTU, m);
    }
    let mut r = r
        .begin(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "veth")
        .begin(IFLA_INFO_DATA)
        .begin(VETH_INFO_PEER)
        .bytes(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, peer)
        .attr_u32(IFLA_NET_NS_FD, peer_ns as u32);
    if let Some(m) = mtu {
        r = r.attr_u32(IFLA_MTU, m);
    }
    r.end().end().end()
}

pub fn set_up(index: u32, what: &str) -> Request {
    Request::new(RTM_NEWLINK, NLM_F_ACK, format!("setting {what} up")).bytes(&ifinfomsg(
        index as i32,
        libc::IFF_UP as u32,
        libc::IFF_UP as u32,
    ))
}

/// Brings a link up by name (the index of `lo` or `eth0` inside a fresh namespace is not known
/// to the caller, and a lookup would cost a round trip).
pub fn set_up_by_name(name: &str) -> Request {
    Request::new(RTM_NEWLINK, NLM_F_ACK, format!("setting {name} up"))
        .bytes(&ifinfomsg(0, libc::IFF_UP as u32, libc::IFF_UP as u32))
        .attr_str(IFLA_IFNAME, name)
}

pub fn delete_link(name: &str) -> Request {
    Request::new(RTM_DELLINK, NLM_F_ACK, format!("deleting link {name}"))
        .bytes(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, name)
}

pub fn add_addr4(index: u32, ip: Ipv4Addr, net: &Ipv4Net, what: &str) -> Request {
    let mut ifa = [0u8; 8];
    ifa[0] = libc::AF_INET as u8;
    ifa[1] = net.prefix();
    ifa[3] = RT_SCOPE_UNIVERSE;
    ifa[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut r = Request::new(
        RTM_NEWADDR,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        format!("adding address {ip}/{} to {what}", net.prefix()),
    )
    .bytes(&ifa)
    .attr(IFA_LOCAL, &ip.octets())
    .attr(IFA_ADDRESS, &ip.octets());
    if net.prefix() < 31 {
        r = r.attr(IFA_BROADCAST, &net.broadcast().octets());
    }
    r
}

pub fn add_default_route4(gateway: Ipv4Addr) -> Request {
    let mut rt = [0u8; 12];
    rt[0] = libc::AF_INET as u8;
    rt[4] = RT_TABLE_MAIN;
    rt[5] = RTPROT_BOOT;
    rt[6] = RT_SCOPE_UNIVERSE;
    rt[7] = RTN_UNICAST;
    Request::new(
        RTM_NEWROUTE,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        format!("adding the default route via {gateway}"),
    )
    .bytes(&rt)
    .attr(RTA_GATEWAY, &gateway.octets())
}

/// An IPv6 address without duplicate address detection: the address is ours (IPAM hands it
/// out once), and DAD would keep it unusable ("tentative") for a second or more.
pub fn add_addr6(index: u32, ip: Ipv6Addr, net: &Ipv6Net, what: &str) -> Request {
    let mut ifa = [0u8; 8];
    ifa[0] = libc::AF_INET6 as u8;
    ifa[1] = net.prefix();
    ifa[2] = IFA_F_NODAD;
    ifa[3] = RT_SCOPE_UNIVERSE;
    ifa[4..8].copy_from_slice(&index.to_ne_bytes());
    Request::new(
        RTM_NEWADDR,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        format!("adding address {ip}/{} to {what}", net.prefix()),
    )
    .bytes(&ifa)
    .attr(IFA_ADDRESS, &ip.octets())
}

pub fn add_default_route6(gateway: Ipv6Addr) -> Request {
    let mut rt = [0u8; 12];
    rt[0] = libc::AF_INET6 as u8;
    rt[4] = RT_TABLE_MAIN;
    rt[5] = RTPROT_BOOT;
    rt[6] = RT_SCOPE_UNIVERSE;
    rt[7] = RTN_UNICAST;
    Request::new(
        RTM_NEWROUTE,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        format!("adding the default route via {gateway}"),
    )
    .bytes(&rt)
    .attr(RTA_GATEWAY, &gateway.octets())
}

/// A route of the main table, or a local route (an address of the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route4 {
    pub dst: Ipv4Net,
    pub oif: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route6 {
    pub dst: Ipv6Net,
    pub oif: u32,
}

/// A NETLINK_ROUTE socket, bound to the namespace it was opened in.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// A socket in the caller's network namespace.
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain socket creation; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // The kernel acks each request with an error or zero; ask it for strict checking so a
        // wrong attribute is an error rather than silently ignored.
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a live int of the size given.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                libc::NETLINK_GET_STRICT_CHK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        Ok(Self { fd, seq: 1 })
    }

    /// A socket inside the network namespace `ns`.
    pub fn in_netns(ns: BorrowedFd<'_>) -> io::Result<Self> {
        in_namespace(ns, Self::open)
    }

    /// Sends the requests in one write and checks every ack; the first failure is returned
    /// with what its request was doing.
    pub fn run(&mut self, requests: Vec<Request>) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut whats = Vec::new();
        let first = self.seq;
        for r in requests {
            let (b, what) = r.finish(self.seq);
            self.seq = self.seq.wrapping_add(1);
            buf.extend_from_slice(&b);
            whats.push(what);
        }
        self.send(&buf)?;
        let mut pending = whats.len();
        let mut failure: Option<io::Error> = None;
        let mut rbuf = vec![0u8; 16384];
        while pending > 0 {
            let n = self.recv(&mut rbuf)?;
            for (kind, seq, payload) in messages(&rbuf[..n]) {
                if kind != NLMSG_ERROR {
                    continue;
                }
                let idx = seq.wrapping_sub(first) as usize;
                if idx >= whats.len() {
                    continue;
                }
                pending -= 1;
                let errno = i32::from_ne_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
                if errno != 0 && failure.is_none() {
                    failure = Some(kernel_error(-errno, &whats[idx]));
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The interface index of `name`, or `None` when no such link exists here.
    pub fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let (b, what) = link_request(name).finish(self.seq);
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.send(&b)?;
        let mut rbuf = vec![0u8; 16384];
        loop {
            let n = self.recv(&mut rbuf)?;
            for (kind, s, payload) in messages(&rbuf[..n]) {
                if s != seq {
                    continue;
                }
                if kind == NLMSG_ERROR {
                    let errno = i32::from_ne_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
                    if errno == -libc::ENODEV {
                        return Ok(None);
                    }
                    return Err(kernel_error(-errno, &what));
                }
                if kind == RTM_NEWLINK && payload.len() >= 16 {
                    let idx = i32::from_ne_bytes(payload[4..8].try_into().unwrap());
                    return Ok(Some(idx as u32));
                }
            }
        }
    }

    /// The IPv4 routes of the main table (for subnet overlap checks).
    pub fn routes4(&mut self) -> io::Result<Vec<Route4>> {
        Ok(self
            .routes(libc::AF_INET as u8)?
            .into_iter()
            .filter_map(|(dst, len, oif)| {
                let o: [u8; 4] = dst.try_into().ok()?;
                Some(Route4 {
                    dst: Ipv4Net::new(Ipv4Addr::from(o), len)?,
                    oif,
                })
            })
            .collect())
    }

    /// The IPv6 routes of the main table and the host's own addresses.
    pub fn routes6(&mut self) -> io::Result<Vec<Route6>> {
        Ok(self
            .routes(libc::AF_INET6 as u8)?
            .into_iter()
            .filter_map(|(dst, len, oif)| {
                let o: [u8; 16] = dst.try_into().ok()?;
                Some(Route6 {
                    dst: Ipv6Net::new(Ipv6Addr::from(o), len)?,
                    oif,
                })
            })
            .collect())
    }

    /// (destination, prefix length, output link) of the routes of `family` that a container
    /// subnet must not overlap.
    fn routes(&mut self, family: u8) -> io::Result<Vec<(Vec<u8>, u8, u32)>> {
        let mut rt = [0u8; 12];
        rt[0] = family;
        let (b, _) = Request::new(RTM_GETROUTE, NLM_F_DUMP, "listing routes")
            .bytes(&rt)
            .finish(self.seq);
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.send(&b)?;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 65536];
        loop {
            let n = self.recv(&mut rbuf)?;
            for (kind, s, payload) in messages(&rbuf[..n]) {
                if s != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = i32::from_ne_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
                        if errno != 0 {
                            return Err(kernel_error(-errno, "listing routes"));
                        }
                    }
                    RTM_NEWROUTE if payload.len() >= 12 => {
                        if let Some(r) = parse_route(payload) {
                            out.push(r);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: a zeroed sockaddr_nl addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buffer and address are live for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: receiving into a live buffer of the given length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Runs `f` on a short-lived thread that has entered the network namespace `ns`, so the
/// caller's own namespace is untouched. Sockets `f` opens stay in `ns` for their life.
pub fn in_namespace<T: Send>(
    ns: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    let raw = ns.as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns of this thread alone; it exits right after `f`.
            if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// The kernel's answer to a request: what the request was doing, and the errno, which stays
/// readable through `errno()` (an `io::Error` with a message loses its raw os error).
#[derive(Debug)]
struct KernelError {
    errno: i32,
    what: String,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            self.what,
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for KernelError {}

fn kernel_error(errno: i32, what: &str) -> io::Error {
    io::Error::new(
        io::Error::from_raw_os_error(errno).kind(),
        KernelError {
            errno,
            what: what.to_string(),
        },
    )
}

/// The errno of a failed request (or of a plain os error).
pub fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<KernelError>())
            .map(|k| k.errno)
    })
}

fn parse_route(payload: &[u8]) -> Option<(Vec<u8>, u8, u32)> {
    let family = payload[0];
    let dst_len = payload[1];
    let mut table = u32::from(payload[4]);
    let kind = payload[7];
    let mut dst = vec![
        0u8;
        if i32::from(family) == libc::AF_INET6 {
            16
        } else {
            4
        }
    ];
    let mut oif = 0;
    for (t, v) in attrs(&payload[12..]) {
        match t {
            RTA_DST if v.len() == dst.len() => dst.copy_from_slice(v),
            RTA_OIF if v.len() == 4 => oif = u32::from_ne_bytes(v.try_into().ok()?),
            RTA_TABLE if v.len() == 4 => table = u32::from_ne_bytes(v.try_into().ok()?),
            _ => {}
        }
    }
    // Unicast routes of the main table, and local ones (the host's own addresses, 127/8)
    // of any table: a container subnet must overlap none of them.
    ((table == u32::from(RT_TABLE_MAIN) && kind == RTN_UNICAST) || kind == RTN_LOCAL)
        .then_some((dst, dst_len, oif))
}

/// (type, seq, payload) of each message in a datagram.
fn messages(mut b: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            break;
        }
        let kind = u16::from_ne_bytes(b[4..6].try_into().unwrap());
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        out.push((kind, seq, &b[NLMSG_HDRLEN..len]));
        let aligned = (len + 3) & !3;
        b = &b[aligned.min(b.len())..];
    }
    out
}

/// (type, value) of each attribute in a block.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes(b[0..2].try_into().unwrap()) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        let kind = u16::from_ne_bytes(b[2..4].try_into().unwrap()) & !NLA_F_NESTED;
        out.push((kind, &b[4..len]));
        let aligned = (len + 3) & !3;
        b = &b[aligned.min(b.len())..];
    }
    out
}

/// The name of interface `index` on this host, for messages.
pub fn link_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return format!("#{index}");
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Whether `name` is usable as an interface name (the kernel's limit is 15 bytes).
pub fn valid_link_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IF_NAMESIZE
        && CString::new(name).is_ok()
        && !name.contains(['/', ' ', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_is_aligned_and_nested() {
        let (b, _) = new_bridge("br-test", [2, 0, 0, 0, 0, 1], Some(1500)).finish(7);
        assert_eq!(b.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
        let a = attrs(&b[NLMSG_HDRLEN + 16..]);
        assert_eq!(a[0], (IFLA_IFNAME, &b"br-test\0"[..]));
        let info = a.iter().find(|(t, _)| *t == IFLA_LINKINFO).unwrap().1;
        assert_eq!(attrs(info)[0], (IFLA_INFO_KIND, &b"bridge\0"[..]));
    }

    #[test]
    fn kernel_errors_keep_their_errno_and_say_what_failed() {
        let e = kernel_error(libc::ENODEV, "deleting link vb1");
        assert_eq!(errno(&e), Some(libc::ENODEV));
        assert!(e.to_string().starts_with("deleting link vb1: "), "{e}");
        assert_eq!(
            errno(&io::Error::from_raw_os_error(libc::EEXIST)),
            Some(libc::EEXIST)
        );
        assert_eq!(errno(&io::Error::other("x")), None);
    }

    #[test]
    fn link_names() {
        assert!(valid_link_name("berth0"));
        assert!(!valid_link_name("a-name-far-too-long"));
        assert!(!valid_link_name(""));
    }
}
