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

/// For an attached session, whose output the monitor writes into our stdout and stderr: a
/// thread that waits for either's reader to go away and then ends the process as the docker
/// CLI would on its next write (`run busybox yes | head -1`); the container runs on, as with
/// Docker. `before` undoes what must not outlive us (the terminal's raw mode).
pub fn watch_output(before: fn()) {
    std::thread::spawn(move || {
        // No events asked: a pipe's POLLERR (reader gone) and POLLHUP are always reported, a
        // terminal or file never wakes this.
        let mut fds = [1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        loop {
            // SAFETY: two pollfds on this thread's stack.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n > 0
                && fds
                    .iter()
                    .any(|p| p.revents & (libc::POLLERR | libc::POLLHUP) != 0)
            {
                before();
                die();
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
