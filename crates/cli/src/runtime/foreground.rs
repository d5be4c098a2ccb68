//! `run` and `exec` in the foreground: the runtime stays, forwards signals to the container's
//! process, relays a terminal when it made one, and exits with the process's status.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result};
use berth_runtime::{Container, StateRoot};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::args::RunArgs;

pub fn run(root: &StateRoot, a: &RunArgs) -> Result<i32> {
    let spec = berth_runtime::create::load_spec(&a.create.bundle)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let mut opts = super::create_options(&a.create);
    if a.detach {
        if terminal && a.create.console_socket.is_none() {
            anyhow::bail!("a detached container with a terminal needs --console-socket");
        }
        let rec = berth_runtime::create(root, &opts)?;
        return start_or_clean(root, &rec.id).map(|_| 0);
    }
    let proxy = TtyProxy::prepare(terminal && a.create.console_socket.is_none())?;
    opts.console_fd = proxy.as_ref().map(|p| p.child_fd());
    let rec = berth_runtime::create(root, &opts)?;
    start_or_clean(root, &rec.id)?;
    let code = wait_forwarding(rec.pid, proxy)?;
    if !a.keep {
        Container::load(root, &rec.id)?.delete(true)?;
    }
    Ok(code)
}

fn start_or_clean(root: &StateRoot, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    if let Err(e) = c.start() {
        let _ = Container::load(root, id).map(|c| c.delete(true));
        return Err(e.into());
    }
    Ok(())
}

/// Waits for `pid` (a child of ours), forwarding every catchable signal to it; returns its exit
/// status the shell way (128 + signal when killed).
pub fn wait_forwarding(pid: i32, proxy: Option<TtyProxy>) -> Result<i32> {
    let mut set = SigSet::all();
    set.remove(Signal::SIGKILL);
    set.remove(Signal::SIGSTOP);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .context("blocking signals")?;
    let relay = proxy.map(|p| p.start()).transpose()?;
    let target = Pid::from_raw(pid);
    loop {
        // Checked before each wait: the child may have exited before signals were blocked.
        match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return finish(relay, code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return finish(relay, 128 + sig as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return finish(relay, 0),
            Err(e) => return Err(e).context("waiting for the container"),
        }
        let sig = set.wait().context("waiting for signals")?;
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGWINCH => {
                if let Some(r) = &relay {
                    r.resize();
                }
            }
            s => {
                let _ = nix::sys::signal::kill(target, s);
            }
        }
    }
}

fn finish(relay: Option<Relay>, code: i32) -> Result<i32> {
    if let Some(r) = relay {
        r.finish();
    }
    Ok(code)
}

/// A terminal the runtime makes itself when the caller gave no console socket: the container's
/// init sends the pty master to our end of a socket pair, and we copy between it and our stdio.
pub struct TtyProxy {
    ours: UnixStream,
    theirs: OwnedFd,
}

impl TtyProxy {
    pub fn prepare(wanted: bool) -> Result<Option<TtyProxy>> {
        if !wanted {
            return Ok(None);
        }
        let (ours, theirs) = UnixStream::pair().context("creating the console socket pair")?;
        // SAFETY: into_raw_fd hands over ownership.
        let theirs = unsafe { OwnedFd::from_raw_fd(theirs.into_raw_fd()) };
        Ok(Some(TtyProxy { ours, theirs }))
    }

    pub fn child_fd(&self) -> RawFd {
        self.theirs.as_raw_fd()
    }

    fn start(self) -> Result<Relay> {
        drop(self.theirs);
        let master = berth_runtime::sync::recv_fd(self.ours.as_raw_fd())
            .context("receiving the pty master")?;
        let saved = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                &raw,
            );
        }
        let relay = Relay { master, saved };
        relay.resize();
        let m_in = relay
            .master
            .try_clone()
            .context("duplicating the pty master")?;
        let m_out = relay
            .master
            .try_clone()
            .context("duplicating the pty master")?;
        std::thread::spawn(move || {
            let mut w = std::fs::File::from(m_in);
            let mut buf = [0u8; 8192];
            let mut stdin = std::io::stdin();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            let mut r = std::fs::File::from(m_out);
            let mut buf = [0u8; 8192];
            let mut stdout = std::io::stdout();
            while let Ok(n) = r.read(&mut buf) {
                if n == 0
                    || stdout
                        .write_all(&buf[..n])
                        .and_then(|_| stdout.flush())
                        .is_err()
                {
                    break;
                }
            }
        });
        Ok(relay)
    }
}

pub struct Relay {
    master: OwnedFd,
    saved: Option<nix::sys::termios::Termios>,
}

impl Relay {
    fn resize(&self) {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize.
        unsafe {
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
    }

    fn finish(self) {
        // Let the output thread drain what the program wrote last.
        std::thread::sleep(std::time::Duration::from_millis(20));
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}
