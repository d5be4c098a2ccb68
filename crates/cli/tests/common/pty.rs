//! A pseudo-terminal for end-to-end tests: the `berth` binary runs with the pty's slave as its
//! stdin, stdout, stderr and controlling terminal, as in a user's shell; the test types into the
//! master and reads what the terminal shows, always with a timeout.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

pub struct Terminal {
    master: OwnedFd,
    child: Child,
    /// Everything read from the master so far.
    pub seen: String,
    /// Where the next `expect` starts looking.
    cursor: usize,
}

impl Terminal {
    /// Starts `cmd` as the session leader of a new terminal `rows` x `cols`.
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let slave = pty.slave;
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: setsid and an ioctl between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawning berth on a pty");
        drop(slave);
        Terminal {
            master: pty.master,
            child,
            seen: String::new(),
            cursor: 0,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Types `bytes` on the keyboard.
    pub fn send(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = nix::unistd::write(&self.master, rest).expect("writing to the pty");
            rest = &rest[n..];
        }
    }

    /// Reads what is available within `wait`; false once the terminal is closed.
    fn read_some(&mut self, wait: Duration) -> bool {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        let ms = wait.as_millis().min(u16::MAX as u128) as u16;
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return true,
            Err(e) => panic!("poll on the pty: {e}"),
        }
        let mut buf = [0u8; 4096];
        match nix::unistd::read(&self.master, &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => false,
            Ok(n) => {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => true,
            Err(e) => panic!("reading the pty: {e}"),
        }
    }

    /// Waits until `needle` shows up after what earlier `expect`s consumed; returns the text up
    /// to and including it. Fails the test with the whole screen after `secs` seconds.
    pub fn expect(&mut self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(i) = self.seen[self.cursor..].find(needle) {
                let end = self.cursor + i + needle.len();
                let out = self.seen[self.cursor..end].to_string();
                self.cursor = end;
                return out;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {needle:?} on the terminal; it shows {:?}",
                self.seen
            );
            if !self.read_some(left.min(Duration::from_millis(200))) {
                assert!(
                    self.seen[self.cursor..].contains(needle),
                    "the terminal closed before {needle:?} showed; it shows {:?}",
                    self.seen
                );
            }
        }
    }

    /// Sets the terminal's size, as a window resize does (the kernel sends SIGWINCH to the
    /// foreground process group).
    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize on our master.
        assert_eq!(
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
            0
        );
    }

    /// The terminal's settings as berth left them (to check raw mode was undone).
    pub fn termios(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.master).expect("tcgetattr on the master")
    }

    /// Waits for berth to exit (reading the terminal meanwhile) and returns its exit code; kills
    /// it and fails the test after `secs` seconds.
    pub fn wait(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                while self.read_some(Duration::from_millis(20)) && self.pending() {}
                return st.code().unwrap_or_else(|| panic!("berth died: {st:?}"));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "berth did not exit within {secs}s; the terminal shows {:?}",
                    self.seen
                );
            }
            self.read_some(Duration::from_millis(50));
        }
    }

    /// Whether the master has something to read right now.
    fn pending(&self) -> bool {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0
    }

    /// SIGKILLs berth (not what it started).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}
