//! Waiting for the log to change while following: inotify on the log's directory (which sees
//! appends, and the renames and creation of a rotation), or a short sleep where inotify is not
//! available.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Without inotify, how often the files are looked at.
const POLL: Duration = Duration::from_millis(50);
/// With inotify, how long a wait lasts without events, so the caller can ask whether the writer
/// is still alive (that has no event).
const IDLE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(super) struct Waiter {
    inotify: Option<OwnedFd>,
}

impl Waiter {
    /// Watches the directory of `log`. Must be made before the files are read, so that a change
    /// made while reading still wakes the next wait.
    pub fn new(log: &Path) -> Self {
        let dir = match log.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Self {
            inotify: watch(dir).ok(),
        }
    }

    /// Returns when the directory changed, or after a short while.
    pub fn wait(&self) -> io::Result<()> {
        let Some(fd) = &self.inotify else {
            std::thread::sleep(POLL);
            return Ok(());
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, IDLE.as_millis() as libc::c_int) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(err)
            };
        }
        // The events themselves do not matter: the caller looks at the files again. Empty the
        // queue so the next wait sleeps until something new happens.
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reading into a buffer we own, of the length given.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return Ok(());
            }
        }
    }
}

fn watch(dir: &Path) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before use.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let dir = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mask = libc::IN_MODIFY
        | libc::IN_CREATE
        | libc::IN_MOVED_FROM
        | libc::IN_MOVED_TO
        | libc::IN_DELETE
        | libc::IN_CLOSE_WRITE;
    // SAFETY: valid descriptor and NUL-terminated path.
    if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), dir.as_ptr(), mask) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_change_made_before_the_wait_ends_it_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c-json.log");
        let waiter = Waiter::new(&log);
        assert!(
            waiter.inotify.is_some(),
            "inotify unavailable: following would poll"
        );
        std::fs::write(&log, "x").unwrap();
        let started = Instant::now();
        waiter.wait().unwrap();
        assert!(started.elapsed() < IDLE / 2, "{:?}", started.elapsed());
        // The queue was emptied: with nothing new, the next wait lasts its while.
        let started = Instant::now();
        waiter.wait().unwrap();
        assert!(started.elapsed() >= IDLE / 2, "{:?}", started.elapsed());
    }
}
