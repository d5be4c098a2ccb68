//! The user's terminal during an attached session (`run`, `start -a`, `attach`, `exec -t`): raw
//! mode, restored on every way out but SIGKILL; window size changes passed on; signals proxied
//! to the container; and the relay of a pty this process owns itself (`exec -t`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_engine::attach::{DetachKeys, End, EscapeScanner, Session};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg, Termios};

/// The terminal's settings before raw mode, for whoever restores them first.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Stdin in raw mode for a `-it` session; restored on drop, and by the signal watcher before a
/// signal ends the process.
pub struct RawMode(());

impl RawMode {
    /// Raw mode if stdin is a terminal.
    pub fn enter() -> Option<Self> {
        let saved = termios::tcgetattr(std::io::stdin()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &raw).ok()?;
        Some(Self(()))
    }
}

fn restore() {
    if let Some(t) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &t);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Docker's check before a session that would put the terminal in raw mode: with `-t` and
/// `-i`, stdin must be a terminal (exit 1 with Docker's words, before anything is made).
pub fn check_tty(stdin: bool, tty: bool) -> anyhow::Result<()> {
    if stdin && tty && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(super::Failure::new(1, "the input device is not a TTY".into()).into());
    }
    Ok(())
}

/// The size (rows, columns) of the terminal on `fd`.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ into a zeroed winsize.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0)
            .then_some((ws.ws_row, ws.ws_col))
    }
}

/// The size of whichever of stdin and stdout is a terminal.
pub fn own_size() -> Option<(u16, u16)> {
    size(0).or_else(|| size(1))
}

/// The signals a session handles: window changes, and those a user sends to end it.
const ENDING: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The signals a session takes: blocked in this thread (threads made later inherit the mask),
/// so none is lost or ends the process before the terminal is restored.
fn block_session_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    for s in ENDING {
        set.add(s);
    }
    let _ = set.thread_block();
    set
}

/// What a session does with a signal: SIGWINCH calls `on_resize` with the new size; the others
/// go to `proxy_to` (Docker's `--sig-proxy`, without a tty) or, when not proxied, restore the
/// terminal and end this process as the signal would (exit 128 + signal).
fn take_signal(sig: Signal, proxy_to: Option<i32>, on_resize: Option<&dyn Fn(u16, u16)>) {
    match sig {
        Signal::SIGWINCH => {
            if let (Some(f), Some((rows, cols))) = (on_resize, own_size()) {
                f(rows, cols);
            }
        }
        s => match proxy_to {
            Some(pid) => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s);
            }
            None => {
                restore();
                std::process::exit(128 + s as i32);
            }
        },
    }
}

/// A thread that takes the session's signals ([`take_signal`]), for a loop that does not
/// read them itself.
pub fn watch_signals(proxy_to: Option<i32>, on_resize: Option<Box<dyn Fn(u16, u16) + Send>>) {
    let set = block_session_signals();
    std::thread::spawn(move || loop {
        let Ok(sig) = set.wait() else { return };
        take_signal(sig, proxy_to, on_resize.as_deref().map(|f| f as _));
    });
}

/// Follows an attached session to its end: window sizes go to the monitor, signals to the
/// container (`sig_proxy`, without a tty), and a reader of our output that goes away ends us
/// quietly. One poll loop in this thread (the session, a signalfd, stdout and stderr): a
/// thread per watcher cost their start and their teardown at exit on every `run`.
pub fn follow(
    session: &Session,
    pid: i32,
    tty: bool,
    sig_proxy: bool,
) -> berth_engine::Result<End> {
    let proxy_to = (sig_proxy && !tty).then_some(pid);
    let resize = |rows, cols| {
        let _ = session.resize(rows, cols);
    };
    let on_resize: Option<&dyn Fn(u16, u16)> = if tty { Some(&resize) } else { None };
    let signals = SignalFd::with_flags(
        &block_session_signals(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| berth_engine::Error::Other(format!("watching signals: {e}")))?;
    let output = crate::broken_pipe::output_pollfds();
    loop {
        let mut fds = [
            libc::pollfd {
                fd: session.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: signals.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            output[0],
            output[1],
        ];
        // SAFETY: four pollfds on this stack frame, their descriptors open for the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(berth_engine::Error::Other(format!(
                "waiting for the container monitor: {e}"
            )));
        }
        crate::broken_pipe::end_if_readers_gone(&fds[2..], restore);
        if fds[1].revents != 0 {
            while let Ok(Some(info)) = signals.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    take_signal(sig, proxy_to, on_resize);
                }
            }
        }
        if fds[0].revents != 0 {
            if let Some(end) = session.next_end()? {
                return Ok(end);
            }
        }
    }
}

/// Relays this terminal and a pty master this process holds (`exec -t`) until `pid` (our
/// child) has exited and the pty is drained; input only with `stdin`. Returns the exit code,
/// or 0 when the user typed the detach keys: the pty then goes to a holder ([`hold_pty`]) and
/// the program runs on.
pub fn relay_pty(master: OwnedFd, pid: i32, stdin: bool, keys: &DetachKeys) -> i32 {
    let mut scanner = EscapeScanner::new(keys.bytes());
    let mut input = Vec::new();
    if let Some((rows, cols)) = own_size() {
        berth_runtime::console::set_size(master.as_raw_fd(), rows, cols);
    }
    let resize_fd = master.try_clone().ok();
    watch_signals(
        None,
        resize_fd.map(|fd| {
            Box::new(move |rows, cols| berth_runtime::console::set_size(fd.as_raw_fd(), rows, cols))
                as Box<dyn Fn(u16, u16) + Send>
        }),
    );
    crate::broken_pipe::watch_output(restore);
    let mut stdin_open = stdin;
    let mut master = Some(master);
    let mut exited: Option<i32> = None;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if exited.is_none() {
            exited = try_wait(pid);
            if exited.is_some() {
                deadline = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        if let Some(code) = exited {
            if master.is_none() || deadline.is_some_and(|d| Instant::now() > d) {
                return code;
            }
        }
        let Some(m) = &master else {
            // The pty closed before the process was seen to exit: wait for it.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let stdin_fd = std::io::stdin();
        let mut fds = vec![PollFd::new(m.as_fd(), PollFlags::POLLIN)];
        if stdin_open && exited.is_none() {
            fds.push(PollFd::new(stdin_fd.as_fd(), PollFlags::POLLIN));
        }
        // The pty closes only when every process holding it has gone; the exec'd process is
        // watched by polling its status.
        if poll(&mut fds, PollTimeout::from(50u16)).is_err() {
            continue;
        }
        let master_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty());
        drop(fds);
        if master_ready {
            match nix::unistd::read(m, &mut buf) {
                Ok(0) | Err(Errno::EIO) => master = None,
                // Nobody may read our output any more: the process runs on without it.
                Ok(n) => drop(write_all(&std::io::stdout(), &buf[..n])),
                Err(_) => {}
            }
        }
        if stdin_ready {
            match nix::unistd::read(&stdin_fd, &mut buf) {
                Ok(0) | Err(Errno::EIO) => stdin_open = false,
                Ok(n) => {
                    input.clear();
                    let detached = scanner.feed(&buf[..n], &mut input);
                    if let Some(m) = &master {
                        let _ = write_all(m, &input);
                    }
                    if detached {
                        if let Some(m) = master.take() {
                            hold_pty(m);
                        }
                        return 0;
                    }
                }
                Err(_) => {}
            }
        }
    }
}

/// The name a pty holder shows in `ps` (at most 15 bytes: the kernel's comm).
pub const PTY_HOLDER_NAME: &[u8] = b"berth-exec-pty\0";

/// Keeps an exec's pty open after this command ends (`exec -d -t`, or detached from `exec
/// -it`), as Docker's daemon does: a forked process in a session of its own holds the master
/// and discards the program's output until every holder of the terminal is gone. Without it
/// the program would get SIGHUP, or block once the pty's buffer fills.
pub fn hold_pty(master: OwnedFd) {
    let fd = master.as_raw_fd();
    // SAFETY: the child runs only async-signal-safe system calls on a stack buffer (this
    // process may have a signal-watching thread) and ends with _exit.
    unsafe {
        match libc::fork() {
            0 => {
                // The signal watcher's blocked signals are not the holder's: it ends on them.
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                libc::setsid();
                libc::prctl(libc::PR_SET_NAME, PTY_HOLDER_NAME.as_ptr());
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                for std_fd in 0..3 {
                    libc::dup2(null, std_fd);
                }
                // Nothing else of the command's stays open here (its output pipe, sockets,
                // locks): whoever waits for those must not wait for the program.
                libc::dup2(fd, 3);
                libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
                let mut buf = [0u8; 4096];
                loop {
                    let n = libc::read(3, buf.as_mut_ptr().cast(), buf.len());
                    if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                        libc::_exit(0);
                    }
                }
            }
            // Fork failed: the pty closes with us, as it would have.
            _ => drop(master),
        }
    }
}

fn write_all(fd: &impl AsFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn try_wait(pid: i32) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, c)) => Some(c),
        Ok(WaitStatus::Signaled(_, s, _)) => Some(128 + s as i32),
        Ok(_) => None,
        Err(_) => Some(255),
    }
}
