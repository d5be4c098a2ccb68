//! The container's terminal: a pty made from the container's own devpts, whose master goes to
//! the caller over the OCI console socket and whose slave becomes the process's stdio.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};

use crate::error::{Context, Error, Result};
use crate::sync::send_fd;

nix::ioctl_write_ptr_bad!(set_ptlck, libc::TIOCSPTLCK, libc::c_int);
nix::ioctl_read_bad!(get_ptn, libc::TIOCGPTN, libc::c_uint);

/// Opens a new pty in the current /dev/pts. Returns (master, slave, slave path).
pub fn open_pty() -> Result<(OwnedFd, OwnedFd, String)> {
    let ptmx = if Path::new("/dev/pts/ptmx").exists() {
        "/dev/pts/ptmx"
    } else {
        "/dev/ptmx"
    };
    let master = nix::fcntl::open(
        ptmx,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {ptmx}"))?;
    let unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: ioctls on the master we just opened, with correctly typed arguments.
    unsafe {
        set_ptlck(master.as_raw_fd(), &unlock).ctx(|| "unlocking the pty".into())?;
        get_ptn(master.as_raw_fd(), &mut n).ctx(|| "reading the pty number".into())?;
    }
    let path = format!("/dev/pts/{n}");
    let slave = nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("opening {path}"))?;
    Ok((master, slave, path))
}

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// In the container's init, after pivot_root: makes the pty, binds its slave on /dev/console,
/// sends the master over `socket`, and returns the slave.
pub fn setup_console(
    socket: RawFd,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<OwnedFd> {
    let (master, slave, path) = open_pty()?;
    if let Some((rows, cols)) = size {
        set_size(master.as_raw_fd(), rows, cols);
    }
    if bind_console {
        if !Path::new("/dev/console").exists() {
            std::fs::File::create("/dev/console").ctx(|| "creating /dev/console".into())?;
        }
        mount(
            Some(path.as_str()),
            "/dev/console",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("binding {path} on /dev/console"))?;
    }
    send_fd(socket, master.as_raw_fd(), path.as_bytes())
        .ctx(|| "sending the pty master to the console socket".into())?;
    Ok(slave)
}

/// Makes `slave` the controlling terminal and the stdio of the calling process (a session
/// leader).
pub fn make_controlling(slave: &OwnedFd) -> Result<()> {
    // SAFETY: ioctl and dup2 on descriptors we own.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(std::io::Error::last_os_error())
                .ctx(|| "setting the controlling terminal".into());
        }
        for target in 0..3 {
            if libc::dup2(slave.as_raw_fd(), target) < 0 {
                return Err(Error::Init(format!(
                    "dup2 of the pty onto fd {target} failed"
                )));
            }
        }
    }
    Ok(())
}

/// Connects to the caller's console socket.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .ctx(|| format!("connecting to console socket {}", path.display()))?;
    // SAFETY: into_raw_fd hands over ownership.
    Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(s)) })
}
