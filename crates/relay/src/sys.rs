//! The few system calls the relay needs, declared by hand: this crate is built without the
//! `libc` crate (see the crate docs). Layouts are those of glibc on 64-bit Linux.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_long, c_short, c_uint, c_ulong, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!("berth-relay declares 64-bit Linux layouts");

pub const POLLIN: c_short = 0x1;
pub const POLLOUT: c_short = 0x4;
const WNOHANG: c_int = 1;
const F_GETFD: c_int = 1;
const F_SETFD: c_int = 2;
const F_GETFL: c_int = 3;
const F_SETFL: c_int = 4;
const FD_CLOEXEC: c_int = 1;
const O_NONBLOCK: c_int = 0o4000;
const AF_UNIX: c_int = 1;
const SOCK_SEQPACKET: c_int = 5;
const SOCK_CLOEXEC: c_int = 0o2000000;
const MSG_NOSIGNAL: c_int = 0x4000;
const MSG_CMSG_CLOEXEC: c_int = 0x4000_0000;
const SOL_SOCKET: c_int = 1;
const SCM_RIGHTS: c_int = 1;
const TIOCSWINSZ: c_ulong = 0x5414;
const SYS_PIDFD_OPEN: c_long = 434;
const PR_SET_NAME: c_int = 15;
const PR_SET_CHILD_SUBREAPER: c_int = 36;
const SIGPIPE: c_int = 13;
const SIG_IGN: usize = 1;
pub const EINTR: i32 = 4;
pub const EAGAIN: i32 = 11;
const ECONNRESET: i32 = 104;

#[repr(C)]
pub struct pollfd {
    pub fd: c_int,
    pub events: c_short,
    pub revents: c_short,
}

#[repr(C)]
struct iovec {
    base: *mut c_void,
    len: usize,
}

#[repr(C)]
struct msghdr {
    name: *mut c_void,
    namelen: c_uint,
    iov: *mut iovec,
    iovlen: usize,
    control: *mut c_void,
    controllen: usize,
    flags: c_int,
}

#[repr(C)]
struct cmsghdr {
    len: usize,
    level: c_int,
    kind: c_int,
}

#[repr(C)]
struct winsize {
    rows: u16,
    cols: u16,
    xpixel: u16,
    ypixel: u16,
}

extern "C" {
    fn poll(fds: *mut pollfd, nfds: c_ulong, timeout: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn socketpair(domain: c_int, kind: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    fn accept4(fd: c_int, addr: *mut c_void, len: *mut c_uint, flags: c_int) -> c_int;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> isize;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize;
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn syscall(number: c_long, ...) -> c_long;
    fn prctl(option: c_int, ...) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    static environ: *const *const c_char;
}

fn check(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn check_size(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn interrupted(e: &io::Error) -> bool {
    e.raw_os_error() == Some(EINTR)
}

/// poll(2); `timeout_ms` < 0 waits without end. EINTR is returned as an error.
pub fn poll_fds(fds: &mut [pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    check(unsafe { poll(fds.as_mut_ptr(), fds.len() as c_ulong, timeout_ms) }).map(|n| n as usize)
}

/// Waits until `fd` has one of `events` or `timeout_ms` passes; true if it has.
pub fn wait_for(fd: &impl AsRawFd, events: c_short, timeout_ms: i32) -> bool {
    let mut p = [pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    poll_fds(&mut p, timeout_ms).is_ok_and(|n| n > 0)
}

/// read(2), retried on EINTR.
pub fn read_fd(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for `buf.len()` bytes of writing.
        let r = check_size(unsafe { read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) });
        match r {
            Err(e) if interrupted(&e) => continue,
            other => return other,
        }
    }
}

/// read(2) into `buf`'s spare capacity (never zeroed), retried on EINTR; the bytes read are
/// appended to `buf`.
pub fn read_spare(fd: &impl AsRawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let n = loop {
        // SAFETY: `spare` is valid for `spare.len()` bytes of writing; read(2) writes only
        // initialised bytes, and only the `n` it reports.
        let r = check_size(unsafe { read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) });
        match r {
            Err(e) if interrupted(&e) => continue,
            other => break other?,
        }
    };
    // SAFETY: the kernel initialised the first `n` spare bytes.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// write(2), retried on EINTR.
pub fn write_fd(fd: &impl AsRawFd, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `data` is valid for `data.len()` bytes of reading.
        let r = check_size(unsafe { write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) });
        match r {
            Err(e) if interrupted(&e) => continue,
            other => return other,
        }
    }
}

/// How a child ended, without waiting: `Some(code)` (128 + signal for a signalled one) once it
/// has exited, `None` while it runs. A pid that is not (or no longer) our child reads as 255.
pub fn try_wait(pid: i32) -> Option<i32> {
    let mut status: c_int = 0;
    // SAFETY: waitpid writes one int to `status`.
    let r = unsafe { waitpid(pid, &mut status, WNOHANG) };
    if r == 0 {
        return None;
    }
    if r < 0 {
        return if io::Error::last_os_error().raw_os_error() == Some(EINTR) {
            None
        } else {
            Some(255)
        };
    }
    let signal = status & 0x7f;
    Some(if signal == 0 {
        (status >> 8) & 0xff
    } else {
        128 + signal
    })
}

/// A pidfd for `pid` (readable once it exits); `None` on kernels without pidfd_open.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(pid, 0) takes no pointers.
    let fd = unsafe { syscall(SYS_PIDFD_OPEN, pid as c_long, 0 as c_long) };
    // SAFETY: a new descriptor, ours alone.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn set_nonblocking(fd: &impl AsRawFd) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we hold.
    unsafe {
        let flags = fcntl(fd.as_raw_fd(), F_GETFL);
        if flags >= 0 {
            fcntl(fd.as_raw_fd(), F_SETFL, flags | O_NONBLOCK);
        }
    }
}

/// Sets or clears close-on-exec: descriptors handed across an exec must not have it.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD on a plain descriptor number.
    unsafe {
        let flags = check(fcntl(fd, F_GETFD))?;
        let flags = if on {
            flags | FD_CLOEXEC
        } else {
            flags & !FD_CLOEXEC
        };
        check(fcntl(fd, F_SETFD, flags)).map(drop)
    }
}

/// A connected pair of SOCK_SEQPACKET unix sockets, close-on-exec.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut sv = [0 as c_int; 2];
    // SAFETY: socketpair writes two descriptors to `sv`.
    check(unsafe { socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv.as_mut_ptr()) })?;
    // SAFETY: two new descriptors, ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) })
}

/// accept4(2) with close-on-exec.
pub fn accept(listener: &impl AsRawFd) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: no address is asked for.
        let r = check(unsafe {
            accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                SOCK_CLOEXEC,
            )
        });
        match r {
            Err(e) if interrupted(&e) => continue,
            // SAFETY: a new descriptor, ours alone.
            other => return other.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
        }
    }
}

const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// The most descriptors one message carries.
pub const MAX_FDS: usize = 3;
const CMSG_HEADER: usize = align8(std::mem::size_of::<cmsghdr>());
const CMSG_SPACE: usize = CMSG_HEADER + align8(MAX_FDS * 4);

/// Sends one packet with `fds` attached (SCM_RIGHTS). A peer that is gone gives EPIPE, never
/// SIGPIPE.
pub fn send_packet(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS, "too many descriptors for one message");
    let mut iov = iovec {
        base: data.as_ptr() as *mut c_void,
        len: data.len(),
    };
    let mut control = [0u64; CMSG_SPACE / 8];
    let mut msg = msghdr {
        name: std::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: std::ptr::null_mut(),
        controllen: 0,
        flags: 0,
    };
    if !fds.is_empty() {
        let header = cmsghdr {
            len: CMSG_HEADER + fds.len() * 4,
            level: SOL_SOCKET,
            kind: SCM_RIGHTS,
        };
        let base = control.as_mut_ptr().cast::<u8>();
        // SAFETY: `control` holds a header and MAX_FDS descriptors, 8-aligned.
        unsafe {
            base.cast::<cmsghdr>().write(header);
            std::ptr::copy_nonoverlapping(fds.as_ptr(), base.add(CMSG_HEADER).cast(), fds.len());
        }
        msg.control = base.cast();
        msg.controllen = CMSG_HEADER + align8(fds.len() * 4);
    }
    loop {
        // SAFETY: `msg` points at live buffers for the call's duration.
        match check_size(unsafe { sendmsg(sock, &msg, MSG_NOSIGNAL) }) {
            Err(e) if interrupted(&e) => continue,
            other => return other.map(drop),
        }
    }
}

/// Receives one packet into `buf` and the descriptors sent with it (close-on-exec); `None`
/// when the peer has closed (or reset) the connection.
pub fn recv_packet(sock: RawFd, buf: &mut [u8]) -> io::Result<Option<(usize, Vec<OwnedFd>)>> {
    let mut iov = iovec {
        base: buf.as_mut_ptr().cast(),
        len: buf.len(),
    };
    let mut control = [0u64; CMSG_SPACE / 8];
    let mut msg = msghdr {
        name: std::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: control.as_mut_ptr().cast(),
        controllen: CMSG_SPACE,
        flags: 0,
    };
    let n = loop {
        // SAFETY: `msg` points at live buffers for the call's duration.
        match check_size(unsafe { recvmsg(sock, &mut msg, MSG_CMSG_CLOEXEC) }) {
            Err(e) if interrupted(&e) => continue,
            Err(e) if e.raw_os_error() == Some(ECONNRESET) => return Ok(None),
            Err(e) => return Err(e),
            Ok(n) => break n,
        }
    };
    let mut fds = Vec::new();
    let mut at = 0;
    let base = control.as_ptr().cast::<u8>();
    while at + CMSG_HEADER <= msg.controllen {
        // SAFETY: the kernel wrote `controllen` bytes of cmsghdr-aligned messages.
        let header = unsafe { base.add(at).cast::<cmsghdr>().read() };
        if header.len < CMSG_HEADER {
            break;
        }
        if header.level == SOL_SOCKET && header.kind == SCM_RIGHTS {
            let count = (header.len - CMSG_HEADER) / 4;
            for i in 0..count {
                // SAFETY: `count` descriptors follow the header; the kernel installed them.
                let fd = unsafe {
                    base.add(at + CMSG_HEADER + i * 4)
                        .cast::<c_int>()
                        .read_unaligned()
                };
                // SAFETY: a new descriptor, ours alone.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        at += align8(header.len);
    }
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some((n, fds)))
}

/// Sets a terminal's window size (TIOCSWINSZ).
pub fn set_window_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = winsize {
        rows,
        cols,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize.
    unsafe { ioctl(fd, TIOCSWINSZ, &ws as *const winsize) };
}

/// The relay's process set-up: a closed reader never kills it with SIGPIPE, orphans of the
/// container are reparented to it, and `ps` shows `name`.
pub fn init_process(name: &std::ffi::CStr) {
    // SAFETY: signal and prctl calls at process start, before any thread exists.
    unsafe {
        signal(SIGPIPE, SIG_IGN);
        prctl(
            PR_SET_CHILD_SUBREAPER,
            1 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
        );
        prctl(
            PR_SET_NAME,
            name.as_ptr(),
            0 as c_ulong,
            0 as c_ulong,
            0 as c_ulong,
        );
    }
}

/// Replaces this process with the program open at `fd`, with `args` (argv[0] first) and this
/// process's environment. Returns only on failure.
pub fn exec_fd(fd: RawFd, args: &[String]) -> io::Error {
    let owned: Vec<std::ffi::CString> = match args
        .iter()
        .map(|a| std::ffi::CString::new(a.as_bytes()))
        .collect()
    {
        Ok(v) => v,
        Err(e) => return io::Error::new(io::ErrorKind::InvalidInput, e),
    };
    let mut argv: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of C strings that outlive the call; environ is
    // the process's own environment.
    unsafe { fexecve(fd, argv.as_ptr(), environ) };
    io::Error::last_os_error()
}
