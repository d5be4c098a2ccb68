//! The one-way typed protocol between the runtime and the processes it forks.
//!
//! A child's failure travels back as a value ([`Message::Error`]) and is shown to the user, never
//! lost in a dead child. Messages are JSON datagrams on a SOCK_SEQPACKET pair, so each `recv` is
//! exactly one message and a closed peer reads as end-of-file.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Message {
    // child -> parent
    /// The child made a user namespace and needs its uid/gid maps written from outside.
    MapIds,
    /// The host pid of the process that will exec the container's program.
    InitPid(i32),
    /// Mounts are done; run the prestart and createRuntime hooks before pivot_root.
    RunCreateRuntimeHooks,
    /// Setup is complete; the init waits for `start`.
    Ready,
    /// The seccomp notify descriptor travels with this message, for the listener socket.
    SeccompFd,
    Error(String),
    // parent -> child
    Go,
    Ack,
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent's end, child's end). Both are close-on-exec, so a successful
/// `execve` in the child reads as end-of-file on the parent's side.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Message) -> io::Result<()> {
        let buf = serde_json::to_vec(msg).map_err(io::Error::other)?;
        nix::sys::socket::send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)?;
        Ok(())
    }

    /// Sends `msg` with a descriptor attached.
    pub fn send_with_fd(&self, msg: &Message, fd: RawFd) -> io::Result<()> {
        let buf = serde_json::to_vec(msg).map_err(io::Error::other)?;
        send_fd(self.fd.as_raw_fd(), fd, &buf)
    }

    /// The next message, or `None` when the peer has closed (exited or exec'd).
    pub fn recv(&self) -> io::Result<Option<Message>> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }

    /// The next message and the descriptor sent with it, if any.
    pub fn recv_with_fd(&self) -> io::Result<Option<(Message, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 65536];
        let (n, fd) = loop {
            let mut iov = [io::IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(msg) => {
                    let mut fd = None;
                    for c in msg.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: the kernel installed these descriptors for us.
                            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
                        }
                    }
                    break (msg.bytes, fd);
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(|m| Some((m, fd)))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Receives the next message and insists it is `want`; an `Error` message becomes the error.
    pub fn expect(&self, want: &Message) -> io::Result<()> {
        match self.recv()? {
            Some(m) if &m == want => Ok(()),
            Some(Message::Error(e)) => Err(io::Error::other(e)),
            Some(m) => Err(io::Error::other(format!("expected {want:?}, got {m:?}"))),
            None => Err(io::Error::other(format!(
                "peer closed while waiting for {want:?}"
            ))),
        }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends one descriptor over a unix socket (the OCI console-socket protocol: the pty master).
pub fn send_fd(sock: RawFd, fd: RawFd, payload: &[u8]) -> io::Result<()> {
    let iov = [io::IoSlice::new(payload)];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None)?;
    Ok(())
}

/// Receives one descriptor sent with [`send_fd`].
pub fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::other("no file descriptor received"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof() {
        let (a, b) = pair().unwrap();
        b.send(&Message::InitPid(42)).unwrap();
        b.send(&Message::Error("bad cwd".into())).unwrap();
        assert_eq!(a.recv().unwrap(), Some(Message::InitPid(42)));
        assert_eq!(
            a.expect(&Message::Ready).unwrap_err().to_string(),
            "bad cwd"
        );
        drop(b);
        assert_eq!(a.recv().unwrap(), None);
    }
}
