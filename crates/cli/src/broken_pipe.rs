//! Ending quietly when whoever reads our output has gone (`berth ps | head -1`), as the docker
//! CLI does: a Go program dies of SIGPIPE when a write to fd 1 or 2 fails with EPIPE, while a
//! write to any other descriptor only fails. berth keeps Rust's SIGPIPE ignored (a socket to a
//! monitor or a registry that goes away must be an error to handle, not a death), so `print!`
//! panics and a `write` returns EPIPE instead; both are turned into that same quiet death here.

use std::os::fd::RawFd;

/// Ends the process as SIGPIPE does (the shell sees 141), with no message.
fn die() -> ! {
    // SAFETY: restoring a signal's default disposition, unblocking it in this thread and
    // raising it: the default action ends the whole process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE);
}

/// Whether `fd` is a pipe or socket whose reading end has been closed.
fn reader_gone(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd on the stack, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Stdout's and stderr's entries for a poll loop that watches their readers: no events asked,
/// so only a pipe's POLLERR (reader gone) or POLLHUP wakes it; a terminal or file never does.
pub fn output_pollfds() -> [libc::pollfd; 2] {
    [1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    })
}

/// After a poll of [`output_pollfds`]: if either reader has gone, undoes what must not outlive
/// us (`before`: the terminal's raw mode) and ends the process as the docker CLI would on its
/// next write (`run busybox yes | head -1`); the container runs on, as with Docker.
pub fn end_if_readers_gone(fds: &[libc::pollfd], before: fn()) {
    if fds
        .iter()
        .any(|p| p.revents & (libc::POLLERR | libc::POLLHUP) != 0)
    {
        before();
        die();
    }
}

/// [`end_if_readers_gone`] from a thread of its own, for a session whose loop does not poll
/// stdout and stderr itself.
pub fn watch_output(before: fn()) {
    std::thread::spawn(move || {
        let mut fds = output_pollfds();
        loop {
            // SAFETY: two pollfds on this thread's stack.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n > 0 {
                end_if_readers_gone(&fds, before);
            }
            if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return;
            }
        }
    });
}

/// Makes `print!`'s panic on a closed stdout or stderr (std's "failed printing to stdout:
/// Broken pipe") a quiet SIGPIPE death; every other panic is reported as before.
pub fn install() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        let epipe = std::io::Error::from_raw_os_error(libc::EPIPE).to_string();
        if payload.starts_with("failed printing to std") && payload.ends_with(&epipe) {
            die();
        }
        report(info)
    }));
}

/// Ends the process quietly if `err` is the EPIPE of a write to stdout or stderr, whose reader
/// has gone; returns otherwise (an EPIPE from a socket is an error like any other). Some
/// libraries keep only the message of the I/O error, so the text counts as well as the kind.
pub fn exit_if_output_gone(err: &anyhow::Error) {
    let text = std::io::Error::from_raw_os_error(libc::EPIPE).to_string();
    let epipe = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || e.to_string().contains(&text)
    });
    if epipe && (reader_gone(1) || reader_gone(2)) {
        die();
    }
}
