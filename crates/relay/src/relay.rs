//! One run of the container, relayed: its output (pipes, or its pty) goes to the log and to
//! every attached client, every client's input goes to the container, new clients are accepted
//! on the attach socket, and the init's exit ends it.
//!
//! Single-threaded: one poll over everything. The container's side (our pipe ends, the pty
//! master) is non-blocking, so a container that does not read its input never stalls its
//! output; input waits in a bounded buffer meanwhile. The clients' descriptors are the users'
//! own (a terminal shared with their shell), so their flags are left alone and writes to them
//! block, as an attached Docker client that stops reading holds up the container's output.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

use crate::escape::EscapeScanner;
use crate::log::{LogWriter, Stream};
use crate::sys::{self, pollfd, POLLIN, POLLOUT};
use crate::wire::{self, AttachRequest, FromMonitor, ToMonitor};

/// Input held for a container that is not reading: past this, clients' input is not read.
const INPUT_BUFFER: usize = 64 * 1024;
/// How long output is drained after the init exited (a process it left may hold the pipes).
const DRAIN: Duration = Duration::from_secs(2);

/// One attached client: its connection to the monitor and the descriptors it handed over.
pub struct Client {
    pub control: OwnedFd,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub escape: EscapeScanner,
    pub close_stdin_on_eof: bool,
    pub size: Option<(u16, u16)>,
    /// Detached or disconnected: dropped at the end of the poll round.
    pub gone: bool,
}

impl Client {
    /// The client that sent `req` on `control`, with the descriptors that came with it.
    pub fn new(control: OwnedFd, req: AttachRequest, fds: Vec<OwnedFd>) -> Result<Self, String> {
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

    /// The request this client would make now (to hand it over to another process).
    pub fn request(&self) -> AttachRequest {
        AttachRequest {
            stdin: self.stdin.is_some(),
            stdout: self.stdout.is_some(),
            stderr: self.stderr.is_some(),
            detach_keys: self.escape.keys().to_vec(),
            close_stdin_on_eof: self.close_stdin_on_eof,
            size: self.size,
        }
    }

    /// Sends `msg`; a client that cannot hear it is gone.
    pub fn tell(&mut self, msg: &FromMonitor) {
        if wire::send(self.control.as_raw_fd(), msg, &[]).is_err() {
            self.gone = true;
        }
    }
}

/// Takes one client from the attach socket. Its `attach` message follows the connect at once;
/// one that does not send it within a second is turned away.
fn accept(listener: &OwnedFd) -> Option<Client> {
    let control = sys::accept(listener).ok()?;
    if !sys::wait_for(&control, POLLIN, 1000) {
        return None;
    }
    let (msg, fds) = wire::recv::<ToMonitor>(control.as_raw_fd()).ok()??;
    let ToMonitor::Attach(req) = msg else {
        return None;
    };
    let mut client = Client::new(control, req, fds).ok()?;
    client.tell(&FromMonitor::Attached);
    Some(client)
}

/// The container's side of its stdio, as the monitor holds it.
pub struct ContainerIo {
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

/// How a relay ended.
pub enum Ended {
    /// The init exited with this code (128 + signal for a signalled one); its output is
    /// drained.
    Exited(i32),
    /// The container still runs and nothing is in flight that the log writer does not hold:
    /// no input waits, no client is midway through its detach keys. Another process can take
    /// over (with the log's unfinished lines).
    Quiet(ContainerIo),
}

/// Relays until the init (`pid`, our child) has exited and its output is drained; returns its
/// exit code (128 + signal for a signalled init).
pub fn relay(
    pid: i32,
    io: ContainerIo,
    clients: &mut Vec<Client>,
    listener: Option<&OwnedFd>,
    log: &mut LogWriter,
) -> i32 {
    match relay_until(pid, io, clients, listener, log, None) {
        Ended::Exited(code) => code,
        Ended::Quiet(_) => unreachable!("a relay without a deadline runs to the end"),
    }
}

/// As [`relay`], but from `deadline` on, it stops at the first moment the relay is quiet
/// (see [`Ended::Quiet`]), handing the container's side back.
pub fn relay_until(
    pid: i32,
    mut io: ContainerIo,
    clients: &mut Vec<Client>,
    listener: Option<&OwnedFd>,
    log: &mut LogWriter,
    deadline: Option<Instant>,
) -> Ended {
    for fd in [&io.pty, &io.stdin].into_iter().flatten() {
        sys::set_nonblocking(fd);
    }
    // Without pidfds (old kernels) the loop polls with a timeout instead.
    let pidfd = sys::pidfd_open(pid);
    // Not zeroed: its pages are touched only as far as reads fill it, which for an idle
    // container is never (32 KiB a container, zeroed).
    let mut buf: Vec<u8> = Vec::with_capacity(32 * 1024);
    let mut input: Vec<u8> = Vec::new();
    let mut close_input_when_flushed = false;
    let mut exited: Option<i32> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut fds: Vec<pollfd> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    loop {
        if exited.is_none() {
            exited = sys::try_wait(pid);
            if exited.is_some() {
                drain_deadline = Some(Instant::now() + DRAIN);
            }
        }
        let outputs_open = io.out.is_some() || io.err.is_some() || io.pty.is_some();
        if let Some(code) = exited {
            if !outputs_open || drain_deadline.is_some_and(|d| Instant::now() > d) {
                return Ended::Exited(code);
            }
        }
        let due = deadline.is_some_and(|d| Instant::now() >= d);
        if due
            && exited.is_none()
            && input.is_empty()
            && !close_input_when_flushed
            && clients.iter().all(|c| !c.escape.holding())
        {
            return Ended::Quiet(io);
        }
        fds.clear();
        sources.clear();
        let mut watch = |fd: &OwnedFd, events, s: Source| {
            fds.push(pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            });
            sources.push(s);
        };
        for (fd, s) in [
            (&io.out, Source::Out),
            (&io.err, Source::Err),
            (&io.pty, Source::Pty),
        ] {
            if let Some(fd) = fd {
                watch(fd, POLLIN, s);
            }
        }
        if let (false, Some(dst)) = (input.is_empty(), io.pty.as_ref().or(io.stdin.as_ref())) {
            watch(dst, POLLOUT, Source::InputRoom);
        }
        if exited.is_none() {
            if let Some(p) = &pidfd {
                watch(p, POLLIN, Source::Exit);
            }
            if let Some(l) = listener {
                watch(l, POLLIN, Source::Listener);
            }
        }
        for (i, c) in clients.iter().enumerate() {
            watch(&c.control, POLLIN, Source::Control(i));
            if let Some(s) = &c.stdin {
                if io.open_stdin && exited.is_none() && input.len() < INPUT_BUFFER {
                    watch(s, POLLIN, Source::Stdin(i));
                }
            }
        }
        let timeout = match deadline {
            // Past the deadline but busy: look again soon.
            _ if due => 50,
            Some(d) if exited.is_none() => {
                let left = d.saturating_duration_since(Instant::now()).as_millis();
                // Without a pidfd the exit is only seen by looking.
                let most = if pidfd.is_some() { i32::MAX } else { 100 };
                left.clamp(1, most as u128) as i32
            }
            _ if pidfd.is_some() && exited.is_none() => -1,
            _ => 100,
        };
        if sys::poll_fds(&mut fds, timeout).is_err() {
            continue;
        }
        for (f, &source) in fds.iter().zip(&sources) {
            if f.revents == 0 {
                continue;
            }
            match source {
                Source::Out | Source::Err | Source::Pty => {
                    let slot = match source {
                        Source::Out => &mut io.out,
                        Source::Err => &mut io.err,
                        _ => &mut io.pty,
                    };
                    let n = match read(slot.as_ref().expect("polled"), &mut buf) {
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
                    if let Some(c) = listener.and_then(accept) {
                        if let (Some(pty), Some((rows, cols))) = (&io.pty, c.size) {
                            sys::set_window_size(pty.as_raw_fd(), rows, cols);
                        }
                        clients.push(c);
                    }
                }
                Source::Control(i) => {
                    let c = &mut clients[i];
                    match wire::recv::<ToMonitor>(c.control.as_raw_fd()) {
                        Ok(Some((ToMonitor::Resize { rows, cols }, _))) => {
                            if let Some(pty) = &io.pty {
                                sys::set_window_size(pty.as_raw_fd(), rows, cols);
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
                    let n = match read(c.stdin.as_ref().expect("polled"), &mut buf) {
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
            close_input_when_flushed = false;
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
        match sys::write_fd(dst, input) {
            Ok(n) => {
                input.drain(..n);
            }
            Err(e) if e.raw_os_error() == Some(sys::EAGAIN) => return,
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

enum Read {
    Data(usize),
    Again,
    Eof,
}

/// Reads into `buf` (emptied first); `Data(n)`: `buf` holds the `n` bytes read.
fn read(fd: &OwnedFd, buf: &mut Vec<u8>) -> Read {
    buf.clear();
    match sys::read_spare(fd, buf) {
        Ok(0) => Read::Eof,
        Ok(n) => Read::Data(n),
        Err(e) if e.raw_os_error() == Some(sys::EAGAIN) => Read::Again,
        // EIO on a pty master means the slave side closed: end-of-file.
        Err(_) => Read::Eof,
    }
}

fn write_all_blocking(fd: &OwnedFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match sys::write_fd(fd, data) {
            Ok(n) => data = &data[n..],
            // A client descriptor someone else made non-blocking: wait for room.
            Err(e) if e.raw_os_error() == Some(sys::EAGAIN) => {
                sys::wait_for(fd, POLLOUT, 1000);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
