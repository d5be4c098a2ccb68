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

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Like [`clone_fork`] without flags, but the child starts in the cgroup v2 directory `cgroup`
/// (`CLONE_INTO_CGROUP`, Linux 5.7): no migration afterwards, so no grace-period wait.
///
/// # Safety
/// As for [`clone_fork`].
pub unsafe fn clone_fork_into_cgroup(cgroup: std::os::fd::RawFd) -> io::Result<CloneResult> {
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup as u64,
        ..Default::default()
    };
    // A zero stack continues on a copy of the caller's stack, as fork does.
    let rc = libc::syscall(
        libc::SYS_clone3,
        &mut args as *mut CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    );
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent { child: pid as i32 }),
    }
}
