//! The monitor's relay, for one run of the container: the container's output (pipes, or its
//! pty) goes to the log and to every attached client, every client's input goes to the
//! container, new clients are accepted on the attach socket, and the init's exit ends it.
//!
//! Single-threaded: one poll over everything. The container's side (our pipe ends, the pty
//! master) is non-blocking, so a container that does not read its input never stalls its
//! output; input waits in a bounded buffer meanwhile. The clients' descriptors are the users'
//! own (a terminal shared with their shell), so their flags are left alone and writes to them
//! block, as an attached Docker client that stops reading holds up the container's output.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::attach::{self, AttachRequest, EscapeScanner, FromMonitor, ToMonitor};
use crate::logs::{LogWriter, Stream};

/// Input held for a container that is not reading: past this, clients' input is not read.
const INPUT_BUFFER: usize = 64 * 1024;
/// How long output is drained after the init exited (a process it left may hold the pipes).
const DRAIN: Duration = Duration::from_secs(2);

/// One attached client: its connection to us and the descriptors it handed over.
pub(super) struct Client {
    control: OwnedFd,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    escape: EscapeScanner,
    close_stdin_on_eof: bool,
    size: Option<(u16, u16)>,
    /// Detached or disconnected: dropped at the end of the poll round.
    gone: bool,
}

impl Client {
    pub(super) fn new(
        control: OwnedFd,
        req: AttachRequest,
        fds: Vec<OwnedFd>,
    ) -> Result<Self, String> {
        let wanted = [req.stdin, req.stdout, req.stderr];
        let count = wanted.iter().filter(|w| **w).count();
        if fds.len() != count {
            return Err(format!(
                "{} descriptors sent for {count} streams",
                fds.len()
            ));
        }
        let mut fds = fds.into_iter();
        let mut take = |w: bool| if w { fds.next() } else { None };
        Ok(Self {
            stdin: take(req.stdin),
            stdout: take(req.stdout),
            stderr: take(req.stderr),
            control,
            escape: EscapeScanner::new(&req.detach_keys),
            close_stdin_on_eof: req.close_stdin_on_eof,
            size: req.size,
            gone: false,
        })
    }

    pub(super) fn size(&self) -> Option<(u16, u16)> {
        self.size
    }

    /// Sends `msg`; a client that cannot hear it is gone.
    pub(super) fn tell(&mut self, msg: &FromMonitor) {
        if attach::send(self.control.as_raw_fd(), msg, &[]).is_err() {
            self.gone = true;
        }
    }
}

/// Takes one client from the attach socket. Its `Attach` message follows the connect at once;
/// one that does not send it within a second is turned away.
fn accept(listener: &OwnedFd) -> Option<Client> {
    let fd = nix::sys::socket::accept4(
        listener.as_raw_fd(),
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .ok()?;
    // SAFETY: accept4 returned a new descriptor we own.
    let control = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut pfd = [PollFd::new(control.as_fd(), PollFlags::POLLIN)];
    if poll(&mut pfd, PollTimeout::from(1000u16)).ok()? == 0 {
        return None;
    }
    let (msg, fds) = attach::recv::<ToMonitor>(control.as_raw_fd()).ok()??;
    let ToMonitor::Attach(req) = msg else {
        return None;
    };
    let mut client = Client::new(control, req, fds).ok()?;
    client.tell(&FromMonitor::Attached);
    Some(client)
}

/// The container's side of its stdio, as the monitor holds it.
pub(super) struct ContainerIo {
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
    /// The write end of the container's stdin pipe (without a tty, with `-i`).
    pub stdin: Option<OwnedFd>,
    /// The container was made with `-i`: clients' input is taken.
    pub open_stdin: bool,
}

#[derive(Clone, Copy)]
enum Source {
    Out,
    Err,
    Pty,
    /// The container's input is writable again.
    InputRoom,
    Exit,
    Listener,
    Control(usize),
    Stdin(usize),
}

/// Relays until the init (`pid`, our child) has exited and its output is drained; returns its
/// exit code (128 + signal for a signalled init).
pub(super) fn relay(
    pid: i32,
    mut io: ContainerIo,
    clients: &mut Vec<Client>,
    listener: Option<&OwnedFd>,
    log: &mut LogWriter,
) -> i32 {
    for fd in [&io.pty, &io.stdin].into_iter().flatten() {
        set_nonblocking(fd);
    }
    // SAFETY: pidfd_open on our own child; -1 on old kernels, then we poll with a timeout.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    // SAFETY: a new descriptor we own.
    let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    let mut buf = vec![0u8; 32 * 1024];
    let mut input: Vec<u8> = Vec::new();
    let mut close_input_when_flushed = false;
    let mut exited: Option<i32> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        if exited.is_none() {
            exited = try_wait(pid);
            if exited.is_some() {
                drain_deadline = Some(Instant::now() + DRAIN);
            }
        }
        let outputs_open = io.out.is_some() || io.err.is_some() || io.pty.is_some();
        if let Some(code) = exited {
            if !outputs_open || drain_deadline.is_some_and(|d| Instant::now() > d) {
                return code;
            }
        }
        let input_dst = io.pty.as_ref().or(io.stdin.as_ref());
        let mut fds: Vec<PollFd> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        let mut watch = |fd: &OwnedFd, flags: PollFlags, s: Source| {
            // SAFETY: every descriptor polled outlives this poll round.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd.as_raw_fd()) };
            fds.push(PollFd::new(fd, flags));
            sources.push(s);
        };
        for (fd, s) in [
            (&io.out, Source::Out),
            (&io.err, Source::Err),
            (&io.pty, Source::Pty),
        ] {
            if let Some(fd) = fd {
                watch(fd, PollFlags::POLLIN, s);
            }
        }
        if let (false, Some(dst)) = (input.is_empty(), input_dst) {
            watch(dst, PollFlags::POLLOUT, Source::InputRoom);
        }
        if exited.is_none() {
            if let Some(p) = &pidfd {
                watch(p, PollFlags::POLLIN, Source::Exit);
            }
            if let Some(l) = listener {
                watch(l, PollFlags::POLLIN, Source::Listener);
            }
        }
        for (i, c) in clients.iter().enumerate() {
            watch(&c.control, PollFlags::POLLIN, Source::Control(i));
            if let Some(s) = &c.stdin {
                if io.open_stdin && exited.is_none() && input.len() < INPUT_BUFFER {
                    watch(s, PollFlags::POLLIN, Source::Stdin(i));
                }
            }
        }
        let timeout = if pidfd.is_some() && exited.is_none() {
            PollTimeout::NONE
        } else {
            PollTimeout::from(100u16)
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(_) => continue,
        }
        let ready: Vec<Source> = fds
            .iter()
            .zip(&sources)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, s)| *s)
            .collect();
        drop(fds);
        for source in ready {
            match source {
                Source::Out | Source::Err | Source::Pty => {
                    let slot = match source {
                        Source::Out => &mut io.out,
                        Source::Err => &mut io.err,
                        _ => &mut io.pty,
                    };
                    let n = match read_fd(slot.as_ref().expect("polled"), &mut buf) {
                        Read::Data(n) => n,
                        Read::Again => continue,
                        Read::Eof => {
                            *slot = None;
                            continue;
                        }
                    };
                    let data = &buf[..n];
                    let stream = if matches!(source, Source::Err) {
                        Stream::Stderr
                    } else {
                        Stream::Stdout
                    };
                    let _ = log.write(stream, data, SystemTime::now());
                    for c in clients.iter_mut() {
                        let target = match stream {
                            Stream::Stderr => &mut c.stderr,
                            Stream::Stdout => &mut c.stdout,
                        };
                        if let Some(t) = target {
                            if write_all_blocking(t, data).is_err() {
                                *target = None;
                            }
                        }
                    }
                }
                Source::InputRoom => flush_input(&mut io, &mut input),
                Source::Exit => {}
                Source::Listener => {
                    if let Some(l) = listener {
                        if let Some(c) = accept(l) {
                            if let (Some(pty), Some((rows, cols))) = (&io.pty, c.size) {
                                berth_runtime::console::set_size(pty.as_raw_fd(), rows, cols);
                            }
                            clients.push(c);
                        }
                    }
                }
                Source::Control(i) => {
                    let c = &mut clients[i];
                    match attach::recv::<ToMonitor>(c.control.as_raw_fd()) {
                        Ok(Some((ToMonitor::Resize { rows, cols }, _))) => {
                            if let Some(pty) = &io.pty {
                                berth_runtime::console::set_size(pty.as_raw_fd(), rows, cols);
                            }
                        }
                        Ok(Some((ToMonitor::Attach(_), _))) => {}
                        // The client went away (killed, or it exited): the container runs on.
                        Ok(None) | Err(_) => c.gone = true,
                    }
                }
                Source::Stdin(i) => {
                    let c = &mut clients[i];
                    if c.gone {
                        continue;
                    }
                    let n = match read_fd(c.stdin.as_ref().expect("polled"), &mut buf) {
                        Read::Data(n) => n,
                        Read::Again => continue,
                        Read::Eof => {
                            c.stdin = None;
                            // Docker's StdinOnce: the starting client's end of input closes
                            // the container's (a pty has no end-of-file of its own).
                            if c.close_stdin_on_eof {
                                close_input_when_flushed = true;
                            }
                            continue;
                        }
                    };
                    if c.escape.feed(&buf[..n], &mut input) {
                        c.tell(&FromMonitor::Detached);
                        c.gone = true;
                    }
                    flush_input(&mut io, &mut input);
                }
            }
        }
        if close_input_when_flushed && input.is_empty() {
            io.stdin = None;
        }
        clients.retain(|c| !c.gone);
    }
}

/// Writes what the container can take of the pending input now.
fn flush_input(io: &mut ContainerIo, input: &mut Vec<u8>) {
    let Some(dst) = io.pty.as_ref().or(io.stdin.as_ref()) else {
        input.clear();
        return;
    };
    while !input.is_empty() {
        match nix::unistd::write(dst, input) {
            Ok(n) => {
                input.drain(..n);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                // The container closed its input: what it will not read is dropped.
                input.clear();
                if io.pty.is_none() {
                    io.stdin = None;
                }
                return;
            }
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
        let _ = fcntl(
            fd,
            FcntlArg::F_SETFL(OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK),
        );
    }
}

fn try_wait(pid: i32) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, c)) => Some(c),
        Ok(WaitStatus::Signaled(_, s, _)) => Some(128 + s as i32),
        Ok(_) => None,
        // Not our child any more (cannot happen) or already reaped: report it gone.
        Err(_) => Some(255),
    }
}

enum Read {
    Data(usize),
    Again,
    Eof,
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> Read {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(0) => return Read::Eof,
            Ok(n) => return Read::Data(n),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Read::Again,
            // EIO on a pty master means the slave side closed: end-of-file.
            Err(_) => return Read::Eof,
        }
    }
}

fn write_all_blocking(fd: &OwnedFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => continue,
            // A client descriptor someone else made non-blocking: wait for room.
            Err(Errno::EAGAIN) => {
                let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut pfd, PollTimeout::from(1000u16));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
