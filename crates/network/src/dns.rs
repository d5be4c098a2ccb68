//! The embedded DNS resolver a container on a user-defined network talks to (127.0.0.11, as
//! in Docker). Names of containers on the container's networks are answered here; everything
//! else is forwarded unchanged to the host's resolvers. The container's monitor runs it on a
//! thread, with sockets opened inside the container's network namespace; forwarding happens
//! from the host's namespace, so even a host resolver on 127.0.0.53 is reachable.
//!
//! Only the little of the wire format that this needs is parsed: the header and the question.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const TTL: u32 = 600;
const RCODE_SERVFAIL: u8 = 2;

/// The addresses of a name of the container's networks; empty when the name is not one of
/// them (it is then forwarded).
pub type Resolver = dyn Fn(&str) -> Vec<Ipv4Addr> + Send + Sync;

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

/// The answer to `query` (already parsed as `q`) with `addrs` as A records (for an A
/// question), or an empty NOERROR for other types of a known name.
pub fn answer(query: &[u8], q: &Question, addrs: &[Ipv4Addr]) -> Vec<u8> {
    let a_records: &[Ipv4Addr] = if q.qtype == TYPE_A && q.qclass == CLASS_IN {
        addrs
    } else {
        &[]
    };
    let mut out = Vec::with_capacity(q.end + 16 * a_records.len());
    out.extend_from_slice(&query[..q.end]);
    // QR, the query's opcode and RD, AA, RA; NOERROR.
    out[2] = 0x80 | (query[2] & 0x79) | 0x04;
    out[3] = 0x80;
    out[6..8].copy_from_slice(&(a_records.len() as u16).to_be_bytes());
    out[8..12].fill(0);
    for ip in a_records {
        out.extend_from_slice(&[0xc0, 0x0c]); // the question's name
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
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
                .then(|| f.next()?.parse::<std::net::IpAddr>().ok())
                .flatten()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Opens the resolver's UDP socket on 127.0.0.11:53 inside the namespace `netns`.
pub fn bind_in(netns: BorrowedFd<'_>) -> std::io::Result<UdpSocket> {
    crate::netlink::in_namespace(netns, || UdpSocket::bind((ADDRESS, 53)))
}

/// A running resolver; dropping it stops and joins its thread (so the monitor is back to one
/// thread before it forks the container's next run).
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Serves queries on `sock`: names of the container's networks answered here, the rest
    /// forwarded in turn to `upstreams` (inline: the server never has more than one thread).
    pub fn spawn(
        sock: UdpSocket,
        resolver: Arc<Resolver>,
        upstreams: Vec<SocketAddr>,
    ) -> std::io::Result<Self> {
        sock.set_read_timeout(Some(Duration::from_millis(250)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("dns".into())
            .stack_size(256 * 1024)
            .spawn(move || serve(&sock, &*resolver, &upstreams, &flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(sock: &UdpSocket, resolver: &Resolver, upstreams: &[SocketAddr], stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => return,
        };
        let query = &buf[..n];
        let Some(q) = parse_query(query) else {
            continue;
        };
        let addrs = resolver(&q.name);
        let reply = if addrs.is_empty() {
            forward(query, upstreams).unwrap_or_else(|| error_reply(query, &q, RCODE_SERVFAIL))
        } else {
            answer(query, &q, &addrs)
        };
        let _ = sock.send_to(&reply, peer);
    }
}

fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
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

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE_AAAA: u16 = 28;

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

    #[test]
    fn parses_and_answers_a() {
        let m = query("web.example", TYPE_A);
        let q = parse_query(&m).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype),
            (0x1234, "web.example", TYPE_A)
        );
        let r = answer(&m, &q, &[Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(r[0..2], [0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(r[r.len() - 4..], [10, 1, 0, 2]);
    }

    #[test]
    fn aaaa_of_a_local_name_is_empty_noerror() {
        let m = query("web", TYPE_AAAA);
        let q = parse_query(&m).unwrap();
        let r = answer(&m, &q, &[Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        assert_eq!(r.len(), m.len());
    }

    /// Sends `q` to `server` and returns the reply.
    fn ask(server: SocketAddr, q: &[u8]) -> Vec<u8> {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(q, server).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn a_record(reply: &[u8]) -> Option<Ipv4Addr> {
        (u16::from_be_bytes([reply[6], reply[7]]) > 0).then(|| {
            let t = &reply[reply.len() - 4..];
            Ipv4Addr::new(t[0], t[1], t[2], t[3])
        })
    }

    #[test]
    fn serves_local_names_and_forwards_the_rest() {
        // A fake upstream answering every query with 192.0.2.99.
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = upstream.recv_from(&mut buf) {
                let q = parse_query(&buf[..n]).unwrap();
                let r = answer(&buf[..n], &q, &[Ipv4Addr::new(192, 0, 2, 99)]);
                let _ = upstream.send_to(&r, peer);
            }
        });
        // An upstream that is not there: the port of a socket just closed.
        let dead = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();

        let resolver: Arc<Resolver> = Arc::new(|name: &str| {
            if name == "web" {
                vec![Ipv4Addr::new(10, 1, 0, 2)]
            } else {
                Vec::new()
            }
        });
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let server = DnsServer::spawn(sock, Arc::clone(&resolver), vec![dead, up_addr]).unwrap();
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
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let _server = DnsServer::spawn(sock, resolver, vec![dead]).unwrap();
        let r = ask(addr, &query("example.org", TYPE_A));
        assert_eq!(r[3] & 0x0f, RCODE_SERVFAIL);
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
