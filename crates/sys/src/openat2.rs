//! `openat2(2)`: path resolution that the kernel keeps inside a directory, so that a symlink in a
//! container's rootfs can never send a mount or a write to the host (cf. CVE-2021-30465).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `RESOLVE_*` flags of `openat2(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolveFlags(u64);

impl ResolveFlags {
    pub const NO_XDEV: Self = Self(0x01);
    pub const NO_MAGICLINKS: Self = Self(0x02);
    pub const NO_SYMLINKS: Self = Self(0x04);
    pub const BENEATH: Self = Self(0x08);
    /// Treat the directory as `/`: `..` and absolute symlinks stay inside it.
    pub const IN_ROOT: Self = Self(0x10);

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `path` relative to `dir` with `flags` (O_*), resolving as `resolve` says.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve: resolve.0,
    };
    loop {
        // SAFETY: `how` is a valid open_how of the size passed; c_path is NUL-terminated.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if rc >= 0 {
            // SAFETY: the kernel returned a new descriptor that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) });
        }
        let err = io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
        if err.raw_os_error() != Some(libc::EAGAIN) {
            return Err(err);
        }
    }
}
