//! Attaching to a container: the protocol between a client (the CLI's `run`, `start -a`,
//! `attach`) and the container's monitor, the client's end of it, and detach keys.
//!
//! A client talks to the monitor over a SOCK_SEQPACKET unix socket, one message per packet
//! (`berth_relay::wire` has the messages and their encoding, shared with the relay program):
//! the socket pair the monitor was started with (`run`, `start -a`), or the monitor's attach
//! socket in the container's run directory (`attach`). Its first message, [`ToMonitor::Attach`],
//! carries the client's own stdin/stdout/stderr as SCM_RIGHTS: the monitor reads and writes the
//! user's terminal directly, so the output reaches it without a hop through the CLI, and
//! detach keys are recognised where the input is read. Afterwards the client only sends window
//! sizes and waits for the end: [`FromMonitor::Exited`] or [`FromMonitor::Detached`]. A client
//! that goes away (killed) is noticed by the monitor as end-of-file and dropped; the container
//! runs on.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::error::{Error, Result};

/// Docker's default: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";
/// The monitor's attach socket, in the container's run directory.
pub const SOCKET_NAME: &str = "attach.sock";

pub use berth_relay::escape::EscapeScanner;
pub(crate) use berth_relay::wire::{recv, send};
pub use berth_relay::wire::{AttachRequest, FromMonitor, ToMonitor};

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
            // `None` also when the monitor was killed with our message unread.
            Ok(m) => Ok(m.map(|(m, _)| m)),
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
