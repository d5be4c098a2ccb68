//! `clone(2)` used the way `fork(2)` is, but with namespace flags and `CLONE_PARENT`.
//!
//! glibc's `fork()` cannot create namespaces or pick the parent; `clone(2)` with a NULL stack
//! continues on a copy of the caller's stack exactly like fork. That is only sound in a
//! single-threaded caller, which the runtime guarantees on its start path.

use std::io;

/// Which side of the clone the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneResult {
    Parent { child: i32 },
    Child,
}

/// Clones the calling process with `flags` (namespace flags, `CLONE_PARENT`...), delivering
/// `SIGCHLD` to the parent when the child exits.
///
/// # Safety
/// The caller must be single-threaded; the child may only use what is safe after fork.
pub unsafe fn clone_fork(flags: libc::c_int) -> io::Result<CloneResult> {
    let flags = (flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong;
    // x86_64 and aarch64 take (flags, stack, parent_tid, child_tid, tls).
    let rc = libc::syscall(
        libc::SYS_clone,
        flags,
        std::ptr::null_mut::<libc::c_void>(),
        std::ptr::null_mut::<libc::c_int>(),
        std::ptr::null_mut::<libc::c_int>(),
        0 as libc::c_ulong,
    );
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent { child: pid as i32 }),
    }
}
