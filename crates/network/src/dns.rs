//! The embedded DNS resolver a container on a user-defined network talks to (127.0.0.11, as
//! in Docker), over UDP and TCP (resolvers retry over TCP when a UDP answer is truncated).
//! Names of containers on the container's networks are answered here; everything else is
//! forwarded unchanged to the host's resolvers, over the transport the query came on. The
//! container's monitor runs it on one thread, with sockets opened inside the container's
//! network namespace; forwarding happens from the host's namespace, so even a host resolver on
//! 127.0.0.53 is reachable.
//!
//! Only the little of the wire format that this needs is parsed: the header and the question.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const TTL: u32 = 600;
const RCODE_SERVFAIL: u8 = 2;
/// The largest UDP answer a client without EDNS accepts (RFC 1035); larger local answers are
/// sent truncated, and the client asks again over TCP.
const UDP_LIMIT: usize = 512;
/// How long a TCP client may keep the resolver waiting between queries (it serves one
/// connection at a time).
const TCP_IDLE: Duration = Duration::from_secs(1);
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The addresses of a name of the container's networks; empty when the name is not one of
/// them (it is then forwarded).
pub type Resolver = dyn Fn(&str) -> Vec<IpAddr> + Send + Sync;

/// A parsed query: its id, the question's name, type and class, and where the question ends.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    pub id: u16,
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    end: usize,
}

pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        // Compression pointers never appear in a query's first name.
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(i..i + len)?).into_owned());
        i += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(i + 2)?, *msg.get(i + 3)?]);
    Some(Question {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        name: labels.join("."),
        qtype,
        qclass,
        end: i + 4,
    })
}

/// The answer to `query` (already parsed as `q`): the addresses of `addrs` of the asked
/// family as A or AAAA records, or an empty NOERROR for other types of a known name.
pub fn answer(query: &[u8], q: &Question, addrs: &[IpAddr]) -> Vec<u8> {
    let records: Vec<Vec<u8>> = if q.qclass != CLASS_IN {
        Vec::new()
    } else {
        addrs
            .iter()
            .filter_map(|ip| match (q.qtype, ip) {
                (TYPE_A, IpAddr::V4(v4)) => Some(v4.octets().to_vec()),
                (TYPE_AAAA, IpAddr::V6(v6)) => Some(v6.octets().to_vec()),
                _ => None,
            })
            .collect()
    };
    let mut out = Vec::with_capacity(q.end + 28 * records.len());
    out.extend_from_slice(&query[..q.end]);
    // QR, the query's opcode and RD, AA, RA; NOERROR.
    out[2] = 0x80 | (query[2] & 0x79) | 0x04;
    out[3] = 0x80;
    out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    out[8..12].fill(0);
    for data in &records {
        out.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

/// `reply` cut to the question with TC set: the client is to ask again over TCP.
fn truncated(reply: &[u8], q: &Question) -> Vec<u8> {
    let mut out = reply[..q.end].to_vec();
    out[2] |= 0x02;
    out[6..12].fill(0);
    out
}

fn error_reply(query: &[u8], q: &Question, rcode: u8) -> Vec<u8> {
    let mut out = query[..q.end].to_vec();
    out[2] = 0x80 | (query[2] & 0x79);
    out[3] = 0x80 | rcode;
    out[6..12].fill(0);
    out
}

/// The host's resolvers, from its resolv.conf (loopback ones included: forwarding happens in
/// the host's namespace).
pub fn host_upstreams() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nameserver"))
                .then(|| f.next()?.parse::<IpAddr>().ok())
                .flatten()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The resolver's sockets: UDP and TCP on the same address.
pub struct DnsSockets {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl DnsSockets {
    /// Binds both on `addr` (in the caller's namespace).
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let udp = UdpSocket::bind(addr)?;
        // Port 0 asks for one port for both (tests); 53 stays 53.
        let tcp = TcpListener::bind(udp.local_addr()?)?;
        tcp.set_nonblocking(true)?;
        Ok(Self { udp, tcp })
    }
}

/// Opens the resolver's sockets on 127.0.0.11:53 inside the namespace `netns`.
pub fn bind_in(netns: BorrowedFd<'_>) -> std::io::Result<DnsSockets> {
    crate::netlink::in_namespace(netns, || DnsSockets::bind((ADDRESS, 53).into()))
}

/// A running resolver; dropping it stops and joins its thread (so the monitor is back to one
/// thread before it forks the container's next run).
pub struct DnsServer {
    /// Written to on drop: the thread sleeps in poll until a query or this comes.
    stop: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Serves queries on `socks`: names of the container's networks answered here, the rest
    /// forwarded in turn to `upstreams` (inline: the server never has more than one thread).
    pub fn spawn(
        socks: DnsSockets,
        resolver: Arc<Resolver>,
        upstreams: Vec<SocketAddr>,
    ) -> std::io::Result<Self> {
        let (wake, stop) = pipe()?;
        let thread = std::thread::Builder::new()
            .name("dns".into())
            .stack_size(256 * 1024)
            .spawn(move || serve(&socks, &*resolver, &upstreams, wake.as_fd()))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Closing the write end makes the read end readable (end of file).
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both were just returned by pipe2 and are owned by nobody else.
    Ok(unsafe {
        use std::os::fd::FromRawFd;
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    })
}

fn serve(socks: &DnsSockets, resolver: &Resolver, upstreams: &[SocketAddr], stop: BorrowedFd) {
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: socks.udp.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: socks.tcp.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on three live descriptors.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[2].revents != 0 {
            return;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Ok((n, peer)) = socks.udp.recv_from(&mut buf) {
                if let Some(reply) = respond(&buf[..n], resolver, upstreams, Transport::Udp) {
                    let _ = socks.udp.send_to(&reply, peer);
                }
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Ok((conn, _)) = socks.tcp.accept() {
                serve_tcp(conn, resolver, upstreams);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

/// The reply to one query, or `None` for something that is not one.
fn respond(
    query: &[u8],
    resolver: &Resolver,
    upstreams: &[SocketAddr],
    transport: Transport,
) -> Option<Vec<u8>> {
    let q = parse_query(query)?;
    let addrs = resolver(&q.name);
    if addrs.is_empty() {
        let forwarded = match transport {
            Transport::Udp => forward_udp(query, upstreams),
            Transport::Tcp => forward_tcp(query, upstreams),
        };
        return Some(forwarded.unwrap_or_else(|| error_reply(query, &q, RCODE_SERVFAIL)));
    }
    let reply = answer(query, &q, &addrs);
    Some(if transport == Transport::Udp && reply.len() > UDP_LIMIT {
        truncated(&reply, &q)
    } else {
        reply
    })
}

/// One TCP client: length-prefixed queries answered in turn until it closes or idles.
fn serve_tcp(conn: TcpStream, resolver: &Resolver, upstreams: &[SocketAddr]) {
    let mut conn = conn;
    if conn.set_nonblocking(false).is_err() || conn.set_read_timeout(Some(TCP_IDLE)).is_err() {
        return;
    }
    let _ = conn.set_write_timeout(Some(TCP_IDLE));
    while let Some(query) = read_framed(&mut conn) {
        let Some(reply) = respond(&query, resolver, upstreams, Transport::Tcp) else {
            return;
        };
        if write_framed(&mut conn, &reply).is_err() {
            return;
        }
    }
}

fn read_framed(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn write_framed(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    s.write_all(&framed)
}

fn forward_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        if s.connect(up).is_err() || s.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(n) = s.recv(&mut buf) {
            if n >= 2 && buf[..2] == query[..2] {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }
    None
}

fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(mut s) = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        let _ = s.set_write_timeout(Some(UPSTREAM_TIMEOUT));
        if write_framed(&mut s, query).is_err() {
            continue;
        }
        if let Some(reply) = read_framed(&mut s) {
            if reply.len() >= 2 && reply[..2] == query[..2] {
                return Some(reply);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    const WEB4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2));
    const WEB6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd42, 0xb3e7, 0, 0, 0, 0, 0, 2));

    #[test]
    fn parses_and_answers_a() {
        let m = query("web.example", TYPE_A);
        let q = parse_query(&m).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype),
            (0x1234, "web.example", TYPE_A)
        );
        let r = answer(&m, &q, &[WEB4, WEB6]);
        assert_eq!(r[0..2], [0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "only the v4 address");
        assert_eq!(r[r.len() - 4..], [10, 1, 0, 2]);
    }

    #[test]
    fn aaaa_answers_v6_addresses_and_is_empty_without_them() {
        let m = query("web", TYPE_AAAA);
        let q = parse_query(&m).unwrap();
        let r = answer(&m, &q, &[WEB4]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        assert_eq!(r.len(), m.len());
        let r = answer(&m, &q, &[WEB4, WEB6]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(u16::from_be_bytes([r[r.len() - 18], r[r.len() - 17]]), 16);
        assert_eq!(
            r[r.len() - 16..],
            Ipv6Addr::new(0xfd42, 0xb3e7, 0, 0, 0, 0, 0, 2).octets()
        );
    }

    /// Sends `q` to `server` over UDP and returns the reply.
    fn ask(server: SocketAddr, q: &[u8]) -> Vec<u8> {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(q, server).unwrap();
        let mut buf = [0u8; 4096];
        let n = c.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    /// Sends the queries `qs` to `server` on one TCP connection (all written first, as glibc
    /// does for A and AAAA) and returns the replies.
    fn ask_tcp(server: SocketAddr, qs: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut c = TcpStream::connect(server).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for q in qs {
            write_framed(&mut c, q).unwrap();
        }
        qs.iter()
            .map(|_| read_framed(&mut c).expect("a framed reply"))
            .collect()
    }

    fn answers(reply: &[u8]) -> u16 {
        u16::from_be_bytes([reply[6], reply[7]])
    }

    fn a_record(reply: &[u8]) -> Option<Ipv4Addr> {
        (answers(reply) > 0).then(|| {
            let t = &reply[reply.len() - 4..];
            Ipv4Addr::new(t[0], t[1], t[2], t[3])
        })
    }

    /// A fake upstream answering every query, over UDP and TCP, with 192.0.2.99.
    fn upstream() -> SocketAddr {
        let socks = DnsSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socks.udp.local_addr().unwrap();
        let far: Arc<Resolver> = Arc::new(|_: &str| vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99))]);
        // Leaked: it serves until the test process ends.
        std::mem::forget(DnsServer::spawn(socks, far, Vec::new()).unwrap());
        addr
    }

    fn local(name: &str) -> Vec<IpAddr> {
        match name {
            "web" => vec![WEB4, WEB6],
            // More addresses than fit a 512-byte UDP answer.
            "many" => (0..40)
                .map(|i| IpAddr::V4(Ipv4Addr::new(10, 2, 0, i)))
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn serves_local_names_and_forwards_the_rest() {
        let up_addr = upstream();
        // An upstream that is not there: the port of a socket just closed.
        let dead = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let resolver: Arc<Resolver> = Arc::new(local);
        let socks = DnsSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socks.udp.local_addr().unwrap();
        let server = DnsServer::spawn(socks, Arc::clone(&resolver), vec![dead, up_addr]).unwrap();
        assert_eq!(
            a_record(&ask(addr, &query("web", TYPE_A))),
            Some(Ipv4Addr::new(10, 1, 0, 2))
        );
        assert_eq!(
            a_record(&ask(addr, &query("example.org", TYPE_A))),
            Some(Ipv4Addr::new(192, 0, 2, 99)),
            "forwarded past the dead upstream"
        );
        drop(server);

        // With no upstream that answers: SERVFAIL, not silence.
        let socks = DnsSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socks.udp.local_addr().unwrap();
        let _server = DnsServer::spawn(socks, resolver, vec![dead]).unwrap();
        let r = ask(addr, &query("example.org", TYPE_A));
        assert_eq!(r[3] & 0x0f, RCODE_SERVFAIL);
    }

    #[test]
    fn tcp_answers_local_names_forwards_and_carries_what_udp_truncates() {
        let up_addr = upstream();
        let socks = DnsSockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socks.udp.local_addr().unwrap();
        let _server = DnsServer::spawn(socks, Arc::new(local), vec![up_addr]).unwrap();

        let r = ask_tcp(addr, &[query("web", TYPE_A), query("web", TYPE_AAAA)]);
        assert_eq!(a_record(&r[0]), Some(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(answers(&r[1]), 1);
        assert_eq!(
            r[1][r[1].len() - 16..],
            Ipv6Addr::new(0xfd42, 0xb3e7, 0, 0, 0, 0, 0, 2).octets()
        );
        let r = ask_tcp(addr, &[query("example.org", TYPE_A)]);
        assert_eq!(
            a_record(&r[0]),
            Some(Ipv4Addr::new(192, 0, 2, 99)),
            "forwarded over TCP"
        );

        // Too big for UDP: TC set and no records; over TCP all 40 come.
        let u = ask(addr, &query("many", TYPE_A));
        assert!(u.len() <= UDP_LIMIT);
        assert_eq!(u[2] & 0x02, 0x02, "truncated");
        assert_eq!(answers(&u), 0);
        let t = ask_tcp(addr, &[query("many", TYPE_A)]);
        assert_eq!(t[0][2] & 0x02, 0, "whole over TCP");
        assert_eq!(answers(&t[0]), 40);

        // A TCP client that says nothing holds the resolver up at most TCP_IDLE.
        let idle = TcpStream::connect(addr).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            a_record(&ask(addr, &query("web", TYPE_A))),
            Some(Ipv4Addr::new(10, 1, 0, 2))
        );
        assert!(started.elapsed() < TCP_IDLE + Duration::from_secs(2));
        drop(idle);
    }

    #[test]
    fn rejects_responses_and_garbage() {
        let mut m = query("x", TYPE_A);
        m[2] |= 0x80;
        assert!(parse_query(&m).is_none());
        assert!(parse_query(&[1, 2, 3]).is_none());
        let mut t = query("x", TYPE_A);
        t.truncate(t.len() - 2);
        assert!(parse_query(&t).is_none());
    }
}
