//! Attaching to a container: the protocol between a client (the CLI's `run`, `start -a`,
//! `attach`) and the container's monitor, the client's end of it, and detach keys.
//!
//! A client talks to the monitor over a SOCK_SEQPACKET unix socket, one JSON message per packet:
//! the socket pair the monitor was started with (`run`, `start -a`), or the monitor's attach
//! socket in the container's run directory (`attach`). Its first message, [`ToMonitor::Attach`],
//! carries the client's own stdin/stdout/stderr as SCM_RIGHTS: the monitor reads and writes the
//! user's terminal directly, so the output reaches it without a hop through the CLI, and
//! detach keys are recognised where the input is read. Afterwards the client only sends window
//! sizes and waits for the end: [`FromMonitor::Exited`] or [`FromMonitor::Detached`]. A client
//! that goes away (killed) is noticed by the monitor as end-of-file and dropped; the container
//! runs on.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, UnixAddr,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Docker's default: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";
/// The monitor's attach socket, in the container's run directory.
pub const SOCKET_NAME: &str = "attach.sock";
/// The most descriptors one message carries (stdin, stdout, stderr).
const MAX_FDS: usize = 3;

/// What a client asks of the monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToMonitor {
    /// Relay the container's stdio to the descriptors sent with this message, in the order
    /// stdin, stdout, stderr, each only if its flag is set.
    Attach(AttachRequest),
    /// The client's terminal changed size: resize the container's.
    Resize { rows: u16, cols: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The key sequence that ends this attachment (bytes, already parsed).
    pub detach_keys: Vec<u8>,
    /// End-of-file on this client's stdin closes the container's (Docker's StdinOnce: the
    /// client that started the container with `-i`).
    pub close_stdin_on_eof: bool,
    /// The client's terminal size, given to the container's pty when it attaches.
    pub size: Option<(u16, u16)>,
}

/// What the monitor tells a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromMonitor {
    /// The container runs (to the client that started it).
    Started { pid: i32 },
    /// The container could not be started; `code` is Docker's exit code for it.
    Failed { message: String, code: i32 },
    /// The client's descriptors are being relayed.
    Attached,
    /// The client typed its detach keys: it is let go, the container runs on.
    Detached,
    /// The container exited (and, with `--rm`, has been removed).
    Exited { code: i32 },
}

/// Sends one message with descriptors attached.
pub(crate) fn send<T: Serialize>(sock: RawFd, msg: &T, fds: &[RawFd]) -> io::Result<()> {
    let buf = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let iov = [io::IoSlice::new(&buf)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => return Ok(()),
        }
    }
}

/// The next message and the descriptors sent with it; `None` when the peer has closed.
pub(crate) fn recv<T: DeserializeOwned>(sock: RawFd) -> io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 8192];
    let (n, fds) = loop {
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        match recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(msg) => {
                let mut fds = Vec::new();
                for c in msg.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(raw) = c {
                        // SAFETY: the kernel installed these descriptors for us.
                        fds.extend(raw.iter().map(|&f| unsafe { OwnedFd::from_raw_fd(f) }));
                    }
                }
                break (msg.bytes, fds);
            }
        }
    };
    if n == 0 {
        return Ok(None);
    }
    serde_json::from_slice(&buf[..n])
        .map(|m| Some((m, fds)))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A new SOCK_SEQPACKET unix socket, close-on-exec.
pub(crate) fn seqpacket() -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// The address of `dir/name` through an open descriptor of `dir` (`/proc/self/fd/N/name`), so a
/// deep run root never exceeds the 108 bytes a socket address holds.
pub(crate) fn short_addr(dir: &impl AsRawFd, name: &str) -> io::Result<UnixAddr> {
    Ok(UnixAddr::new(
        format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()).as_str(),
    )?)
}

/// Opens `dir` to name a socket in it with [`short_addr`].
pub(crate) fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?)
}

/// The client's descriptors and wishes for one attachment.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: Option<RawFd>,
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    pub detach_keys: DetachKeys,
    pub close_stdin_on_eof: bool,
    pub size: Option<(u16, u16)>,
}

impl AttachOptions {
    fn request(&self) -> (AttachRequest, Vec<RawFd>) {
        let fds = [self.stdin, self.stdout, self.stderr]
            .into_iter()
            .flatten()
            .collect();
        (
            AttachRequest {
                stdin: self.stdin.is_some(),
                stdout: self.stdout.is_some(),
                stderr: self.stderr.is_some(),
                detach_keys: self.detach_keys.0.clone(),
                close_stdin_on_eof: self.close_stdin_on_eof,
                size: self.size,
            },
            fds,
        )
    }
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Exited(i32),
    Detached,
    /// The monitor went away without saying (it was killed).
    Lost,
}

/// A client's connection to a container's monitor.
pub struct Session {
    sock: OwnedFd,
}

impl Session {
    pub(crate) fn new(sock: OwnedFd) -> Self {
        Self { sock }
    }

    /// Connects to the attach socket of the monitor of the container whose run directory is
    /// `run_dir`. Fails with `Conflict` when no monitor listens there.
    pub fn connect(run_dir: &Path, id: &str) -> Result<Self> {
        let not_running = || Error::Conflict(format!("container {id} is not running"));
        let dir = open_dir(run_dir).map_err(|_| not_running())?;
        let sock = seqpacket().map_err(|e| Error::Other(format!("creating a socket: {e}")))?;
        let addr = short_addr(&dir, SOCKET_NAME).map_err(|e| Error::io(run_dir, e))?;
        match nix::sys::socket::connect(sock.as_raw_fd(), &addr) {
            Ok(()) => Ok(Self { sock }),
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ECONNREFUSED) => Err(not_running()),
            Err(e) => Err(Error::io(&run_dir.join(SOCKET_NAME), e.into())),
        }
    }

    /// Hands the client's descriptors to the monitor.
    pub fn attach(&self, opts: &AttachOptions) -> Result<()> {
        let (req, fds) = opts.request();
        send(self.sock.as_raw_fd(), &ToMonitor::Attach(req), &fds)
            .map_err(|e| Error::Other(format!("attaching to the container monitor: {e}")))
    }

    /// Tells the monitor the client's terminal size.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        send(
            self.sock.as_raw_fd(),
            &ToMonitor::Resize { rows, cols },
            &[],
        )
        .map_err(|e| Error::Other(format!("resizing the container's terminal: {e}")))
    }

    /// The next message from the monitor; `None` when it has gone.
    pub fn next(&self) -> Result<Option<FromMonitor>> {
        match recv::<FromMonitor>(self.sock.as_raw_fd()) {
            Ok(m) => Ok(m.map(|(m, _)| m)),
            // The monitor was killed with our message unread.
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => Ok(None),
            Err(e) => Err(Error::Other(format!(
                "reading from the container monitor: {e}"
            ))),
        }
    }

    /// Waits until the monitor has taken the descriptors.
    pub fn wait_attached(&self) -> Result<()> {
        match self.next()? {
            Some(FromMonitor::Attached) => Ok(()),
            Some(FromMonitor::Exited { .. }) | None => Err(Error::Conflict(
                "the container is not running (it exited while attaching)".into(),
            )),
            Some(other) => Err(Error::Other(format!(
                "unexpected message from the container monitor: {other:?}"
            ))),
        }
    }

    /// Waits until the container runs and returns its pid (for the client that started it).
    pub fn wait_started(&self) -> Result<i32> {
        loop {
            match self.next()? {
                Some(FromMonitor::Started { pid }) => return Ok(pid),
                Some(FromMonitor::Attached) => continue,
                Some(FromMonitor::Failed { message, code }) => {
                    return Err(if code == 125 {
                        Error::Other(message)
                    } else {
                        Error::Exec { message, code }
                    })
                }
                Some(other) => {
                    return Err(Error::Other(format!(
                        "the container ended before it was reported started ({other:?})"
                    )))
                }
                None => {
                    return Err(Error::Other(
                        "the container monitor exited before the container started".into(),
                    ))
                }
            }
        }
    }

    /// Reads one message (blocking until there is one: a client polling the session calls it
    /// when the socket is readable) and returns the end of the attachment it reports, `None`
    /// for any other message.
    pub fn next_end(&self) -> Result<Option<End>> {
        match self.next()? {
            Some(FromMonitor::Exited { code }) => Ok(Some(End::Exited(code))),
            Some(FromMonitor::Detached) => Ok(Some(End::Detached)),
            Some(FromMonitor::Failed { message, code }) => Err(Error::Exec { message, code }),
            Some(_) => Ok(None),
            None => Ok(Some(End::Lost)),
        }
    }
}

impl AsFd for Session {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// A detach key sequence, as Docker spells it: comma-separated keys, each one character or
/// `ctrl-X` (X one of a-z, @, [, \, ], ^, _).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl Default for DetachKeys {
    fn default() -> Self {
        Self::parse(DEFAULT_DETACH_KEYS).expect("the default detach keys parse")
    }
}

impl DetachKeys {
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("invalid detach keys ({spec}) provided"));
        let mut out = Vec::new();
        for key in spec.split(',') {
            let b = key.as_bytes();
            let code = match b {
                [c] => *c,
                _ => {
                    let x = key
                        .get(..5)
                        .filter(|p| p.eq_ignore_ascii_case("ctrl-"))
                        .and_then(|_| key.get(5..))
                        .filter(|x| x.len() == 1)
                        .ok_or_else(bad)?
                        .as_bytes()[0]
                        .to_ascii_lowercase();
                    match x {
                        b'a'..=b'z' => x - b'a' + 1,
                        b'@' => 0,
                        b'[' => 27,
                        b'\\' => 28,
                        b']' => 29,
                        b'^' => 30,
                        b'_' => 31,
                        _ => return Err(bad()),
                    }
                }
            };
            out.push(code);
        }
        Ok(Self(out))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Watches one client's input for its detach keys. A partial match is held back until the
/// next byte decides: the rest of the sequence detaches (and is never sent), anything else
/// releases what was held.
#[derive(Debug, Clone)]
pub struct EscapeScanner {
    keys: Vec<u8>,
    /// The input that matches the start of the keys so far.
    held: Vec<u8>,
}

impl EscapeScanner {
    pub fn new(keys: &[u8]) -> Self {
        Self {
            keys: keys.to_vec(),
            held: Vec::new(),
        }
    }

    /// Appends to `out` what `input` lets through; true when the detach keys were typed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            self.held.push(b);
            while !self.keys.starts_with(&self.held) {
                out.push(self.held.remove(0));
            }
            if self.held == self.keys {
                self.held.clear();
                return true;
            }
        }
        false
    }
}

/// The container's run directory, where its monitor listens.
pub fn run_dir(paths: &crate::Paths, id: &str) -> PathBuf {
    paths.bundle(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(DetachKeys::default().bytes(), &[16, 17]);
        assert_eq!(DetachKeys::parse("ctrl-a,x").unwrap().bytes(), &[1, b'x']);
        assert_eq!(
            DetachKeys::parse("CTRL-@,ctrl-[,ctrl-_").unwrap().bytes(),
            &[0, 27, 31]
        );
        for bad in ["", "ctrl-", "ctrl-1", "ctl-a", "ab", "ctrl-ab"] {
            assert!(DetachKeys::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn scan(keys: &str, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut s = EscapeScanner::new(DetachKeys::parse(keys).unwrap().bytes());
        let mut out = Vec::new();
        for c in chunks {
            if s.feed(c, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn the_sequence_detaches_and_is_never_sent() {
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"ls\x10\x11rest"]),
            (b"ls".to_vec(), true)
        );
        // Split across reads.
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"a\x10", b"\x11"]),
            (b"a".to_vec(), true)
        );
        assert_eq!(scan("x", &[b"abxc"]), (b"ab".to_vec(), true));
    }

    #[test]
    fn a_broken_sequence_is_passed_on() {
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"\x10a\x10\x10\x11"]),
            (b"\x10a\x10".to_vec(), true)
        );
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"\x10", b"z"]),
            (b"\x10z".to_vec(), false)
        );
        assert_eq!(scan("a,b,c", &[b"ababc"]), (b"ab".to_vec(), true));
        assert_eq!(scan("a,a,b", &[b"aaab"]), (b"a".to_vec(), true));
    }
}
